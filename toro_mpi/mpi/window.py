"""MPI windows (MPI.Win): creation, freeing, attributes, error handlers, the local memory.

A window is built collectively over a private duplicate of its communicator (its Fence is that
duplicate's barrier, so window traffic never mixes with the program's). Every window has one
POSIX shared-memory object (bus/winmem.py), created by its first rank and mapped by all, holding
each rank's *control block* (passive-target lock, accumulate lock, post/complete counters, the
regions a dynamic window attached) and, for Allocate and Allocate_shared, each rank's memory:
there an origin reads and writes a target's memory directly, with no help from the target.
Allocate_shared lays the ranks' parts out back to back (contiguous, as Open MPI by default), so
Shared_query gives numpy-able views of any peer's part.

Win.Create exposes a rank's own memory: peers in the same process (green-thread ranks) access it
directly, others with process_vm_readv/writev (bus/winmem.py). Create_dynamic is the same with
displacements that are addresses inside the regions Attach published.

The data calls are in rma.py, the synchronisation calls in window_sync.py.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..bus import layout as L
from ..bus.peer_memory import vm_access_supported
from ..bus.ring import ring_bells
from ..bus.winmem import WinShm
from ..errors import (
    ERR_COMM,
    ERR_DISP,
    ERR_OTHER,
    ERR_RMA_ATTACH,
    ERR_RMA_FLAVOR,
    ERR_SIZE,
    ERR_WIN,
    MPIException,
)
from .attributes import AttributesMixin
from .buffers import BottomType, raw_bytes
from .constants import (
    WIN_BASE,
    WIN_CREATE_FLAVOR,
    WIN_DISP_UNIT,
    WIN_FLAVOR_ALLOCATE,
    WIN_FLAVOR_CREATE,
    WIN_FLAVOR_DYNAMIC,
    WIN_FLAVOR_SHARED,
    WIN_MODEL,
    WIN_SIZE,
    WIN_UNIFIED,
)
from .docstrings import embed_class
from .errhandler import ERRORS_RETURN, Errhandler, ErrhandlerMixin, guard_class
from .groups import Group
from .handles import Handle, Ref
from .info import INFO_NULL, Info, as_info
from .memory import buffer
from .rma import RMAMixin
from .window_buffer import install as install_buffer
from .window_sync import SyncMixin

PROC_NULL = -2
# Control block words (int64) of each rank; the post/complete counters follow, one per rank.
W_LOCK = 0  # passive-target lock: EXCLUSIVE bit or number of shared holders (bus/rma_kernels.py)
W_ACC = 1  # accumulate spinlock: 0 or holder's world rank + 1
W_NATTACH = 2  # dynamic windows: regions attached (pairs at W_ATTACH)
W_ACC_WAITERS = 3  # origins waiting for the accumulate lock in their scheduler (rma_kernels.ACC_WAITERS)
W_LOCK_WAITERS = 4  # origins waiting for the passive-target lock in their scheduler (window_sync.py)
W_HEAD = 8
MAX_ATTACH = 64  # regions a dynamic window may have attached at once
ALIGN = 64


def ctl_words(n: int) -> int:
    """int64 words of one rank's control block in a window of n ranks (a whole cache line count)."""
    words = W_HEAD + 2 * n + 2 * MAX_ATTACH
    return (words * 8 + ALIGN - 1) // ALIGN * ALIGN // 8


