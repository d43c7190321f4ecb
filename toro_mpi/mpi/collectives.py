"""The buffer collectives of a communicator, mpi4py's interface (Barrier, Bcast, Gather, ...,
Reduce_scatter): their checked paths.

Each buffer call checks its arguments on every rank (root, operator against dtype, buffer sizes)
before anything moves, so bad input raises the same MPI.Exception everywhere instead of leaving
some ranks waiting. It then picks the algorithm (coll/schedules.py), caches the compiled plan by
the call's shape, and runs it in one jitted call (coll/engine.py).

Data-moving collectives (bcast, gather, scatter, allgather, alltoall and the v-variants) move
bytes: they run on uint8 views of the buffers, so one compiled interpreter serves every dtype.
Reductions run on the buffers' own dtype.

Around these: the specs are parsed by mpi/buffers.py, a repeated call's record is kept and run
by mpi/hot_sites.py (Barrier, Bcast, Reduce and Allreduce start there, and come here when they
have none), ranks hosted together go through mpi/hosted.py, and the object calls
(mpi/object_calls.py) use these.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..coll import schedules as S
from ..coll.elementwise import OP_USER
from ..coll.engine import Plan
from ..errors import (
    ERR_BUFFER,
    ERR_COUNT,
    ERR_OP,
    ERR_ROOT,
    ERR_TRUNCATE,
    ERR_TYPE,
    MPIException,
    MPIValueError,
)
from . import hosted as H
from . import net_collectives as NC
from .buffers import IN_PLACE, Buffer, byte_view, int_list, plain_spec, typed, v_bytes
from .buffers import normalise as _parse_buffer
from .datatypes import from_dtype
from .hot_sites import (
    ALLGATHER,
    ALLREDUCE,
    ALLTOALL,
    BARRIER,
    BCAST,
    FAST_DTYPES,
    GATHER,
    REDUCE,
    SCATTER,
    HotCallSites,
)
from .ops import SUM, Op, check_applies
from .pair_collectives import EXCHANGE_MIN_BYTES, pair_bcast, pair_exchange, pair_route, pair_scatter
from .wide_reduce import widen

_EMPTY_U8 = np.empty(0, np.uint8)


def normalise(spec: Any, writable: bool, blocks: int = 1) -> Buffer:
    """buffers.normalise, minus its parsing for a plain C-contiguous array of a warmed dtype (the
    Buffer it would return: the array, its size, its predefined datatype). New arrays every call
    never reach a hot record, and their parsing was about half of such a call."""
    if (type(spec) is np.ndarray and spec.dtype in FAST_DTYPES and spec.flags.c_contiguous
            and (spec.flags.writeable or not writable) and (blocks == 1 or spec.size % blocks == 0)):
        return Buffer(spec, spec.nbytes, from_dtype(spec.dtype))
    return _parse_buffer(spec, writable, blocks)


# The types of a buffer spec ([data, MPI.DOUBLE], ...), as opposed to a buffer.
_SPECS = (list, tuple)
_PLAN_CACHE_LIMIT = 256
# A Reduce of at least this many bytes combines the segments it receives in their ring buffers
# (bus/held.py) instead of copying each into scratch first. Measured at 2 ranks (2026-12-07, both
# vCPU placements, medians): the root of a 1 MiB reduce 103 -> 75 us; the OSU figure (mean of
# the two ranks) 64 KiB - 1 MiB 0.94-0.79x of before; 1-16 KiB unchanged.
_HOLD_MIN_BYTES = 4096


def _in_place(buf: Any) -> Any:
    """mpi4py reads None as MPI.IN_PLACE wherever IN_PLACE is allowed (its is_IN_PLACE), so a
    program may pass None there; elsewhere None stays "not a buffer" (TypeError)."""
    return IN_PLACE if buf is None else buf


class CollectiveMixin:
    """Buffer collectives; mixed into Comm (which provides the engine and ranks) after
    hot_sites.HotCallSites (whose hot halves call the checked ones here)."""

    # -- plumbing --------------------------------------------------------------------------
    def _init_collectives(self) -> None:
        """Create the (empty) plan cache of a new communicator."""
        self._plans: dict[tuple, Plan] = {}  # collective plans by call shape

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
                self._forget_hot_sites()  # its records hold plans of the cache
            plan = plans[key] = self._coll.make_plan(kind, build(), ranks or self._ranks, self._coll_ctx, op)
        return plan

    def _run(self, key: tuple, kind: str, build: Any, send: np.ndarray, recv: np.ndarray,
             op: Op | None = None, datatype: Any = None, fast: tuple[int, int] | None = None,
             move: tuple | None = None) -> None:
        """Run the plan for key (building it on first use); with fast = (hot-path kind, root),
        remember it for the hot path (send and recv are then the caller's own arrays); with
        move = (call, sendbuf, recvbuf, root), remember it for _move_hit."""
        code = 0 if op is None else op.code
        if self._engine.host_of is not None and kind in H.TWO_LEVEL_KINDS:
            site = H.run_two_level(self, kind, key, send, recv, op)
            if site is not None:
                if fast is not None:
                    self._remember_site(fast[0], send, site)
                return
        if self._engine.net is not None and kind in NC.KINDS:  # ranks on several nodes: two-level?
            site = NC.run(self, kind, key, send, recv, op)
            if site is not None:
                if fast is not None:
                    self._remember_site(fast[0], send, site)
                return
        plan = self._plan(key, kind, build, code)
        tmp = self._scratch(plan.tmp_count, send.dtype)
        self._coll.execute(plan, send, recv, tmp, op if code == OP_USER else None, datatype)
        if move is not None:
            self._remember_move(move, plan, send, recv, tmp)
        if fast is not None:
            self._remember_run(fast, plan, send, recv, tmp, op)

    def _run_pair(self, site: Any, move: tuple | None, send: np.ndarray) -> None:
        """Run a routed call between two processes (pair_collectives.PairRoute); with move =
        (call, sendbuf, recvbuf, root), keep it for _move_hit, as _run keeps a plan."""
        site.run()
        if move is not None:
            self._remember_move_site(move, send, site)

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
    def _barrier_checked(self) -> None:
        """Barrier without a hot record (its first call)."""
        self._check_live()
        hier = H.hier_of(self)
        if hier is not None:
            H.hosted_barrier(self, hier)
            return
        if self._engine.net is not None and NC.barrier(self):  # ranks on several nodes: two-level
            return
        n, me = self.size, self.rank
        self._run(("Barrier",), "Barrier", lambda: S.barrier(n, me), _EMPTY_U8, _EMPTY_U8, fast=(BARRIER, 0))

    # The hot methods (hot_sites.py) keep their checked paths in separate methods: a closure in a
    # function body (the plan builders' lambdas) costs a cell per captured variable on every
    # call, hot or not.
    def _bcast_checked(self, buf: Any, root: int) -> None:
        """Bcast without a hot record: parse, check, run, and remember a plain array's call."""
        root = self._root_arg(root)
        b = normalise(buf, self.rank != root)
        n, me, seg = self.size, self.rank, self._seg_bytes
        if b.writeback is None and b.array.ndim == 1 and b.array.dtype in FAST_DTYPES:
            data = b.array  # elements of a warmed dtype: a plan the hot path can reuse
            count, unit = data.size, data.itemsize
            fast = (BCAST, root) if b.array is buf else None
        else:
            data = byte_view(b.array)
            count, unit, fast = b.nbytes, 1, None
        peer = pair_route(self, b.nbytes)
        if peer is not None:
            # Two processes, a large buffer: one rendezvous instead of the ring (pair_collectives.py).
            site = pair_bcast(self, peer, root, data)
            site.run()
            if fast is not None:
                self._remember_site(BCAST, data, site)
            b.finish()
            return
        self._run(("Bcast", root, count, unit), "Bcast", lambda: S.bcast(n, me, root, count, max(1, seg // unit)),
                  data, data, fast=fast)
        b.finish()

    def Gather(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """Gather every rank's sendbuf into root's recvbuf, in rank order."""
        hit = self._moves.get(GATHER)  # this call's last hot record (hot_sites._move_hit)
        if hit is not None and hit.sendbuf is sendbuf and hit.recvbuf is recvbuf and hit.root == root:
            hot = hit.hot
            st = hot.call(hot.addr)
            if st:
                hot.stop(st)
            return
        if type(sendbuf) in _SPECS or type(recvbuf) in _SPECS:
            s, r = plain_spec(sendbuf), plain_spec(recvbuf)
            if s is not sendbuf or r is not recvbuf:
                return CollectiveMixin.Gather(self, s, r, root)  # [data, MPI.DOUBLE] is data (buffers.plain_array)
        if self._move_hit(GATHER, sendbuf, recvbuf, root):
            return
        root = self._root_arg(root)
        n, me = self.size, self.rank
        rb = None
        if me == root:
            rb = normalise(recvbuf, True, n)
            send, recv, count = self._gathered(_in_place(sendbuf), rb, "Gather")
        else:
            send = self._send_bytes(sendbuf, "Gather")
            count = send.nbytes
            recv = _EMPTY_U8
        if self._engine.net is not None and NC.gather(self, root, count, send, recv):  # ranks on several nodes
            if rb is not None:
                rb.finish()
            return
        # (Not routed between two processes as Scatter is: measured slower, pair_collectives.py.)
        self._run(("Gather", root, count), "Gather", lambda: S.gather(n, me, root, count), send, recv,
                  move=(GATHER, sendbuf, recvbuf, root))
        if rb is not None:
            rb.finish()

    def Scatter(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """Scatter root's sendbuf in rank-order pieces, one to each rank's recvbuf."""
        hit = self._moves.get(SCATTER)  # this call's last hot record (hot_sites._move_hit)
        if hit is not None and hit.sendbuf is sendbuf and hit.recvbuf is recvbuf and hit.root == root:
            hot = hit.hot
            st = hot.call(hot.addr)
            if st:
                hot.stop(st)
            return
        if type(sendbuf) in _SPECS or type(recvbuf) in _SPECS:
            s, r = plain_spec(sendbuf), plain_spec(recvbuf)
            if s is not sendbuf or r is not recvbuf:
                return CollectiveMixin.Scatter(self, s, r, root)  # (see Gather)
        if self._move_hit(SCATTER, sendbuf, recvbuf, root):
            return
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me == root:
            recvbuf = _in_place(recvbuf)
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
        if self._engine.net is not None and NC.scatter(self, root, count, send, recv, inplace):  # several nodes
            if rb is not None:
                rb.finish()
            return
        move = None if inplace else (SCATTER, sendbuf, recvbuf, root)
        peer = pair_route(self, count)
        if peer is not None:  # two processes, large blocks: rendezvous (pair_collectives.py)
            self._run_pair(pair_scatter(self, peer, root, send, recv, count, inplace), move, send)
        else:
            self._run(("Scatter", root, count, inplace), "Scatter", lambda: S.scatter(n, me, root, count, inplace),
                      send, recv, move=move)
        if rb is not None:
            rb.finish()

    def Gatherv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """Gather pieces of different sizes into root's recvbuf at the given displacements."""
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me == root:
            recv, bc, bd, rb = v_bytes(recvbuf, n, True)
            sendbuf = _in_place(sendbuf)
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
            recvbuf = _in_place(recvbuf)
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
        hit = self._moves.get(ALLGATHER)  # this call's last hot record (hot_sites._move_hit)
        if hit is not None and hit.sendbuf is sendbuf and hit.recvbuf is recvbuf:
            hot = hit.hot
            st = hot.call(hot.addr)
            if st:
                hot.stop(st)
            return
        if type(sendbuf) in _SPECS or type(recvbuf) in _SPECS:
            s, r = plain_spec(sendbuf), plain_spec(recvbuf)
            if s is not sendbuf or r is not recvbuf:
                return CollectiveMixin.Allgather(self, s, r)  # (see Gather)
        if self._move_hit(ALLGATHER, sendbuf, recvbuf, 0):
            return
        self._check_live()
        n, me = self.size, self.rank
        rb = normalise(recvbuf, True, n)
        sendbuf = _in_place(sendbuf)
        inplace = sendbuf is IN_PLACE
        send, recv, count = self._gathered(sendbuf, rb, "Allgather")
        if self._engine.net is not None and NC.allgather(self, count, send, recv):  # ranks on several nodes
            rb.finish()
            return
        move = None if inplace else (ALLGATHER, sendbuf, recvbuf, 0)
        peer = pair_route(self, count, EXCHANGE_MIN_BYTES)
        if peer is not None:  # (see Scatter)
            self._run_pair(pair_exchange(self, peer, "Allgather", send, recv, count, False, inplace), move, send)
            rb.finish()
            return
        large = self._large(n * count, "allgather_ring_min_bytes")
        self._run(("Allgather", count, inplace, large), "Allgather",
                  lambda: S.allgather(n, me, count, large, inplace), send, recv, move=move)
        rb.finish()

    def Allgatherv(self, sendbuf: Any, recvbuf: Any) -> None:
        """Allgather with per-rank counts and displacements."""
        self._check_live()
        n, me = self.size, self.rank
        recv, bc, bd, rb = v_bytes(recvbuf, n, True)
        sendbuf = _in_place(sendbuf)
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
        hit = self._moves.get(ALLTOALL)  # this call's last hot record (hot_sites._move_hit)
        if hit is not None and hit.sendbuf is sendbuf and hit.recvbuf is recvbuf:
            hot = hit.hot
            st = hot.call(hot.addr)
            if st:
                hot.stop(st)
            return
        if type(sendbuf) in _SPECS or type(recvbuf) in _SPECS:
            s, r = plain_spec(sendbuf), plain_spec(recvbuf)
            if s is not sendbuf or r is not recvbuf:
                return CollectiveMixin.Alltoall(self, s, r)  # (see Gather)
        if self._move_hit(ALLTOALL, sendbuf, recvbuf, 0):
            return
        self._check_live()
        n, me = self.size, self.rank
        rb = normalise(recvbuf, True, n)
        recv = byte_view(rb.array)
        sendbuf = _in_place(sendbuf)
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
        move = None if sendbuf is IN_PLACE else (ALLTOALL, sendbuf, recvbuf, 0)
        peer = pair_route(self, count, EXCHANGE_MIN_BYTES)
        if peer is not None:  # (see Scatter); in place, block me of the copy is already there
            self._run_pair(pair_exchange(self, peer, "Alltoall", send, recv, count, True, sendbuf is IN_PLACE),
                           move, send)
            rb.finish()
            return
        c = [count] * n
        d = [r * count for r in range(n)]
        self._run(("Alltoall", count), "Alltoall", lambda: S.alltoallv(n, me, c, d, c, d), send, recv, move=move)
        rb.finish()

    def Alltoallv(self, sendbuf: Any, recvbuf: Any) -> None:
        """Alltoall with per-rank counts and displacements on both sides."""
        self._check_live()
        n, me = self.size, self.rank
        recv, rc, rd, rb = v_bytes(recvbuf, n, True)
        sendbuf = _in_place(sendbuf)
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
        if (type(sendbuf) is np.ndarray and min_recv is None and op is not None
                and sendbuf.dtype in FAST_DTYPES and sendbuf.ndim == 1 and sendbuf.flags.c_contiguous):
            # New plain arrays each call (no hot record yet): what the parsing below gives them,
            # without it (a third of such a call). Anything else, or any mismatch, is parsed.
            if not recv_needed:
                return sendbuf, sendbuf[:0], check_applies(op, sendbuf.dtype), from_dtype(sendbuf.dtype), None, False
            if (type(recvbuf) is np.ndarray and recvbuf is not sendbuf and recvbuf.dtype is sendbuf.dtype
                    and recvbuf.ndim == 1 and recvbuf.size == sendbuf.size and recvbuf.flags.c_contiguous
                    and recvbuf.flags.writeable):
                dt = from_dtype(sendbuf.dtype)
                rb = Buffer(recvbuf, recvbuf.nbytes, dt)
                return sendbuf, recvbuf, check_applies(op, sendbuf.dtype), dt, rb, False
        if recv_needed:
            sendbuf = _in_place(sendbuf)
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
        send, recv, op = widen(send, recv, op)  # long double, float16: numpy combines
        op = check_applies(op, send.dtype)
        return send, recv, op, dt, rb, inplace

    def _reduce_checked(self, sendbuf: Any, recvbuf: Any, op: Op, root: int) -> None:
        """Reduce without a hot record: parse, check, run, and remember a plain array's call."""
        s, r = plain_spec(sendbuf), plain_spec(recvbuf)
        if (s is not sendbuf or r is not recvbuf) and not (isinstance(op, Op) and op.code == OP_USER):
            # (A user-defined operator is given the spec's own datatype: parsed below.)
            return HotCallSites.Reduce(self, s, r, op, root)  # (see Gather)
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me != root and sendbuf is IN_PLACE:
            raise MPIException(ERR_BUFFER, "Reduce: MPI.IN_PLACE is only valid at the root")
        try:
            send, recv, op, dt, rb, _ = self._reduction_args(sendbuf, recvbuf, op, "Reduce", me == root)
        except MPIException as exc:
            if exc.error_class != ERR_OP:
                raise
            # No jitted kernel for this dtype (long double complex): the nonblocking version
            # combines with numpy (or refuses the same way). Nothing has been sent yet.
            self.Ireduce(sendbuf, recvbuf, op, root).Wait()
            return
        count = send.size
        if me == root and recv.size != count:
            recv = recv[:count]
        seg = max(1, self._seg_bytes // send.itemsize)
        comm = op.commutative
        key = ("Reduce", root, count, send.dtype, op.code, comm)
        fast = None
        if send is sendbuf and (me != root or recv is recvbuf):
            # Away from the root recvbuf is not used: the entry keeps the empty view in its place.
            fast = (REDUCE, root)
        # Large enough to pay for the extra look at the ring head: the children's segments are
        # combined where they arrived (coll/schedules.py _reduce_tree), not copied out first.
        hold = send.nbytes >= _HOLD_MIN_BYTES and op.code != OP_USER
        self._run(key, "Reduce", lambda: S.reduce(n, me, root, count, seg, comm, hold), send, recv, op, dt, fast)
        if rb is not None:
            rb.finish()

    def _allreduce_checked(self, sendbuf: Any, recvbuf: Any, op: Op) -> None:
        """Allreduce without a hot record: parse, check, run, and remember a plain array's call."""
        s, r = plain_spec(sendbuf), plain_spec(recvbuf)
        if (s is not sendbuf or r is not recvbuf) and not (isinstance(op, Op) and op.code == OP_USER):
            return HotCallSites.Allreduce(self, s, r, op)  # (see Gather and _reduce_checked)
        self._check_live()
        n, me = self.size, self.rank
        try:
            send, recv, op, dt, rb, inplace = self._reduction_args(sendbuf, recvbuf, op, "Allreduce", True)
        except MPIException as exc:
            if exc.error_class != ERR_OP:
                raise
            self.Iallreduce(sendbuf, recvbuf, op).Wait()  # numpy combines (see _reduce_checked)
            return
        count = send.size
        if recv.size != count:
            recv = recv[:count]
        seg = max(1, self._seg_bytes // send.itemsize)
        large = self._large(send.nbytes, "allreduce_ring_min_bytes")
        comm = op.commutative
        key = ("Allreduce", count, send.dtype, op.code, comm, large, inplace)
        fast = (ALLREDUCE, 0) if send is sendbuf and recv is recvbuf else None
        self._run(key, "Allreduce", lambda: S.allreduce(n, me, count, comm, large, seg, inplace),
                  send, recv, op, dt, fast)
        rb.finish()

    def _scan(self, sendbuf: Any, recvbuf: Any, op: Op, exclusive: bool) -> None:
        self._check_live()
        n, me = self.size, self.rank
        kind = "Exscan" if exclusive else "Scan"
        try:
            send, recv, op, dt, rb, inplace = self._reduction_args(sendbuf, recvbuf, op, kind, True)
        except MPIException as exc:
            if exc.error_class != ERR_OP:
                raise
            (self.Iexscan if exclusive else self.Iscan)(sendbuf, recvbuf, op).Wait()  # numpy combines
            return
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
        send, recv, op = widen(send, recv, SUM if op is None else op)  # long double, float16: numpy combines
        try:
            op = check_applies(op, send.dtype)
        except MPIException as exc:
            if exc.error_class != ERR_OP:
                raise
            self.Ireduce_scatter_block(sendbuf, recvbuf, op).Wait()  # numpy combines (see _reduce_checked)
            return
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
        sendbuf = _in_place(sendbuf)
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
            counts = int_list(recvcounts, n, "recvcounts")
        if sum(counts) != send.size:
            raise MPIValueError(ERR_COUNT, f"Reduce_scatter: recvcounts sum to {sum(counts)}, the send buffer "
                                f"has {send.size} elements")
        if not inplace and recv.size != counts[self.rank]:
            raise MPIValueError(ERR_TRUNCATE if recv.size < counts[self.rank] else ERR_COUNT,
                                f"Reduce_scatter: receive buffer holds {recv.size} elements, this rank's piece "
                                f"has {counts[self.rank]}")
        send, recv, op = widen(send, recv, SUM if op is None else op)  # long double, float16: numpy combines
        try:
            op = check_applies(op, send.dtype)
        except MPIException as exc:
            if exc.error_class != ERR_OP:
                raise
            self.Ireduce_scatter(sendbuf, recvbuf, counts, op).Wait()  # numpy combines (see _reduce_checked)
            return
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
