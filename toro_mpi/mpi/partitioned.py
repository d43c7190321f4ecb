"""Partitioned point-to-point (MPI-4): Psend_init / Precv_init, Pready, Pready_range,
Pready_list, Parrived.

A partitioned send of P partitions is P messages: Pready(i) sends partition i at once, as one
message of an 8-byte partition index followed by the partition's bytes, so partitions may be
readied in any order and each arrives as soon as it is ready. Each Start of the receive posts P
receives of that size; Parrived(i) polls the bus once, places whatever has arrived at its
partition's offset and says whether partition i is there. The messages travel on the
communicator's spare context (the one nonblocking collectives use), under tags above theirs,
derived from the user's tag, so they never match user point-to-point messages.

Limits: the user's tag is taken modulo 2**30 (tags t and t + 2**30 share a channel), and two
partitioned transfers with the same peer and tag should not be active at once (MPI matches them
in the order they were initialised; here their partitions would match in the order they are
sent).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ERR_ARG, ERR_COUNT, ERR_REQUEST, MPIException, MPIValueError
from .buffers import byte_view, normalise
from .nonblocking import NBC_CONTEXT_OFFSET, CollRequest, PendingCollective
from .p2p import PROC_NULL
from .persistent import Prequest
from .request import Request

PART_TAG_BASE = 1 << 30
_HEADER = 8  # the partition index, int64, ahead of its bytes


def _partitions(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise MPIException(ERR_ARG, f"partitions must be an int, got {type(value).__name__}")
    if value < 1:
        raise MPIException(ERR_COUNT, f"partitions must be >= 1, got {value}")
    return int(value)


class _SendState:
    """One started partitioned send: which partitions are ready, their messages."""

    __slots__ = ("ready", "sends", "error", "dest", "user_tag")

    def __init__(self, parts: int, dest: int, tag: int) -> None:
        self.ready = [False] * parts
        self.sends: list[Any] = []
        self.error = None
        self.dest = dest
        self.user_tag = tag

    @property
    def done(self) -> bool:
        """Every partition readied and sent."""
        if not all(self.ready) or not all(s.done for s in self.sends):
            return False
        self.error = next((s.error for s in self.sends if s.error is not None), None)
        return True


class PartitionedRequest(Prequest):
    """The Prequest of Psend_init / Precv_init."""

    def __init__(self, comm: Any, buf: Any, partitions: Any, peer: Any, tag: Any, send: bool) -> None:
        super().__init__(self._begin)
        self._pcomm = comm
        self._parts = _partitions(partitions)
        self._send = send
        self._buffer = normalise(buf, not send)
        data = byte_view(self._buffer.array)
        if data.nbytes % self._parts:
            raise MPIValueError(ERR_COUNT, f"a buffer of {data.nbytes} bytes does not split into "
                                f"{self._parts} partitions")
        self._data = data
        self._psize = data.nbytes // self._parts
        # MPI-4 permits no wildcards here: a partitioned pair is matched once, by source and tag.
        self._peer = comm._dest(peer)
        self._tag = comm._send_tag(tag)
        self._ptag = PART_TAG_BASE + self._tag % PART_TAG_BASE
        self._ctx = comm._ctx + NBC_CONTEXT_OFFSET
        self._arrived: list[bool] = []
        self._slots: list[tuple[Any, np.ndarray]] = []

    def _begin(self) -> Request:
        e = self._pcomm._engine
        n = self._parts
        if self._send:
            state = _SendState(n, self._peer, self._tag)
            if self._peer == PROC_NULL:
                state.ready = [True] * n
            return CollRequest(e, state)
        self._arrived = [self._peer == PROC_NULL] * n
        self._slots = []
        if self._peer != PROC_NULL:
            for _ in range(n):
                tmp = np.empty(_HEADER + self._psize, np.uint8)
                self._slots.append((e.irecv(tmp, tmp.nbytes, self._peer, self._ptag, self._ctx), tmp))
        return CollRequest(e, PendingCollective([r for r, _ in self._slots], self._place_all, self._tag))

    def _state(self, what: str) -> Any:
        if self._freed or self._active is None or self._active._inner is None:
            raise MPIException(ERR_REQUEST, f"{what} on a partitioned request that is not active")
        return self._active._inner

    # -- the send side ----------------------------------------------------------------------
    def Pready(self, partition: int) -> None:
        """Mark partition ready: it is sent now."""
        if not self._send:
            raise MPIException(ERR_REQUEST, "Pready on a partitioned receive")
        state = self._state("Pready")
        p = self._index(partition)
        if state.ready[p]:
            raise MPIException(ERR_REQUEST, f"Pready: partition {p} is already ready")
        state.ready[p] = True
        if self._peer == PROC_NULL:
            return
        msg = np.empty(_HEADER + self._psize, np.uint8)
        msg[:_HEADER].view(np.int64)[0] = p
        msg[_HEADER:] = self._data[p * self._psize: (p + 1) * self._psize]
        e = self._pcomm._engine
        state.sends.append(e.isend(msg, msg.nbytes, self._peer, self._ptag, self._ctx))

    def Pready_range(self, partition_low: int, partition_high: int) -> None:
        """Mark partitions partition_low..partition_high (inclusive) ready."""
        for p in range(self._index(partition_low), self._index(partition_high) + 1):
            self.Pready(p)

    def Pready_list(self, partitions: Any) -> None:
        """Mark every partition of the sequence ready."""
        for p in partitions:
            self.Pready(p)

    # -- the receive side ---------------------------------------------------------------------
    def Parrived(self, partition: int) -> bool:
        """Whether partition has arrived (its data is then in the buffer)."""
        if self._send:
            raise MPIException(ERR_REQUEST, "Parrived on a partitioned send")
        p = self._index(partition)
        if self._freed or self._active is None:
            raise MPIException(ERR_REQUEST, "Parrived on a partitioned request that is not active")
        if self._active._inner is None:
            return True  # completed: everything arrived
        if not self._arrived[p]:
            self._pcomm._engine.poll_once()
            self._place_arrived()
        return self._arrived[p]

    def _place_arrived(self) -> None:
        for req, tmp in self._slots:
            if req.done and req.error is None and req.nbytes == tmp.nbytes:
                p = int(tmp[:_HEADER].view(np.int64)[0])
                if 0 <= p < self._parts and not self._arrived[p]:
                    self._data[p * self._psize: (p + 1) * self._psize] = tmp[_HEADER:]
                    self._arrived[p] = True
        self._slots = [(r, t) for r, t in self._slots if not r.done]

    def _place_all(self) -> None:
        self._place_arrived()
        self._buffer.finish()

    def _index(self, partition: Any) -> int:
        if isinstance(partition, bool) or not isinstance(partition, (int, np.integer)):
            raise MPIException(ERR_ARG, f"partition must be an int, got {type(partition).__name__}")
        if not 0 <= partition < self._parts:
            raise MPIException(ERR_ARG, f"partition {partition} is out of range (0..{self._parts - 1})")
        return int(partition)


class PartitionedMixin:
    """Psend_init and Precv_init, mixed into Comm."""

    def Psend_init(self, buf: Any, partitions: int, dest: int, tag: int = 0, info: Any = None) -> Prequest:
        """A persistent partitioned send of buf in `partitions` equal parts to dest."""
        self._check_live()
        return PartitionedRequest(self, buf, partitions, dest, tag, True)

    def Precv_init(self, buf: Any, partitions: int, source: int = -1, tag: int = -1, info: Any = None) -> Prequest:
        """A persistent partitioned receive into buf in `partitions` equal parts from source."""
        self._check_live()
        return PartitionedRequest(self, buf, partitions, source, tag, False)