class _Window:
    """The state of one window (a Ref's state)."""

    def __init__(self) -> None:
        self.comm: Any = None  # the private duplicate of the communicator
        self.engine: Any = None
        self.sched: Any = None  # the engine's scheduler (Flush's hot path reads it)
        self.flavor = 0
        self.n = 0
        self.rank = 0
        self.world_ranks: list[int] = []
        self.shm: WinShm | None = None
        self.ctl_stride = 0  # bytes between two ranks' control blocks
        self.sizes: list[int] = []
        self.units: list[int] = []
        self.pids: list[int] = []
        self.bases: list[int] = []  # each rank's base address in its own process
        self.mapped: list[int | None] = []  # each rank's memory in this process, None: process_vm
        self.base = 0
        self.size = 0
        self.disp_unit = 1
        self.keep: Any = None  # the user's memory of a Create window (kept alive)
        self.attached: list[tuple[int, int, Any]] = []  # dynamic: (address, length, memory)
        self.name = ""
        self.info: dict[str, str] = {}
        self.errhandler: Errhandler = ERRORS_RETURN
        self.attrs: dict[int, Any] | None = None
        # Epochs (window_sync.py).
        self.locks: dict[int, int] = {}
        self.lock_all = False
        self.start_group: list[int] | None = None
        self.post_group: list[int] | None = None
        self.posts_seen: list[int] = []  # per rank: posts consumed by our Start
        self.completes_seen: list[int] = []  # per rank: completes consumed by our Wait
        self.freed = False
        # Doorbells of the other processes: rung after a release (unlock, complete, post) that a
        # peer sleeping in Scheduler.wait may be waiting for (ring_bells syscalls only for those
        # actually asleep).
        self.bells = np.zeros(0, np.int64)
        self.forget_hot()
        self.flush_ticks = 0  # Flush calls left on the fast path (window_sync.py)
        self.flush_rounds = 0  # checked Flush calls left before the next one makes progress

    def forget_hot(self) -> None:
        """Drop the hot calls' records (mpi/rma.py): last one per kind, and by origin array."""
        from .rma import NO_HOT

        self.puts: dict[int, Any] = {}
        self.gets: dict[int, Any] = {}
        self.accs: dict[int, Any] = {}
        self.last_puts = self.last_gets = self.last_accs = NO_HOT
        self.last_gaccs = self.last_fops = self.last_cass = NO_HOT

    def wake_peers(self) -> None:
        """Wake the processes sleeping on their doorbell, so a waiter sees our release now."""
        if self.bells.size:
            ring_bells(self.bells)

    def ctl(self, rank: int) -> int:
        """Address of rank's control block in this process."""
        assert self.shm is not None
        return self.shm.base + rank * self.ctl_stride

    # Addresses of control block words (callers in window_sync.py and rma.py would otherwise
    # import these names from here on every call: an import statement costs ~1 us).
    def lock_word(self, rank: int) -> int:
        """Address of rank's passive-target lock word."""
        return self.ctl(rank) + W_LOCK * 8

    def lock_waiters(self, rank: int) -> int:
        """Address of the count of origins waiting for rank's passive-target lock."""
        return self.ctl(rank) + W_LOCK_WAITERS * 8

    def acc_word(self, rank: int) -> int:
        """Address of rank's accumulate lock."""
        return self.ctl(rank) + W_ACC * 8


