"""Per-process start-up: attach to the launcher's bus (or run alone) and build the rank's engine.

Environment set by toro-mpirun: TORO_MPI_RANK, TORO_MPI_SIZE, TORO_MPI_SEGMENT, TORO_MPI_CONFIG.
Without them the process is a world of one rank (like a singleton MPI_Init).

`preload()` imports everything the runtime needs before a program runs (toro_mpi.rank_main and
toro_mpi.hosting call it), and `exit_note` decides how a rank that dies of the job's abort says
so: not at all when the launcher stopped the job (its report is the message), in one line when
another rank failed, with the full traceback for anything else.
"""

from __future__ import annotations

import atexit
import importlib
import os
import pkgutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .config import config_from_env

# In a job of several nodes, the longest doorbell sleep of a rank that just went idle: a network
# arrival rings no futex, so the rank must look at the network on its own at least this often
# (measured in the report of the nodes branch: an idle rank so wakes 2000 times a second at ~1%
# of a core). The bound grows with the time the rank has been idle, up to the scheduler's own
# (doze_max_us, 10 ms by default): NetRoute.bind_sched.
NET_DOZE_US = 500
# ...and the spinning passes before it yields instead (see World).
NET_SPIN_PASSES = 16

# The layers below the MPI surface: preload() imports every module of them.
_LAYERS = ("toro_mpi.mpi", "toro_mpi.coll", "toro_mpi.sched", "toro_mpi.bus")
# Modules outside those packages that preload() imports too: the bottom of the layers (errors),
# and the warm-up, which lived in bus/ and so was preloaded before it moved up beside this file.
_MODULES = ("toro_mpi.errors", "toro_mpi.config", "toro_mpi.warm")


# Optional packages numba imports at its own import only to check them (scipy's version; yaml for
# a .numba_config.yaml file): about 20 ms of every rank's start. Hidden while numba is imported
# (see _import_numba); numba imports scipy again where a kernel needs it (np.linalg).
_NUMBA_EXTRAS = ("scipy", "yaml")
_NUMBA_CONFIG_FILE = ".numba_config.yaml"


# (importlib.metadata, which numba imports only for the extension scan of a real compile, ~9 ms
# of CPU, is not deferred with LazyLoader: a lazy module is not thread-safe on Python 3.11, and
# threads of the program importing it at once saw it half built; found in review.)


def _import_numba() -> None:
    """Import numba without the optional packages it only checks at import (_NUMBA_EXTRAS);
    yaml stays when the working directory has a numba config file for it to read. Afterwards
    the program imports them as usual."""
    if "numba" in sys.modules:
        return
    hide = [name for name in _NUMBA_EXTRAS if name not in sys.modules
            and not (name == "yaml" and os.path.exists(_NUMBA_CONFIG_FILE))]
    for name in hide:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        importlib.import_module("numba")
    finally:
        for name in hide:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]



@contextmanager
def _cache_dirs_checked_once() -> Iterator[None]:
    """Within the block, numba checks each cache directory once: every `cache=True` function
    otherwise creates and removes a temporary file in its directory when it is defined, to see
    that the directory is writable (numba.core.caching._CacheLocator.ensure_cache_path), ~90
    files per rank at every start for the few directories toro_mpi's kernels are cached in."""
    from numba.core import caching

    locator = caching._CacheLocator
    original = locator.ensure_cache_path
    checked: set[str] = set()

    def ensure_cache_path(self: Any) -> None:
        path = self.get_cache_path()
        if path not in checked:
            original(self)  # raises if it is not writable: numba then tries its next locator
            checked.add(path)

    locator.ensure_cache_path = ensure_cache_path  # type: ignore[method-assign]
    try:
        yield
    finally:
        locator.ensure_cache_path = original  # type: ignore[method-assign]


