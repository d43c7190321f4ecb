"""One rank's link to the ranks of other nodes: byte messages over mpi4py nonblocking calls.

Every item toro_mpi sends to another node is one MPI message of bytes on a private duplicate
of the real COMM_WORLD, under one tag per channel (TAG + channel), so MPI's non-overtaking rule
keeps each pair's items of one channel in the order they were sent. Sends are `Isend`s tested
later; arrivals are found with a matched probe (`Improbe`, any source) and received with
`Irecv` on the matched message (`Imrecv`) into a buffer of the probed size, so a large payload
lands in its buffer with no intermediate copy.
Nothing here knows the layout of the items (mpi/netroute.py does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

TAG = 0x2B0B  # the tag of channel 0 on the link's private communicator; channel c uses TAG + c

_current: Link | None = None


class Link:
    """Nonblocking byte messages to and from the other ranks of the real MPI job."""

    def __init__(self, mpi: Any, comm: Any) -> None:
        self.MPI = mpi
        self.comm = comm.Dup()  # a context of our own: the program's MPI traffic never mixes in
        # A dead peer raises here (the route turns it into the job's abort) instead of Open MPI
        # aborting this process with an error code of its own.
        self.comm.Set_errhandler(mpi.ERRORS_RETURN)
        self.Error = mpi.Exception
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._sends: list[Any] = []  # outstanding Isend requests
        self._bufs: list[np.ndarray] = []  # their buffers, alive until the request completes
        self._status = mpi.Status()
        self._byte = mpi.BYTE
        self._improbe: Callable[..., Any] = self.comm.Improbe
        self._any = mpi.ANY_SOURCE
        self.node_of: list[int] = []  # every world rank's node (set by toro_mpi.node_main)
        self.local: Any = None  # the real communicator of this node's ranks
        self.sent = 0  # items sent and received so far (a deadlock check compares them)
        self.received = 0

    def send(self, dest: int, buf: np.ndarray, channel: int = 0) -> None:
        """Start sending buf (uint8, kept alive here until the send completes) to world rank dest."""
        req = self.comm.Isend([buf, self._byte], dest, TAG + channel)
        self.sent += 1
        if not req.Test():
            self._sends.append(req)
            self._bufs.append(buf)

    def pending_sends(self) -> int:
        """How many sends have not completed yet (after testing them once)."""
        if self._sends:
            reqs = self._sends
            done = self.MPI.Request.Testsome(reqs)
            if done:
                for i in sorted(done, reverse=True):
                    del reqs[i]
                    del self._bufs[i]
        return len(self._sends)

    def poll(self, channel: int = 0) -> tuple[int, np.ndarray, Any] | None:
        """The next arrival on channel: (source, its buffer, a request still receiving it or
        None), or None."""
        st = self._status
        msg = self._improbe(self._any, TAG + channel, st)
        if msg is None:
            return None
        n = st.Get_count(self._byte)
        buf = np.empty(n, np.uint8)
        req = msg.Irecv([buf, self._byte])
        self.received += 1
        if req.Test():
            req = None
        return st.Get_source(), buf, req

    def close(self) -> None:
        """Complete every outstanding send (before MPI_Finalize)."""
        if self._sends:
            self.MPI.Request.Waitall(self._sends)
            self._sends.clear()
            self._bufs.clear()

    def abort(self, code: int) -> None:
        """End the whole job on every node with exit status `code` (MPI_Abort)."""
        self.comm.Abort(code)


def install(link: Link | None) -> None:
    """Make link the process's network link (the start-up entry does, before the rank starts)."""
    global _current
    _current = link


def current() -> Link | None:
    """The process's network link, or None in a job of one node (no MPI library loaded)."""
    return _current
