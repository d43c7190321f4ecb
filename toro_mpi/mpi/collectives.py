"""Collective operations of a communicator, mpi4py's interface: buffer calls and object calls.

Each buffer call checks its arguments on every rank (root, operator against dtype, buffer sizes)
before anything moves, so bad input raises the same MPI.Exception everywhere instead of leaving
some ranks waiting. It then picks the algorithm (coll/schedules.py), caches the compiled plan by
the call's shape, and runs it in one jitted call (coll/engine.py).

Data-moving collectives (bcast, gather, scatter, allgather, alltoall and the v-variants) move
bytes: they run on uint8 views of the buffers, so one compiled interpreter serves every dtype.
Reductions run on the buffers' own dtype.

Object calls pickle and go through the buffer calls: lengths first, then the bytes.
"""

from __future__ import annotations

import functools
import pickle
from typing import Any

import numpy as np

from ..coll import schedules as S
from ..coll.elementwise import OP_USER
from ..coll.engine import Plan, barrier_entry
from ..coll.interpreter import HOT_DTYPES
from . import datatypes as D
from . import hosted as H
from .buffers import IN_PLACE, Buffer, as_count, byte_view, normalise, split_spec
from .errors import (
    ERR_ARG,
    ERR_BUFFER,
    ERR_COUNT,
    ERR_ROOT,
    ERR_TRUNCATE,
    ERR_TYPE,
    MPIException,
    MPITypeError,
    MPIValueError,
)
from .ops import SUM, Op, check_applies

_U8 = np.dtype(np.uint8)
_EMPTY_U8 = np.empty(0, np.uint8)
_I64 = np.dtype(np.int64)
_PLAN_CACHE_LIMIT = 256
_ndarray = np.ndarray
# The hot paths (Barrier, Bcast, Reduce, Allreduce) remember, per call site's arrays, the plan
# that ran: Comm._fast[kind] maps id(send array) to a coll.engine.HotRun (the plan bound to the
# arrays' addresses, with op and root), checked by identity on every call. The record holds the
# arrays themselves, so their ids cannot be reused while it exists, and an array object keeps its
# memory, size and contiguity; its dtype can be reassigned in place, so that is checked (its
# shape too, but the flat memory a collective moves stays the same). Not seen: memory moved
# under a live array by `resize(refcheck=False)` or strides assigned in place (deprecated in
# NumPy 2.4), both of which numpy itself calls unsafe. The dtypes they serve are
# the ones whose interpreter the launcher warms; others take the general path. A Barrier's
# record becomes the communicator's own `Barrier` attribute: the jitted call, bound to its words
# (_HotBarrier), so a completed barrier runs no Python at all.
#
# Each of Bcast, Reduce and Allreduce also keeps the record of its last hot call
# (Comm._last_bcast, ...), checked first by identity: a loop over one buffer then skips `id()`
# (which boxes a new int) and the table's lookup, about 110 of a hot Bcast's 525 ns measured in
# one process (one rank, no message).
_FAST_DTYPES = HOT_DTYPES  # the dtypes with a compiled one-argument run_at (coll/interpreter.py)
_FAST_LIMIT = 64  # remembered call sites per communicator (they keep their arrays alive)
_BARRIER = 0
_BCAST = 1
_REDUCE = 2
_ALLREDUCE = 3
# Data-movement calls with a hot path keyed by both buffers (see _move_hit).
# Calls that ranks hosted together run in two levels through _run (mpi/hosted.py; Barrier has
# its own shorter path, _hosted_barrier).
_TWO_LEVEL = frozenset(("Bcast", "Reduce", "Allreduce"))
_GATHER = 10
_SCATTER = 11
_ALLGATHER = 12
_ALLTOALL = 13


class _NoHotCall:
    """The last-call slots' value when there is no hot record: its send matches no argument."""

    __slots__ = ()
    send = object()


NO_HOT_CALL = _NoHotCall()


class _HotBarrier(functools.partial):
    """A communicator's Barrier once its plan is hot: interpreter.barrier_at bound to the plan
    words' address (a C-level call), holding the HotRun that owns the words (so they live as
    long as the call does) and completes stopped runs."""

    __slots__ = ("hot",)


def typed(b: Buffer) -> np.ndarray:
    """The buffer as a 1-D C-contiguous array of its datatype's dtype (a view, no copy)."""
    arr = b.array
    dt = b.datatype.dtype
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype != dt:
        if b.nbytes % dt.itemsize:
            raise MPIValueError(ERR_BUFFER, f"{b.nbytes} bytes are not a whole number of {b.datatype.name}")
        arr = arr.view(_U8)[: b.nbytes].view(dt)
    return arr


def _is_sequence(values: Any) -> bool:
    try:
        len(values)
    except TypeError:
        return False
    return True


def _int_list(values: Any, n: int, what: str) -> list[int]:
    """n integers, one per rank (mpi4py: ValueError for another length, TypeError for items that
    are not integers; MPI's ERR_COUNT for a negative count)."""
    if not _is_sequence(values):
        raise MPITypeError(ERR_ARG, f"{what} must be a sequence of {n} integers, got {values!r}")
    if len(values) != n:
        raise MPIValueError(ERR_COUNT, f"{what}: expecting {n} items (one per rank), got {len(values)}")
    out = [as_count(v, what) for v in values]
    if any(v < 0 for v in out):
        raise MPIException(ERR_COUNT, f"{what} must be >= 0, got {out}")
    return out