class Win(ErrhandlerMixin, SyncMixin, RMAMixin, AttributesMixin, Handle):
    """An MPI window (Win() is WIN_NULL)."""

    _kind = "Win"
    _attr_kind = "Win"
    _errh_kind = "Win"

    @classmethod
    def _state_type(cls) -> type:
        return _Window

    def _w(self) -> _Window:
        ref = self._ref
        if ref is None:
            raise MPIException(ERR_WIN, "invalid window (MPI.WIN_NULL)")
        state = ref.state
        if state.freed:
            raise MPIException(ERR_WIN, "the window has been freed")
        return state

    def __repr__(self) -> str:
        return "<Win MPI_WIN_NULL>" if self._ref is None else f"<Win {self._ref.state.name or hex(id(self))}>"

    # -- attributes of the keyval kind (attributes.py): they belong to the window -------------
    def _existing_attrs(self) -> dict[int, Any] | None:
        return self._w().attrs

    def _attr_table(self) -> dict[int, Any]:
        w = self._w()
        if w.attrs is None:
            w.attrs = {}
        return w.attrs

    # -- creation ----------------------------------------------------------------------------
    @classmethod
    def Create(cls, memory: Any, disp_unit: int = 1, info: Any = INFO_NULL, comm: Any = None) -> Win:
        """A window over each rank's memory (None or MPI.BOTTOM: no memory)."""
        comm = _check_comm(comm, "Win.Create")
        info = as_info(info, "Win.Create")
        if memory is None or type(memory) is BottomType:
            keep, base, size = None, 0, 0
        else:
            arr = raw_bytes(memory, False)
            keep, base, size = (memory, arr), int(arr.__array_interface__["data"][0]), arr.nbytes
        unit = _disp_unit(disp_unit)
        win = cls._build(comm, WIN_FLAVOR_CREATE, size, unit, info, base=base)
        w = win._ref.state
        w.keep = keep
        return win

    @classmethod
    def Allocate(cls, size: int, disp_unit: int = 1, info: Any = INFO_NULL, comm: Any = None) -> Win:
        """A window over size bytes of new memory on each rank (in shared memory)."""
        comm = _check_comm(comm, "Win.Allocate")
        return cls._build(comm, WIN_FLAVOR_ALLOCATE, _size(size), _disp_unit(disp_unit), as_info(info, "Win.Allocate"))

    @classmethod
    def Allocate_shared(cls, size: int, disp_unit: int = 1, info: Any = INFO_NULL, comm: Any = None) -> Win:
        """A window over size bytes per rank of one shared array (the parts contiguous, in rank
        order); Shared_query gives any rank's part."""
        comm = _check_comm(comm, "Win.Allocate_shared")
        return cls._build(comm, WIN_FLAVOR_SHARED, _size(size), _disp_unit(disp_unit),
                          as_info(info, "Win.Allocate_shared"))

    @classmethod
    def Create_dynamic(cls, info: Any = INFO_NULL, comm: Any = None) -> Win:
        """A window with no memory yet: Attach adds regions, addressed by their addresses."""
        comm = _check_comm(comm, "Win.Create_dynamic")
        return cls._build(comm, WIN_FLAVOR_DYNAMIC, 0, 1, as_info(info, "Win.Create_dynamic"))

    @classmethod
    def _build(cls, comm: Any, flavor: int, size: int, unit: int, info: Info, base: int = 0) -> Win:
        """The collective part of every creation call."""
        pc = comm.Dup()
        try:
            w = _setup(pc, flavor, size, unit, base)
        except BaseException:
            pc.Free()
            raise
        w.info = dict(info.items()) if info else {}
        win = cls._new(Ref(w))
        return win

    # -- freeing -----------------------------------------------------------------------------
    def Free(self) -> None:
        """Free the window (collective); this handle becomes WIN_NULL."""
        w = self._w()
        if w.locks or w.lock_all or w.start_group is not None or w.post_group is not None:
            from ..errors import ERR_RMA_SYNC

            raise MPIException(ERR_RMA_SYNC, "Win.Free: an access or exposure epoch is still open")
        w.comm.Barrier()  # every rank is done with our memory before it goes
        try:
            self._delete_attrs()
        finally:
            w.freed = True
            w.forget_hot()
            w.comm.Free()
            if w.shm is not None:
                w.shm.close()
            w.shm = None
            w.keep = None
            w.attached = []
            self._ref = None

    def free(self) -> None:
        """Free the window unless it is WIN_NULL (mpi4py's safe free)."""
        if self._ref is not None and not self._ref.state.freed:
            self.Free()
        self._ref = None

    # -- attributes --------------------------------------------------------------------------
    def Get_attr(self, keyval: int) -> Any:
        """WIN_BASE, WIN_SIZE, WIN_DISP_UNIT, WIN_CREATE_FLAVOR, WIN_MODEL, or a user attribute."""
        w = self._w()
        values = {WIN_BASE: w.base, WIN_SIZE: w.size, WIN_DISP_UNIT: w.disp_unit,
                  WIN_CREATE_FLAVOR: w.flavor, WIN_MODEL: WIN_UNIFIED}
        if keyval in values:
            return values[keyval]
        return self._get_user_attr(keyval)

    @property
    def attrs(self) -> tuple[int, int, int]:
        """(base address, size in bytes, displacement unit)."""
        w = self._w()
        return (w.base, w.size, w.disp_unit)

    @property
    def flavor(self) -> int:
        """How the window was created (WIN_FLAVOR_*)."""
        return self._w().flavor

    @property
    def model(self) -> int:
        """The memory model: WIN_UNIFIED (the public and private copies are one memory)."""
        self._w()
        return WIN_UNIFIED

    def Get_group(self) -> Group:
        """The group of the window's communicator."""
        w = self._w()
        return Group(list(w.world_ranks), w.engine.rank)

    @property
    def group(self) -> Group:
        """The window's group."""
        return self.Get_group()

    @property
    def group_size(self) -> int:
        """Number of ranks of the window."""
        return self._w().n

    @property
    def group_rank(self) -> int:
        """This rank in the window's group."""
        return self._w().rank

    def Get_info(self) -> Info:
        """The hints in use (a new Info)."""
        return Info.Create(self._w().info)

    def Set_info(self, info: Info) -> None:
        """Set hints (recorded; none changes how the window works)."""
        w = self._w()
        info = as_info(info, "Win.Set_info")
        w.info.update(dict(info.items()) if info else {})

    @property
    def info(self) -> Info:
        """The hints in use."""
        return self.Get_info()

    @info.setter
    def info(self, info: Info) -> None:
        self.Set_info(info)

    def Get_name(self) -> str:
        """The window's name (MPI_WIN_NULL for the null window)."""
        if self._ref is None:
            return "MPI_WIN_NULL"
        return self._w().name

    def Set_name(self, name: str) -> None:
        """Rename the window."""
        if not isinstance(name, str):
            raise TypeError(f"Set_name: name must be a str, got {type(name).__name__}")
        self._w().name = name[:63]

    @property
    def name(self) -> str:
        """The window's name."""
        return self.Get_name()

    @name.setter
    def name(self, name: str) -> None:
        self.Set_name(name)

    # -- error handlers (errhandler.py's protocol: the mixin's calls, the state's handler) -------
    def _errh_check(self) -> None:
        self._w()

    @property
    def _errhandler(self) -> Errhandler:
        """The window's error handler: one per window, whichever handle sets it."""
        return self._w().errhandler

    @_errhandler.setter
    def _errhandler(self, errhandler: Errhandler) -> None:
        self._w().errhandler = errhandler

    def Set_errhandler(self, errhandler: Errhandler) -> None:
        """Set the error handler that runs when a call on this window fails (any handle of it)."""
        if (isinstance(errhandler, Errhandler) and errhandler != ERRORS_RETURN
                and not getattr(Win, "_errh_class_guarded", False)):
            # The handler belongs to the window, and copies of a handle (Win(win)) do not share
            # their attributes: so the first handler of the rank's own puts the calls of every
            # window under the guard (Put and Get pay the wrapper only from then on).
            guard_class(Win)
            embed_class(Win)  # the wrappers of mixin methods are Win's own now: mpi4py's doc layout
        super().Set_errhandler(errhandler)

    # -- memory ------------------------------------------------------------------------------
    def tomemory(self) -> buffer:
        """The local part of the window as an MPI.buffer (empty for a dynamic window)."""
        w = self._w()
        if w.size == 0 or w.flavor == WIN_FLAVOR_DYNAMIC:
            return buffer.fromaddress(0, 0)
        view = buffer.fromaddress(w.base, w.size)
        view._obj = self
        return view

    @property
    def __array_interface__(self) -> dict[str, Any]:
        """The local part as bytes, for numpy (np.asarray(win), np.frombuffer(win))."""
        w = self._w()
        size = 0 if w.flavor == WIN_FLAVOR_DYNAMIC else w.size
        return {"shape": (size,), "typestr": "|u1", "data": (w.base if size else 0, False), "version": 3}

    def Shared_query(self, rank: int) -> tuple[buffer, int]:
        """Return (memory, disp_unit) of rank's part when this process can address it directly
        (any rank of an Allocate or Allocate_shared window; PROC_NULL: the first rank with memory)."""
        w = self._w()
        rank = int(rank)
        if rank == PROC_NULL:
            nonzero = [r for r in range(w.n) if w.sizes[r]]
            rank = nonzero[0] if nonzero else 0
        if not 0 <= rank < w.n:
            from ..errors import ERR_RANK

            raise MPIException(ERR_RANK, f"Shared_query: rank {rank} is not in the window's group of {w.n}")
        if w.flavor == WIN_FLAVOR_DYNAMIC:
            raise MPIException(ERR_RMA_FLAVOR, "Shared_query: not on a dynamic window")
        addr = w.mapped[rank]
        if addr is None or w.sizes[rank] == 0:
            return buffer.fromaddress(0, 0), w.units[rank]
        view = buffer.fromaddress(addr, w.sizes[rank])
        view._obj = self
        return view, w.units[rank]

    def Attach(self, memory: Any) -> None:
        """Expose memory in a dynamic window (peers address it by its address)."""
        w = self._w()
        if w.flavor != WIN_FLAVOR_DYNAMIC:
            raise MPIException(ERR_RMA_FLAVOR, "Win.Attach: only on a window from Create_dynamic")
        arr = raw_bytes(memory, False)
        addr, n = int(arr.__array_interface__["data"][0]), arr.nbytes
        if len(w.attached) >= MAX_ATTACH:
            raise MPIException(ERR_RMA_ATTACH, f"Win.Attach: at most {MAX_ATTACH} regions at a time")
        w.attached.append((addr, n, (memory, arr)))
        self._publish_attached(w)

    def Detach(self, memory: Any) -> None:
        """Stop exposing memory attached before."""
        w = self._w()
        if w.flavor != WIN_FLAVOR_DYNAMIC:
            raise MPIException(ERR_RMA_FLAVOR, "Win.Detach: only on a window from Create_dynamic")
        arr = raw_bytes(memory, False)
        addr, n = int(arr.__array_interface__["data"][0]), arr.nbytes
        for i, (a, m, _) in enumerate(w.attached):
            if a == addr and m == n:
                del w.attached[i]
                break
        else:
            raise MPIException(ERR_RMA_ATTACH, "Win.Detach: this memory is not attached")
        self._publish_attached(w)

    def _publish_attached(self, w: _Window) -> None:
        """Write the attached regions into our control block, under our accumulate lock (the one
        an origin holds while it checks a displacement against them)."""
        words = _ctl_array(w, w.rank)
        self._acc_lock(w, w.rank)
        try:
            for i, (a, m, _) in enumerate(w.attached):
                words[W_HEAD + 2 * w.n + 2 * i] = a
                words[W_HEAD + 2 * w.n + 2 * i + 1] = m
            words[W_NATTACH] = len(w.attached)
        finally:
            self._acc_unlock(w, w.rank)