def preload() -> None:
    """Import numba and every module of toro_mpi's layers (not toro_mpi.MPI, whose import starts
    the rank), and note numba's modules for compiles that happen after the program hid them
    (bus.compiling.numba_visible). Run before the program, as `python -m mpi4py` imports mpi4py
    first: what the program then does to sys.modules or sys.path cannot break the runtime."""
    _import_numba()
    with _cache_dirs_checked_once():
        for name in _LAYERS:
            package = importlib.import_module(name)
            for info in pkgutil.iter_modules(package.__path__, name + "."):
                try:
                    importlib.import_module(info.name)
                except ImportError:
                    # A module needing an optional package: its own import (if the program gets
                    # there) raises the same error where it belongs.
                    continue
        for name in _MODULES:
            importlib.import_module(name)
    from .bus.compiling import guard_compiles

    guard_compiles()


def startup_stamp(what: str) -> None:
    """With TORO_MPI_STARTUP_TRACE set, print what this rank reached and when, in seconds since
    the launcher's process was created (toro_mpi/launcher/stamps.py has the launcher's side)."""
    if not os.environ.get("TORO_MPI_STARTUP_TRACE"):
        return
    import time

    origin = float(os.environ.get("TORO_MPI_STARTUP_T0", "0"))
    rank = os.environ.get("TORO_MPI_RANK", "-")
    print(f"toro_mpi startup: +{time.clock_gettime(time.CLOCK_BOOTTIME) - origin:.3f} s rank {rank}: {what} "
          f"(cpu {time.process_time():.3f} s)", file=sys.stderr, flush=True)


@contextmanager
def collector_paused(freeze: bool = False) -> Iterator[None]:
    """Within the block, no cyclic garbage collection; afterwards the collector is as it was.

    Importing numba and the runtime allocates a few hundred thousand long-lived objects (types,
    templates, code): the collector ran about 140 times during a rank's preload, each time
    traversing what the imports had just made, for about 50 ms of the rank's 0.35 s of CPU
    (measured: 0.351 -> 0.301 s for a process that preloads, medians of 9). With `freeze`, what
    exists at the end moves to the permanent generation (gc.freeze), so later collections of the
    program never traverse it either: for the start of a rank, before any of the program's
    objects exist. The few hundred cyclic objects the imports leave as garbage stay with it."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            gc.enable()


_freeze_registered = False


def freeze_at_exit() -> None:
    """At exit, once the atexit handlers registered after this call have run, move every live
    object to the collector's permanent generation (gc.freeze). The interpreter's shutdown then
    skips them in its final collections: with numba's object graph loaded these cost a rank
    0.1 s of CPU (measured: `import numba` alone exits in 0.28-0.31 s of CPU with the freeze,
    0.35-0.42 s without). Objects are still released by reference counting as the modules are
    torn down (open files flush, __del__ runs); only cycles among them are left to the OS."""
    global _freeze_registered
    if not _freeze_registered:
        import gc

        _freeze_registered = True
        atexit.register(gc.freeze)


_finalize_registered = False


def finalize_at_exit() -> None:
    """Finalize the process's World (if the program made one) at exit, after every atexit
    handler registered later: called before the program runs, so that the program's own
    handlers, even those registered before its first `from mpi4py import MPI`, still see MPI
    initialized, as mpi4py's (which finalizes after all of them, from Py_AtExit)."""
    global _finalize_registered
    if not _finalize_registered:
        _finalize_registered = True
        atexit.register(_finalize_world)


def _finalize_world() -> None:
    """The atexit handler of finalize_at_exit."""
    if _world is not None:
        _world.finalize()


# Set by the launcher for a rank it started without preexec_fn (launcher/spawn.py): its pid.
DEATHSIG_VAR = "TORO_MPI_DEATHSIG"
_PR_SET_PDEATHSIG = 1


def die_with_launcher() -> None:
    """For a rank the launcher started without preexec_fn (DEATHSIG_VAR set): what its
    preexec_fn does for other programs (launcher/spawn._child_setup), first thing in rank_main:
    SIGKILL when the launcher dies, and exit now if it already has (this process then has
    another parent). The variable is removed, so the program's own children do not see it."""
    launcher = os.environ.pop(DEATHSIG_VAR, None)
    if not launcher:
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if str(os.getppid()) != launcher:
        os._exit(1)


# TORO_MPI_FULL_EXIT=1: a rank's process ends through the interpreter's whole teardown.
FULL_EXIT_VAR = "TORO_MPI_FULL_EXIT"


