"""Environment of the launcher and of its ranks: numba's cache directory, -x exports, TORO_MPI_*."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

NUMBA_CACHE_VAR = "NUMBA_CACHE_DIR"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RANK_VARS = ("TORO_MPI_RANK", "TORO_MPI_SIZE", "TORO_MPI_SEGMENT", "TORO_MPI_CONFIG", "TORO_MPI_LAUNCHER_PID",
             "TORO_MPI_HOSTED", "TORO_MPI_PROCESSES", "TORO_MPI_FDS", "TORO_MPI_HOST_MAP")


def default_numba_cache_dir(environ: Mapping[str, str]) -> str:
    """$XDG_CACHE_HOME/toro_mpi/numba, or ~/.cache/toro_mpi/numba when XDG_CACHE_HOME is unset."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "toro_mpi", "numba")


def setup_numba_cache_dir(exports: Mapping[str, str]) -> str:
    """Set NUMBA_CACHE_DIR in our own environment (unless set) before numba is imported; return it."""
    value = exports.get(NUMBA_CACHE_VAR) or os.environ.get(NUMBA_CACHE_VAR)
    if not value:
        value = default_numba_cache_dir(os.environ)
    os.environ[NUMBA_CACHE_VAR] = value
    return value


def parse_exports(specs: Iterable[str], environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Resolve `-x VAR` / `-x VAR=value`; return (exports, names without a value that are unset here)."""
    exports: dict[str, str] = {}
    unset: list[str] = []
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not _NAME.fullmatch(name):
            raise ValueError(f"-x {spec}: {name!r} is not a valid environment variable name")
        if name in RANK_VARS:
            raise ValueError(f"-x {spec}: {name} is set by the launcher for each rank")
        if sep:
            exports[name] = value
        elif name in environ:
            exports[name] = environ[name]
        else:
            unset.append(name)
    return exports, unset


# Holds the `mpi4py` package that --mpi4py puts first on the ranks' path (toro_mpi/mpi4py_shim).
MPI4PY_SHIM_DIR = str(Path(__file__).resolve().parent.parent / "mpi4py_shim")


def rank_env(base: Mapping[str, str], exports: Mapping[str, str], rank: int, size: int,
             segment: str, config_json: str, piped: bool = False, mpi4py: bool = False) -> dict[str, str]:
    """The environment of one rank: ours, the -x exports, then the TORO_MPI_* variables.

    `piped` (--tag-output): stdout is a pipe, so Python ranks run unbuffered to keep output live.
    `mpi4py`: the shim directory goes first on PYTHONPATH, so `import mpi4py` finds toro_mpi's.
    """
    env = dict(base)
    if piped:
        env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(exports)
    if mpi4py:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (MPI4PY_SHIM_DIR, env.get("PYTHONPATH"))))
    env.update({
        "TORO_MPI_RANK": str(rank),
        "TORO_MPI_SIZE": str(size),
        "TORO_MPI_SEGMENT": segment,
        "TORO_MPI_CONFIG": config_json,
        "TORO_MPI_LAUNCHER_PID": str(os.getpid()),
    })
    return env