def normalise_v(spec: Any, n: int, writable: bool) -> tuple[np.ndarray, list[int], list[int], D.Datatype, Buffer]:
    """A v-variant buffer spec -> (typed 1-D array, counts, displacements, datatype, Buffer).

    Accepted as in mpi4py: [buf, counts], [buf, datatype], [buf, counts, datatype],
    [buf, (counts, displs)], [buf, (counts, displs), datatype], [buf, counts, displs, datatype],
    or a plain buffer (split as evenly as it goes, the first ranks taking one more). counts may
    be one integer (every rank's), displs one integer (a stride) or None (packed)."""
    obj, counts, displs, dspec = split_spec(spec, (tuple,), "counts", "displs")
    b = normalise([obj, dspec], writable)
    arr = typed(b)
    if counts is None:
        q, r = divmod(arr.size, n)
        counts = [q + (i < r) for i in range(n)]
    elif not _is_sequence(counts):
        counts = [as_count(counts, "counts")] * n
        if counts[0] < 0:
            raise MPIException(ERR_COUNT, f"counts must be >= 0, got {counts[0]}")
    else:
        counts = _int_list(counts, n, "counts")
    if displs is None:
        displs = [0] * n
        for i in range(1, n):
            displs[i] = displs[i - 1] + counts[i - 1]
    elif not _is_sequence(displs):
        stride = as_count(displs, "displacements")
        displs = [stride * i for i in range(n)]
    else:
        displs = _int_list(displs, n, "displacements")
    if any(d < 0 for d in displs):
        raise MPIException(ERR_COUNT, f"displacements must be >= 0, got {displs}")
    end = max((d + c for c, d in zip(counts, displs, strict=True) if c), default=0)
    if end > arr.size:
        raise MPIException(ERR_TRUNCATE, f"counts/displacements reach element {end}, the buffer holds {arr.size}")
    return arr, counts, displs, b.datatype, b


def v_bytes(spec: Any, n: int, writable: bool) -> tuple[np.ndarray, list[int], list[int], Buffer]:
    """A v-variant buffer spec as bytes: (byte view, byte counts, byte displacements, Buffer)."""
    arr, counts, displs, dt, b = normalise_v(spec, n, writable)
    unit = dt.size
    return byte_view(arr), [c * unit for c in counts], [d * unit for d in displs], b


