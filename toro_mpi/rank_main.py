"""The start of a rank's process: `python [opts] -m toro_mpi.rank_main PROGRAM [args]`.

`toro-mpirun` runs a Python program `python [opts] PROGRAM [args]` (PROGRAM: a script path,
`-m module`, `-c code` or `-` for stdin) as `python [opts] -m toro_mpi.rank_main PROGRAM [args]`
when it starts one process per rank, as `python -m mpi4py` runs its target. This imports what
the rank's runtime needs (numba, the jitted kernels' modules, the MPI layers; see
`runtime.preload`) before the program runs, so the runtime no longer depends on what the
program then does to `sys.modules` or `sys.path` (mpi4py's test runner sets
`sys.modules["numba"] = None` before it imports mpi4py.MPI). The rank itself still starts when
the program imports `toro_mpi.MPI` (or `mpi4py.MPI` under --mpi4py): a program that never does
is not a rank, exactly as without this module.

The program then runs as plain `python` would run it: a fresh `__main__` module with the same
attributes, the same `sys.argv` and `sys.path[0]`, the same messages and status for a missing
file or module, and an uncaught exception printed through `sys.excepthook` without this
module's frames (those of `runpy` stay for `-m`, as with `python -m`), then left to the
interpreter, so the exit status (1, or death by SIGINT for KeyboardInterrupt) is Python's own.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import importlib.util
import io
import os
import runpy
import sys
import types
import zipfile
from typing import Any

_HERE = os.path.realpath(__file__)
# The directory holding the `mpi4py` package that --mpi4py puts first on the ranks' path.
_SHIM_DIR = os.path.join(os.path.dirname(_HERE), "mpi4py_shim")


class ProgramSpec:
    """What `python ARGS` would run: a script path, a module name or a code string, and argv."""

    def __init__(self, kind: str, target: str, argv: list[str]) -> None:
        self.kind = kind  # "script", "module", "code" or "stdin"
        self.target = target
        self.argv = argv


def parse_program(args: list[str], who: str = "toro_mpi.rank_main", stdin: bool = True) -> ProgramSpec:
    """Split `python`'s arguments (interpreter options already removed) into a ProgramSpec.

    `stdin`: whether `-` (the program read from standard input) is accepted."""
    if not args:
        raise SystemExit(f"{who}: no program given")
    if args[0] == "-m" and len(args) > 1:
        return ProgramSpec("module", args[1], [args[1], *args[2:]])
    if args[0] == "-c" and len(args) > 1:
        return ProgramSpec("code", args[1], ["-c", *args[2:]])
    if args[0] == "-" and stdin:
        return ProgramSpec("stdin", "-", list(args))
    if args[0].startswith("-"):
        raise SystemExit(f"{who}: cannot run {args[0]!r} programs")
    return ProgramSpec("script", args[0], list(args))


def program_path0(spec: ProgramSpec) -> str:
    """What `python` puts first on sys.path for the program (unless -P or -I is given)."""
    if spec.kind == "script":
        if _is_runnable_path(spec.target):
            return spec.target  # a directory or zip archive with a __main__.py
        # The directory of the script, symbolic links resolved, as CPython computes it.
        return os.path.dirname(os.path.realpath(spec.target))
    if spec.kind == "module":
        return os.getcwd()
    return ""  # -c and -: the empty string, the current directory at each import


def _is_runnable_path(path: str) -> bool:
    return os.path.isdir(path) or (os.path.isfile(path) and zipfile.is_zipfile(path))


def preload_shim() -> None:
    """Import the `mpi4py` package now if it is toro_mpi's shim (under --mpi4py), so that a
    program that changes sys.path later still finds it (its `mpi4py.MPI` is found through the
    package). A real mpi4py, or none, is left alone."""
    try:
        spec = importlib.util.find_spec("mpi4py")
    except (ImportError, ValueError):
        return
    origin = spec.origin if spec is not None else None
    if origin and os.path.dirname(os.path.dirname(os.path.realpath(origin))) == _SHIM_DIR:
        import mpi4py  # noqa: F401 - kept in sys.modules for the program


def fresh_main(spec: ProgramSpec) -> types.ModuleType:
    """A new `__main__` module carrying what `python` gives the program's before it runs."""
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    main.__dict__["__annotations__"] = {}
    if spec.kind in ("code", "stdin"):
        main.__loader__ = importlib.machinery.BuiltinImporter  # type: ignore[assignment]
    elif spec.kind == "script" and not _is_runnable_path(spec.target):
        path = os.path.abspath(spec.target)
        main.__file__ = path
        main.__cached__ = None  # type: ignore[attr-defined]
        main.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    return main


