"""One process per core hosting several MPI ranks as green threads of its scheduler.

`toro-mpirun` runs `python -m toro_mpi.hosting [python args]` (the program's own arguments, as
it would run `python [python args]` per rank) when there are more ranks than cores. This module
builds one World per hosted rank, all on one Scheduler, and runs the program once per rank as a
green thread, each in its own `__main__` module. A rank that blocks switches to another rank of
the same core, with no OS context switch.

What the ranks of one process keep apart: `__main__` (their own module and globals), the
program's own modules (those imported from the program's directory: the script's, or the
working directory for `-m` and `-c`), so a helper module's `comm = MPI.COMM_WORLD` is each
rank's own, the `toro_mpi.MPI` module's per-rank globals (`COMM_WORLD`, `COMM_SELF`, ...),
`toro_mpi.runtime`'s current World, and `sys.stdout`/`sys.stderr`/`sys.stdin` (each rank's own
pipes from the launcher; stdin only for rank 0), and os.environ (each rank's copy names its own
rank in TORO_MPI_RANK, OMPI_COMM_WORLD_RANK, PMI_RANK, ...).
These are swapped whenever the scheduler switches from one rank's green thread to another's
(its on_switch hook; a program that switches greenlets itself bypasses it). Everything else is
shared: other imported modules (numpy, installed packages, the standard library) and their
globals, `sys.argv`, `sys.path`, the process's own environment (what child processes and C
code see: the first rank's), the working directory, and the OS-level file descriptors.

Environment (besides the TORO_MPI_* of an ordinary rank): TORO_MPI_HOSTED, the ranks this
process hosts ("4,5,6,7"); TORO_MPI_PROCESSES, how many host processes the job has;
TORO_MPI_FDS, with per-rank pipes, "rank:stdout_fd:stderr_fd" entries joined by ";" (a rank not
listed uses the process's own stdout and stderr); TORO_MPI_HOST_MAP, the host process index of
every rank ("0,0,1,1"), which turns on the two-level collectives of mpi/hosted.py (unless
TORO_MPI_ONE_LEVEL is set, for comparisons).
"""

from __future__ import annotations

import atexit
import importlib.abc
import importlib.machinery
import io
import os
import runpy
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any

import greenlet
import numpy as np

from . import runtime
from .rank_main import ProgramSpec, preload_shim
from .rank_main import parse_program as _parse_program

HOSTED_VAR = "TORO_MPI_HOSTED"
PROCESSES_VAR = "TORO_MPI_PROCESSES"
FDS_VAR = "TORO_MPI_FDS"
HOST_MAP_VAR = "TORO_MPI_HOST_MAP"
# Swapped slots a program may reassign while it runs (saved on every switch away from a rank);
# the others (its __main__, COMM_WORLD, ...) never change and are only installed.
_MUTABLE_SLOTS = frozenset(("stdout", "stderr", "stdin"))
ONE_LEVEL_VAR = "TORO_MPI_ONE_LEVEL"  # set (non-empty): no two-level collectives (A/B measurements)


def parse_program(args: list[str]) -> ProgramSpec:
    """Split `python`'s arguments (interpreter options already removed) into a ProgramSpec
    (a script, `-m module` or `-c code`; a program read from stdin cannot be hosted)."""
    return _parse_program(args, "toro_mpi.hosting", stdin=False)


def _fresh_main(spec: ProgramSpec) -> tuple[types.ModuleType, types.CodeType]:
    """A new `__main__` module for one rank and the code to run in it."""
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = __builtins__
    if spec.kind == "script":
        path = os.path.abspath(spec.target)  # as `python` names it (in tracebacks too)
        with io.open_code(path) as fh:
            source = fh.read()
        main.__file__ = path
        main.__cached__ = None  # type: ignore[attr-defined]
        return main, compile(source, path, "exec", dont_inherit=True)
    if spec.kind == "module":
        mod_name, mspec, code = runpy._get_module_details(spec.target)  # type: ignore[attr-defined]
        main.__spec__ = mspec
        main.__file__ = mspec.origin
        main.__package__ = mspec.parent
        main.__loader__ = mspec.loader
        return main, code
    return main, compile(spec.target, "<string>", "exec", dont_inherit=True)