def full_exit_asked() -> bool:
    """Whether TORO_MPI_FULL_EXIT asks for the interpreter's whole exit (set and not 0 or empty)."""
    return os.environ.get(FULL_EXIT_VAR, "").strip() not in ("", "0")


def _flush_std_files() -> bool:
    """Flush sys.stdout and sys.stderr (and the original streams, if the program replaced them),
    as the interpreter's exit does; False when one fails (a closed pipe, a full disk)."""
    ok = True
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except Exception:  # noqa: BLE001 - the interpreter's own exit reports it
            ok = False
    return ok


# The modules loaded before the program started (program_starts): never released at exit.
_modules_before_program: frozenset[str] | None = None


def program_starts() -> None:
    """Note the modules loaded so far (the runtime's, the standard library's the preload
    imported): any module imported after this and living outside the installation's library
    directories is the program's own, released at exit with its main module (release_program)."""
    global _modules_before_program
    _modules_before_program = frozenset(sys.modules)


def _clear_globals(namespace: dict[str, Any]) -> None:
    """Set a module's globals to None as the interpreter's teardown does (names starting with
    an underscore first, then the others; __builtins__ kept), so that the objects only they
    hold are released now."""
    for underscored in (True, False):
        for name in list(namespace):
            if name != "__builtins__" and name.startswith("_") == underscored:
                namespace[name] = None


_library_dirs_found: tuple[str, ...] | None = None


def _library_dirs() -> tuple[str, ...]:
    """Directories whose modules are libraries, not the program's: the standard library's,
    every site-packages directory, and this package's own directory (found once)."""
    global _library_dirs_found
    if _library_dirs_found is None:
        _library_dirs_found = _find_library_dirs()
    return _library_dirs_found


def _find_library_dirs() -> tuple[str, ...]:
    """_library_dirs' search."""
    import site
    import sysconfig

    dirs = {os.path.dirname(os.path.abspath(__file__))}
    paths = sysconfig.get_paths()
    dirs.update(paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if paths.get(key))
    dirs.update(getattr(site, "getsitepackages", list)())
    if site.ENABLE_USER_SITE and site.USER_SITE:
        dirs.add(site.USER_SITE)
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs if d)


def is_library_function(func: Any) -> bool:
    """Whether func was defined in a module of the standard library, of site-packages or of
    toro_mpi (not in the program's own code: its main module, its other modules, a lambda)."""
    module = sys.modules.get(getattr(func, "__module__", None) or "")
    path = getattr(module, "__file__", None)
    if module is None or module is sys.modules.get("__main__") or not isinstance(path, str):
        return False
    return os.path.realpath(path).startswith(_library_dirs())


def _program_modules() -> list[Any]:
    """The program's own modules, most recently imported first: imported after program_starts
    from a file outside the library directories (the program's helper modules, next to it or on
    its PYTHONPATH)."""
    before = _modules_before_program
    if before is None:
        return []
    new = [module for name, module in reversed(list(sys.modules.items()))
           if name not in before and name != "__main__"]
    if not new:
        return []
    libraries = _library_dirs()
    found = []
    for module in new:
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and not os.path.realpath(path).startswith(libraries):
            found.append(module)
    return found


def release_program() -> None:
    """Release the program's globals as the interpreter's teardown would: its main module's,
    then its own other modules' (most recently imported first), so that a file never closed is
    flushed and closed, a temporary file removed, a __del__ runs, as at an ordinary exit.

    Skipped while another thread runs (a daemon thread: the interpreter's teardown stops them
    first, which Python code cannot do); their objects are then left to the OS, as before."""
    import threading

    if threading.active_count() > 1:
        return
    for module in [sys.modules.get("__main__"), *_program_modules()]:
        namespace = getattr(module, "__dict__", None)
        if isinstance(namespace, dict):
            _clear_globals(namespace)


