"""Neighbourhood collectives of topology communicators: Neighbor_allgather(v), Neighbor_alltoall(v,w),
their nonblocking (Ineighbor_*) and persistent (Neighbor_*_init) forms, and the object calls
neighbor_allgather / neighbor_alltoall.

Each call is point-to-point traffic between neighbours on the bus: every receive is posted
first, then every send starts, and the call (or its request) completes when all are done. The
messages travel on the communicator's collective context under tags of their own
(NEIGHBOR_TAG..), so no user receive (point-to-point context) and no communicator management
(collective context, tags from 1 << 30) can match them.

Block order is MPI's: for a Cartesian grid, per dimension the negative then the positive
neighbour (PROC_NULL ones are skipped and their receive blocks left untouched); for a graph,
the node's edges in order; for a distributed graph, its sources (receive) and destinations
(send) as given. Messages between two ranks that are neighbours twice (a periodic dimension of
size 1 or 2) are told apart by tag: a message sent towards the positive neighbour of dimension d
carries NEIGHBOR_TAG + 2d + 1, towards the negative one NEIGHBOR_TAG + 2d, as Open MPI does; a
graph's repeated edges match in order.

The nonblocking forms hand back an ordinary Request whose inner state is an _Exchange (all the
operation's send and receive requests): it is progressed by the engine like any Isend/Irecv,
whenever the program enters toro_mpi (Test, Wait, any other call), and the persistent forms
start a new exchange on each Start (persistent.Prequest).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ERR_ARG, ERR_BUFFER, ERR_TRUNCATE, ERR_TYPE, MPIBufferError, MPIException, MPIValueError
from .buffers import (
    BOTTOM,
    IN_PLACE,
    Buffer,
    as_count,
    as_datatype,
    byte_view,
    is_bottom,
    normalise,
    typed_piece,
    v_bytes,
)
from .p2p import ANY_SOURCE, ANY_TAG, PROC_NULL, RecvReq
from .packing import check_committed
from .persistent import Prequest
from .request import Request
from .topology import CART

NEIGHBOR_TAG = 1 << 29  # base tag of neighbourhood traffic on the collective context
_EMPTY = np.empty(0, np.uint8)


class _Exchange:
    """The receives and sends of one neighbourhood collective, seen by Request as one send
    request: done when all are done, failing with the first error among them."""

    __slots__ = ("reqs", "dest", "user_tag", "finish")

    def __init__(self, reqs: list[Any], finish: Callable[[], None] | None) -> None:
        self.reqs = reqs
        # What the blocked-call (deadlock) report shows: no single peer, no user tag.
        self.dest = ANY_SOURCE
        self.user_tag = ANY_TAG
        self.finish = finish

    @property
    def done(self) -> bool:
        """Whether every message of the exchange is complete (or failed)."""
        return all(r.done for r in self.reqs)

    @property
    def error(self) -> MPIException | None:
        """The first error of a completed part (e.g. ERR_TRUNCATE), else None."""
        for r in self.reqs:
            if r.done and r.error is not None:
                return r.error
        return None


def _finished(ex: _Exchange) -> None:
    """Request on_done: copy received temporaries into the user's non-contiguous buffers."""
    if ex.finish is not None:
        ex.finish()


def _piece_bytes(b: Buffer) -> np.ndarray:
    """The bytes a block moves (a view of the user's memory or its packed scratch)."""
    return byte_view(b.array)[: b.nbytes]