class CollectiveMixin:
    """Buffer and object collectives; mixed into Comm (which provides the engine and ranks)."""

    # -- plumbing --------------------------------------------------------------------------
    def _root_arg(self, root: Any) -> int:
        self._check_live()
        if type(root) is not int:
            if not isinstance(root, (int, np.integer)) or isinstance(root, bool):
                raise MPIException(ERR_ROOT, f"root must be an int, got {type(root).__name__}")
            root = int(root)
        if not 0 <= root < self.size:
            raise MPIException(ERR_ROOT, f"root {root} is out of range for a communicator of {self.size} ranks")
        return root

    def _plan(self, key: tuple, kind: str, build: Any, op: int = 0, ranks: list[int] | None = None) -> Plan:
        """The cached plan for key, built on first use over `ranks` (world ranks; default: all of
        this communicator's)."""
        plans = self._plans
        plan = plans.get(key)
        if plan is None:
            if len(plans) >= _PLAN_CACHE_LIMIT:
                plans.clear()
                self._forget_fast()
            plan = plans[key] = self._coll.make_plan(kind, build(), ranks or self._ranks, self._coll_ctx, op)
        return plan

    def _run(self, key: tuple, kind: str, build: Any, send: np.ndarray, recv: np.ndarray,
             op: Op | None = None, datatype: Any = None, fast: tuple[int, int] | None = None,
             move: tuple | None = None) -> None:
        """Run the plan for key (building it on first use); with fast = (hot-path kind, root),
        remember it for the hot path (send and recv are then the caller's own arrays); with
        move = (call, sendbuf, recvbuf, root), remember it for _move_hit."""
        code = 0 if op is None else op.code
        if self._engine.host_of is not None and kind in _TWO_LEVEL:
            hier = self._hier
            if hier is not None:
                tree = None
                if op is None or H.order_free(code, send.dtype):
                    tree = False
                else:
                    root = key[1] if kind == "Reduce" else 0
                    ring_min = self._engine.coll_settings["allreduce_ring_min_bytes"]
                    if H.same_tree(hier[0], kind, code, root, send.nbytes, ring_min):
                        tree = True
                if tree is not None:
                    site = self._two_level(hier, kind, key, send, recv, op, tree)
                    if fast is not None and send.dtype in _FAST_DTYPES:
                        self._remember_hot(fast[0], send, site)
                    return
        plan = self._plan(key, kind, build, code)
        tmp = self._scratch(plan.tmp_count, send.dtype)
        self._coll.execute(plan, send, recv, tmp, op if code == OP_USER else None, datatype)
        if move is not None and send.dtype in _FAST_DTYPES and _aliases(move[1]) and _aliases(move[2]):
            call, sendbuf, recvbuf, root = move
            if len(self._moves) >= _FAST_LIMIT:
                self._moves.clear()
            self._moves[(call, id(sendbuf), id(recvbuf), root)] = (
                plan.words, self._coll.entry(send.dtype), tmp, sendbuf, recvbuf, send, recv, plan)
        if fast is not None and code != OP_USER and send.dtype in _FAST_DTYPES:
            which, root = fast
            hot = self._coll.hot(plan, send, recv, tmp, op, root)
            if which != _BARRIER:
                self._remember_hot(which, send, hot)
            else:
                self._fast_barrier = hot
                if self._engine.host_of is None:
                    # Not for green-thread ranks: a stop there switches threads, and a switch
                    # should not happen under a jitted frame (objmode).
                    bound = _HotBarrier(barrier_entry(), hot.addr)
                    bound.hot = hot
                    self.__dict__["Barrier"] = bound

    def _remember_hot(self, which: int, send: np.ndarray, hot: Any) -> None:
        """Keep a call site's hot record (a HotRun or a hosted TwoLevelSite) in its call's table."""
        table = self._fast[which]
        if len(table) >= _FAST_LIMIT:
            table.clear()
        table[id(send)] = hot
        if which == _BCAST:
            self._last_bcast = hot
        elif which == _REDUCE:
            self._last_reduce = hot
        elif which == _ALLREDUCE:
            self._last_allreduce = hot

    @property
    def _hier(self) -> tuple[H.Layout, H.LocalGroup] | None:
        """(layout, local group) when this communicator runs two-level collectives (hosted ranks)."""
        try:
            return self.__dict__["_hier_state"]
        except KeyError:
            layout = H.layout_for(self._engine, self._ranks, self.rank, self._coll_ctx)
            state = None if layout is None else (layout, H.group_for(self._engine, layout))
            self.__dict__["_hier_state"] = state
            return state

    def _two_level(self, hier: tuple[H.Layout, H.LocalGroup], kind: str, key: tuple, send: np.ndarray,
                   recv: np.ndarray, op: Op | None, tree: bool) -> H.TwoLevelSite:
        """Bcast, Reduce or Allreduce through this process's group (see mpi/hosted.py); returns
        the call's site (the hot record of a repeated call)."""
        layout, group = hier
        root = key[1] if kind in ("Bcast", "Reduce") else 0
        site = H.TwoLevelSite(self, layout, group, kind, root, send, recv, op, tree, self._processes_part)
        site.run()
        return site

    def _processes_part(self, site: H.TwoLevelSite) -> None:
        """The leaders' part of a site's call (run by the last of the process's ranks to arrive)."""
        self._between_processes(site.layout, site.group, site.kind, site.root, site.send, site.op)

    def _between_processes(self, layout: H.Layout, group: H.LocalGroup, kind: str, root: int,
                           like: np.ndarray, op: Op | None) -> None:
        """The leaders' part of a two-level collective, run on the group leader's queues."""
        m, me = len(layout.leaders), layout.index
        leader = group.leader
        seg = max(1, self._seg_bytes // max(1, like.itemsize))
        code = 0 if op is None else op.code
        acc = group.buffer(like)
        out = group.out
        assert out is not None
        count = acc.size
        if kind == "Bcast":
            r = layout.leader_index(root)
            if m > 1:
                leader._run_leaders(layout, ("Bcast", r, count, acc.dtype), kind,
                                    lambda: S.bcast(m, me, r, count, seg), acc, acc, 0)
            return
        if m == 1:
            np.copyto(out, acc)
            return
        if kind == "Allreduce":
            large = self._large(acc.nbytes, "allreduce_ring_min_bytes")
            leader._run_leaders(layout, ("Allreduce", count, acc.dtype, code, large), kind,
                                lambda: S.allreduce(m, me, count, True, large, seg, False), acc, out, code)
            return
        r = layout.leader_index(root)
        leader._run_leaders(layout, ("Reduce", r, count, acc.dtype, code), kind,
                            lambda: S.reduce(m, me, r, count, seg, True), acc, out if me == r else group.nothing, code)

    def _run_leaders(self, layout: H.Layout, key: tuple, kind: str, build: Any, send: np.ndarray,
                     recv: np.ndarray, code: int) -> None:
        """Run a plan among the leaders of the processes (self is this process's leader); a run
        over the same group buffers as before goes through its hot record (no unboxing)."""
        runs = self._leader_runs
        hot = runs.get((key, id(send)))  # a hit holds send itself (keyed by its id)
        if hot is not None and hot.recv is recv:
            self._coll.run_lone(hot)
            return
        plan = self._plan(("leaders", *key), kind, build, code, [self._ranks[i] for i in layout.leaders])
        tmp = self._scratch(plan.tmp_count, send.dtype)
        self._coll.execute(plan, send, recv, tmp)
        if send.dtype in _FAST_DTYPES and code != OP_USER:
            if len(runs) >= _FAST_LIMIT:
                runs.clear()
            # Keyed by the group buffer too: generations alternate between two sets.
            runs[(key, id(send))] = self._coll.hot(plan, send, recv, tmp)

    def _forget_fast(self, freed: bool = False) -> None:
        """Drop every remembered hot-path plan (cache overflow, Free); when freed, a hot Barrier
        someone kept (b = comm.Barrier) raises ERR_COMM from then on."""
        if freed:
            for hot in [self._fast_barrier, *(h for table in self._fast for h in table.values())]:
                if hot is not None:
                    hot.free()
        self._fast_barrier = None
        self._last_bcast = self._last_reduce = self._last_allreduce = NO_HOT_CALL
        self.__dict__.pop("Barrier", None)
        for table in self._fast:
            table.clear()
        self._moves.clear()

    def _move_hit(self, call: int, sendbuf: Any, recvbuf: Any, root: Any) -> bool:
        """Run the plan remembered for these very buffer objects (views of their memory were kept,
        so no argument parsing); True if it ran, False to take the checked path."""
        hit = self._moves.get((call, id(sendbuf), id(recvbuf), root))
        if hit is None or hit[3] is not sendbuf or hit[4] is not recvbuf or self._coll.stash:
            return False
        words, fn, tmp, _, _, send, recv, plan = hit
        st = fn(words, send, recv, tmp)
        if st:
            self._coll.finish(plan, fn, st, send, recv, tmp)
        return True

    def _scratch(self, count: int, dtype: np.dtype) -> np.ndarray:
        """A scratch array of at least count elements of dtype, reused between calls."""
        pool = self.__dict__.setdefault("_scratch_pool", {})
        arr = pool.get(dtype)
        if arr is None or arr.size < count:
            arr = pool[dtype] = np.empty(max(count, 0), dtype)
        return arr

    @property
    def _seg_bytes(self) -> int:
        return self._engine.coll_settings["segment_bytes"]

    def _large(self, nbytes: int, key: str) -> bool:
        return nbytes >= self._engine.coll_settings[key]

    # -- synchronisation and data movement ---------------------------------------------------
    def Barrier(self) -> None:
        """Block until every rank of the communicator has called Barrier."""
        # Reached with a hot plan only by green-thread ranks (elsewhere it is the attribute).
        hot = self._fast_barrier
        if hot is not None:
            st = hot.call(hot.addr)
            if st:
                hot.stop(st)
            return
        self._check_live()
        hier = self._hier
        if hier is not None:
            self._hosted_barrier(hier)
            return
        n, me = self.size, self.rank
        self._run(("Barrier",), "Barrier", lambda: S.barrier(n, me), _EMPTY_U8, _EMPTY_U8, fast=(_BARRIER, 0))

    def _hosted_barrier(self, hier: tuple[H.Layout, H.LocalGroup]) -> None:
        """Barrier of hosted ranks (first call): the local group, then the leaders' barrier run by
        the last rank in; from then on the comm's Barrier attribute is the H.LocalBarrier."""
        layout, group = hier
        between = (lambda: self._leaders_barrier(layout, group)) if len(layout.leaders) > 1 else None
        # The next calls go straight to the local barrier (dropped again by _forget_fast).
        barrier = self.__dict__["Barrier"] = H.LocalBarrier(self, layout, group, between)
        barrier()

    def _leaders_barrier(self, layout: H.Layout, group: H.LocalGroup) -> None:
        """The barrier between the processes, on the leader's queues, its hot record kept in the group."""
        hot = group.barrier
        if hot is None:
            leader = group.leader
            m, me = len(layout.leaders), layout.index
            ranks = [leader._ranks[i] for i in layout.leaders]
            plan = leader._coll.make_plan("Barrier", S.barrier(m, me), ranks, leader._coll_ctx, 0)
            hot = group.barrier = leader._coll.hot(plan, _EMPTY_U8, _EMPTY_U8, leader._scratch(plan.tmp_count, _U8))
        group.leader._coll.run_lone(hot)

    def Bcast(self, buf: Any, root: int = 0) -> None:
        """Broadcast root's buffer to every rank."""
        hot = self._last_bcast
        if hot.send is not buf:
            hot = self._hot_bcast.get(id(buf))  # a hit holds buf itself (keyed by its id)
            if hot is None:
                self._bcast_checked(buf, root)
                return
            self._last_bcast = hot
        if hot.root == root and buf.dtype is hot.dtype:
            st = hot.call(hot.addr)
            if st:
                hot.stop(st)
            return
        self._bcast_checked(buf, root)

    # The hot methods keep their checked paths in separate methods: a closure in a function body
    # (the plan builders' lambdas) costs a cell per captured variable on every call, hot or not.
    def _bcast_checked(self, buf: Any, root: int) -> None:
        root = self._root_arg(root)
        b = normalise(buf, self.rank != root)
        n, me, seg = self.size, self.rank, self._seg_bytes
        if b.writeback is None and b.array.ndim == 1 and b.array.dtype in _FAST_DTYPES:
            data = b.array  # elements of a warmed dtype: a plan the hot path can reuse
            count, unit = data.size, data.itemsize
            fast = (_BCAST, root) if b.array is buf else None
        else:
            data = byte_view(b.array)
            count, unit, fast = b.nbytes, 1, None
        self._run(("Bcast", root, count, unit), "Bcast", lambda: S.bcast(n, me, root, count, max(1, seg // unit)),
                  data, data, fast=fast)
        b.finish()

    def Gather(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """Gather every rank's sendbuf into root's recvbuf, in rank order."""
        if self._move_hit(_GATHER, sendbuf, recvbuf, root):
            return
        root = self._root_arg(root)
        n, me = self.size, self.rank
        rb = None
        if me == root:
            rb = normalise(recvbuf, True, n)
            send, recv, count = self._gathered(sendbuf, rb, "Gather")
        else:
            send = self._send_bytes(sendbuf, "Gather")
            count = send.nbytes
            recv = _EMPTY_U8
        self._run(("Gather", root, count), "Gather", lambda: S.gather(n, me, root, count), send, recv,
                  move=(_GATHER, sendbuf, recvbuf, root))
        if rb is not None:
            rb.finish()

    def Scatter(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """Scatter root's sendbuf in rank-order pieces, one to each rank's recvbuf."""
        if self._move_hit(_SCATTER, sendbuf, recvbuf, root):
            return
        root = self._root_arg(root)
        n, me = self.size, self.rank
        inplace = me == root and recvbuf is IN_PLACE
        rb = None
        if me == root:
            sb = normalise(sendbuf, False, n)
            send = byte_view(sb.array)
            if inplace:
                count = sb.nbytes // n
                recv = _EMPTY_U8
            else:
                rb = normalise(recvbuf, True)
                recv = byte_view(rb.array)
                count = rb.nbytes
                if sb.nbytes < n * count:
                    raise MPIException(ERR_TRUNCATE, f"Scatter: send buffer of {sb.nbytes} bytes at the root "
                                       f"cannot give {n} ranks {count} bytes each")
                if sb.nbytes // n > count:
                    raise MPIException(ERR_TRUNCATE, f"Scatter: receive buffer of {count} bytes at the root, "
                                       f"each rank's piece is {sb.nbytes // n} bytes")
        else:
            rb = self._recv_buffer(recvbuf, "Scatter")
            recv = byte_view(rb.array)
            count = rb.nbytes
            send = _EMPTY_U8
        self._run(("Scatter", root, count, inplace), "Scatter", lambda: S.scatter(n, me, root, count, inplace),
                  send, recv, move=None if inplace else (_SCATTER, sendbuf, recvbuf, root))
        if rb is not None:
            rb.finish()

    def Gatherv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """Gather pieces of different sizes into root's recvbuf at the given displacements."""
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me == root:
            recv, bc, bd, rb = v_bytes(recvbuf, n, True)
            inplace = sendbuf is IN_PLACE
            send = recv[bd[me]: bd[me] + bc[me]] if inplace else byte_view(normalise(sendbuf, False).array)
            if send.nbytes > bc[me]:
                raise MPIException(ERR_TRUNCATE, f"Gatherv: the root sends itself {send.nbytes} bytes, "
                                   f"its receive count is {bc[me]} bytes")
            bc[me] = send.nbytes
            key = ("Gatherv", root, tuple(bc), tuple(bd), inplace)
            self._run(key, "Gatherv", lambda: S.gatherv(n, me, root, bc[me], bc, bd, inplace), send, recv)
            rb.finish()
        else:
            send = self._send_bytes(sendbuf, "Gatherv")
            count = send.nbytes
            self._run(("Gatherv", root, count), "Gatherv",
                      lambda: S.gatherv(n, me, root, count, [], [], False), send, _EMPTY_U8)

    def Scatterv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """Scatter pieces of different sizes from root's sendbuf."""
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me == root:
            send, bc, bd, _ = v_bytes(sendbuf, n, False)
            inplace = recvbuf is IN_PLACE
            rb = None
            recv = _EMPTY_U8
            if not inplace:
                rb = normalise(recvbuf, True)
                recv = byte_view(rb.array)
                if rb.nbytes < bc[me]:
                    raise MPIException(ERR_TRUNCATE, f"Scatterv: receive buffer of {rb.nbytes} bytes at the root, "
                                       f"its piece is {bc[me]} bytes")
                recv = recv[: bc[me]]
            key = ("Scatterv", root, tuple(bc), tuple(bd), inplace)
            self._run(key, "Scatterv", lambda: S.scatterv(n, me, root, bc, bd, 0, inplace), send, recv)
            if rb is not None:
                rb.finish()
        else:
            rb = self._recv_buffer(recvbuf, "Scatterv")
            recv = byte_view(rb.array)
            count = rb.nbytes
            self._run(("Scatterv", root, count), "Scatterv",
                      lambda: S.scatterv(n, me, root, [], [], count, False), _EMPTY_U8, recv)
            rb.finish()

    def Allgather(self, sendbuf: Any, recvbuf: Any) -> None:
        """Gather every rank's sendbuf into every rank's recvbuf, in rank order."""
        if self._move_hit(_ALLGATHER, sendbuf, recvbuf, 0):
            return
        self._check_live()
        n, me = self.size, self.rank
        rb = normalise(recvbuf, True, n)
        inplace = sendbuf is IN_PLACE
        send, recv, count = self._gathered(sendbuf, rb, "Allgather")
        large = self._large(n * count, "allgather_ring_min_bytes")
        self._run(("Allgather", count, inplace, large), "Allgather",
                  lambda: S.allgather(n, me, count, large, inplace), send, recv,
                  move=None if inplace else (_ALLGATHER, sendbuf, recvbuf, 0))
        rb.finish()

    def Allgatherv(self, sendbuf: Any, recvbuf: Any) -> None:
        """Allgather with per-rank counts and displacements."""
        self._check_live()
        n, me = self.size, self.rank
        recv, bc, bd, rb = v_bytes(recvbuf, n, True)
        inplace = sendbuf is IN_PLACE
        if not inplace:
            send = byte_view(normalise(sendbuf, False).array)
            if send.nbytes != bc[me]:
                raise MPIException(ERR_TRUNCATE, f"Allgatherv: this rank sends {send.nbytes} bytes, "
                                   f"its receive count is {bc[me]} bytes")
        else:
            send = recv[bd[me]: bd[me] + bc[me]]
        self._run(("Allgatherv", tuple(bc), tuple(bd), inplace), "Allgatherv",
                  lambda: S.allgatherv(n, me, bc, bd, inplace), send, recv)
        rb.finish()

    def Alltoall(self, sendbuf: Any, recvbuf: Any) -> None:
        """Send block j of sendbuf to rank j; receive rank j's block into block j of recvbuf."""
        if self._move_hit(_ALLTOALL, sendbuf, recvbuf, 0):
            return
        self._check_live()
        n, me = self.size, self.rank
        rb = normalise(recvbuf, True, n)
        recv = byte_view(rb.array)
        if sendbuf is IN_PLACE:
            send = recv.copy()  # every block is overwritten while others still need sending
        else:
            send = byte_view(normalise(sendbuf, False, n).array)
        if send.nbytes % n:
            raise MPIValueError(ERR_COUNT, f"Alltoall: {send.nbytes} bytes do not split into {n} blocks")
        count = send.nbytes // n
        if rb.nbytes < n * count:
            raise MPIException(ERR_TRUNCATE, f"Alltoall: receive buffer of {rb.nbytes} bytes, "
                               f"{n} blocks of {count} bytes need {n * count}")
        c = [count] * n
        d = [r * count for r in range(n)]
        self._run(("Alltoall", count), "Alltoall", lambda: S.alltoallv(n, me, c, d, c, d), send, recv,
                  move=None if sendbuf is IN_PLACE else (_ALLTOALL, sendbuf, recvbuf, 0))
        rb.finish()

    def Alltoallv(self, sendbuf: Any, recvbuf: Any) -> None:
        """Alltoall with per-rank counts and displacements on both sides."""
        self._check_live()
        n, me = self.size, self.rank
        recv, rc, rd, rb = v_bytes(recvbuf, n, True)
        if sendbuf is IN_PLACE:
            send, sc, sd = recv.copy(), rc, rd
        else:
            send, sc, sd, _ = v_bytes(sendbuf, n, False)
        if sc[me] != rc[me]:
            raise MPIException(ERR_TRUNCATE, f"Alltoallv: this rank sends itself {sc[me]} bytes "
                               f"but receives {rc[me]} from itself")
        key = ("Alltoallv", tuple(sc), tuple(sd), tuple(rc), tuple(rd))
        self._run(key, "Alltoallv", lambda: S.alltoallv(n, me, sc, sd, rc, rd), send, recv)
        rb.finish()

    # -- reductions ----------------------------------------------------------------------------
    def _reduction_args(self, sendbuf: Any, recvbuf: Any, op: Any, call: str, recv_needed: bool,
                        min_recv: int | None = None) -> tuple[np.ndarray, np.ndarray, Op, Any, Buffer | None, bool]:
        """(send, recv, op, datatype, recv Buffer, in place) for a reduction, checked."""
        inplace = sendbuf is IN_PLACE
        rb = None
        if recv_needed:
            rb = normalise(recvbuf, True)
            recv = typed(rb)
        if inplace:
            if rb is None:
                raise MPIException(ERR_BUFFER, f"{call}: MPI.IN_PLACE is only valid where this rank receives")
            send, dt = recv, rb.datatype
        else:
            sb = normalise(sendbuf, False)
            send, dt = typed(sb), sb.datatype
            if rb is None:
                recv = send[:0]
            else:
                # mpi4py checks these itself and raises ValueError; the MPI class says which.
                if rb.datatype.dtype != sb.datatype.dtype and not (rb.array.size == 0 and send.size == 0):
                    raise MPIValueError(ERR_TYPE, f"{call}: send datatype {sb.datatype.name} and receive "
                                        f"datatype {rb.datatype.name} differ")
                need = send.size if min_recv is None else min_recv
                if recv.size < need:
                    raise MPIValueError(ERR_TRUNCATE, f"{call}: receive buffer holds {recv.size} elements "
                                        f"({recv.nbytes} bytes), {need} are needed ({need * send.itemsize} bytes)")
                if min_recv is None and recv.size > need:
                    raise MPIValueError(ERR_COUNT, f"{call}: receive count {recv.size} differs from the send "
                                        f"count {need}")
        if op is None:
            op = SUM
        op = check_applies(op, send.dtype)
        return send, recv, op, dt, rb, inplace

    def Reduce(self, sendbuf: Any, recvbuf: Any, op: Op = SUM, root: int = 0) -> None:
        """Combine every rank's sendbuf with op into root's recvbuf."""
        hot = self._last_reduce
        if hot.send is not sendbuf:
            hot = self._hot_reduce.get(id(sendbuf))  # a hit holds sendbuf itself (keyed by its id)
            if hot is None:
                self._reduce_checked(sendbuf, recvbuf, op, root)
                return
            self._last_reduce = hot
        if hot.op is op and hot.root == root and sendbuf.dtype is hot.dtype:
            recv = hot.recv
            if (recv is recvbuf or self.rank != root) and recv.dtype is hot.recv_dtype:
                st = hot.call(hot.addr)
                if st:
                    hot.stop(st)
                return
        self._reduce_checked(sendbuf, recvbuf, op, root)

    def _reduce_checked(self, sendbuf: Any, recvbuf: Any, op: Op, root: int) -> None:
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me != root and sendbuf is IN_PLACE:
            raise MPIException(ERR_BUFFER, "Reduce: MPI.IN_PLACE is only valid at the root")
        send, recv, op, dt, rb, _ = self._reduction_args(sendbuf, recvbuf, op, "Reduce", me == root)
        count = send.size
        if me == root and recv.size != count:
            recv = recv[:count]
        seg = max(1, self._seg_bytes // send.itemsize)
        comm = op.commutative
        key = ("Reduce", root, count, send.dtype, op.code, comm)
        fast = None
        if send is sendbuf and (me != root or recv is recvbuf):
            # Away from the root recvbuf is not used: the entry keeps the empty view in its place.
            fast = (_REDUCE, root)
        self._run(key, "Reduce", lambda: S.reduce(n, me, root, count, seg, comm), send, recv, op, dt, fast)
        if rb is not None:
            rb.finish()

    def Allreduce(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        """Combine every rank's sendbuf with op into every rank's recvbuf."""
        hot = self._last_allreduce
        if hot.send is not sendbuf:
            hot = self._hot_allreduce.get(id(sendbuf))  # a hit holds sendbuf itself (keyed by its id)
            if hot is None:
                self._allreduce_checked(sendbuf, recvbuf, op)
                return
            self._last_allreduce = hot
        if (hot.recv is recvbuf and hot.op is op and sendbuf.dtype is hot.dtype
                and recvbuf.dtype is hot.recv_dtype):
            st = hot.call(hot.addr)
            if st:
                hot.stop(st)
            return
        self._allreduce_checked(sendbuf, recvbuf, op)

    def _allreduce_checked(self, sendbuf: Any, recvbuf: Any, op: Op) -> None:
        self._check_live()
        n, me = self.size, self.rank
        send, recv, op, dt, rb, inplace = self._reduction_args(sendbuf, recvbuf, op, "Allreduce", True)
        count = send.size
        if recv.size != count:
            recv = recv[:count]
        seg = max(1, self._seg_bytes // send.itemsize)
        large = self._large(send.nbytes, "allreduce_ring_min_bytes")
        comm = op.commutative
        key = ("Allreduce", count, send.dtype, op.code, comm, large, inplace)
        fast = (_ALLREDUCE, 0) if send is sendbuf and recv is recvbuf else None
        self._run(key, "Allreduce", lambda: S.allreduce(n, me, count, comm, large, seg, inplace),
                  send, recv, op, dt, fast)
        rb.finish()

    def _scan(self, sendbuf: Any, recvbuf: Any, op: Op, exclusive: bool) -> None:
        self._check_live()
        n, me = self.size, self.rank
        kind = "Exscan" if exclusive else "Scan"
        send, recv, op, dt, rb, inplace = self._reduction_args(sendbuf, recvbuf, op, kind, True)
        count = send.size
        recv = recv[:count]
        key = (kind, count, send.dtype, op.code, inplace)
        self._run(key, kind, lambda: S.scan(n, me, count, exclusive, inplace), send, recv, op, dt)
        rb.finish()

    def Scan(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        """Inclusive prefix reduction: rank r gets sendbuf(0) op ... op sendbuf(r)."""
        self._scan(sendbuf, recvbuf, op, False)

    def Exscan(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        """Exclusive prefix reduction: rank r gets sendbuf(0) op ... op sendbuf(r-1); rank 0's is undefined."""
        self._scan(sendbuf, recvbuf, op, True)

    def Reduce_scatter_block(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        """Reduce n blocks elementwise; rank r receives block r of the result."""
        self._check_live()
        n, me = self.size, self.rank
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
        op = check_applies(SUM if op is None else op, send.dtype)
        if not op.commutative:
            self._reduce_then_scatter(send, [count] * n, op, rb.datatype, recv[:count])
        else:
            key = ("Reduce_scatter_block", count, send.dtype, op.code, inplace)
            self._run(key, "Reduce_scatter_block", lambda: S.reduce_scatter_block(n, me, count, inplace),
                      send, recv, op, rb.datatype)
        rb.finish()

    def Reduce_scatter(self, sendbuf: Any, recvbuf: Any, recvcounts: Any = None, op: Op = SUM) -> None:
        """Reduce, then scatter the result in pieces of recvcounts[r] elements to rank r."""
        self._check_live()
        n = self.size
        rb = normalise(recvbuf, True)
        recv = typed(rb)
        inplace = sendbuf is IN_PLACE
        sb = None if inplace else normalise(sendbuf, False)
        send = recv if sb is None else typed(sb)
        if sb is not None and sb.datatype.dtype != rb.datatype.dtype:
            raise MPIValueError(ERR_TYPE, f"Reduce_scatter: send datatype {sb.datatype.name} and receive "
                                f"datatype {rb.datatype.name} differ")
        if recvcounts is None:
            # As mpi4py: each rank's piece is the size of its receive buffer (in place, an even split).
            counts = [send.size // n] * n if inplace else [int(c) for c in self.allgather(recv.size)]
        else:
            counts = _int_list(recvcounts, n, "recvcounts")
        if sum(counts) != send.size:
            raise MPIValueError(ERR_COUNT, f"Reduce_scatter: recvcounts sum to {sum(counts)}, the send buffer "
                                f"has {send.size} elements")
        if not inplace and recv.size != counts[self.rank]:
            raise MPIValueError(ERR_TRUNCATE if recv.size < counts[self.rank] else ERR_COUNT,
                                f"Reduce_scatter: receive buffer holds {recv.size} elements, this rank's piece "
                                f"has {counts[self.rank]}")
        op = check_applies(SUM if op is None else op, send.dtype)
        self._reduce_then_scatter(send, counts, op, rb.datatype, recv[: counts[self.rank]])
        rb.finish()

    def _reduce_then_scatter(self, send: np.ndarray, counts: list[int], op: Op, dt: Any, recv: np.ndarray) -> None:
        # Non-commutative operators (and uneven pieces): reduce at rank 0, then scatter.
        full = np.empty(send.size, send.dtype) if self.rank == 0 else None
        self.Reduce(send, full, op, 0)
        displs = [sum(counts[:r]) for r in range(self.size)]
        self.Scatterv([full, (counts, displs)] if self.rank == 0 else None, recv, 0)

    # -- argument helpers -----------------------------------------------------------------------
    def _gathered(self, sendbuf: Any, rb: Buffer, call: str) -> tuple[np.ndarray, np.ndarray, int]:
        """(send bytes, receive bytes, bytes per rank) of a gather into rb; MPI.IN_PLACE sends
        this rank's block of rb."""
        n, me = self.size, self.rank
        recv = byte_view(rb.array)
        if sendbuf is IN_PLACE:
            count = rb.nbytes // n
            send = recv[me * count: (me + 1) * count]
        else:
            send = byte_view(normalise(sendbuf, False).array)
            count = send.nbytes
        if rb.nbytes < n * count:
            raise MPIException(ERR_TRUNCATE, f"{call}: receive buffer of {rb.nbytes} bytes, "
                               f"{n} ranks x {count} bytes need {n * count}")
        return send, recv, count

    def _send_bytes(self, sendbuf: Any, call: str) -> np.ndarray:
        if sendbuf is IN_PLACE:
            raise MPIException(ERR_BUFFER, f"{call}: MPI.IN_PLACE is only valid at the root")
        return byte_view(normalise(sendbuf, False).array)

    def _recv_buffer(self, recvbuf: Any, call: str) -> Buffer:
        if recvbuf is IN_PLACE:
            raise MPIException(ERR_BUFFER, f"{call}: MPI.IN_PLACE is only valid at the root")
        return normalise(recvbuf, True)

    # -- object collectives ------------------------------------------------------------------
    def barrier(self) -> None:
        """Object-API barrier (same as Barrier)."""
        self.Barrier()

    def bcast(self, obj: Any = None, root: int = 0) -> Any:
        """Broadcast a picklable object from root; every rank returns it."""
        root = self._root_arg(root)
        me = self.rank
        data = _dumps(obj) if me == root else None
        size = np.array([0 if data is None else data.size], np.int64)
        self.Bcast(size, root)
        if me != root:
            data = np.empty(int(size[0]), np.uint8)
        self.Bcast(data, root)
        return obj if me == root else _loads(data)

    def gather(self, sendobj: Any, root: int = 0) -> list[Any] | None:
        """Gather objects at root (a list in rank order); None elsewhere."""
        root = self._root_arg(root)
        pieces = self._gather_bytes(_dumps(sendobj), root)
        return None if pieces is None else [_loads(p) for p in pieces]

    def _gather_bytes(self, data: np.ndarray, root: int) -> list[np.ndarray] | None:
        n, me = self.size, self.rank
        mine = np.array([data.size], np.int64)
        sizes = np.empty(n, np.int64) if me == root else None
        self.Gather(mine, sizes, root)
        if me != root:
            self.Gatherv(data, None, root)
            return None
        counts = [int(s) for s in sizes]
        displs = [sum(counts[:r]) for r in range(n)]
        out = np.empty(sum(counts), np.uint8)
        self.Gatherv(data, [out, counts, displs, D.PREDEFINED["BYTE"]], root)
        return [out[d: d + c] for c, d in zip(counts, displs, strict=True)]

    def scatter(self, sendobj: Any = None, root: int = 0) -> Any:
        """Scatter a sequence of size objects from root; rank r returns item r."""
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me == root:
            items = list(sendobj) if sendobj is not None else None
            if items is None or len(items) != n:
                raise MPIException(ERR_ARG, f"scatter: the root needs a sequence of {n} objects, "
                                   f"got {None if items is None else len(items)}")
            parts = [_dumps(x) for x in items]
            sizes = np.array([p.size for p in parts], np.int64)
            data = np.concatenate(parts) if parts else _EMPTY_U8
        mine = np.empty(1, np.int64)
        self.Scatter(sizes if me == root else None, mine, root)
        out = np.empty(int(mine[0]), np.uint8)
        if me == root:
            counts = [int(s) for s in sizes]
            displs = [sum(counts[:r]) for r in range(n)]
            self.Scatterv([data, counts, displs, D.PREDEFINED["BYTE"]], out, root)
        else:
            self.Scatterv(None, out, root)
        return _loads(out)

    def _allgather_bytes(self, data: np.ndarray) -> list[np.ndarray]:
        n = self.size
        sizes = np.empty(n, np.int64)
        self.Allgather(np.array([data.size], np.int64), sizes)
        counts = [int(s) for s in sizes]
        displs = [sum(counts[:r]) for r in range(n)]
        out = np.empty(sum(counts), np.uint8)
        self.Allgatherv(data, [out, counts, displs, D.PREDEFINED["BYTE"]])
        return [out[d: d + c] for c, d in zip(counts, displs, strict=True)]

    def allgather(self, sendobj: Any) -> list[Any]:
        """Every rank's object, on every rank, in rank order."""
        self._check_live()
        return [_loads(p) for p in self._allgather_bytes(_dumps(sendobj))]

    def alltoall(self, sendobj: Any) -> list[Any]:
        """Send item j of a sequence of size objects to rank j; return what each rank sent us."""
        self._check_live()
        n = self.size
        items = list(sendobj) if sendobj is not None else []
        if len(items) != n:
            raise MPIException(ERR_ARG, f"alltoall needs a sequence of {n} objects, got {len(items)}")
        parts = [_dumps(x) for x in items]
        scounts = [p.size for p in parts]
        rsizes = np.empty(n, np.int64)
        self.Alltoall(np.array(scounts, np.int64), rsizes)
        rcounts = [int(s) for s in rsizes]
        sdispls = [sum(scounts[:r]) for r in range(n)]
        rdispls = [sum(rcounts[:r]) for r in range(n)]
        out = np.empty(sum(rcounts), np.uint8)
        data = np.concatenate(parts) if parts else _EMPTY_U8
        byte = D.PREDEFINED["BYTE"]
        self.Alltoallv([data, scounts, sdispls, byte], [out, rcounts, rdispls, byte])
        return [_loads(out[d: d + c]) for c, d in zip(rcounts, rdispls, strict=True)]

    def reduce(self, sendobj: Any, op: Any = SUM, root: int = 0) -> Any:
        """Combine objects with op (in rank order) at root; None elsewhere."""
        root = self._root_arg(root)
        fn = _object_op(op)
        items = self.gather(sendobj, root)
        return None if items is None else _fold(fn, items)

    def allreduce(self, sendobj: Any, op: Any = SUM) -> Any:
        """Combine objects with op (in rank order); every rank returns the result."""
        self._check_live()
        fn = _object_op(op)
        return _fold(fn, self.allgather(sendobj))

    def scan(self, sendobj: Any, op: Any = SUM) -> Any:
        """Inclusive prefix reduction of objects."""
        self._check_live()
        fn = _object_op(op)
        return _fold(fn, self.allgather(sendobj)[: self.rank + 1])

    def exscan(self, sendobj: Any, op: Any = SUM) -> Any:
        """Exclusive prefix reduction of objects; None on rank 0."""
        self._check_live()
        fn = _object_op(op)
        items = self.allgather(sendobj)[: self.rank]
        return _fold(fn, items) if items else None


def _aliases(buf: Any) -> bool:
    """Whether a byte view made from buf now stays a view of buf's memory: a C-contiguous array
    (or no buffer at all). Anything else was copied or parsed, and must be parsed every call."""
    return buf is None or (type(buf) is np.ndarray and buf.flags.c_contiguous and buf.flags.writeable)


def _dumps(obj: Any) -> np.ndarray:
    return np.frombuffer(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL), np.uint8)


def _loads(data: np.ndarray) -> Any:
    return pickle.loads(data.tobytes())


def _object_op(op: Any) -> Any:
    if isinstance(op, Op):
        if op.code == 0:
            raise MPIException(ERR_ARG, "MPI.OP_NULL cannot reduce objects")
        return op
    if callable(op):
        return op
    raise MPIException(ERR_ARG, f"op must be an MPI.Op or a callable, got {type(op).__name__}")


def _fold(fn: Any, items: list[Any]) -> Any:
    acc = items[0]
    for x in items[1:]:
        acc = fn(acc, x)
    return acc
