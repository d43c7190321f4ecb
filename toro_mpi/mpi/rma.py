"""The data calls of MPI windows: Put, Get, Accumulate, Get_accumulate, Fetch_and_op,
Compare_and_swap and their request forms (Rput, Rget, Raccumulate, Rget_accumulate).

Every call completes before it returns: the origin moves the bytes itself, so Flush and the
request forms have nothing left to wait for. Where the target's memory is mapped in this process
(Allocate and Allocate_shared windows, and any window of a rank hosted by this process) the copy
is a jitted memcpy, or one jitted pass over a derived datatype's typemap (bus/typemap_copy.py);
elsewhere it is one process_vm_readv/writev call (bus/peer_memory.py).

Accumulate-class calls take the target's accumulate lock (a spinlock in its control block,
bus/rma_kernels.py) around read, combine and write, so accumulates to one location from many ranks
are atomic per element, as MPI requires. Every access is checked against the target window's
size (for a dynamic window: against the regions the target attached) first: ERR_RMA_RANGE.

Hot calls: a call that reaches memory this process can address (or another process's Win.Create
memory, by process_vm_*) with a C-contiguous numpy array of a hot dtype, the target given as
None or an int, leaves a record (_Hot) on the window: the call's arguments (the arrays
themselves, held, so their ids cannot be reused) and the jitted call bound to one argument, the
address of a parameter block of int64 words the record owns (bus/rma_kernels.block: the
addresses, computed and bounds-checked once, count, operation; numba unboxes one int per call
instead of eight). A later call with the same arguments is checked against the record by
identity and runs the bound call: one attribute chain and one compiled call, no parsing. Put and
Get bind byte memoryviews instead (`dst[:] = src` is a memcpy, or memmove where they overlap, in
C: about 60 ns against 80 for the call of a compiled memcpy, measured here) or, for another
process's Win.Create memory, a jitted process_vm_* call (peer_memory.VmRun). A window keeps per
kind its last record and up to HOT_LIMIT by origin array; Win.Free drops them. An array object
keeps its memory, size and
contiguity (numpy's own unsafe escapes aside: resize(refcheck=False), strides or dtype assigned
in place; the accumulate-class records check the dtype, which decides their arithmetic), so the
check made once holds for every matching call.
"""

from __future__ import annotations

import ctypes
from functools import partial
from typing import Any

import numpy as np

from ..bus import rma_kernels as K
from ..bus.peer_memory import VmRun, vm_read, vm_write
from ..bus.typemap_copy import typemap_copy
from ..coll import elementwise as E
from ..coll.engine import local_reduce
from ..errors import ERR_OP, ERR_RMA_RANGE, ERR_TYPE, MPIException, MPIValueError
from . import datatypes as D
from .buffers import normalise
from .constants import WIN_FLAVOR_DYNAMIC
from .ops import NO_OP, SUM, Op, check_applies
from .packing import address_of, check_committed, run_view
from .request import Request

PROC_NULL = -2
_ACC_SPINS = 2000
# The hot paths: a C-contiguous numpy array of one of these dtypes (the warmed specialisations of
# bus/rma_kernels.py) with the target given as None or a displacement, to mapped memory.
_HOT = frozenset(np.dtype(c) for c in ("u1", "i4", "i8", "f4", "f8"))
_ndarray = np.ndarray
_EMPTY = np.empty(0, np.uint8)
# `dst[_ALL] = src`: a slice made once (building `[:]`'s slice per call costs 15 of 60 ns, 3.11).
_ALL = slice(None)
HOT_LIMIT = 64  # records per kind and window (they keep their arrays alive)


class _Hot:
    """A hot call's record: its arguments, matched by identity, and `run`, the jitted call bound
    to the address of its parameter block (accumulate kinds: returns acc_release's status; the
    block's B_SPINS word says how long it spins for the accumulate lock).
    The target (None or an int) matches by identity, else by value when the call's is an int too
    (so None never matches 0, nor a bool or numpy integer an int: those take the general path)."""

    __slots__ = ("origin", "rank", "target", "run", "dtype", "op", "result", "compare", "dst", "src", "block")

    def __init__(self, origin: Any, rank: int, target: Any, run: Any, dtype: Any = None, op: Any = None,
                 result: Any = None, compare: Any = None, dst: Any = None, src: Any = None) -> None:
        # Accumulate kinds: run() is the kernel bound to the address of its parameter block
        # (bus/rma_kernels.block), which the record holds; _VmAcc has one too (its spins).
        self.block = getattr(run, "block", None)
        self.dst = dst  # Put/Get: `dst[:] = src` is the copy (byte memoryviews, or a _VmCopy)
        self.src = src
        self.origin = origin
        self.rank = rank
        self.target = target
        self.run = run
        self.dtype = dtype
        self.op = op
        self.result = result
        self.compare = compare