def _ctl_array(w: _Window, rank: int) -> np.ndarray:
    """rank's control block as int64 words (a view of the shared memory)."""
    assert w.shm is not None
    off = rank * w.ctl_stride
    return w.shm.bytes[off: off + w.ctl_stride].view(np.int64)


_self_lookup: Any = None


def set_self_lookup(lookup: Any) -> None:
    """How to find the calling rank's COMM_SELF (the default comm of the creation calls); the MPI
    module sets it, since hosted ranks each have their own."""
    global _self_lookup
    _self_lookup = lookup


def _check_comm(comm: Any, call: str) -> Any:
    from .comm import Comm

    if comm is None:
        return _self_lookup()
    if not isinstance(comm, Comm):
        raise TypeError(f"{call}: comm must be an MPI.Intracomm, got {type(comm).__name__}")
    if not comm or comm.Is_inter():
        raise MPIException(ERR_COMM, f"{call}: needs a valid intracommunicator")
    return comm


def _size(size: Any) -> int:
    size = int(size)
    if size < 0:
        raise MPIException(ERR_SIZE, f"window size {size} is negative")
    return size


def _disp_unit(unit: Any) -> int:
    unit = int(unit)
    if unit <= 0:
        raise MPIException(ERR_DISP, f"displacement unit {unit} must be positive")
    return unit