def _exit_code(exc: SystemExit) -> int:
    """The status `sys.exit(value)` asks for (printing a non-integer value, as Python does)."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


class PrivateModules(importlib.abc.MetaPathFinder):
    """Finds nothing itself: notes which imported modules live under the program's directory
    (outside site-packages), so that the host keeps one copy of each per rank."""

    def __init__(self, root: str) -> None:
        self.root = os.path.join(os.path.realpath(root), "")
        self.names: set[str] = set()
        # Packages the host itself imported (toro_mpi, numpy, ...) stay shared, even when they
        # sit in the program's directory (a source checkout run with `python -m`).
        self.shared_tops = {name.partition(".")[0] for name in sys.modules}

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        """Record `name` if the regular path finder would load it from the program's directory."""
        if name.partition(".")[0] in self.shared_tops:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None:
            return None
        origin = spec.origin or (list(spec.submodule_search_locations or [""])[0])
        real = os.path.realpath(origin) if origin else ""
        if real.startswith(self.root) and "site-packages" not in real[len(self.root):]:
            self.names.add(name)
        return spec


class RankContext:
    """One hosted rank: its World, its `__main__`, its streams, and the globals swapped in for it."""

    def __init__(self, world: Any, streams: tuple[Any, Any, Any]) -> None:
        self.world = world
        self.rank = world.rank
        self.streams = streams
        self.saved: dict[int, Any] = {}  # slot index -> this rank's value, while it is not running
        self.values: list[Any] = []  # the same as a list in slot order, once the host runs
        self.modules: dict[str, Any] = {}  # this rank's copies of the program's own modules
        self.exit_handlers: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []  # its atexit