class NeighborMixin:
    """The neighbourhood collectives, mixed into topocomm.Topocomm (which has `_topo`, the
    engine, the ranks and the collective context of its communicator)."""

    # -- the pattern: who to receive from and send to, under which tags ------------------------
    def _neighbour_pattern(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """([(world source or PROC_NULL, tag)] per receive block, [(world dest, tag)] per send
        block), in MPI's block order."""
        self._check_live()
        topo = self._topo
        ins, outs = topo.neighbours(self.rank)
        world = self._ranks

        def w(r: int) -> int:
            return PROC_NULL if r == PROC_NULL else world[r]

        if topo.kind == CART:
            # Slot 2d receives from the negative neighbour what it sent towards the positive one.
            recv = [(w(r), NEIGHBOR_TAG + (i ^ 1)) for i, r in enumerate(ins)]
            send = [(w(r), NEIGHBOR_TAG + i) for i, r in enumerate(outs)]
        else:
            recv = [(w(r), NEIGHBOR_TAG) for r in ins]
            send = [(w(r), NEIGHBOR_TAG) for r in outs]
        return recv, send

    def _start_exchange(self, recv_blocks: list[np.ndarray], send_blocks: list[np.ndarray],
                        finish: Callable[[], None] | None) -> Request:
        """Post every receive, start every send; a Request for the whole exchange."""
        recv_to, send_to = self._neighbour_pattern()
        e = self._engine
        ctx = self._coll_ctx
        reqs: list[Any] = []
        for (src, tag), block in zip(recv_to, recv_blocks, strict=True):
            if src != PROC_NULL:
                reqs.append(e.irecv(block, block.nbytes, src, tag, ctx))
        for (dest, tag), block in zip(send_to, send_blocks, strict=True):
            if dest != PROC_NULL:
                reqs.append(e.isend(block, block.nbytes, dest, tag, ctx))
        return Request(e, _Exchange(reqs, finish), on_done=_finished)

    def _run_exchange(self, call: str, args: tuple) -> None:
        """A blocking neighbourhood collective: start it and wait, blocked in `call` (what a
        deadlock report names)."""
        req = self._start_exchange(*args)
        self._engine.wait_send(req._inner, call)
        req.Wait()

    def _degrees(self) -> tuple[int, int]:
        recv_to, send_to = self._neighbour_pattern()
        return len(recv_to), len(send_to)

    # -- argument parsing, one helper per call shape ----------------------------------------------
    @staticmethod
    def _no_in_place(sendbuf: Any, call: str) -> None:
        if sendbuf is IN_PLACE:
            raise MPIException(ERR_ARG, f"{call}: MPI.IN_PLACE is not valid for a neighbourhood collective")

    def _allgather_args(self, sendbuf: Any, recvbuf: Any, call: str) -> tuple[list, list, Any]:
        self._no_in_place(sendbuf, call)
        indeg, outdeg = self._degrees()
        send = byte_view(normalise(sendbuf, False).array)
        rb = normalise(recvbuf, True, max(indeg, 1))
        recv = byte_view(rb.array)
        block = rb.nbytes // indeg if indeg else 0
        if indeg and block < send.nbytes:
            raise MPIException(ERR_TRUNCATE, f"{call}: receive blocks of {block} bytes, this rank sends "
                                             f"{send.nbytes}")
        recvs = [recv[i * block: (i + 1) * block] for i in range(indeg)]
        return recvs, [send] * outdeg, rb.finish if rb.writeback is not None else None

    def _allgatherv_args(self, sendbuf: Any, recvbuf: Any, call: str) -> tuple[list, list, Any]:
        self._no_in_place(sendbuf, call)
        indeg, outdeg = self._degrees()
        send = byte_view(normalise(sendbuf, False).array)
        recvs, rb = self._v_blocks(recvbuf, indeg, True)
        return recvs, [send] * outdeg, rb

    def _v_blocks(self, spec: Any, n: int, writable: bool) -> tuple[list[np.ndarray], Any]:
        """The n blocks of a v-spec (counts and displacements in elements), and what to run once
        received (a non-contiguous receive buffer's copy back), or None."""
        if n == 0:
            return [], None
        arr, counts, displs, b = v_bytes(spec, n, writable)
        blocks = [arr[d: d + c] for c, d in zip(counts, displs, strict=True)]
        return blocks, (b.finish if b.writeback is not None else None)

    def _alltoall_args(self, sendbuf: Any, recvbuf: Any, call: str) -> tuple[list, list, Any]:
        self._no_in_place(sendbuf, call)
        indeg, outdeg = self._degrees()
        sb = normalise(sendbuf, False, max(outdeg, 1))
        send = byte_view(sb.array)
        rb = normalise(recvbuf, True, max(indeg, 1))
        recv = byte_view(rb.array)
        sblock = sb.nbytes // outdeg if outdeg else 0
        rblock = rb.nbytes // indeg if indeg else 0
        if outdeg and sb.nbytes % outdeg:
            raise MPIValueError(ERR_BUFFER, f"{call}: {sb.nbytes} bytes do not split into {outdeg} blocks")
        sends = [send[i * sblock: (i + 1) * sblock] for i in range(outdeg)]
        recvs = [recv[i * rblock: (i + 1) * rblock] for i in range(indeg)]
        return recvs, sends, rb.finish if rb.writeback is not None else None

    def _alltoallv_args(self, sendbuf: Any, recvbuf: Any, call: str) -> tuple[list, list, Any]:
        self._no_in_place(sendbuf, call)
        indeg, outdeg = self._degrees()
        sends, _ = self._v_blocks(sendbuf, outdeg, False)
        recvs, finish = self._v_blocks(recvbuf, indeg, True)
        return recvs, sends, finish

    def _w_blocks(self, msg: Any, n: int, writable: bool, call: str) -> list[Buffer]:
        """The n blocks of a w-spec: [buf, datatypes], [buf, (counts, displs), datatypes] or
        [buf, counts, displs, datatypes], displacements in bytes; block i is counts[i] elements of
        datatypes[i] (any datatype: derived, non-contiguous) from byte displs[i]. A buffer of None
        or MPI.BOTTOM: the displacements are then addresses (MPI.Get_address)."""
        if not isinstance(msg, (list, tuple)):
            raise MPIValueError(ERR_BUFFER, f"{call}: expecting [buf, (counts, displs), datatypes]")
        if len(msg) == 2:
            obj, types = msg
            counts = displs = None
        elif len(msg) == 3:
            obj, cd, types = msg
            counts, displs = cd
        elif len(msg) == 4:
            obj, counts, displs, types = msg
        else:
            raise MPIValueError(ERR_BUFFER, "message: expecting 2 to 4 items")
        bottom = obj is None or is_bottom(obj)
        if bottom and (counts is None or displs is None):
            raise MPIValueError(ERR_BUFFER, "message: BOTTOM requires counts and displs")
        if counts is None:
            counts, displs = [1] * n, [0] * n
        counts = [as_count(c, "counts") for c in counts]
        displs = [as_count(d, "displacements") for d in displs]
        types = list(types)
        for what, items in (("counts", counts), ("displs", displs), ("datatypes", types)):
            if len(items) != n:
                raise MPIValueError(ERR_ARG, f"{call}: expecting {n} {what}, got {len(items)}")
        dts = [as_datatype(t) for t in types]
        for c, dt in zip(counts, dts, strict=True):
            if c < 0:
                raise MPIException(ERR_ARG, f"{call}: negative count {c}")
            if c and not dt:
                raise MPIException(ERR_TYPE, f"{call}: MPI_DATATYPE_NULL cannot describe a block")
        if bottom:
            where: Any = BOTTOM
        else:
            b = normalise(obj, writable)
            if b.writeback is not None:
                raise MPIBufferError(ERR_BUFFER, f"{call}: a non-contiguous receive buffer is not supported")
            where = b.array
            for c, d, dt in zip(counts, displs, dts, strict=True):
                if not c:
                    continue
                t = check_committed(dt)
                lo, hi = d + t.tlb, d + (c - 1) * (t.ub - t.lb) + t.tub
                if lo < 0 or hi > where.nbytes:
                    raise MPIException(ERR_TRUNCATE, f"{call}: a block of {c} x {dt.name or 'derived datatype'} "
                                                     f"at byte {d} is outside the buffer of {where.nbytes} bytes")
        return [typed_piece(where, d, c, dt, writable) for c, d, dt in zip(counts, displs, dts, strict=True)]

    def _alltoallw_args(self, sendbuf: Any, recvbuf: Any, call: str) -> tuple[list, list, Any]:
        self._no_in_place(sendbuf, call)
        recv_to, send_to = self._neighbour_pattern()
        recvs = self._w_blocks(recvbuf, len(recv_to), True, call)
        sends = self._w_blocks(sendbuf, len(send_to), False, call)
        # Blocks received into packed scratch are unpacked once in (a PROC_NULL one stays untouched).
        unpack = [b for b, (src, _) in zip(recvs, recv_to, strict=True) if src != PROC_NULL and b.writeback is not None]

        def finish() -> None:
            for b in unpack:
                b.finish()

        return [_piece_bytes(b) for b in recvs], [_piece_bytes(b) for b in sends], finish if unpack else None

    # -- blocking ------------------------------------------------------------------------------
    def Neighbor_allgather(self, sendbuf: Any, recvbuf: Any) -> None:
        """Send sendbuf to every out-neighbour; receive one block from each in-neighbour."""
        self._run_exchange("Neighbor_allgather", self._allgather_args(sendbuf, recvbuf, "Neighbor_allgather"))

    def Neighbor_allgatherv(self, sendbuf: Any, recvbuf: Any) -> None:
        """Neighbor_allgather with per-neighbour counts and displacements on the receive side."""
        self._run_exchange("Neighbor_allgatherv", self._allgatherv_args(sendbuf, recvbuf, "Neighbor_allgatherv"))

    def Neighbor_alltoall(self, sendbuf: Any, recvbuf: Any) -> None:
        """Send block i of sendbuf to out-neighbour i; receive block i from in-neighbour i."""
        self._run_exchange("Neighbor_alltoall", self._alltoall_args(sendbuf, recvbuf, "Neighbor_alltoall"))

    def Neighbor_alltoallv(self, sendbuf: Any, recvbuf: Any) -> None:
        """Neighbor_alltoall with per-neighbour counts and displacements on both sides."""
        self._run_exchange("Neighbor_alltoallv", self._alltoallv_args(sendbuf, recvbuf, "Neighbor_alltoallv"))

    def Neighbor_alltoallw(self, sendbuf: Any, recvbuf: Any) -> None:
        """Neighbor_alltoall with per-neighbour counts, byte displacements and datatypes."""
        self._run_exchange("Neighbor_alltoallw", self._alltoallw_args(sendbuf, recvbuf, "Neighbor_alltoallw"))

    # -- nonblocking -----------------------------------------------------------------------------
    def Ineighbor_allgather(self, sendbuf: Any, recvbuf: Any) -> Request:
        """Start a Neighbor_allgather; the buffers must stay untouched until the request completes."""
        return self._start_exchange(*self._allgather_args(sendbuf, recvbuf, "Ineighbor_allgather"))

    def Ineighbor_allgatherv(self, sendbuf: Any, recvbuf: Any) -> Request:
        """Start a Neighbor_allgatherv."""
        return self._start_exchange(*self._allgatherv_args(sendbuf, recvbuf, "Ineighbor_allgatherv"))

    def Ineighbor_alltoall(self, sendbuf: Any, recvbuf: Any) -> Request:
        """Start a Neighbor_alltoall."""
        return self._start_exchange(*self._alltoall_args(sendbuf, recvbuf, "Ineighbor_alltoall"))

    def Ineighbor_alltoallv(self, sendbuf: Any, recvbuf: Any) -> Request:
        """Start a Neighbor_alltoallv."""
        return self._start_exchange(*self._alltoallv_args(sendbuf, recvbuf, "Ineighbor_alltoallv"))

    def Ineighbor_alltoallw(self, sendbuf: Any, recvbuf: Any) -> Request:
        """Start a Neighbor_alltoallw."""
        return self._start_exchange(*self._alltoallw_args(sendbuf, recvbuf, "Ineighbor_alltoallw"))

    # -- persistent ------------------------------------------------------------------------------
    def _persistent(self, parse: Callable[..., tuple], sendbuf: Any, recvbuf: Any, call: str) -> Prequest:
        # Checked now, as MPI does (a bad spec raises here, not at Start); each Start parses the
        # specs again, so it sends the buffers' contents at that time.
        parse(sendbuf, recvbuf, call)
        return Prequest(lambda: self._start_exchange(*parse(sendbuf, recvbuf, call)))

    def Neighbor_allgather_init(self, sendbuf: Any, recvbuf: Any, info: Any = None) -> Prequest:
        """A persistent Neighbor_allgather (each Start is an Ineighbor_allgather)."""
        return self._persistent(self._allgather_args, sendbuf, recvbuf, "Neighbor_allgather_init")

    def Neighbor_allgatherv_init(self, sendbuf: Any, recvbuf: Any, info: Any = None) -> Prequest:
        """A persistent Neighbor_allgatherv."""
        return self._persistent(self._allgatherv_args, sendbuf, recvbuf, "Neighbor_allgatherv_init")

    def Neighbor_alltoall_init(self, sendbuf: Any, recvbuf: Any, info: Any = None) -> Prequest:
        """A persistent Neighbor_alltoall."""
        return self._persistent(self._alltoall_args, sendbuf, recvbuf, "Neighbor_alltoall_init")

    def Neighbor_alltoallv_init(self, sendbuf: Any, recvbuf: Any, info: Any = None) -> Prequest:
        """A persistent Neighbor_alltoallv."""
        return self._persistent(self._alltoallv_args, sendbuf, recvbuf, "Neighbor_alltoallv_init")

    def Neighbor_alltoallw_init(self, sendbuf: Any, recvbuf: Any, info: Any = None) -> Prequest:
        """A persistent Neighbor_alltoallw."""
        return self._persistent(self._alltoallw_args, sendbuf, recvbuf, "Neighbor_alltoallw_init")

    # -- objects ---------------------------------------------------------------------------------
    def _object_exchange(self, sendobjs: list[Any]) -> list[Any]:
        """Send sendobjs[i] to out-neighbour i; the objects of the in-neighbours (None for PROC_NULL)."""
        recv_to, send_to = self._neighbour_pattern()
        e = self._engine
        ctx = self._coll_ctx
        recvs: list[RecvReq | None] = []
        for src, tag in recv_to:
            if src == PROC_NULL:
                recvs.append(None)
                continue
            req = RecvReq(src, tag, ctx, None, 0)
            req.on_complete = self._post_object_parts
            recvs.append(e.post(req))
        sends = [r for (dest, tag), obj in zip(send_to, sendobjs, strict=True) if dest != PROC_NULL
                 for r in self._send_object(obj, dest, tag, False, ctx)]
        out = []
        for req in recvs:
            if req is None:
                out.append(None)
                continue
            e.wait_recv(req, "neighbor collective")
            out.append(self._finish_object(req))
        for r in sends:
            e.wait_send(r, "neighbor collective")
        return out

    def neighbor_allgather(self, sendobj: Any) -> list[Any]:
        """sendobj to every out-neighbour; the list of the in-neighbours' objects (None for PROC_NULL)."""
        _, outdeg = self._degrees()
        return self._object_exchange([sendobj] * outdeg)

    def neighbor_alltoall(self, sendobj: Any) -> list[Any]:
        """Item i of sendobj to out-neighbour i; the list of the in-neighbours' objects."""
        _, outdeg = self._degrees()
        items = [None] * outdeg if sendobj is None else sendobj  # as mpi4py: None sends None to each
        try:
            items = list(items)
        except TypeError:
            raise MPIValueError(ERR_ARG, f"neighbor_alltoall needs a sequence of {outdeg} objects, "
                                         f"got {type(sendobj).__name__}") from None
        if len(items) != outdeg:
            raise MPIValueError(ERR_ARG, f"neighbor_alltoall: expecting {outdeg} items, got {len(items)}")
        return self._object_exchange(items)