def quick_exit(status: int) -> None:
    """End a rank's process with `status` once its program has ended, as the interpreter's exit
    would, without tearing down its modules; returns (doing nothing more) where that would not
    be the same.

    The interpreter's exit waits for the program's threads, runs the atexit handlers (the
    program's, then the rank's finalize), flushes the standard streams, then tears down every
    module: with numba, numpy and toro_mpi loaded that last part cost a rank ~9 ms of CPU
    (startup3's report), for objects the OS reclaims anyway. Here the first three run as the
    interpreter runs them, then the program's own globals are released, its main module's and
    its other modules' (release_program: what the teardown would do to the objects a program
    most often leaves open), the streams flushed again, and the C library's exit() ends the
    process (_c_exit) as after the interpreter's teardown. Objects that only libraries' modules
    or reference cycles hold are not finalized, as Python does not promise for objects alive at
    exit (and as before: freeze_at_exit kept the teardown's last collections from them).

    Not used (the ordinary exit runs) with `python -i` or PYTHONINSPECT (the interpreter would
    go interactive), in development mode (its warnings at teardown), with a real MPI library
    loaded (_libmpi_loaded), or with TORO_MPI_FULL_EXIT=1; and if flushing a stream fails,
    the interpreter's exit reports it with its own status (120)."""
    if sys.flags.inspect or sys.flags.dev_mode or os.environ.get("PYTHONINSPECT") or full_exit_asked():
        return
    if not -(2**31) <= status < 2**31:
        return  # the interpreter's own conversion (and message) for out-of-range statuses
    if _libmpi_loaded():
        return
    import threading

    threading._shutdown()  # type: ignore[attr-defined]  # waits for non-daemon threads; idempotent
    atexit._run_exitfuncs()  # runs each handler once: the interpreter's exit finds none left
    if not _flush_std_files():
        return
    release_program()
    if not _flush_std_files():
        return
    _c_exit(status)


def _libmpi_loaded() -> bool:
    """Whether a real MPI library is loaded in this process (a --nodes rank's link, the
    installed mpi4py under --no-mpi4py-shim, numba-mpi): mpi4py finalizes MPI from the
    interpreter's own end (Py_AtExit), which only the interpreter's exit runs. True when
    /proc cannot tell."""
    try:
        with open("/proc/self/maps", "rb") as fh:
            return b"/libmpi" in fh.read()
    except OSError:
        return True


def _c_exit(status: int) -> None:
    """The C library's exit(status), as the interpreter calls it once its teardown is done: the
    C atexit handlers and the shared libraries' destructors run (HDF5 closing its files, the C
    stdio buffers flushed), then the process ends. Called holding the GIL (ctypes.PyDLL), as
    the interpreter would. Where ctypes cannot, os._exit."""
    import ctypes

    try:
        libc = ctypes.PyDLL(None)
        libc.exit.argtypes = [ctypes.c_int]
        libc.exit(status)
    except (OSError, AttributeError):
        pass
    os._exit(status)


def _mpi_error_classes(exc: BaseException | None) -> set[int]:
    """The MPI error classes of exc and of the exceptions it was raised from or while handling."""
    from .errors import MPIException

    classes: set[int] = set()
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, MPIException):
            classes.add(exc.Get_error_class())
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return classes


def exit_note(w: World | None, exc: BaseException) -> str | None:
    """How rank w reports exc, the exception that ends it, once the job is being aborted.

    None: print the traceback (a genuine error, or no abort). "": nothing, when the launcher
    stopped the job (deadlock, timeout, a signal) and exc is the error a blocked call raises
    then (ERR_PROC_ABORTED): the launcher's report says everything. Otherwise, when another
    rank's failure or Abort ends the job and exc is an MPI error (ERR_PROC_ABORTED, or a
    receive from the failed rank that can never complete), one line naming that rank."""
    from .bus import layout as L
    from .errors import ERR_PROC_ABORTED

    if w is None or w.segment is None:
        return None
    classes = _mpi_error_classes(exc)
    if not classes:
        return None
    code = w.segment.abort_code()
    if code in (L.ABORT_TIMEOUT, L.ABORT_INTERRUPT, L.ABORT_DEADLOCK):
        return "" if ERR_PROC_ABORTED in classes else None
    if code not in (L.ABORT_RANK_FAILED, L.ABORT_USER):
        return None
    culprit = w.segment.read_word(L.HDR_ABORT_RANK)
    if culprit == w.rank:
        return None
    who = f"rank {culprit}" if culprit >= 0 else "a rank"
    why = "called Abort" if code == L.ABORT_USER else "failed"
    return f"toro_mpi: rank {w.rank}: stopped, the job is being aborted because {who} {why}"