class Host:
    """The ranks of this process, their scheduler, and the switch hook that keeps them apart."""

    def __init__(self, ranks: list[int], processes: int) -> None:
        from .bus.doorbell import Doorbell
        from .bus.segment import Segment
        from .config import config_from_env
        from .sched import Scheduler

        self._exit_status = 0  # the first non-zero sys.exit status of a hosted rank
        name = os.environ["TORO_MPI_SEGMENT"]
        self.segment = Segment.attach(name)
        settings = dict(config_from_env().sched)
        if processes > (os.cpu_count() or 1):
            settings["spin_passes"] = min(settings["spin_passes"], settings["oversubscribed_spin_passes"])
        self.engines: list[Any] = []
        host_map = os.environ.get(HOST_MAP_VAR)
        host_of = [int(h) for h in host_map.split(",")] if host_map else None
        if host_of is None:
            # Started by hand: our ranks in one process, every other rank alone in its own. The
            # other processes do not know this map (they would ring the slot of the rank they
            # send to, not of our first rank), so this process sleeps in steps, not on a doorbell.
            process_of = [r if r not in ranks else ranks[0] for r in range(self.segment.nranks)]
        else:
            process_of = host_of
        bell_at = self.segment.enable_doorbells(process_of, ranks[0])
        use_bell = bell_at and host_of is not None and settings.get("doorbell", True)
        bell = Doorbell(bell_at) if use_bell else None
        self.sched = Scheduler(self._poll, self._idle_check, settings, self._on_block, self._on_idle,
                               self._entering, doorbell=bell)
        self.sched.exit_note = self._exit_note
        self.contexts: dict[Any, RankContext] = {}  # by engine, the owner of the rank's green threads
        fds = _parse_fds(os.environ.get(FDS_VAR, ""))
        local_groups: dict[tuple, Any] = {}  # shared by the hosted ranks' engines
        self.current: RankContext | None = None
        self._indexed: list[tuple[dict[Any, Any], Any, int]] = []
        self._mutable: list[tuple[dict[Any, Any], Any, int]] = []
        self._main: Any = None
        from .bus import layout as L

        at = self.segment.slot(ranks[0], L.SLOT_RUNNING)
        # See layout: SLOT_RUNNING. A memoryview store costs half a numpy one, on every switch.
        self._running = memoryview(self.segment.view()[at: at + 8]).cast("q")
        self._running[0] = ranks[0]
        self.private = PrivateModules(os.getcwd())
        for rank in ranks:
            w = runtime.World(rank=rank, segment=self.segment, sched=self.sched, processes=processes,
                              process_of=process_of)
            if host_of is not None and not os.environ.get(ONE_LEVEL_VAR):
                w.engine.host_of = host_of
                w.engine.local_groups = local_groups
            self.engines.append(w.engine)
            self.contexts[w.engine] = RankContext(w, self._streams(rank, ranks, fds))
        # The swapped slots: (namespace, key). Filled in by _install_mpi once toro_mpi.MPI exists.
        self.slots: list[tuple[dict[Any, Any], Any]] = [
            (sys.modules, "__main__"), (vars(runtime), "_world"),
            (vars(sys), "stdout"), (vars(sys), "stderr"), (vars(sys), "stdin"),
            # os.environ reads this dict: each rank has a copy of its own holding its own rank
            # variables (TORO_MPI_RANK, OMPI_COMM_WORLD_RANK, ...), installed by a plain store per
            # switch, where setting os.environ would call putenv (only child processes and C code
            # see the process's environment, which stays the first rank's).
            (vars(os.environ), "_data"),
        ]
        self._install_mpi()
        # One scan over every hosted rank's incoming queues per pass: each engine's ready flags
        # become a view of the shared array, so the scan's marks are what its drain reads.
        self._handles = np.concatenate([e._rx_peer_handles for e in self.engines])
        self._ready = np.zeros(self._handles.size, np.uint8)
        self._scan = self.engines[0]._rx_scan
        at = 0
        for e in self.engines:
            e.rx_ready = self._ready[at: at + e.rx_ready.size]
            at += e.rx_ready.size

    # -- the shared scheduler's hooks -------------------------------------------------------
    def _poll(self) -> bool:
        # One kernel call over every hosted rank's incoming queues; most passes find nothing.
        found = self._scan(self._handles, self._ready)
        moved = False
        for engine in self.engines:
            if engine.pending_sends and engine.progress_sends():
                moved = True
            if found and engine.rx_ready.any() and engine.drain_ready():
                moved = True
        return moved

    def _idle_check(self) -> None:
        for engine in self.engines:
            engine.idle_check()

    def _on_idle(self, idle: bool) -> None:
        for engine in self.engines:
            engine.on_idle(idle)

    def _exit_note(self, exc: BaseException) -> str | None:
        # A green thread a rank spawned: reported as that rank (the one running now).
        return runtime.exit_note(self.current.world if self.current is not None else None, exc)

    def _on_block(self, what: Any) -> None:
        # The running rank is the one the switch hook installed last (the host's own main
        # green thread, which only joins the ranks, reports nothing).
        ctx = self.current
        if ctx is not None and greenlet.getcurrent() is not self._main:
            ctx.world.engine.blocked_what = what

    # -- per-rank state ------------------------------------------------------------------------
    def _streams(self, rank: int, ranks: list[int], fds: dict[int, tuple[int, int]]) -> tuple[Any, Any, Any]:
        """The rank's stdout, stderr and stdin: its own pipes if the launcher gave it some; stdin
        only for rank 0, as with one process per rank."""
        stdin = sys.stdin if rank == 0 else open(os.devnull)  # noqa: SIM115 - lives as long as the rank
        if rank not in fds:
            return (sys.stdout, sys.stderr, stdin)
        out_fd, err_fd = fds[rank]
        if err_fd == out_fd:  # --merge-stderr-to-stdout: one pipe, two streams that each close it
            err_fd = os.dup(out_fd)
        unbuffered = bool(os.environ.get("PYTHONUNBUFFERED"))
        return (_text_stream(out_fd, unbuffered, sys.stdout), _text_stream(err_fd, True, sys.stderr), stdin)

    def _install_mpi(self) -> None:
        """Import toro_mpi.MPI as the first rank, then give every rank its own copy of its per-rank globals."""
        first = next(iter(self.contexts.values()))
        runtime._world = first.world
        from . import MPI

        namespace = vars(MPI)
        self.slots += [(namespace, key) for key in MPI.RANK_GLOBALS]
        for ctx in self.contexts.values():
            if ctx is first:
                state = {k: namespace[k] for k in MPI.RANK_GLOBALS}
            else:
                state = MPI._rank_state(ctx.world)
            base = len(self.slots) - len(MPI.RANK_GLOBALS)
            for i, key in enumerate(MPI.RANK_GLOBALS):
                ctx.saved[base + i] = state[key]

    def _entering(self, glet: Any) -> None:
        """The scheduler is about to run glet: install its rank's state (if it has a rank).

        Saves the running rank's mutable slots and program modules, and installs the new rank's.
        Every switch between ranks runs this (twice per rank in a barrier): the slots that a
        program may reassign (sys.stdout, ...) are saved, the others are only installed."""
        ctx = self.contexts.get(getattr(glet, "owner", None))
        old = self.current
        if ctx is None or ctx is old:
            return
        self._swap(old, ctx)
        if self.private.names:
            modules = sys.modules
            for name in self.private.names:
                mine = modules.pop(name, None)
                if old is not None and mine is not None:
                    old.modules[name] = mine
                theirs = ctx.modules.get(name)
                if theirs is not None:
                    modules[name] = theirs
        self.current = ctx
        self._running[0] = ctx.rank

    def _swap(self, old: RankContext | None, new: RankContext) -> None:
        """Replaced in run() by _straight_swap's function (the slot table is complete only then)."""
        raise RuntimeError("no rank runs before Host.run")

    def _straight_swap(self) -> Callable[[RankContext | None, RankContext], None]:
        """The slot swap as straight-line code: a save per mutable slot, then every slot installed
        by one unpacking assignment, no loop over a slot table. A switch costs several hundred ns
        on this kind of machine, so the loop's overhead mattered (see BENCHMARKS.md, #5)."""
        env: dict[str, Any] = {}
        lines = ["def swap(old, new):", "    if old is not None:", "        saved = old.values"]
        for ns, key, i in self._mutable:
            env[f"ns{i}"] = ns
            lines.append(f"        saved[{i}] = ns{i}.get({key!r})")
        targets = []
        for ns, key, i in self._indexed:
            env[f"ns{i}"] = ns
            targets.append(f"ns{i}[{key!r}]")
        lines.append(f"    {', '.join(targets)}, = new.values")
        exec("\n".join(lines), env)  # noqa: S102 - our own text, from the slot table
        return env["swap"]

    def _prepare(self, ctx: RankContext, spec: ProgramSpec) -> types.CodeType:
        """Build the rank's __main__ and its slot values, before it first runs."""
        main, code = _fresh_main(spec)
        ctx.saved[0] = main
        ctx.saved[1] = ctx.world
        ctx.saved[2], ctx.saved[3], ctx.saved[4] = ctx.streams
        ctx.saved[5] = _rank_environ(ctx.rank)
        return code

    # -- running -------------------------------------------------------------------------------
    def run(self, spec: ProgramSpec) -> int:
        """Run the program once per hosted rank; the process's exit status."""
        sys.argv = list(spec.argv)
        if spec.kind == "script":
            sys.path[0] = os.path.dirname(os.path.abspath(spec.target))
        else:
            sys.path[0] = os.getcwd()
        codes = {ctx: self._prepare(ctx, spec) for ctx in self.contexts.values()}
        n = len(self.slots)
        for ctx in self.contexts.values():
            ctx.values = [ctx.saved.get(i) for i in range(n)]
        self._indexed = [(ns, key, i) for i, (ns, key) in enumerate(self.slots)]
        self._mutable = [(ns, key, i) for ns, key, i in self._indexed if key in _MUTABLE_SLOTS]
        self._swap = self._straight_swap()  # type: ignore[method-assign]
        self._main = greenlet.getcurrent()
        self.private = PrivateModules(sys.path[0])
        sys.meta_path.insert(0, self.private)
        runtime.program_starts()
        self._per_rank_atexit()
        # After the programs' own atexit handlers (registered later, so run earlier), before
        # runtime.freeze_at_exit's: every rank's globals released, as its own process would.
        atexit.register(self._release_programs)
        tasks = [self.sched.spawn(self._rank_main, ctx, codes[ctx], owner=engine, main=True)
                 for engine, ctx in self.contexts.items()]
        for task in tasks:
            task.join()
        self._flush_all()
        return self._exit_status

    def _per_rank_atexit(self) -> None:
        """While a rank runs, atexit.register / unregister act on that rank's own handlers, which
        run in the rank's green thread when its program ends, before it finalizes: as in a
        process of its own, where MPI is finalized after the program's handlers, which may
        still communicate (a collective among ranks of this process needs them all running)."""
        register, unregister = atexit.register, atexit.unregister

        def rank_register(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
            # A library's handler (logging's, multiprocessing's, registered when a rank first
            # imports it) serves every rank of the process: it runs at the process's exit.
            if self.current is None or runtime.is_library_function(func):
                return register(func, *args, **kwargs)
            self.current.exit_handlers.append((func, args, kwargs))
            return func

        def rank_unregister(func: Callable[..., Any]) -> None:
            unregister(func)
            if self.current is not None:
                self.current.exit_handlers[:] = [h for h in self.current.exit_handlers if h[0] != func]

        rank_register.__doc__, rank_unregister.__doc__ = register.__doc__, unregister.__doc__
        atexit.register, atexit.unregister = rank_register, rank_unregister  # type: ignore[assignment]

    @staticmethod
    def _run_exit_handlers(ctx: RankContext) -> None:
        """Run the rank's atexit handlers, last registered first, as the interpreter does (an
        exception is reported and the next handler runs)."""
        handlers = ctx.exit_handlers
        while handlers:
            func, args, kwargs = handlers.pop()
            try:
                func(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - reported as the interpreter reports it
                sys.stderr.write(f"Exception ignored in atexit callback: {func!r}\n")
                traceback.print_exception(type(exc), exc, exc.__traceback__)

    def _rank_main(self, ctx: RankContext, code: types.CodeType) -> None:
        main = sys.modules["__main__"]
        status = 0
        exited = False
        try:
            exec(code, main.__dict__)
        except SystemExit as exc:
            # sys.exit(status) is an ordinary end: the rank finalizes (waiting for the others,
            # as MPI_Finalize does), and the process exits with the first non-zero status once
            # all its ranks have ended, as separate processes would.
            status = _exit_code(exc)
            exited = True
        except BaseException as exc:  # noqa: BLE001 - any error of the program fails its rank
            note = runtime.exit_note(ctx.world, exc)
            if note is None:
                # From the program's first frame on, as `python` prints it (without this one).
                tb = exc.__traceback__
                traceback.print_exception(type(exc), exc, tb.tb_next if tb is not None else None)
            elif note:  # the job's abort ends the rank: quietly if the launcher stopped it
                sys.stderr.write(note + "\n")
            status = 1
        if status != 0 and not exited:
            self._fail(ctx, status)
        self._run_exit_handlers(ctx)
        ctx.world.finalize()
        if status != 0 and not self._exit_status:
            self._exit_status = status
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)

    def _release_programs(self) -> None:
        """At exit, release each rank's program globals (its __main__, its copies of the
        program's modules, then the modules the ranks share) with that rank installed, so that
        what a __del__ prints goes to its own stream (runtime.release_program)."""
        for owner, ctx in self.contexts.items():
            self._entering(types.SimpleNamespace(owner=owner))
            runtime.release_program()
            for stream in ctx.streams[:2]:
                _flush(stream)

    def _fail(self, ctx: RankContext, status: int) -> None:
        """A rank failed: name it in the job's abort word and end the process (and its ranks)."""
        from .bus import layout as L

        ctx.world.failed = True
        self.segment.set_abort(L.ABORT_RANK_FAILED, ctx.rank)
        self._flush_all()
        os._exit(status)

    def _flush_all(self) -> None:
        for ctx in self.contexts.values():
            for stream in ctx.streams[:2]:
                _flush(stream)
        _flush(sys.__stdout__)
        _flush(sys.__stderr__)


def _flush(stream: Any) -> None:
    try:
        stream.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _text_stream(fd: int, unbuffered: bool, like: Any) -> Any:
    """A text stream writing to fd, line-buffered (write-through if the process is unbuffered)."""
    encoding = getattr(like, "encoding", None) or "utf-8"
    errors = getattr(like, "errors", None) or "strict"
    raw = io.FileIO(fd, "w", closefd=True)
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding=encoding, errors=errors,
                            line_buffering=True, write_through=unbuffered)