NO_HOT = _Hot(object(), -1, None, None)
def _remember(w: Any, table: str, h: _Hot) -> None:
    """Make h the window's last record of its kind (attribute `table`) and file it by origin."""
    records = getattr(w, table)
    if len(records) >= HOT_LIMIT:
        records.clear()
    records[id(h.origin)] = h
    setattr(w, "last_" + table, h)


def _bound(kernel: Any, block: np.ndarray) -> partial:
    """kernel(address of block) as a call of no arguments, holding the block (as `block`) so the
    address stays valid. A plain partial: it keeps vectorcall (a subclass would not, on 3.11)."""
    run = partial(kernel, int(block.ctypes.data))
    run.block = block  # type: ignore[attr-defined]
    return run


def _hot_address(arr: Any) -> int:
    return arr.__array_interface__["data"][0]


def _bytes_at(addr: int, nbytes: int) -> memoryview:
    """A writable byte memoryview of nbytes at addr in this process (mapped window memory, which
    lives until Win.Free drops the records holding these views)."""
    return memoryview((ctypes.c_ubyte * nbytes).from_address(addr)).cast("B")


def _bytes_of(arr: np.ndarray) -> memoryview:
    """A C-contiguous array's bytes as a 1-D byte memoryview (what slice assignment copies)."""
    return memoryview(arr.reshape(-1)).cast("B")


# A private accumulate lock (and its waiters word, 16 bytes on) that no one else takes: the
# kernels run under it to combine a copy of another process's bytes (_VmAcc).
_FREE = np.zeros(4, np.int64)
_FREE_LOCK = int(_FREE.ctypes.data)


class _VmAcc:
    """An accumulate-class record's run on another process's Win.Create memory: under the
    target's accumulate lock, read the bytes (process_vm_readv), combine the copy with the hot
    kernel, write them back (process_vm_writev; not for NO_OP). Returns as the kernels do: 0 if
    the lock was busy, else acc_release's status."""

    __slots__ = ("lock", "owner", "tmp", "read", "write", "combine", "block")

    def __init__(self, lock: int, owner: int, pid: int, remote: int, tmp: np.ndarray, nbytes: int, write: bool,
                 combine: Any) -> None:
        self.lock, self.owner, self.tmp, self.combine = lock, owner, tmp, combine
        local = int(tmp.ctypes.data)
        self.read = VmRun(pid, remote, local, nbytes, False)
        self.write = VmRun(pid, remote, local, nbytes, True) if write else None
        self.block = K.block(lock, owner, 0, spins=_ACC_SPINS)  # only B_SPINS is read

    def __call__(self) -> int:
        if not K.spin_lock(self.lock, self.owner, int(self.block[K.B_SPINS])):
            return 0
        try:
            self.read()
            self.combine()
            if self.write is not None:
                self.write()
        except BaseException:
            K.acc_release(self.lock, self.owner)
            raise
        return K.acc_release(self.lock, self.owner)


class _VmCopy:
    """The Put/Get record's destination for another process's Win.Create memory: assigning to
    any slice of it is one process_vm_writev (write) or process_vm_readv of the bound bytes."""

    __slots__ = ("copy",)

    def __init__(self, pid: int, remote: int, local: int, nbytes: int, write: bool) -> None:
        self.copy = VmRun(pid, remote, local, nbytes, write)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.copy()


class _Span:
    """Where count elements of a datatype lie in a target's memory."""

    __slots__ = ("rank", "addr", "t", "count", "nbytes", "mapped", "pid")

    def __init__(self, rank: int, addr: int, t: Any, count: int, mapped: bool, pid: int) -> None:
        self.rank = rank
        self.addr = addr  # of element 0, in the target's process (mapped: in ours)
        self.t = t
        self.count = count
        self.nbytes = count * t.psize
        self.mapped = mapped
        self.pid = pid

    def segments(self) -> np.ndarray:
        """(address, length) of every byte run, in typemap order, for process_vm_*."""
        offs, lens, _ = self.t.flat()
        run = run_view(self.t, self.count)
        if run is not None:
            return np.array([[self.addr + run[0], run[1]]], np.uint64)
        extent = self.t.ub - self.t.lb
        starts = (self.addr + np.arange(self.count, dtype=np.int64)[:, None] * extent + offs[None, :]).reshape(-1)
        sizes = np.broadcast_to(lens[None, :], (self.count, lens.size)).reshape(-1)
        return np.stack([starts, sizes], axis=1).astype(np.uint64)

    def read(self, out: int) -> None:
        """Copy the span's bytes, packed, to address out."""
        if self.nbytes == 0:
            return
        if self.mapped:
            run = run_view(self.t, self.count)
            if run is not None:
                K.copy_bytes(out, self.addr + run[0], run[1])
            else:
                offs, lens, _ = self.t.flat()
                typemap_copy(self.addr, offs, lens, self.count, self.t.ub - self.t.lb, out, 0, self.nbytes, 1)
        else:
            vm_read(self.pid, self.segments(), out)

    def write(self, src: int) -> None:
        """Copy packed bytes at address src into the span."""
        if self.nbytes == 0:
            return
        if self.mapped:
            run = run_view(self.t, self.count)
            if run is not None:
                K.copy_bytes(self.addr + run[0], src, run[1])
            else:
                offs, lens, _ = self.t.flat()
                typemap_copy(self.addr, offs, lens, self.count, self.t.ub - self.t.lb, src, 0, self.nbytes, 0)
        else:
            vm_write(self.pid, self.segments(), src)