def _script_code(path: str) -> types.CodeType:
    """The script's code, as `python path` compiles it; a file that cannot be read ends the
    process with Python's message and status 2."""
    full = os.path.abspath(path)
    try:
        with io.open_code(full) as fh:
            source = fh.read()
    except OSError as exc:
        sys.stderr.write(f"{sys.executable}: can't open file {full!r}: [Errno {exc.errno}] {exc.strerror}\n")
        raise SystemExit(2) from None
    return compile(source, full, "exec", dont_inherit=True)


def run_program(spec: ProgramSpec) -> None:
    """Run the program as the process's `__main__`, as `python` would (sys.argv and sys.path[0]
    must already be set)."""
    main = fresh_main(spec)
    sys.modules["__main__"] = main
    if spec.kind == "module":
        # What `python -m` itself calls: finds the module (argv[0] is "-m" meanwhile), reports a
        # missing one as Python does, sets argv[0] to its file and runs it in __main__.
        sys.argv[0] = "-m"
        runpy._run_module_as_main(spec.target, alter_argv=True)  # type: ignore[attr-defined]
    elif spec.kind == "script" and _is_runnable_path(spec.target):
        runpy._run_module_as_main("__main__", alter_argv=False)  # type: ignore[attr-defined]
    elif spec.kind == "script":
        exec(_script_code(spec.target), main.__dict__)  # noqa: S102 - what `python script` does
    else:
        source = spec.target if spec.kind == "code" else sys.stdin.read()
        filename = "<string>" if spec.kind == "code" else "<stdin>"
        exec(compile(source, filename, "exec", dont_inherit=True), main.__dict__)  # noqa: S102


def _without_our_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The traceback from the program's first frame on (this module's frames dropped)."""
    while tb is not None and os.path.realpath(tb.tb_frame.f_code.co_filename) == _HERE:
        tb = tb.tb_next
    return tb


def _silent_hook(exc_type: type[BaseException], exc: BaseException, tb: types.TracebackType | None) -> None:
    """The excepthook left for the interpreter once the program's exception has been printed."""


def _system_exit_status(exc: SystemExit) -> int | None:
    """The process status the interpreter gives `raise SystemExit(code)` when code is None or
    an int (a message is printed by the interpreter itself: None here)."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return int(code)
    return None


def main(argv: list[str] | None = None) -> None:
    """Entry point: preload the runtime, then run the program (see the module docstring)."""
    from . import runtime

    runtime.die_with_launcher()  # before anything else: the launcher may die meanwhile
    runtime.startup_stamp("rank_main")
    runtime.freeze_at_exit()  # first registered, so the last atexit handler to run
    runtime.finalize_at_exit()  # then MPI's finalize, after all of the program's handlers
    args = sys.argv[1:] if argv is None else argv
    spec = parse_program(args)
    sys.argv = list(spec.argv)
    if not sys.flags.safe_path:
        # `python -m toro_mpi.rank_main` put the working directory there; the program gets what
        # `python PROGRAM` gives it. Set before the preload, so that the runtime's modules are
        # found exactly as a program's own `import toro_mpi` at its top would find them.
        sys.path[0] = program_path0(spec)
    # No cyclic collection while numba and the runtime are imported, then all of it frozen out
    # of the program's collections (runtime.collector_paused: ~50 ms of CPU per rank).
    with runtime.collector_paused(freeze=True):
        runtime.preload()
        preload_shim()
    runtime.startup_stamp("preloaded")
    runtime.program_starts()  # modules imported from here on may be the program's own
    try:
        run_program(spec)
    except SystemExit as exc:
        status = _system_exit_status(exc)
        if status is None:
            raise  # the interpreter prints the message and exits 1, as for `python PROGRAM`
    except BaseException as exc:
        # Print it as `python PROGRAM` would (through sys.excepthook, so the rank notes its
        # failure), without our frames; then let the interpreter end the process with its own
        # status for this exception (1, or death by SIGINT for KeyboardInterrupt).
        tb = _without_our_frames(exc.__traceback__)
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
        hook: Any = sys.excepthook
        hook(type(exc), exc.with_traceback(tb), tb)
        sys.excepthook = _silent_hook
        raise
    else:
        status = 0
    # An ordinary end (or sys.exit with a status): exit as the interpreter would, without its
    # module teardown (runtime.quick_exit). Where it declines, the interpreter's own exit.
    runtime.quick_exit(status)
    if status:
        sys.exit(status)


if __name__ == "__main__":
    # Run from the module's importable copy, not from this __main__ one: the program gets a
    # __main__ of its own and may change this one's globals freely.
    from toro_mpi.rank_main import main as _main

    _main()
