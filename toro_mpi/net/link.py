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
        self.tag_ub = int(comm.Get_attr(mpi.TAG_UB))
        # Large payloads: on a second context, never probed, each under a tag its header names,
        # received straight into the buffer of the receive that matched the header.
        self.bulk = self.comm.Dup()
        self.bulk.Set_errhandler(mpi.ERRORS_RETURN)
        self._bulk_sends: list[Any] = []
        self._bulk_bufs: list[np.ndarray] = []
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._sends: list[Any] = []  # outstanding Isend requests
        self._bufs: list[np.ndarray] = []  # their buffers, alive until the request completes
        self._status = mpi.Status()
        self._byte = mpi.BYTE
        self._improbe: Callable[..., Any] = self.comm.Improbe
        self._any = mpi.ANY_SOURCE
        self._any_tag = mpi.ANY_TAG
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

    def send_bulk(self, dest: int, buf: np.ndarray, tag: int) -> None:
        """Start sending buf (kept alive until done) to dest on the bulk context under tag."""
        req = self.bulk.Isend([buf, self._byte], dest, tag)
        self.sent += 1
        self._bulk_sends.append(req)
        self._bulk_bufs.append(buf)

    def irecv_bulk(self, src: int, buf: np.ndarray, tag: int) -> Any:
        """Start receiving the bulk payload src sent under tag into buf (uint8, exactly its
        size); return the request."""
        self.received += 1
        return self.bulk.Irecv([buf, self._byte], src, tag)

    def pending_sends(self) -> int:
        """How many sends have not completed yet (after testing them once)."""
        if self._sends:
            reqs = self._sends
            done = self.MPI.Request.Testsome(reqs)
            if done:
                for i in sorted(done, reverse=True):
                    del reqs[i]
                    del self._bufs[i]
        if self._bulk_sends:
            reqs = self._bulk_sends
            done = self.MPI.Request.Testsome(reqs)
            if done:
                for i in sorted(done, reverse=True):
                    del reqs[i]
                    del self._bulk_bufs[i]
        return len(self._sends) + len(self._bulk_sends)

    def poll(self) -> tuple[int, int, np.ndarray, Any] | None:
        """The next arrival: (source, channel, its buffer, a request still receiving it or None),
        or None. One matched probe for every channel (ANY_TAG: the private communicator carries
        nothing else), which keeps each channel's order and costs one progress call of the MPI."""
        st = self._status
        msg = self._improbe(self._any, self._any_tag, st)
        if msg is None:
            return None
        n = st.Get_count(self._byte)
        buf = np.empty(n, np.uint8)
        req = msg.Irecv([buf, self._byte])
        self.received += 1
        if req.Test():
            req = None
        return st.Get_source(), st.Get_tag() - TAG, buf, req

    def close(self) -> None:
        """Complete every outstanding send (before MPI_Finalize). A bulk payload still unsent
        belongs to a message its receiver never took (it finalized first): cancelled."""
        if self._sends:
            self.MPI.Request.Waitall(self._sends)
            self._sends.clear()
            self._bufs.clear()
        if self._bulk_sends and not self.MPI.Request.Testall(self._bulk_sends):
            for req in self._bulk_sends:
                if req:
                    req.Cancel()
            self.MPI.Request.Waitall(self._bulk_sends)
        self._bulk_sends.clear()
        self._bulk_bufs.clear()

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