# The variables that name the rank, which the launcher set for the host's first rank.
RANK_ENV_VARS = ("TORO_MPI_RANK", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_NODE_RANK",
                 "PMI_RANK", "PMIX_RANK")


def _rank_environ(rank: int) -> dict[bytes, bytes]:
    """A copy of os.environ's store with `rank` in every variable that names the rank."""
    data = dict(os.environ._data)  # type: ignore[attr-defined]
    value = os.environ.encodevalue(str(rank))  # type: ignore[attr-defined]
    for name in RANK_ENV_VARS:
        key = os.environ.encodekey(name)  # type: ignore[attr-defined]
        if key in data:
            data[key] = value
    return data


def _parse_fds(text: str) -> dict[int, tuple[int, int]]:
    fds: dict[int, tuple[int, int]] = {}
    for part in filter(None, text.split(";")):
        rank, out_fd, err_fd = (int(x) for x in part.split(":"))
        fds[rank] = (out_fd, err_fd)
    return fds


def main(argv: list[str] | None = None) -> Callable[[], None] | None:
    """Entry point of a host process (see the module docstring)."""
    args = sys.argv[1:] if argv is None else argv
    spec = parse_program(args)
    runtime.freeze_at_exit()  # first registered, so the last atexit handler to run (as in rank_main)
    # Everything the ranks' runtime imports, before any program runs (see rank_main), with no
    # cyclic collection meanwhile and all of it frozen out of the programs' collections after
    # (runtime.collector_paused: ~50 ms of CPU per process), before any rank's object exists.
    with runtime.collector_paused(freeze=True):
        runtime.preload()
        preload_shim()
    ranks = [int(r) for r in os.environ[HOSTED_VAR].split(",")]
    processes = int(os.environ.get(PROCESSES_VAR, "1"))
    host = Host(ranks, processes)
    status = host.run(spec)
    sys.exit(status)


if __name__ == "__main__":
    main()
