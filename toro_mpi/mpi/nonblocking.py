"""Nonblocking collectives (Ibarrier, Ibcast, ..., Ireduce_scatter), Alltoallw, and the
persistent collectives (Bcast_init, ...) built on them.

How they move data: every nonblocking collective is a set of point-to-point messages that are
ALL posted when the call starts (linear algorithms: a root sends to every rank, every rank
sends to the root, or everyone to everyone), on a context of the communicator that nothing else
uses (its fourth, spare context id) and under a tag that is the communicator's count of
nonblocking collectives started so far. So:

- several may be outstanding on one communicator and they match in the order each rank started
  them (MPI's rule), whatever order they are completed in;
- they never match a blocking collective (those run on the collective plane) nor user
  point-to-point traffic (another context);
- they progress while the program computes: a message that fits its ring (a pair's queue holds
  `queue_size * buffer_size` bytes, 2 MiB by default) leaves at the start call, and a receiver
  copies it out whenever it next calls into MPI, whether or not its sender is inside MPI then.
  Only what is left to do locally (the copies out of the ring, the reduction of what arrived)
  waits for the program's next MPI call (Test, Wait, or any other call that polls the bus);
  a message larger than the ring's room moves on as the sender next calls into MPI.

What a start and a Wait cost: a start pushes every send (each leaves at once when it fits its
ring) before posting the receives; a repeated Iallreduce call site (the same arrays and
operator) starts from its AllreduceSite and Ibarrier from lists built once per communicator, so
neither parses anything. Wait takes the receives still missing straight off their ring heads,
spinning in jitted code (engine.spin_posted, as a blocking Recv does) rather than in the
scheduler's Python loop, and only then combines. With both ranks computing on both cores, what
cannot hide behind the computation is that CPU work itself (pushing and copying out the payload,
the reduction): `python -m osu.probes overlap` prints it apart (start and Wait columns).

The price of posting everything at once is n-1 messages per rank (n*(n-1) in all) instead of
a tree's log n rounds: what a one-machine job of a few ranks can afford, and what lets a
collective finish with no rank having to forward anything. Reductions combine the contributions
in rank order, x0 op (x1 op (... op x(n-1))), on every rank alike, so an Iallreduce gives every
rank the same bits and non-commutative operators get MPI's order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..coll.elementwise import (
    OP_BAND,
    OP_BOR,
    OP_BXOR,
    OP_LAND,
    OP_LOR,
    OP_LXOR,
    OP_PROD,
    OP_SUM,
    OP_USER,
)
from ..coll.engine import local_reduce, local_reducer
from ..errors import (
    ERR_ARG,
    ERR_BUFFER,
    ERR_COUNT,
    ERR_OP,
    ERR_TRUNCATE,
    ERR_TYPE,
    MPIBufferError,
    MPIException,
    MPIValueError,
)
from . import datatypes as D
from .buffers import (
    BOTTOM,
    IN_PLACE,
    Buffer,
    as_datatype,
    byte_view,
    int_list,
    is_bottom,
    normalise,
    typed,
    typed_piece,
    v_bytes,
)
from .ops import SUM, Op
from .p2p import ANY_SOURCE, ANY_TAG, RecvReq
from .packing import check_committed
from .persistent import Prequest
from .request import Request, Status
from .wide_reduce import NUMPY_OPS, applies

# The communicator's context used by nonblocking collectives: its fourth (spare) one
# (comm.CONTEXTS_PER_COMM: point-to-point, collectives, object parts, spare).
NBC_CONTEXT_OFFSET = 3
# Tags of nonblocking collectives: a sequence number per communicator, wrapping well below the
# tags of the communicator-management messages (Idup) and partitioned transfers on this context.
NBC_TAG_SPAN = 1 << 29
IDUP_TAG_BASE = NBC_TAG_SPAN  # + the Idup's sequence number, modulo NBC_TAG_SPAN

_EMPTY_U8 = np.empty(0, np.uint8)
# Remembered Iallreduce call sites per communicator (each keeps its arrays and scratch alive).
SITE_LIMIT = 64
# Operators whose result is the same bits whichever operand comes first (x op y == y op x):
# with them a rank may combine its own contribution with the peer's straight in the receive
# buffer, and every rank still gets identical bits.
_EXACTLY_COMMUTATIVE = frozenset((OP_SUM, OP_PROD, OP_LAND, OP_LOR, OP_LXOR, OP_BAND, OP_BOR, OP_BXOR))


class PendingCollective:
    """The in-flight state of one nonblocking collective: its point-to-point requests and the
    local step that ends it (copy out, reduce). It quacks as the engine's SendReq does for the
    Request machinery: `done`, `error`, `dest`, `user_tag`."""

    __slots__ = ("parts", "finish", "_finished", "error", "dest", "user_tag")

    def __init__(self, parts: list[Any], finish: Callable[[], None] | None, tag: int) -> None:
        self.parts = parts
        self.finish = finish
        self._finished = False
        self.error: BaseException | None = None
        self.dest = -1  # what a blocked-call report names: no single peer
        self.user_tag = tag

    @property
    def done(self) -> bool:
        """Whether every message has moved; the first time it is, run the local step (so a
        Test loop, Waitany, a Prequest, ... all see the result as soon as they see completion)."""
        if self._finished:
            return True
        parts = self.parts
        for p in parts:
            if not p.done:
                return False
        self._finished = True
        for p in parts:
            if p.error is not None:
                self.error = p.error
                break
        if self.error is None and self.finish is not None:
            try:
                self.finish()
            except Exception as exc:  # a user operator that raised: reported at Wait
                self.error = exc
        self.parts = []
        self.finish = None
        return True

    def spin(self, engine: Any) -> bool:
        """Wait's fast path: take the receives still missing straight off their ring heads,
        spinning in jitted code (engine.spin_posted), then run the local step. True if done;
        False: the caller waits through the scheduler (something else needs the core, a
        message is not at its ring head, or it did not come within the spin)."""
        for p in self.parts:
            if not p.done and p.__class__ is RecvReq and not engine.spin_posted(p):
                break
        return self.done


class AllreduceSite:
    """A remembered Iallreduce call site: the arrays (held, so their ids stay theirs), operator,
    the views every start posts and the local step, built once by the checked path so that a
    repeated call (a loop, a persistent Allreduce_init) parses nothing.

    Two ranks and an operator that commutes exactly, or rank 0 (whose result x0 op x1 is
    `recv = send op recv`): the peer's contribution is received straight into the receive
    buffer and combined there, one pass, no scratch. Otherwise one scratch array per peer and the
    rank-order fold. `busy` while a start's scratch is in use: a second Iallreduce over the same
    arrays before the first completed takes the checked path (its own scratch)."""

    __slots__ = ("send", "recv", "op", "dtype", "recv_dtype", "sends", "recvs", "tmps", "out", "own",
                 "words", "fn", "busy", "order")

    def __init__(self, send: np.ndarray, recv: np.ndarray, op: Op, me: int, peers: list[int],
                 sview: np.ndarray, out: np.ndarray) -> None:
        self.send = send
        self.recv = recv
        self.op = op
        self.dtype = send.dtype
        self.recv_dtype = recv.dtype
        self.own = sview
        self.out = out
        self.words, self.fn = local_reducer(op.code, sview.size, sview.dtype)
        self.busy = False
        sbytes = byte_view(sview)
        self.sends = [(r, sbytes) for r in peers]
        if len(peers) == 1 and (me == 0 or op.code in _EXACTLY_COMMUTATIVE):
            self.tmps = None
            self.order = None
            self.recvs = [(peers[0], byte_view(out))]
        else:
            self.tmps = [np.empty(sview.size, sview.dtype) for _ in peers]
            self.recvs = [(r, byte_view(t)) for r, t in zip(peers, self.tmps, strict=True)]
            # The fold's operands in rank order: None for this rank's own contribution.
            self.order = list(self.tmps)
            self.order.insert(me, None)

    def finish(self) -> None:
        """The local step: out = x0 op (x1 op (... op x(n-1))), or out = own op peer in place."""
        fn, words, out = self.fn, self.words, self.out
        empty = out[:0]
        if self.tmps is None:
            fn(words, self.own, out, empty)
        else:
            order = self.order
            last = order[-1]
            out[...] = self.own if last is None else last
            for x in reversed(order[:-1]):
                fn(words, self.own if x is None else x, out, empty)
        self.busy = False


class CollRequest(Request):
    """The Request of a nonblocking collective (mpi4py's Request: Wait, Test, Waitall, ...)."""

    def _complete(self, status: Status | None) -> None:
        super()._complete(status)
        if status is not None:
            status._set(ANY_SOURCE, ANY_TAG, 0)

    def Cancel(self) -> None:
        """Cancelling a collective is erroneous in MPI; here it has no effect and the collective
        completes normally (Wait still completes it)."""


def combine(op: Op, inbuf: np.ndarray, inout: np.ndarray, datatype: Any) -> None:
    """inout = inbuf op inout (MPI's order of a user function's arguments)."""
    if op.code == OP_USER:
        op.apply_buffers(inbuf, inout, datatype)
    else:
        local_reduce(op.code, inbuf, inout)


def fold(op: Op, parts: list[np.ndarray], out: np.ndarray, datatype: Any) -> None:
    """out = parts[0] op (parts[1] op (... op parts[-1])): rank order, the same on every rank."""
    out[...] = parts[-1]
    for x in reversed(parts[:-1]):
        combine(op, x, out, datatype)


class NonblockingCollMixin:
    """Nonblocking and persistent collectives, Alltoallw, mixed into Comm (which provides the
    engine, the ranks and the argument checks of collectives.py)."""

    # -- plumbing --------------------------------------------------------------------------
    def _nbc_next_tag(self) -> int:
        """The tag of the next nonblocking collective on this communicator (its start order)."""
        seq = self.__dict__.get("_nbc_seq", 0)
        self._nbc_seq = seq + 1
        return seq % NBC_TAG_SPAN

    def _nbc_start(self, sends: list[tuple[int, np.ndarray]], recvs: list[tuple[int, np.ndarray]],
                   finish: Callable[[], None] | None = None, tag: int | None = None) -> CollRequest:
        """Start every send, then post every receive (communicator ranks, byte arrays), of one
        nonblocking collective; the request completes once all moved and `finish` ran."""
        if tag is None:
            tag = self._nbc_next_tag()
        e = self._engine
        ranks = self._ranks
        ctx = self._ctx + NBC_CONTEXT_OFFSET
        # Sends first: a peer already waiting gets its data one receive-post earlier. (The
        # parts list still has the receives first, in `recvs` order: Ialltoallw reads them.)
        sent = [e.isend(arr, arr.nbytes, ranks[r], tag, ctx) for r, arr in sends]
        parts: list[Any] = [e.irecv(arr, arr.nbytes, ranks[r], tag, ctx) for r, arr in recvs]
        parts += sent
        pending = PendingCollective(parts, finish, tag)
        if not parts and finish is not None:
            _ = pending.done  # nothing to move (one rank): the local step now
        return CollRequest(e, pending)

    def _others(self) -> list[int]:
        me = self.rank
        return [r for r in range(self.size) if r != me]

    # -- synchronisation and data movement ---------------------------------------------------
    def _nbc_post(self, sends: list[tuple[int, np.ndarray]], recvs: list[tuple[int, np.ndarray]],
                  finish: Callable[[], None] | None) -> CollRequest:
        """_nbc_start for prepared lists of (world rank, byte array): the hot sites' start."""
        seq = self.__dict__.get("_nbc_seq", 0)
        self._nbc_seq = seq + 1
        tag = seq % NBC_TAG_SPAN
        e = self._engine
        ctx = self._ctx + NBC_CONTEXT_OFFSET
        parts: list[Any] = [e.isend(arr, arr.nbytes, r, tag, ctx) for r, arr in sends]  # sends first
        for r, arr in recvs:
            parts.append(e.irecv(arr, arr.nbytes, r, tag, ctx))
        pending = PendingCollective(parts, finish, tag)
        if not parts and finish is not None:
            _ = pending.done
        return CollRequest(e, pending)

    def Ibarrier(self) -> Request:
        """Nonblocking barrier: completes once every rank has started it (an empty message to and
        from every other rank; the lists are built once per communicator)."""
        self._check_live()
        lists = self.__dict__.get("_nbc_barrier")
        if lists is None:
            ranks = self._ranks
            others = [(ranks[r], _EMPTY_U8) for r in self._others()]
            lists = self._nbc_barrier = (others, others)
            self._nbc_seq = self.__dict__.get("_nbc_seq", 0)
        return self._nbc_post(lists[0], lists[1], None)

    def Ibcast(self, buf: Any, root: int = 0) -> Request:
        """Nonblocking Bcast of root's buf to every rank's buf. The last call's lists are kept
        for a plain contiguous array: the same array and root again parse nothing."""
        hit = self.__dict__.get("_nbc_bcast")
        if hit is not None and hit[0] is buf and root.__class__ is int and hit[1] == root and buf.dtype is hit[2]:
            self._check_live()
            return self._nbc_post(hit[3], hit[4], None)
        root = self._root_arg(root)
        b = normalise(buf, self.rank != root)
        data = byte_view(b.array)
        ranks = self._ranks
        finish = None
        if self.rank == root:
            sends, recvs = [(ranks[r], data) for r in self._others()], []
        else:
            sends, recvs = [], [(ranks[root], data)]
            finish = b.finish if b.writeback is not None else None
        if (finish is None and self.size > 1 and type(buf) is np.ndarray and buf.flags.c_contiguous
                and data.nbytes == buf.nbytes and (not data.nbytes or data.ctypes.data == buf.ctypes.data)):
            self._nbc_bcast = (buf, root, buf.dtype, sends, recvs)  # views of buf itself: reusable
            self._nbc_seq = self.__dict__.get("_nbc_seq", 0)
        return self._nbc_post(sends, recvs, finish) if self.size > 1 else self._nbc_start([], [], finish)

    def Igather(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Request:
        """Nonblocking Gather."""
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me != root:
            return self._nbc_start([(root, self._send_bytes(sendbuf, "Gather"))], [])
        sendbuf = _in_place(sendbuf)
        rb = normalise(recvbuf, True, n)
        recv = byte_view(rb.array)
        count = rb.nbytes // n  # the root's receive count per rank: what MPI reads there
        if sendbuf is not IN_PLACE:
            send = byte_view(normalise(sendbuf, False).array)
            if send.nbytes > count:
                raise MPIException(ERR_TRUNCATE, f"Gather: receive buffer of {rb.nbytes} bytes, "
                                   f"{n} ranks x {send.nbytes} bytes need {n * send.nbytes}")
            recv[me * count: me * count + send.nbytes] = send
        return self._nbc_start([], [(r, recv[r * count: (r + 1) * count]) for r in self._others()],
                               rb.finish if rb.writeback is not None else None)

    def Igatherv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Request:
        """Nonblocking Gatherv."""
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me != root:
            return self._nbc_start([(root, self._send_bytes(sendbuf, "Gatherv"))], [])
        sendbuf = _in_place(sendbuf)
        recv, bc, bd, rb = v_bytes(recvbuf, n, True)
        if sendbuf is not IN_PLACE:
            send = byte_view(normalise(sendbuf, False).array)
            if send.nbytes > bc[me]:
                raise MPIException(ERR_TRUNCATE, f"Gatherv: the root sends itself {send.nbytes} bytes, "
                                   f"its receive count is {bc[me]} bytes")
            recv[bd[me]: bd[me] + send.nbytes] = send
        return self._nbc_start([], [(r, recv[bd[r]: bd[r] + bc[r]]) for r in self._others()],
                               rb.finish if rb.writeback is not None else None)

    def Iscatter(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Request:
        """Nonblocking Scatter."""
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me != root:
            rb = self._recv_buffer(recvbuf, "Scatter")
            return self._nbc_start([], [(root, byte_view(rb.array))], rb.finish if rb.writeback is not None else None)
        sb = normalise(sendbuf, False, n)
        send = byte_view(sb.array)
        rb = None
        if _in_place(recvbuf) is IN_PLACE:
            count = sb.nbytes // n
        else:
            rb = normalise(recvbuf, True)
            count = rb.nbytes
            if sb.nbytes < n * count:
                raise MPIException(ERR_TRUNCATE, f"Scatter: send buffer of {sb.nbytes} bytes at the root "
                                   f"cannot give {n} ranks {count} bytes each")
            if sb.nbytes // n > count:
                raise MPIException(ERR_TRUNCATE, f"Scatter: receive buffer of {count} bytes at the root, "
                                   f"each rank's piece is {sb.nbytes // n} bytes")
            count = sb.nbytes // n
            byte_view(rb.array)[:count] = send[me * count: (me + 1) * count]
            rb.finish()
        return self._nbc_start([(r, send[r * count: (r + 1) * count]) for r in self._others()], [])

    def Iscatterv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> Request:
        """Nonblocking Scatterv."""
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me != root:
            rb = self._recv_buffer(recvbuf, "Scatterv")
            return self._nbc_start([], [(root, byte_view(rb.array))], rb.finish if rb.writeback is not None else None)
        send, bc, bd, _ = v_bytes(sendbuf, n, False)
        if _in_place(recvbuf) is not IN_PLACE:
            rb = normalise(recvbuf, True)
            if rb.nbytes < bc[me]:
                raise MPIException(ERR_TRUNCATE, f"Scatterv: receive buffer of {rb.nbytes} bytes at the root, "
                                   f"its piece is {bc[me]} bytes")
            byte_view(rb.array)[: bc[me]] = send[bd[me]: bd[me] + bc[me]]
            rb.finish()
        return self._nbc_start([(r, send[bd[r]: bd[r] + bc[r]]) for r in self._others()], [])

    def Iallgather(self, sendbuf: Any, recvbuf: Any) -> Request:
        """Nonblocking Allgather."""
        self._check_live()
        n, me = self.size, self.rank
        sendbuf = _in_place(sendbuf)
        rb = normalise(recvbuf, True, n)
        send, recv, count = self._gathered(sendbuf, rb, "Allgather")
        if sendbuf is not IN_PLACE:
            recv[me * count: (me + 1) * count] = send
        others = self._others()
        return self._nbc_start([(r, send) for r in others], [(r, recv[r * count: (r + 1) * count]) for r in others],
                               rb.finish if rb.writeback is not None else None)

    def Iallgatherv(self, sendbuf: Any, recvbuf: Any) -> Request:
        """Nonblocking Allgatherv."""
        self._check_live()
        n, me = self.size, self.rank
        sendbuf = _in_place(sendbuf)
        recv, bc, bd, rb = v_bytes(recvbuf, n, True)
        if sendbuf is IN_PLACE:
            send = recv[bd[me]: bd[me] + bc[me]]
        else:
            send = byte_view(normalise(sendbuf, False).array)
            if send.nbytes != bc[me]:
                raise MPIException(ERR_TRUNCATE, f"Allgatherv: this rank sends {send.nbytes} bytes, "
                                   f"its receive count is {bc[me]} bytes")
            recv[bd[me]: bd[me] + bc[me]] = send
        others = self._others()
        return self._nbc_start([(r, send) for r in others], [(r, recv[bd[r]: bd[r] + bc[r]]) for r in others],
                               rb.finish if rb.writeback is not None else None)

    def Ialltoall(self, sendbuf: Any, recvbuf: Any) -> Request:
        """Nonblocking Alltoall."""
        self._check_live()
        n = self.size
        sendbuf = _in_place(sendbuf)
        rb = normalise(recvbuf, True, n)
        recv = byte_view(rb.array)
        if sendbuf is IN_PLACE:
            send = recv.copy()  # the receives overwrite blocks still to be sent
        else:
            send = byte_view(normalise(sendbuf, False, n).array)
        if send.nbytes % n:
            raise MPIValueError(ERR_COUNT, f"Alltoall: {send.nbytes} bytes do not split into {n} blocks")
        c = send.nbytes // n
        if rb.nbytes < n * c:
            raise MPIException(ERR_TRUNCATE, f"Alltoall: receive buffer of {rb.nbytes} bytes, "
                               f"{n} blocks of {c} bytes need {n * c}")
        return self._alltoall_bytes(send, [c] * n, [r * c for r in range(n)], recv, [c] * n,
                                    [r * c for r in range(n)], rb)

    def Ialltoallv(self, sendbuf: Any, recvbuf: Any) -> Request:
        """Nonblocking Alltoallv."""
        self._check_live()
        n = self.size
        sendbuf = _in_place(sendbuf)
        recv, rc, rd, rb = v_bytes(recvbuf, n, True)
        if sendbuf is IN_PLACE:
            send, sc, sd = recv.copy(), rc, rd
        else:
            send, sc, sd, _ = v_bytes(sendbuf, n, False)
        return self._alltoall_bytes(send, sc, sd, recv, rc, rd, rb)

    def _alltoall_bytes(self, send: np.ndarray, sc: list[int], sd: list[int], recv: np.ndarray,
                        rc: list[int], rd: list[int], rb: Any) -> CollRequest:
        me = self.rank
        if sc[me] != rc[me]:
            raise MPIException(ERR_TRUNCATE, f"Alltoall: this rank sends itself {sc[me]} bytes "
                               f"but receives {rc[me]} from itself")
        recv[rd[me]: rd[me] + rc[me]] = send[sd[me]: sd[me] + sc[me]]
        others = self._others()
        return self._nbc_start([(r, send[sd[r]: sd[r] + sc[r]]) for r in others],
                               [(r, recv[rd[r]: rd[r] + rc[r]]) for r in others],
                               rb.finish if rb is not None and rb.writeback is not None else None)

    def Ialltoallw(self, sendbuf: Any, recvbuf: Any) -> Request:
        """Nonblocking Alltoallw: per-peer counts, byte displacements and datatypes,
        ([buf, counts, displs, datatypes], [buf, (counts, displs), datatypes] or [buf, datatypes])."""
        self._check_live()
        n = self.size
        sendbuf = _in_place(sendbuf)
        # IN_PLACE: what is sent is the receive blocks' current contents, packed before receiving.
        send = w_pieces(recvbuf if sendbuf is IN_PLACE else sendbuf, n, False)
        recv = w_pieces(recvbuf, n, True)
        me = self.rank
        if send[me].nbytes != recv[me].nbytes:
            raise MPIException(ERR_TRUNCATE, f"Alltoallw: this rank sends itself {send[me].nbytes} bytes "
                               f"but receives {recv[me].nbytes} from itself")
        # (IN_PLACE: copies, as a send block may be a view of the memory a receive fills.)
        out = [piece_bytes(b).copy() if sendbuf is IN_PLACE else piece_bytes(b) for b in send]
        piece_bytes(recv[me])[:] = out[me]
        recv[me].finish()
        others = self._others()
        unpack = [recv[r] for r in others]
        arrived: list[Any] = []  # the receive requests, in `others` order (filled below)

        def finish() -> None:
            for b, part in zip(unpack, arrived, strict=True):
                b.finish(part.nbytes)

        req = self._nbc_start([(r, out[r]) for r in others],
                              [(r, piece_bytes(recv[r])) for r in others],
                              finish if any(b.writeback is not None for b in unpack) else None)
        arrived.extend(req._inner.parts[: len(others)])
        return req

    def Alltoallw(self, sendbuf: Any, recvbuf: Any) -> None:
        """Alltoall with per-peer counts, byte displacements and datatypes (see Ialltoallw)."""
        self.Ialltoallw(sendbuf, recvbuf).Wait()

    # -- reductions ----------------------------------------------------------------------------
    def _nb_reduction_args(self, sendbuf: Any, recvbuf: Any, op: Any, call: str, recv_needed: bool) -> tuple:
        """collectives._reduction_args, with a float or complex type that has no jitted kernel
        (long double, complex256) reduced by numpy: the reduction here is a local step."""
        try:
            return self._reduction_args(sendbuf, recvbuf, op, call, recv_needed)
        except MPIException as exc:
            fallback = NUMPY_OPS.get(getattr(op, "code", None))
            if exc.error_class != ERR_OP or fallback is None:
                raise
            send, recv, _, dt, rb, inplace = self._reduction_args(sendbuf, recvbuf, fallback, call, recv_needed)
            return send, recv, applies(op, send.dtype), dt, rb, inplace

    def Ireduce(self, sendbuf: Any, recvbuf: Any, op: Op = SUM, root: int = 0) -> Request:
        """Nonblocking Reduce (contributions combined in rank order at the root)."""
        root = self._root_arg(root)
        me = self.rank
        if me == root:
            sendbuf = _in_place(sendbuf)
        elif sendbuf is IN_PLACE:
            raise MPIException(ERR_BUFFER, "Reduce: MPI.IN_PLACE is only valid at the root")
        send, recv, op, dt, rb, inplace = self._nb_reduction_args(sendbuf, recvbuf, op, "Reduce", me == root)
        if me != root:
            return self._nbc_start([(root, byte_view(send))], [])
        count = send.size
        tmps = {r: np.empty(count, send.dtype) for r in self._others()}
        return self._nbc_start([], [(r, byte_view(t)) for r, t in tmps.items()],
                               self._folder(tmps, send, inplace, recv[:count], op, dt, range(self.size), rb))

    def Iallreduce(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> Request:
        """Nonblocking Allreduce (every rank combines all contributions in rank order).

        A call site seen before (the same array objects and operator) starts from its
        AllreduceSite: no argument parsing, no allocation."""
        self._check_live()
        site = self.__dict__.get("_nbc_last_site")
        if site is None or site.send is not sendbuf:
            sites = self.__dict__.get("_nbc_sites")
            site = sites.get(id(sendbuf)) if sites is not None else None
        if (site is not None and site.send is sendbuf and site.recv is recvbuf and site.op is op and not site.busy
                and sendbuf.dtype is site.dtype and recvbuf.dtype is site.recv_dtype):
            self._nbc_last_site = site
            site.busy = True
            return self._nbc_post(site.sends, site.recvs, site.finish)
        return self._iallreduce_checked(sendbuf, recvbuf, op)

    def _iallreduce_checked(self, sendbuf: Any, recvbuf: Any, op: Any) -> Request:
        """Iallreduce from its arguments (parsed and checked); a plain-array call is remembered."""
        sendbuf = _in_place(sendbuf)
        send, recv, op, dt, rb, inplace = self._nb_reduction_args(sendbuf, recvbuf, op, "Allreduce", True)
        count = send.size
        others = self._others()
        site = self._iallreduce_site(sendbuf, recvbuf, op, send, recv[:count], rb, inplace)
        if site is not None:
            site.busy = True
            return self._nbc_post(site.sends, site.recvs, site.finish)
        tmps = {r: np.empty(count, send.dtype) for r in others}
        return self._nbc_start([(r, byte_view(send)) for r in others], [(r, byte_view(t)) for r, t in tmps.items()],
                               self._folder(tmps, send, inplace, recv[:count], op, dt, range(self.size), rb))

    def _iallreduce_site(self, sendbuf: Any, recvbuf: Any, op: Op, send: np.ndarray, recv: np.ndarray,
                         rb: Any, inplace: bool) -> AllreduceSite | None:
        """Remember this call site when it qualifies: distinct C-contiguous numpy arrays of one
        dtype moved as they are (no packing, no widening), a predefined operator, more than
        one rank. None otherwise (the call then takes the general path every time)."""
        if (inplace or self.size < 2 or op.code == OP_USER or type(sendbuf) is not np.ndarray
                or type(recvbuf) is not np.ndarray or rb is None or rb.writeback is not None
                or not sendbuf.flags.c_contiguous or not recvbuf.flags.c_contiguous
                or send.dtype != sendbuf.dtype or recv.dtype != recvbuf.dtype or send.size == 0
                or np.may_share_memory(send, recv)):
            return None
        sites = self.__dict__.get("_nbc_sites")
        if sites is None or len(sites) >= SITE_LIMIT:
            sites = self._nbc_sites = {}
        ranks = self._ranks
        site = AllreduceSite(sendbuf, recvbuf, op, self.rank, [ranks[r] for r in self._others()],
                             send.reshape(-1), recv.reshape(-1))
        sites[id(sendbuf)] = site
        self._nbc_last_site = site
        self._nbc_seq = self.__dict__.get("_nbc_seq", 0)
        return site

    def _iscan(self, sendbuf: Any, recvbuf: Any, op: Op, exclusive: bool) -> Request:
        self._check_live()
        me = self.rank
        kind = "Exscan" if exclusive else "Scan"
        sendbuf = _in_place(sendbuf)
        send, recv, op, dt, rb, inplace = self._nb_reduction_args(sendbuf, recvbuf, op, kind, True)
        count = send.size
        tmps = {r: np.empty(count, send.dtype) for r in range(me)}
        ranks = range(me) if exclusive else range(me + 1)
        finish = self._folder(tmps, send, inplace, recv[:count], op, dt, ranks, rb) if len(ranks) else None
        return self._nbc_start([(r, byte_view(send)) for r in range(me + 1, self.size)],
                               [(r, byte_view(t)) for r, t in tmps.items()], finish)

    def Iscan(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> Request:
        """Nonblocking inclusive prefix reduction."""
        return self._iscan(sendbuf, recvbuf, op, False)

    def Iexscan(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> Request:
        """Nonblocking exclusive prefix reduction (rank 0's result is undefined: untouched)."""
        return self._iscan(sendbuf, recvbuf, op, True)

    def Ireduce_scatter_block(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> Request:
        """Nonblocking Reduce_scatter_block."""
        self._check_live()
        n = self.size
        sendbuf = _in_place(sendbuf)
        inplace = sendbuf is IN_PLACE
        rb = normalise(recvbuf, True, n if inplace else 1)
        recv = typed(rb)
        if inplace:
            if recv.size % n:
                raise MPIValueError(ERR_COUNT, f"Reduce_scatter_block: {recv.size} elements do not split "
                                    f"into {n} blocks")
            count = recv.size // n
            send = recv
        else:
            sb = normalise(sendbuf, False, n)
            send = typed(sb)
            if sb.datatype.dtype != rb.datatype.dtype:
                raise MPIValueError(ERR_TYPE, f"Reduce_scatter_block: send datatype {sb.datatype.name} and "
                                    f"receive datatype {rb.datatype.name} differ")
            if send.size % n:
                raise MPIValueError(ERR_COUNT, f"Reduce_scatter_block: {send.size} elements do not split "
                                    f"into {n} blocks")
            count = send.size // n
            if recv.size != count:
                raise MPIValueError(ERR_TRUNCATE if recv.size < count else ERR_COUNT,
                                    f"Reduce_scatter_block: receive buffer holds {recv.size} elements, "
                                    f"each block has {count}")
        op = applies(SUM if op is None else op, send.dtype)
        return self._ireduce_scatter(send, [count] * n, op, rb, recv, inplace)

    def Ireduce_scatter(self, sendbuf: Any, recvbuf: Any, recvcounts: Any = None, op: Op = SUM) -> Request:
        """Nonblocking Reduce_scatter (recvcounts None: as mpi4py, each rank's receive size,
        gathered by a blocking allgather at the start)."""
        self._check_live()
        n = self.size
        rb = normalise(recvbuf, True)
        recv = typed(rb)
        sendbuf = _in_place(sendbuf)
        inplace = sendbuf is IN_PLACE
        sb = None if inplace else normalise(sendbuf, False)
        send = recv if sb is None else typed(sb)
        if sb is not None and sb.datatype.dtype != rb.datatype.dtype:
            raise MPIValueError(ERR_TYPE, f"Reduce_scatter: send datatype {sb.datatype.name} and receive "
                                f"datatype {rb.datatype.name} differ")
        if recvcounts is None:
            counts = [send.size // n] * n if inplace else [int(c) for c in self.allgather(recv.size)]
        else:
            counts = int_list(recvcounts, n, "recvcounts")
        if sum(counts) != send.size:
            raise MPIValueError(ERR_COUNT, f"Reduce_scatter: recvcounts sum to {sum(counts)}, the send buffer "
                                f"has {send.size} elements")
        if not inplace and recv.size != counts[self.rank]:
            raise MPIValueError(ERR_TRUNCATE if recv.size < counts[self.rank] else ERR_COUNT,
                                f"Reduce_scatter: receive buffer holds {recv.size} elements, this rank's piece "
                                f"has {counts[self.rank]}")
        op = applies(SUM if op is None else op, send.dtype)
        return self._ireduce_scatter(send, counts, op, rb, recv, inplace)

    def _ireduce_scatter(self, send: np.ndarray, counts: list[int], op: Op, rb: Any, recv: np.ndarray,
                         inplace: bool) -> CollRequest:
        # Rank r gets block r of everyone's send buffer and combines them in rank order.
        me = self.rank
        displs = [sum(counts[:r]) for r in range(self.size)]
        others = self._others()
        mine = send[displs[me]: displs[me] + counts[me]]
        tmps = {r: np.empty(counts[me], send.dtype) for r in others}
        sends = [(r, byte_view(send[displs[r]: displs[r] + counts[r]])) for r in others]
        return self._nbc_start(sends, [(r, byte_view(t)) for r, t in tmps.items()],
                               self._folder(tmps, mine, inplace, recv[: counts[me]], op, rb.datatype,
                                            range(self.size), rb))

    def _folder(self, tmps: dict[int, np.ndarray], own: np.ndarray, inplace: bool, out: np.ndarray, op: Op,
                datatype: Any, ranks: range, rb: Any) -> Callable[[], None]:
        """The local step of a reduction: combine the contributions of `ranks` (this rank's is
        `own`, the others' arrived in tmps) in rank order into out."""
        me = self.rank

        def finish() -> None:
            mine = own.copy() if inplace else own  # out may be own's memory
            fold(op, [mine if r == me else tmps[r] for r in ranks], out, datatype)
            if rb is not None:
                rb.finish()
        return finish

    # -- persistent collectives (MPI-4) -----------------------------------------------------------
    def _persistent(self, start: Callable[[], Request]) -> Prequest:
        self._check_live()
        req = Prequest(start)
        req._comm = None
        return req

    def Barrier_init(self, info: Any = None) -> Prequest:
        """Persistent Barrier: each Start is one Ibarrier."""
        return self._persistent(self.Ibarrier)

    def Bcast_init(self, buf: Any, root: int = 0, info: Any = None) -> Prequest:
        """Persistent Bcast."""
        self._root_arg(root)
        return self._persistent(lambda: self.Ibcast(buf, root))

    def Reduce_init(self, sendbuf: Any, recvbuf: Any, op: Op = SUM, root: int = 0, info: Any = None) -> Prequest:
        """Persistent Reduce."""
        self._root_arg(root)
        return self._persistent(lambda: self.Ireduce(sendbuf, recvbuf, op, root))

    def Allreduce_init(self, sendbuf: Any, recvbuf: Any, op: Op = SUM, info: Any = None) -> Prequest:
        """Persistent Allreduce."""
        return self._persistent(lambda: self.Iallreduce(sendbuf, recvbuf, op))

    def Gather_init(self, sendbuf: Any, recvbuf: Any, root: int = 0, info: Any = None) -> Prequest:
        """Persistent Gather."""
        self._root_arg(root)
        return self._persistent(lambda: self.Igather(sendbuf, recvbuf, root))

    def Gatherv_init(self, sendbuf: Any, recvbuf: Any, root: int = 0, info: Any = None) -> Prequest:
        """Persistent Gatherv."""
        self._root_arg(root)
        return self._persistent(lambda: self.Igatherv(sendbuf, recvbuf, root))

    def Scatter_init(self, sendbuf: Any, recvbuf: Any, root: int = 0, info: Any = None) -> Prequest:
        """Persistent Scatter."""
        self._root_arg(root)
        return self._persistent(lambda: self.Iscatter(sendbuf, recvbuf, root))

    def Scatterv_init(self, sendbuf: Any, recvbuf: Any, root: int = 0, info: Any = None) -> Prequest:
        """Persistent Scatterv."""
        self._root_arg(root)
        return self._persistent(lambda: self.Iscatterv(sendbuf, recvbuf, root))

    def Allgather_init(self, sendbuf: Any, recvbuf: Any, info: Any = None) -> Prequest:
        """Persistent Allgather."""
        return self._persistent(lambda: self.Iallgather(sendbuf, recvbuf))

    def Allgatherv_init(self, sendbuf: Any, recvbuf: Any, info: Any = None) -> Prequest:
        """Persistent Allgatherv."""
        return self._persistent(lambda: self.Iallgatherv(sendbuf, recvbuf))

    def Alltoall_init(self, sendbuf: Any, recvbuf: Any, info: Any = None) -> Prequest:
        """Persistent Alltoall."""
        return self._persistent(lambda: self.Ialltoall(sendbuf, recvbuf))

    def Alltoallv_init(self, sendbuf: Any, recvbuf: Any, info: Any = None) -> Prequest:
        """Persistent Alltoallv."""
        return self._persistent(lambda: self.Ialltoallv(sendbuf, recvbuf))

    def Alltoallw_init(self, sendbuf: Any, recvbuf: Any, info: Any = None) -> Prequest:
        """Persistent Alltoallw (the specs are checked now; each Start packs the send blocks anew)."""
        w_pieces(recvbuf, self.size, True)
        if sendbuf is not None and sendbuf is not IN_PLACE:
            w_pieces(sendbuf, self.size, False)
        return self._persistent(lambda: self.Ialltoallw(sendbuf, recvbuf))

    def Scan_init(self, sendbuf: Any, recvbuf: Any, op: Op = SUM, info: Any = None) -> Prequest:
        """Persistent Scan."""
        return self._persistent(lambda: self.Iscan(sendbuf, recvbuf, op))

    def Exscan_init(self, sendbuf: Any, recvbuf: Any, op: Op = SUM, info: Any = None) -> Prequest:
        """Persistent Exscan."""
        return self._persistent(lambda: self.Iexscan(sendbuf, recvbuf, op))

    def Reduce_scatter_block_init(self, sendbuf: Any, recvbuf: Any, op: Op = SUM, info: Any = None) -> Prequest:
        """Persistent Reduce_scatter_block."""
        return self._persistent(lambda: self.Ireduce_scatter_block(sendbuf, recvbuf, op))

    def Reduce_scatter_init(self, sendbuf: Any, recvbuf: Any, recvcounts: Any = None, op: Op = SUM,
                            info: Any = None) -> Prequest:
        """Persistent Reduce_scatter."""
        return self._persistent(lambda: self.Ireduce_scatter(sendbuf, recvbuf, recvcounts, op))


def _in_place(buf: Any) -> Any:
    """MPI.IN_PLACE for None: mpi4py reads a collective's None send buffer as MPI.IN_PLACE."""
    return IN_PLACE if buf is None else buf


def w_pieces(spec: Any, n: int, writable: bool) -> list[Buffer]:
    """An Alltoallw buffer spec as one Buffer per peer, as mpi4py reads it: [buf, datatypes]
    (one element each, at offset 0), [buf, (counts, displs), datatypes] or
    [buf, counts, displs, datatypes]; counts are in elements of each peer's datatype,
    displacements in bytes (addresses, from MPI.Get_address, when buf is MPI.BOTTOM or None).
    Peer i's block is counts[i] elements of datatypes[i] from byte displs[i] (any datatype:
    derived, non-contiguous, extent != size); see buffers.typed_piece."""
    if not isinstance(spec, (list, tuple)):
        raise MPIException(ERR_ARG, f"Alltoallw: expected [buf, counts, displs, datatypes], got {type(spec).__name__}")
    if len(spec) == 2:
        obj, types = spec
        counts, displs = [1] * n, [0] * n
    elif len(spec) == 3:
        obj, (counts, displs), types = spec
    elif len(spec) == 4:
        obj, counts, displs, types = spec
    else:
        raise ValueError("message: expecting 2 to 4 items")
    bottom = obj is None or is_bottom(obj)
    if is_bottom(obj) and (counts is None or displs is None):  # as mpi4py: addresses need both
        raise MPIValueError(ERR_ARG, f"message: BOTTOM requires {'counts' if counts is None else 'displs'}")
    if counts is None and displs is None:  # as mpi4py: one element of each datatype, at byte 0
        counts, displs = [1] * n, [0] * n
    data = None
    if not bottom:
        b = normalise(obj, writable)
        if b.writeback is not None:
            raise MPIBufferError(ERR_BUFFER, "Alltoallw: a non-contiguous receive buffer is not supported")
        data = b.array
    counts = int_list(counts, n, "counts")
    displs = int_list(displs, n, "displacements")
    if isinstance(types, D.Datatype) or len(types) != n:
        raise ValueError(f"expecting {n} items, got {1 if isinstance(types, D.Datatype) else len(types)}")
    dts = [as_datatype(t) for t in types]
    if data is not None:
        nbytes = data.nbytes
        for c, d, dt in zip(counts, displs, dts, strict=True):
            if not c:
                continue
            t = check_committed(dt)
            lo, hi = d + t.tlb, d + (c - 1) * (t.ub - t.lb) + t.tub
            if lo < 0 or hi > nbytes:
                raise MPIException(ERR_TRUNCATE, f"Alltoallw: {c} x {dt.name or 'derived datatype'} at byte {d} "
                                   f"reach bytes [{lo}, {hi}), the buffer holds {nbytes}")
    where = BOTTOM if bottom else data
    return [typed_piece(where, d, c, dt, writable) for c, d, dt in zip(counts, displs, dts, strict=True)]


def piece_bytes(b: Buffer) -> np.ndarray:
    """The bytes a block moves (a view of the user's memory or its packed scratch)."""
    return byte_view(b.array)[: b.nbytes]
