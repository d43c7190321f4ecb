"""`python -m mpi4py` / `mpi4py.run` under `toro-mpirun --mpi4py` (usage: USAGE below).

mpi4py.run exists to turn an uncaught exception on one rank into an abort of the whole job
instead of a hang; toro-mpirun already does that for every program (the rank exits non-zero,
the launcher ends the job), so here the target simply runs.
"""

from __future__ import annotations

import os
import runpy
import sys
from typing import Any

USAGE = """\
usage: python -m mpi4py [options] <pyfile> [arg] ...
   or: python -m mpi4py [options] -m <module> [arg] ...
   or: python -m mpi4py [options] -c <string> [arg] ...
   or: python -m mpi4py [options] - [arg] ...
options: -rc <key=value,...> (mpi4py.rc options), --version, --mpi-std-version,
         --mpi-lib-version, --prefix, -h/--help"""


def _usage(error: str | None = None) -> int:
    out = sys.stderr if error else sys.stdout
    if error:
        print(f"mpi4py (toro_mpi): {error}", file=out)
    print(USAGE, file=out)
    return 2 if error else 0


def _parse_rc(text: str) -> dict[str, Any]:
    """'threads=False,thread_level=single' -> {'threads': False, 'thread_level': 'single'}."""
    options: dict[str, Any] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"-rc expects key=value items, got {item!r}")
        options[key.strip()] = _literal(value.strip())
    return options


def _literal(value: str) -> Any:
    import ast

    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def run_command_line(args: list[str] | None = None) -> None:
    """Run the program the command line names (see the module docstring); options first."""
    import mpi4py

    argv = list(sys.argv[1:] if args is None else args)
    while argv and argv[0].startswith("-") and argv[0] not in ("-", "-m", "-c"):
        opt = argv.pop(0)
        if opt in ("-h", "--help"):
            raise SystemExit(_usage())
        if opt == "--version":
            print(f"mpi4py {mpi4py.__version__} (toro_mpi shim)")
            raise SystemExit(0)
        if opt in ("--mpi-std-version", "--mpi-lib-version", "--prefix"):
            from mpi4py import MPI

            if opt == "--mpi-std-version":
                print("MPI {}.{}".format(*MPI.Get_version()))
            elif opt == "--mpi-lib-version":
                print(MPI.Get_library_version())
            else:
                print(os.path.dirname(mpi4py.__file__))
            raise SystemExit(0)
        if opt == "-rc" or opt.startswith("--rc"):
            text = opt.partition("=")[2] if "=" in opt and opt.startswith("--rc") else (argv.pop(0) if argv else "")
            try:
                mpi4py.rc(**_parse_rc(text))
            except (TypeError, ValueError) as exc:
                raise SystemExit(_usage(str(exc))) from None
            continue
        raise SystemExit(_usage(f"unknown option {opt!r}"))
    if not argv:
        raise SystemExit(_usage("no program given"))
    kind = argv.pop(0)
    if kind == "-m":
        if not argv:
            raise SystemExit(_usage("-m needs a module name"))
        sys.argv = [argv[0], *argv[1:]]
        runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
    elif kind == "-c":
        if not argv:
            raise SystemExit(_usage("-c needs a command"))
        sys.argv = ["-c", *argv[1:]]
        _run_source(argv[0], "<string>")
    elif kind == "-":
        sys.argv = ["-", *argv]
        _run_source(sys.stdin.read(), "<stdin>")
    else:
        sys.argv = [kind, *argv]
        sys.path.insert(0, os.path.dirname(os.path.abspath(kind)))
        runpy.run_path(kind, run_name="__main__")


def _run_source(source: str, filename: str) -> None:
    """Run code as the __main__ module, as `python -c` does (so its classes and functions pickle)."""
    import types

    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = main
    exec(compile(source, filename, "exec"), main.__dict__)  # noqa: S102 - what python -c does


def set_abort_status(status: Any) -> None:
    """mpi4py.run's hook for the abort status: toro-mpirun takes it from the rank's exit code."""


def main() -> int:
    """Entry point of `python -m mpi4py`."""
    run_command_line()
    return 0


if __name__ == "__main__":
    sys.exit(main())