class World:
    """Everything one rank owns: config, segment, transport, engine.

    Normally a process is one rank and builds its World from the environment. A process that
    hosts several ranks as green threads (toro_mpi.hosting) builds one World per rank, passing
    the rank, the shared segment, its scheduler, how many processes share the cores and which
    process hosts each rank."""

    def __init__(self, rank: int | None = None, segment: Any = None, sched: Any = None,
                 processes: int | None = None, process_of: list[int] | None = None) -> None:
        from .bus.segment import Segment
        from .bus.transport import VirtioBus
        from .errors import ERR_OTHER, MPIException
        from .mpi.p2p import Engine
        from .net.link import current

        cfg = config_from_env()
        self.config = cfg
        link = current()  # the network to other nodes (toro_mpi.node_main), or None
        name = os.environ.get("TORO_MPI_SEGMENT")
        self.segment = None
        if name:
            try:
                self.rank = int(os.environ["TORO_MPI_RANK"]) if rank is None else rank
                self.size = int(os.environ["TORO_MPI_SIZE"])
            except (KeyError, ValueError) as exc:
                raise MPIException(ERR_OTHER, f"TORO_MPI_SEGMENT is set but rank/size are not: {exc}") from None
            self.segment = segment if segment is not None else Segment.attach(name)
            if self.segment.nranks != self.size or not 0 <= self.rank < self.size:
                raise MPIException(ERR_OTHER, f"rank {self.rank}/{self.size} does not fit segment {name}")
            self.segment.register(self.rank)
            # process_of: the process hosting each rank (hosted ranks; None: one process per rank).
            # Rendezvous reads another process's memory: never across nodes, so off with a network.
            transport = VirtioBus(self.segment, self.rank, cfg.bus["rendezvous_threshold"] > 0 and link is None,
                                  cfg.bus["heap_size"], process_of, cfg.bus["stream_threshold"],
                                  cfg.bus["stream_probe"])
        else:
            self.rank, self.size = 0, 1
            transport = None
        sched_cfg = dict(cfg.sched)
        coll = dict(cfg.coll)
        if (processes or self.size) > (os.cpu_count() or 1):
            # More processes than cores: a rank that spins holds the core its peer needs to make
            # progress (a whole time slice per hand-off), so give the core away almost at once.
            sched_cfg["spin_passes"] = min(sched_cfg["spin_passes"], sched_cfg["oversubscribed_spin_passes"])
            coll["spin_polls"] = min(coll["spin_polls"], 10 * sched_cfg["spin_passes"])
        fast_spins = 16 * int(sched_cfg.get("spin_passes", 300))
        if link is not None:
            sched_cfg["doze_max_us"] = min(sched_cfg.get("doze_max_us", NET_DOZE_US), NET_DOZE_US)
            # Waiting on the network, a rank that spins keeps the core its peer's arrival
            # needs processed (loopback TCP is delivered in whoever runs); measured under load
            # (8-byte ping-pong between nodes): 16 ms one-way with 20000 spin passes, 0.5 ms
            # yielding at once. Yield early; a receive from a rank of this node still spins in
            # its kernel as long as usual (fast_spins below).
            sched_cfg["spin_passes"] = min(int(sched_cfg.get("spin_passes", 300)), NET_SPIN_PASSES)
            # A collective waiting on a remote peer waits for our own progress pass (the route):
            # spinning in the interpreter first only delays it.
            coll["spin_polls"] = min(coll["spin_polls"], 64)
        if sched is not None:
            # Hosted with other ranks: a blocked collective returns to the scheduler at once, since
            # the rank it waits for may well be a green thread of this very process.
            # Only when nothing else of the process can run does it spin, up to the usual budget.
            coll["alone_spin_polls"] = coll["spin_polls"]
            coll["spin_polls"] = 1
        self.engine = Engine(transport, self.rank, self.size, cfg.bus, sched_cfg, coll, sched)
        if link is not None and transport is not None:
            from .mpi.netroute import NetRoute

            route = NetRoute(transport, link, self.rank, link.node_of)
            engine = self.engine
            route.bind_engine(engine.send_kernels, engine.load_send_kernel)
            route.bind_receive(engine.info, lambda arr: engine._kernel("recv", engine._recv_by_dtype, arr),
                               engine.rx_info)
            engine.attach_net(route)
            if sched is None:  # the rank's own scheduler (hosted ranks share their process's)
                cap = int(cfg.sched.get("doze_max_us", 10000))
                route.bind_sched(engine.sched, min(NET_DOZE_US, cap), cap)  # a user's shorter bound wins
            self.engine.fast_spins = fast_spins if sched is None else 1
        self.finalized = False
        self.attached_buffer: Any = None  # MPI.Attach_buffer's buffer (returned by Detach_buffer)
        self.failed = False
        if sched is None:
            if not _finalize_registered:
                atexit.register(self.finalize)
            self._install_excepthook()
            # A green thread of the program dying of the job's abort reports it the same way.
            self.engine.sched.exit_note = lambda exc: exit_note(self, exc)

    def _install_excepthook(self) -> None:
        """An uncaught exception fails the rank: no waiting for green threads at exit. One that
        is the job's abort is reported as exit_note says (quietly, when the launcher stopped it)."""
        previous = sys.excepthook

        def hook(exc_type, exc, tb):  # type: ignore[no-untyped-def]
            self.failed = True
            note = exit_note(self, exc)
            if note is None:
                previous(exc_type, exc, tb)
            elif note:
                sys.stderr.write(note + "\n")

        sys.excepthook = hook

    def finalize(self) -> None:
        """Finish green threads and queued sends, then mark this rank finished. Idempotent."""
        if self.finalized:
            return
        self.finalized = True
        startup_stamp("finalizing")
        if self.failed:
            # The program died of an exception: its green threads and queued sends are
            # abandoned (the launcher ends the job); waiting for them could hang forever. The
            # abort word names this rank before its peers see it finished (as a failing hosted
            # rank does), so that a peer blocked on it reports the failure, not that it finished.
            if self.engine.t is not None:
                from .bus import layout as L

                self.segment.set_abort(L.ABORT_RANK_FAILED, self.rank)
                self.engine.t.finish()
            if self.engine.net is not None:
                # Several nodes: the real MPI_Finalize would wait for ranks that wait for us;
                # end the job on every node now, with Python's status for an uncaught exception.
                sys.stdout.flush()
                sys.stderr.flush()
                self.engine.net.abort(1)
            return
        try:
            self.engine.finalize()
        except BaseException as exc:  # an aborting job: nothing more to deliver
            note = exit_note(self, exc)
            if note is None:
                sys.stderr.write(f"toro_mpi: rank {self.rank}: finalize: {exc}\n")
            elif note:
                sys.stderr.write(note + "\n")


_world: World | None = None


def world() -> World:
    """The process's World, created on first use."""
    global _world
    if _world is None:
        from .bus.compiling import guard_compiles, numba_visible

        # Starting the rank loads kernels from numba's cache, which imports parts of numba
        # lazily: they must be found even if the program has hidden numba by then. Guarding the
        # kernels here too covers a program run without rank_main that hides numba later.
        # The collector paused (not frozen: the program's own objects exist by now) while the
        # World is built and kernels load: see collector_paused.
        with numba_visible(), collector_paused():
            # A process not started through rank_main (a program that is not `python ...`, a
            # singleton) has not preloaded: do it now, so that every kernel, also those called
            # through their dispatcher while the World is built, loads the light way
            # (bus.compiling.load_cached). Without it numba's full target refresh ran: 0.4 s of CPU.
            preload()
            freeze_at_exit()
            startup_stamp("building the world")
            _world = World()
            guard_compiles()
            startup_stamp("world built")
            # (A hot Barrier's objmode stop is warmed at its first use: coll.engine.barrier_entry.)
    return _world
