"""One rank's link to the ranks of other nodes: byte messages over mpi4py nonblocking calls.

Every item toro_mpi sends to another node is one MPI message of bytes on a private duplicate
of the real COMM_WORLD, all under one tag, so MPI's non-overtaking rule keeps each pair's items
in the order they were sent (the item's own header says which plane it is for). Sends are
`Isend`s tested later, in batches. Arrivals land in one receive posted in advance (a persistent
request, any source) into a buffer of CAP bytes, reused for every item: finding and taking an
item is one `Test`, with no allocation. An item larger than CAP travels as a 16-byte
announcement (its size and its first 8 bytes) on the same tag, so it keeps its place in the
pair's order, then itself under BIG_TAG, received into a buffer of its size once the
announcement is taken. Items are longer than 16 bytes; their first 8 bytes (the head word) are
known at arrival, even for a large item still being received. Nothing here knows the layout
of the items (mpi/netroute.py does).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

TAG = 0x2B0B  # the tag of every item on the link's private communicator
BIG_TAG = TAG + 1  # the tag of an item larger than CAP, after its announcement under TAG
SEND_BATCH = 64  # sends outstanding before a send tests them all (keeps the lists short)
CAP = 65536 + 128  # bytes of the posted receive: every item of a message sent through the rings fits

_current: Link | None = None
_WORD = struct.Struct("q")  # an item's head word
_WORDS2 = struct.Struct("2q")  # an announcement: size, head word


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
        self._bufs: list[np.ndarray | bytes] = []  # their buffers, alive until the request completes
        self._status = mpi.Status()
        self._byte = mpi.BYTE
        self._rbuf = np.empty(CAP, np.uint8)
        self._rreq = self.comm.Recv_init([self._rbuf, mpi.BYTE], mpi.ANY_SOURCE, TAG)
        self._rreq.Start()
        self._held = False  # whether the last item poll returned is the posted buffer (restart first)
        self.node_of: list[int] = []  # every world rank's node (set by toro_mpi.node_main)
        self.local: Any = None  # the real communicator of this node's ranks
        self.sent = 0  # items sent and received so far, bulk payloads left out (net/board.py)
        self.received = 0

    def send(self, dest: int, buf: np.ndarray | bytes) -> None:
        """Start sending buf (1-D uint8 array or bytes, more than 16 bytes, kept alive here
        until the send completes) to world rank dest."""
        self.sent += 1
        if len(buf) > CAP:
            size = np.array([len(buf), int.from_bytes(bytes(buf[:8]), "little", signed=True)], np.int64)
            self._start(self.comm.Isend([size, self._byte], dest, TAG), size)
            self._start(self.comm.Isend([buf, self._byte], dest, BIG_TAG), buf)
            return
        # _start's lines, inline: this is every small message's path.
        self._sends.append(self.comm.Isend([buf, self._byte], dest, TAG))
        self._bufs.append(buf)
        if len(self._sends) >= SEND_BATCH:
            self.pending_sends()

    def _start(self, req: Any, buf: np.ndarray | bytes) -> None:
        # Not tested here: the MPI starts a small send within Isend, and testing it is a whole
        # progress call (a microsecond) on every message's path; pending_sends (each pump, and
        # here once SEND_BATCH are outstanding) completes them.
        self._sends.append(req)
        self._bufs.append(buf)
        if len(self._sends) >= SEND_BATCH:
            self.pending_sends()

    def send_bulk(self, dest: int, buf: np.ndarray, tag: int) -> None:
        """Start sending buf (kept alive until done) to dest on the bulk context under tag."""
        # (Not counted in `sent`: its header item is, and the receiver asks for the payload
        # only once it matched that header, so a deadlock may leave it unreceived.)
        req = self.bulk.Isend([buf, self._byte], dest, tag)
        self._bulk_sends.append(req)
        self._bulk_bufs.append(buf)

    def irecv_bulk(self, src: int, buf: np.ndarray, tag: int) -> Any:
        """Start receiving the bulk payload src sent under tag into buf (uint8, exactly its
        size); return the request."""
        return self.bulk.Irecv([buf, self._byte], src, tag)

    def pending_sends(self) -> int:
        """How many sends have not completed yet (after testing them once)."""
        if self._sends:
            self._drop_done(self._sends, self._bufs)
        if self._bulk_sends:
            self._drop_done(self._bulk_sends, self._bulk_bufs)
        return len(self._sends) + len(self._bulk_sends)

    def _drop_done(self, reqs: list[Any], bufs: list[Any]) -> None:
        """Test reqs once; forget the completed ones and their buffers."""
        done = self.MPI.Request.Testsome(reqs)
        if done:
            for i in sorted(done, reverse=True):
                del reqs[i]
                del bufs[i]

    def poll(self) -> tuple[int, int, np.ndarray, Any] | None:
        """The next arrival: (source, its head word, its bytes, a request still receiving them
        or None), or None.

        Without a request, the bytes are a view of the posted buffer, valid until the next
        call (copy what must live longer). One `Test` when nothing came: a progress call of the
        MPI."""
        got = self.poll_raw()
        return None if got is None else self.item(*got)

    def poll_raw(self) -> tuple[int, int] | None:
        """poll's first half, for a caller that may use the bytes in place: (source, size) of
        the next arrival, or None. Unless the size is 16 (an announcement), the item is whole
        in the posted buffer (at `rbuf_address`) until the next poll; `item(source, size)`
        makes of it what poll would have returned (and must be called for an announcement)."""
        req = self._rreq
        if self._held:
            self._held = False
            req.Start()
        st = self._status
        if not req.Test(st):
            return None
        self.received += 1
        self._held = True
        return st.Get_source(), st.Get_count(self._byte)

    def item(self, src: int, n: int) -> tuple[int, int, np.ndarray, Any]:
        """What poll returns for the arrival poll_raw reported as (src, n)."""
        rbuf = self._rbuf
        if n != 16:
            return src, _WORD.unpack_from(rbuf, 0)[0], rbuf[:n], None
        self._held = False
        size, head = _WORDS2.unpack_from(rbuf, 0)
        self._rreq.Start()
        buf = np.empty(size, np.uint8)
        big = self.comm.Irecv([buf, self._byte], src, BIG_TAG)
        return src, head, buf, None if big.Test() else big

    @property
    def rbuf_address(self) -> int:
        """The address of the posted receive's buffer (never reallocated)."""
        return int(self._rbuf.ctypes.data)

    def close(self) -> None:
        """Complete every outstanding send (before MPI_Finalize) and withdraw the posted
        receive. A bulk payload still unsent belongs to a message its receiver never took (it
        finalized first): cancelled."""
        req = self._rreq
        if not self._held:
            req.Cancel()
            req.Wait()
        req.Free()
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