def _target_spec(target: Any, ocount: int, otype: D.Datatype) -> tuple[int, int, D.Datatype]:
    """mpi4py's target argument: None, a displacement, or [disp[, count[, datatype]]]."""
    if target is None:
        return 0, ocount, otype
    if isinstance(target, (int, np.integer)):
        return int(target), ocount, otype
    if isinstance(target, (list, tuple)):
        if len(target) > 3:
            raise ValueError("target: expecting 3 items at most")
        disp = int(target[0]) if len(target) >= 1 else 0
        count = int(target[1]) if len(target) >= 2 else ocount
        ttype = target[2] if len(target) >= 3 else otype
        if not isinstance(ttype, D.Datatype):
            raise TypeError(f"target: expected a Datatype, got {type(ttype).__name__}")
        return disp, count, ttype
    raise ValueError("target: expecting integral or list/tuple")


def _count_of(b: Any) -> int:
    t = D.type_of(b.datatype)
    return b.nbytes // t.psize if t.psize else 0


def _typed(arr: np.ndarray, nbytes: int, dtype: np.dtype) -> np.ndarray:
    return arr.reshape(-1).view(np.uint8)[:nbytes].view(dtype)


# Types the jitted reductions do not cover (long double and its complex) are combined by numpy,
# exactly as wide, as Op.Reduce_local does.
_NUMPY_OPS = {E.OP_SUM: np.add, E.OP_PROD: np.multiply, E.OP_MIN: np.minimum, E.OP_MAX: np.maximum}
_WIDE = frozenset(np.dtype(c) for c in ("g", "G"))
_HOT_OPS = {E.OP_SUM: K.ACC_SUM, E.OP_PROD: K.ACC_PROD, E.OP_MIN: K.ACC_MIN, E.OP_MAX: K.ACC_MAX,
            E.OP_REPLACE: K.ACC_REPLACE}


def _combine(op: Op, origin: np.ndarray, target: np.ndarray) -> None:
    """target = origin op target, element by element (REPLACE: origin; NO_OP: target)."""
    if op.code == E.OP_REPLACE:
        target[...] = origin
    elif op.code == E.OP_NO_OP:
        return
    elif target.dtype in _WIDE:
        _NUMPY_OPS[op.code](origin, target, out=target)
    else:
        local_reduce(op.code, origin, target)


def _check_op(op: Any, dtype: np.dtype | None) -> Op:
    if not isinstance(op, Op) or not op or op.code == E.OP_USER:
        raise MPIException(ERR_OP, f"{op!r} is not a predefined operation (one-sided accumulates take those only)")
    if op.code in (E.OP_REPLACE, E.OP_NO_OP):
        return op
    if dtype is None:
        raise MPIException(ERR_TYPE, "accumulate: the target datatype is not made of one predefined type")
    if dtype in _WIDE and op.code in _NUMPY_OPS and not (dtype.kind == "c" and op.code in (E.OP_MIN, E.OP_MAX)):
        return op
    return check_applies(op, dtype)


