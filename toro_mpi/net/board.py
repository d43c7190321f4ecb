"""The deadlock board of a job of several simulated nodes: what each rank is blocked in.

In a job of one node, the launcher reads every rank's slot in the node's segment to tell a
deadlock. Under `toro-mpirun --nodes K` each node has its own segment, which the launcher does
not see (its name is unlinked once the node's ranks attached), and a deadlock needs every node
quiet *and* no item in flight between nodes. So the launcher creates this board (a small POSIX
shared memory block named in TORO_MPI_NET_BOARD) and each rank publishes on it, at the moments
its process goes idle or busy (the same moments it writes its own slot), a row of WORDS int64:

  STATE     1 attached, 2 finished with the bus (0: not yet attached)
  IDLE      a count: odd while the rank's process is idle (sleeping on its doorbell), even
            while it runs; it changes on every change, so two equal looks mean no wake between
  CALL, PEER, TAG   the blocking call, as in the segment's slot (layout.CALL_CODES)
  SENT, RECEIVED    network items this rank has sent to and received from other nodes
  PID       the rank's process (the launcher reads how often it has slept)
  FLIGHT    1 while the rank has network work under way that moves without it looking busy:
            a large payload being received into its buffer, items not yet in a full ring

The launcher (launcher/netwatch.py, which keeps its own copy of these offsets: it may not import
this layer) calls a deadlock when two looks find every live rank idle with the same counts, the
network's sent and received totals equal, no rank with network work under way, and every rank
asleep and awake again in between. (A large payload's sender does not count as work under way:
its receiver asks for it only once it matched the header, so a deadlock may leave it unsent.)
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable
from typing import Any

import numpy as np

WORDS = 9
STATE, IDLE, CALL, PEER, TAG, SENT, RECEIVED, PID, FLIGHT = range(WORDS)
ATTACHED, FINISHED = 1, 2
ENV = "TORO_MPI_NET_BOARD"


class BoardRow:
    """This rank's row of the board, and the hooks that keep it current."""

    def __init__(self, name: str, rank: int, size: int, link: Any) -> None:
        import posix_ipc

        shm = posix_ipc.SharedMemory(name)
        try:
            self._map = mmap.mmap(shm.fd, size * WORDS * 8)
        finally:
            shm.close_fd()
        self.row = np.frombuffer(self._map, np.int64, WORDS, rank * WORDS * 8)
        self.link = link
        self._idle = 0
        self._in_flight: Callable[[], bool] = lambda: False
        self.row[PID] = os.getpid()
        self.row[STATE] = ATTACHED

    def hook(self, transport: Any, in_flight: Callable[[], bool]) -> None:
        """Mirror the transport's set_blocked and set_idle (what the engine calls to publish its
        state in its slot) onto this row; `in_flight()` says whether network work is under way."""
        set_blocked, set_idle = transport.set_blocked, transport.set_idle
        row = self.row
        link = self.link
        self._in_flight = in_flight

        def blocked(call: int, peer: int, tag: int) -> None:
            set_blocked(call, peer, tag)
            row[CALL], row[PEER], row[TAG] = call, peer, tag

        def idle(now: bool) -> None:
            set_idle(now)
            if bool(self._idle & 1) != now:
                # The counts first, then the idle word that makes them worth reading.
                row[SENT], row[RECEIVED] = link.sent, link.received
                row[FLIGHT] = 1 if now and in_flight() else 0
                self._idle += 1
                row[IDLE] = self._idle

        transport.set_blocked = blocked
        transport.set_idle = idle

    def counts(self) -> None:
        """Publish the item counts now. The route calls this after a pass that moved items: a
        process's scheduler may take an item in its last look before sleeping without marking
        itself busy again (the item woke nobody, e.g. an unexpected message), and the launcher
        must not keep the counts (or the work under way) of before it."""
        row = self.row
        row[SENT], row[RECEIVED] = self.link.sent, self.link.received
        row[FLIGHT] = 1 if self._idle & 1 and self._in_flight() else 0

    def finished(self) -> None:
        """The rank is done with the bus (after its last item to other nodes)."""
        self.row[SENT], self.row[RECEIVED] = self.link.sent, self.link.received
        self.row[STATE] = FINISHED


def attach(rank: int, size: int, link: Any) -> BoardRow | None:
    """This rank's row of the job's board, or None when the launcher made none (a cluster job
    started by the MPI's own launcher: no deadlock report there, --timeout-like limits are the
    MPI launcher's)."""
    name = os.environ.get(ENV)
    if not name:
        return None
    try:
        return BoardRow(name, rank, size, link)
    except (OSError, ValueError, ImportError):
        return None