def _launcher_pid(engine: Any) -> int:
    t = engine.t
    if t is not None and getattr(t, "segment", None) is not None:
        return int(t.segment.read_word(L.HDR_LAUNCHER_PID))
    return os.getpid()


def _setup(pc: Any, flavor: int, size: int, unit: int, base: int) -> _Window:
    """Exchange the ranks' sizes, create and map the window's shared memory (collective over pc)."""
    w = _Window()
    w.comm, w.engine, w.flavor = pc, pc._engine, flavor
    w.sched = w.engine.sched
    w.n, w.rank, w.world_ranks = pc.Get_size(), pc.Get_rank(), list(pc._ranks)
    me = os.getpid()
    table = pc.allgather((me, base, size, unit))
    w.pids = [t[0] for t in table]
    w.bases = [t[1] for t in table]
    w.sizes = [t[2] for t in table]
    w.units = [t[3] for t in table]
    w.posts_seen = [0] * w.n
    w.completes_seen = [0] * w.n
    w.ctl_stride = ctl_words(w.n) * 8
    # Data parts: Allocate pads each to a cache line; Allocate_shared keeps them back to back.
    offsets, pos = [], w.n * w.ctl_stride
    for s in w.sizes:
        if flavor == WIN_FLAVOR_ALLOCATE:
            pos = (pos + ALIGN - 1) // ALIGN * ALIGN
        offsets.append(pos)
        if flavor in (WIN_FLAVOR_ALLOCATE, WIN_FLAVOR_SHARED):
            pos += s
    total = max(pos, 8)
    # The first rank creates the object; everyone maps it; the creator unlinks the name once
    # all have mapped it (or failed to), so nothing stays in /dev/shm whatever happens next.
    shm, error = None, None
    if w.rank == 0:
        try:
            shm = WinShm.create(_launcher_pid(w.engine), w.world_ranks[0], total)
        except (OSError, ValueError) as exc:
            error = f"cannot create the window's shared memory: {exc}"
    try:
        name = pc.bcast(shm.name if shm is not None else None, root=0)
        if name is None:
            raise MPIException(ERR_OTHER, error or "the window's first rank could not create its memory")
        if shm is None:
            try:
                shm = WinShm(name, total, create=False)
            except (OSError, ValueError) as exc:
                error = f"cannot map the window's shared memory: {exc}"
        errors = pc.allgather(error)
    finally:
        if w.rank == 0 and shm is not None:
            shm.unlink()
    bad = [e for e in errors if e]
    if bad:
        raise MPIException(ERR_OTHER, bad[0])
    w.shm = shm
    need_vm = False
    for r in range(w.n):
        if flavor in (WIN_FLAVOR_ALLOCATE, WIN_FLAVOR_SHARED):
            w.mapped.append(shm.base + offsets[r])
        elif w.pids[r] == me:
            w.mapped.append(w.bases[r])
        else:
            w.mapped.append(None)
            need_vm = True
    if need_vm and not vm_access_supported():
        # Every rank decides alike (it depends on the pids all ranks gathered): all raise.
        shm.close()
        raise MPIException(ERR_WIN, "Win.Create: this system does not let ranks access each other's memory "
                                    "(process_vm_readv); use Win.Allocate or Win.Allocate_shared")
    t = w.engine.t
    own = getattr(t, "bell", 0) if t is not None else 0
    if own:
        w.bells = np.array([b for b in t.segment.bells if b != own], np.int64)
    w.size = w.sizes[w.rank] if flavor != WIN_FLAVOR_DYNAMIC else 0
    w.disp_unit = unit
    w.base = w.mapped[w.rank] if flavor in (WIN_FLAVOR_ALLOCATE, WIN_FLAVOR_SHARED) else base
    if w.size == 0 and flavor in (WIN_FLAVOR_ALLOCATE, WIN_FLAVOR_SHARED):
        w.base = w.mapped[w.rank] or 0
    return w


def _local_memory(win: Win) -> tuple[int, int]:
    """(address, nbytes) of the window's local part, for the buffer protocol."""
    w = win._w()
    return (0, 0) if w.flavor == WIN_FLAVOR_DYNAMIC or w.size == 0 else (w.base, w.size)


install_buffer(Win, _local_memory)
WIN_NULL = Win()
Win.__module__ = "toro_mpi.MPI"