class RMAMixin:
    """The one-sided data calls of Win."""

    # -- targets -----------------------------------------------------------------------------
    def _span(self, w: Any, rank: int, disp: int, count: int, datatype: Any) -> _Span:
        """The target span of (rank, disp, count, datatype), bounds-checked."""
        if not 0 <= rank < w.n:
            from ..errors import ERR_RANK

            raise MPIException(ERR_RANK, f"target rank {rank} is not in the window's group of {w.n}")
        if count < 0:
            from ..errors import ERR_COUNT

            raise MPIException(ERR_COUNT, f"negative target count {count}")
        if disp < 0:
            from ..errors import ERR_DISP

            # Open MPI's bindings refuse a negative target displacement before anything else.
            raise MPIException(ERR_DISP, f"negative target displacement {disp}")
        t = check_committed(datatype)
        extent = t.ub - t.lb
        mapped = w.mapped[rank]
        if w.flavor == WIN_FLAVOR_DYNAMIC:
            start = disp  # an address in the target's process
            if count and t.psize:
                lo, hi = start + t.tlb, start + (count - 1) * extent + t.tub
                self._check_attached(w, rank, lo, hi)
            addr = start
        else:
            start = disp * w.units[rank]
            if count and t.psize:
                lo, hi = start + t.tlb, start + (count - 1) * extent + t.tub
                if lo < 0 or hi > w.sizes[rank]:
                    raise MPIException(ERR_RMA_RANGE, f"bytes [{lo}, {hi}) are outside the window of rank {rank} "
                                                      f"({w.sizes[rank]} bytes)")
            addr = (mapped if mapped is not None else w.bases[rank]) + start
        return _Span(rank, addr, t, count, mapped is not None, w.pids[rank])

    def _check_attached(self, w: Any, rank: int, lo: int, hi: int) -> None:
        """A dynamic window: [lo, hi) must lie in one region the target attached."""
        from .window import W_HEAD, W_NATTACH, _ctl_array

        words = _ctl_array(w, rank)
        self._acc_lock(w, rank)
        try:
            n = int(words[W_NATTACH])
            regions = words[W_HEAD + 2 * w.n: W_HEAD + 2 * w.n + 2 * n].reshape(-1, 2).copy()
        finally:
            self._acc_unlock(w, rank)
        for a, m in regions:
            if a <= lo and hi <= a + m:
                return
        raise MPIException(ERR_RMA_RANGE, f"addresses [{lo:#x}, {hi:#x}) are not in memory rank {rank} attached")

    def _acc_lock(self, w: Any, rank: int) -> None:
        """Take rank's accumulate lock (spin a little, then back off through the scheduler, which
        raises if the job aborts)."""
        addr = w.acc_word(rank)
        owner = w.engine.rank + 1
        if K.spin_lock(addr, owner, _ACC_SPINS):
            return
        # Counted among the lock's waiters meanwhile, so the hot paths' release rings our doorbell.
        K.add_word(addr + K.ACC_WAITERS, 1)
        try:
            w.engine.sched.wait(lambda: K.spin_lock(addr, owner, 16), ("Win.Accumulate", w.world_ranks[rank], 0))
        finally:
            K.add_word(addr + K.ACC_WAITERS, -1)

    def _acc_unlock(self, w: Any, rank: int) -> None:
        if K.acc_release(w.acc_word(rank), w.engine.rank + 1) == 2:
            w.wake_peers()  # only origins counted among the waiters sleep on it

    def _hot_target(self, w: Any, rank: int, origin: Any, target: Any) -> int:
        """The address in this process for a hot-path call (origin checked by the caller), or
        0: take the general path."""
        if (target is not None and type(target) is not int) or not 0 <= rank < w.n:
            return 0
        if w.flavor == WIN_FLAVOR_DYNAMIC:
            return 0
        start = (target or 0) * w.units[rank]
        if start < 0 or start + origin.nbytes > w.sizes[rank]:
            return 0  # the general path reports the range error
        mapped = w.mapped[rank]
        # Another process's Win.Create memory: a negative address says "process_vm_* to it".
        return mapped + start if mapped is not None else -(w.bases[rank] + start)

    # -- Put / Get -----------------------------------------------------------------------------
    def Put(self, origin: Any, target_rank: int, target: Any = None) -> None:
        """Write the origin buffer into target_rank's window."""
        try:
            h = self._ref.state.last_puts
        except AttributeError:  # WIN_NULL (or freed through this handle): the checked path says so
            h = NO_HOT
        if (h.origin is origin and h.rank == target_rank
                and (h.target is target or (type(target) is int and h.target == target))):
            h.dst[_ALL] = h.src
            return
        self._put(origin, target_rank, target)

    def _put(self, origin: Any, target_rank: int, target: Any) -> None:
        w = self._w()
        h = w.puts.get(id(origin), NO_HOT)  # a record of this origin other than the last one
        if (h.origin is origin and h.rank == target_rank
                and (h.target is target or (type(target) is int and h.target == target))):
            w.last_puts = h
            h.dst[_ALL] = h.src
            return
        rank = int(target_rank)
        if rank == PROC_NULL:
            return
        if type(origin) is _ndarray and origin.dtype in _HOT and origin.flags.c_contiguous:
            dst = self._hot_target(w, rank, origin, target)
            if dst:
                n = origin.nbytes
                if dst > 0:
                    h = _Hot(origin, rank, target, None, dst=_bytes_at(dst, n), src=_bytes_of(origin))
                else:
                    h = _Hot(origin, rank, target, None, dst=_VmCopy(w.pids[rank], -dst, _hot_address(origin), n, True))
                _remember(w, "puts", h)
                h.dst[_ALL] = h.src
                return
        ob = normalise(origin, False)
        disp, count, ttype = _target_spec(target, _count_of(ob), ob.datatype)
        span = self._span(w, rank, disp, count, ttype)
        _check_sizes(span, ob.nbytes)
        span.write(address_of(ob.array))

    def Get(self, origin: Any, target_rank: int, target: Any = None) -> None:
        """Read from target_rank's window into the origin buffer."""
        try:
            h = self._ref.state.last_gets
        except AttributeError:  # WIN_NULL (or freed through this handle): the checked path says so
            h = NO_HOT
        if (h.origin is origin and h.rank == target_rank
                and (h.target is target or (type(target) is int and h.target == target))):
            h.dst[_ALL] = h.src
            return
        self._get(origin, target_rank, target)

    def _get(self, origin: Any, target_rank: int, target: Any) -> None:
        w = self._w()
        h = w.gets.get(id(origin), NO_HOT)  # a record of this origin other than the last one
        if (h.origin is origin and h.rank == target_rank
                and (h.target is target or (type(target) is int and h.target == target))):
            w.last_gets = h
            h.dst[_ALL] = h.src
            return
        rank = int(target_rank)
        if rank == PROC_NULL:
            return
        if (type(origin) is _ndarray and origin.dtype in _HOT and origin.flags.c_contiguous
                and origin.flags.writeable):
            src = self._hot_target(w, rank, origin, target)
            if src:
                n = origin.nbytes
                if src > 0:
                    h = _Hot(origin, rank, target, None, dst=_bytes_of(origin), src=_bytes_at(src, n))
                else:
                    vm = _VmCopy(w.pids[rank], -src, _hot_address(origin), n, False)
                    h = _Hot(origin, rank, target, None, dst=vm)
                _remember(w, "gets", h)
                h.dst[_ALL] = h.src
                return
        ob = normalise(origin, True)
        disp, count, ttype = _target_spec(target, _count_of(ob), ob.datatype)
        span = self._span(w, rank, disp, count, ttype)
        _check_sizes(span, ob.nbytes)
        span.read(address_of(ob.array))
        ob.finish()

    # -- accumulates ---------------------------------------------------------------------------
    def _acc_done(self, w: Any, h: _Hot, status: int) -> None:
        """After a hot accumulate-class kernel returned status: 0, the lock was busy (wait for it
        through the scheduler, counted among its waiters); 2, wake the waiting processes."""
        if status == 0:
            from .window import W_ACC

            waiters = w.ctl(h.rank) + W_ACC * 8 + K.ACC_WAITERS
            box = [0]

            def taken() -> bool:
                box[0] = h.run()
                return box[0] != 0

            K.add_word(waiters, 1)
            h.block[K.B_SPINS] = 16  # a short try between the scheduler's turns
            try:
                w.engine.sched.wait(taken, ("Win.Accumulate", w.world_ranks[h.rank], 0))
            finally:
                h.block[K.B_SPINS] = _ACC_SPINS
                K.add_word(waiters, -1)
            status = box[0]
        if status == 2:
            w.wake_peers()

    def _acc_record(self, w: Any, rank: int, origin: Any, target: Any, op: Any, result: Any = None,
                    compare: Any = None) -> tuple[int, int, int] | None:
        """(lock address, owner, target address) for a hot accumulate-class call, or None: take
        the general path. origin (and result, compare) are hot arrays of one dtype (checked by
        the caller), op one of _HOT_OPS or NO_OP."""
        if w.flavor == WIN_FLAVOR_DYNAMIC or not 0 <= rank < w.n:
            return None
        arr = result if origin is None else origin
        dst = self._hot_target(w, rank, arr, target)
        # An origin inside the very bytes it combines into takes the general path (which combines
        # through a copy); the kernels work in place. dst < 0: another process's Win.Create
        # memory (combined through a copy here, _VmAcc).
        if dst == 0 or (dst > 0 and origin is not None and _overlap_addr(origin, dst, arr.nbytes)
                        and _hot_address(origin) != dst):
            return None
        from .window import W_ACC

        return w.ctl(rank) + W_ACC * 8, w.engine.rank + 1, dst

    def _vm_acc(self, w: Any, rank: int, lock: int, owner: int, remote: int, nbytes: int, write: bool,
                kernel: Any, **words: int) -> _VmAcc:
        """run of an accumulate-class record on another process's memory: kernel on a block
        (FREE lock, owner 1, dst = the copy of the target bytes made here, the other words)
        combines that copy."""
        tmp = np.empty(max(nbytes, 1), np.uint8)
        combine = _bound(kernel, K.block(_FREE_LOCK, 1, tmp.ctypes.data, spins=1, **words))
        return _VmAcc(lock, owner, w.pids[rank], remote, tmp, nbytes, write, combine)

    def Accumulate(self, origin: Any, target_rank: int, target: Any = None, op: Op = SUM) -> None:
        """Combine the origin buffer into target_rank's window with op (atomic per element)."""
        try:
            h = self._ref.state.last_accs
        except AttributeError:  # WIN_NULL (or freed through this handle): the checked path says so
            h = NO_HOT
        if (h.origin is origin and h.op is op and h.rank == target_rank
                and (h.target is target or (type(target) is int and h.target == target)) and origin.dtype is h.dtype):
            status = h.run()
            if status != 1:
                self._acc_done(self._ref.state, h, status)
            return
        self._accumulate(origin, target_rank, target, op)

    def _accumulate(self, origin: Any, target_rank: int, target: Any, op: Op) -> None:
        w = self._w()
        h = w.accs.get(id(origin), NO_HOT)  # a record of this origin other than the last one
        if (h.origin is origin and h.op is op and h.rank == target_rank
                and (h.target is target or (type(target) is int and h.target == target)) and origin.dtype is h.dtype):
            w.last_accs = h
            status = h.run()
            if status != 1:
                self._acc_done(w, h, status)
            return
        if op is NO_OP or (isinstance(op, Op) and op.code == E.OP_NO_OP):
            # MPI_NO_OP is for the fetching calls; Open MPI's MPI_Accumulate refuses it.
            raise MPIException(ERR_OP, "Win.Accumulate: MPI_NO_OP is only for Get_accumulate and Fetch_and_op")
        rank = int(target_rank)
        if rank == PROC_NULL:
            return
        code = _HOT_OPS.get(op.code) if isinstance(op, Op) else None
        if (code is not None and type(origin) is _ndarray and origin.dtype in _HOT
                and origin.flags.c_contiguous):
            hot = self._acc_record(w, rank, origin, target, op)
            if hot is not None:
                lock, owner, dst = hot
                dtype = origin.dtype
                src, n = _hot_address(origin), origin.size
                if dst > 0:
                    run = _bound(K.acc_entry(dtype), K.block(lock, owner, dst, src, n=n, op=code, spins=_ACC_SPINS))
                else:
                    run = self._vm_acc(w, rank, lock, owner, -dst, origin.nbytes, True, K.acc_entry(dtype),
                                       src=src, n=n, op=code)
                h = _Hot(origin, rank, target, run, dtype, op)
                _remember(w, "accs", h)
                status = run()
                if status != 1:
                    self._acc_done(w, h, status)
                return
        ob = normalise(origin, False)
        disp, count, ttype = _target_spec(target, _count_of(ob), ob.datatype)
        span = self._span(w, rank, disp, count, ttype)
        _check_sizes(span, ob.nbytes)
        dtype = span.t.dtype
        op = _check_op(op, dtype)
        if span.nbytes == 0:
            return
        src = _typed(ob.array, ob.nbytes, dtype) if dtype is not None else ob.array
        self._acc_lock(w, rank)
        try:
            if op.code == E.OP_REPLACE:
                span.write(address_of(ob.array))
            else:
                cur = np.empty(span.nbytes // dtype.itemsize, dtype)
                span.read(cur.ctypes.data)
                _combine(op, src, cur)
                span.write(cur.ctypes.data)
        finally:
            self._acc_unlock(w, rank)

    def Get_accumulate(self, origin: Any, result: Any, target_rank: int, target: Any = None, op: Op = SUM) -> None:
        """Fetch target_rank's data into result, then combine the origin into it (atomically)."""
        try:
            h = self._ref.state.last_gaccs
        except AttributeError:  # WIN_NULL (or freed through this handle): the checked path says so
            h = NO_HOT
        if (h.result is result and h.origin is origin and h.op is op and h.rank == target_rank
                and (h.target is target or (type(target) is int and h.target == target)) and result.dtype is h.dtype
                and origin.dtype is h.dtype):
            status = h.run()
            if status != 1:
                self._acc_done(self._ref.state, h, status)
            return
        self._get_accumulate(origin, result, target_rank, target, op)

    def _hot_fetch(self, w: Any, rank: int, origin: Any, result: Any, target: Any, op: Any) -> _Hot | None:
        """The record of a hot Get_accumulate or Fetch_and_op, or None."""
        code = K.ACC_NO_OP if op is NO_OP else _HOT_OPS.get(op.code) if isinstance(op, Op) else None
        if (code is None or type(result) is not _ndarray or result.dtype not in _HOT
                or not result.flags.c_contiguous or not result.flags.writeable):
            return None
        dtype = result.dtype
        if (type(origin) is not _ndarray or origin.dtype is not dtype or not origin.flags.c_contiguous
              or origin.size != result.size or _overlap(origin, result)):
            return None
        else:
            src = _hot_address(origin)
        hot = self._acc_record(w, rank, origin, target, op, result)
        if hot is None:
            return None
        lock, owner, dst = hot
        if dst < 0:
            run = self._vm_acc(w, rank, lock, owner, -dst, result.nbytes, code != K.ACC_NO_OP, K.get_acc_entry(dtype),
                               src=src, res=_hot_address(result), n=result.size, op=code)
            return _Hot(origin, rank, target, run, dtype, op, result)
        if _overlap_addr(result, dst, result.nbytes):
            return None
        run = _bound(K.get_acc_entry(dtype), K.block(lock, owner, dst, src, _hot_address(result), n=result.size,
                                                     op=code, spins=_ACC_SPINS))
        return _Hot(origin, rank, target, run, dtype, op, result)

    def _get_accumulate(self, origin: Any, result: Any, target_rank: int, target: Any, op: Op) -> None:
        w = self._w()
        rank = int(target_rank)
        if rank == PROC_NULL:
            return
        h = self._hot_fetch(w, rank, origin, result, target, op)
        if h is not None:
            w.last_gaccs = h
            status = h.run()
            if status != 1:
                self._acc_done(w, h, status)
            return
        rb = normalise(result, True)
        ob = normalise(origin, False)  # None too is refused (mpi4py's TypeError), even with NO_OP
        disp, count, ttype = _target_spec(target, _count_of(rb), rb.datatype)
        span = self._span(w, rank, disp, count, ttype)
        _check_sizes(span, rb.nbytes)
        dtype = span.t.dtype
        op = _check_op(op, dtype)
        if ob is not None and op.code != E.OP_NO_OP:
            _check_sizes(span, ob.nbytes)
        if span.nbytes == 0:
            return
        self._acc_lock(w, rank)
        try:
            span.read(address_of(rb.array))
            if op.code == E.OP_REPLACE:
                span.write(address_of(ob.array))
            elif op.code != E.OP_NO_OP:
                cur = _typed(rb.array, rb.nbytes, dtype).copy()
                _combine(op, _typed(ob.array, ob.nbytes, dtype), cur)
                span.write(cur.ctypes.data)
        finally:
            self._acc_unlock(w, rank)
        rb.finish()

    def Fetch_and_op(self, origin: Any, result: Any, target_rank: int, target_disp: int = 0, op: Op = SUM) -> None:
        """Get_accumulate of one element."""
        try:
            h = self._ref.state.last_fops
        except AttributeError:  # WIN_NULL (or freed through this handle): the checked path says so
            h = NO_HOT
        if (h.result is result and h.origin is origin and h.op is op and h.rank == target_rank
                and result.dtype is h.dtype
                and (h.target is target_disp or (type(target_disp) is int and h.target == target_disp))
                and origin.dtype is h.dtype):
            status = h.run()
            if status != 1:
                self._acc_done(self._ref.state, h, status)
            return
        self._fetch_and_op(origin, result, target_rank, target_disp, op)

    def _fetch_and_op(self, origin: Any, result: Any, target_rank: int, target_disp: int, op: Op) -> None:
        w = self._w()
        rank = int(target_rank)
        if (rank != PROC_NULL and type(origin) is _ndarray and origin.size == 1
                and (type(target_disp) is int)):
            h = self._hot_fetch(w, rank, origin, result, target_disp, op)
            if h is not None:
                w.last_fops = h
                status = h.run()
                if status != 1:
                    self._acc_done(w, h, status)
                return
        ob = normalise(origin, False)
        if rank == PROC_NULL:
            return
        if _count_of(ob) != 1:
            raise ValueError(f"origin: expecting a single element, got {_count_of(ob)}")
        rb = normalise(result, True)
        _single_like(rb, ob, "result")
        span = self._span(w, rank, int(target_disp), 1, ob.datatype)
        op = _check_op(op, span.t.dtype)
        self._acc_lock(w, rank)
        try:
            span.read(address_of(rb.array))
            if op.code == E.OP_REPLACE:
                span.write(address_of(ob.array))
            elif op.code != E.OP_NO_OP:
                dtype = span.t.dtype
                cur = _typed(rb.array, rb.nbytes, dtype).copy()
                _combine(op, _typed(ob.array, ob.nbytes, dtype), cur)
                span.write(cur.ctypes.data)
        finally:
            self._acc_unlock(w, rank)
        rb.finish()

    def Compare_and_swap(self, origin: Any, compare: Any, result: Any, target_rank: int, target_disp: int = 0) -> None:
        """Replace one target element by origin if it equals compare; result gets its old value."""
        try:
            h = self._ref.state.last_cass
        except AttributeError:  # WIN_NULL (or freed through this handle): the checked path says so
            h = NO_HOT
        if (h.result is result and h.origin is origin and h.compare is compare and h.rank == target_rank
                and result.dtype is h.dtype
                and (h.target is target_disp or (type(target_disp) is int and h.target == target_disp))
                and origin.dtype is h.dtype and compare.dtype is h.dtype):
            status = h.run()
            if status != 1:
                self._acc_done(self._ref.state, h, status)
            return
        self._compare_and_swap(origin, compare, result, target_rank, target_disp)

    def _hot_cas(self, w: Any, rank: int, origin: Any, compare: Any, result: Any, target: Any) -> _Hot | None:
        """The record of a hot Compare_and_swap (three one-element arrays of one hot dtype), or None."""
        if type(target) is not int:
            return None
        for a in (origin, compare, result):
            if type(a) is not _ndarray or a.size != 1 or a.dtype not in _HOT:
                return None
        dtype = result.dtype
        if origin.dtype is not dtype or compare.dtype is not dtype or not result.flags.writeable:
            return None
        if _overlap(result, origin) or _overlap(result, compare):
            return None
        hot = self._acc_record(w, rank, origin, target, None)
        if hot is None:
            return None
        lock, owner, dst = hot
        if dst < 0:
            run = self._vm_acc(w, rank, lock, owner, -dst, dtype.itemsize, True, K.cas_entry(dtype.itemsize),
                               src=_hot_address(origin), res=_hot_address(result), cmp=_hot_address(compare))
            return _Hot(origin, rank, target, run, dtype, None, result, compare)
        if _overlap_addr(result, dst, result.nbytes):
            return None
        run = _bound(K.cas_entry(dtype.itemsize), K.block(lock, owner, dst, _hot_address(origin), _hot_address(result),
                                                          _hot_address(compare), spins=_ACC_SPINS))
        return _Hot(origin, rank, target, run, dtype, None, result, compare)

    def _compare_and_swap(self, origin: Any, compare: Any, result: Any, target_rank: int, target_disp: int) -> None:
        w = self._w()
        rank = int(target_rank)
        if rank != PROC_NULL:
            h = self._hot_cas(w, rank, origin, compare, result, target_disp)
            if h is not None:
                w.last_cass = h
                status = h.run()
                if status != 1:
                    self._acc_done(w, h, status)
                return
        ob = normalise(origin, False)
        if rank == PROC_NULL:
            return
        if _count_of(ob) != 1:
            raise ValueError(f"origin: expecting a single element, got {_count_of(ob)}")
        cb = normalise(compare, False)
        _single_like(cb, ob, "compare")
        rb = normalise(result, True)
        _single_like(rb, ob, "result")
        span = self._span(w, rank, int(target_disp), 1, ob.datatype)
        if span.t.dtype is None:
            raise MPIException(ERR_TYPE, "Compare_and_swap needs a predefined datatype")
        n = span.nbytes
        self._acc_lock(w, rank)
        try:
            span.read(address_of(rb.array))
            old = rb.array.reshape(-1).view(np.uint8)[:n]
            if bytes(old) == bytes(cb.array.reshape(-1).view(np.uint8)[:n]):
                span.write(address_of(ob.array))
        finally:
            self._acc_unlock(w, rank)
        rb.finish()

    # -- request forms ------------------------------------------------------------------------
    def Rput(self, origin: Any, target_rank: int, target: Any = None) -> Request:
        """Put, returning a request (complete already: the data has moved)."""
        self.Put(origin, target_rank, target)
        return Request(self._w().engine)

    def Rget(self, origin: Any, target_rank: int, target: Any = None) -> Request:
        """Get, returning a request (complete already)."""
        self.Get(origin, target_rank, target)
        return Request(self._w().engine)

    def Raccumulate(self, origin: Any, target_rank: int, target: Any = None, op: Op = SUM) -> Request:
        """Accumulate, returning a request (complete already)."""
        self.Accumulate(origin, target_rank, target, op)
        return Request(self._w().engine)

    def Rget_accumulate(self, origin: Any, result: Any, target_rank: int, target: Any = None,
                        op: Op = SUM) -> Request:
        """Get_accumulate, returning a request (complete already)."""
        self.Get_accumulate(origin, result, target_rank, target, op)
        return Request(self._w().engine)


def _check_sizes(span: _Span, nbytes: int) -> None:
    """The origin and target type signatures must hold as many bytes."""
    if span.nbytes != nbytes:
        raise MPIValueError(ERR_TYPE, f"origin has {nbytes} bytes, target {span.count} x "
                                      f"{span.t.name or 'datatype'} is {span.nbytes}")


def _overlap_addr(arr: np.ndarray, addr: int, nbytes: int) -> bool:
    """Whether arr's bytes and [addr, addr + nbytes) overlap."""
    a = _hot_address(arr)
    return a < addr + nbytes and addr < a + arr.nbytes


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two contiguous arrays' bytes overlap (the general path copies through a temporary
    then: the hot kernels read and write in place)."""
    return _overlap_addr(a, _hot_address(b), b.nbytes)


def _single_like(b: Any, ob: Any, what: str) -> None:
    if _count_of(b) != 1:
        raise ValueError(f"{what}: expecting a single element, got {_count_of(b)}")
    if b.datatype != ob.datatype and D.type_of(b.datatype).dtype != D.type_of(ob.datatype).dtype:
        raise ValueError(f"{what}: mismatch in origin and {what} MPI datatypes")
