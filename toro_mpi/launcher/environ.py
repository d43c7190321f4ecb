"""Environment of the launcher and of its ranks: numba's cache directory, -x exports, TORO_MPI_*."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

NUMBA_CACHE_VAR = "NUMBA_CACHE_DIR"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RANK_VARS = ("TORO_MPI_RANK", "TORO_MPI_SIZE", "TORO_MPI_SEGMENT", "TORO_MPI_CONFIG", "TORO_MPI_LAUNCHER_PID",
             "TORO_MPI_HOSTED", "TORO_MPI_PROCESSES", "TORO_MPI_FDS", "TORO_MPI_HOST_MAP", "TORO_MPI_APPNUM")
# The variables other launchers give their ranks, set for every rank too: programs and tools
# (job scripts, profilers, test runners) read them to learn their rank. Rank and size only: no
# PMIX_NAMESPACE, PMIX_SERVER_URI*, PMI_FD or PMI_PORT, without which a real libmpi loaded in
# the same process (Open MPI, MPICH) starts as a singleton instead of looking for a launcher.
COMPAT_RANK_VARS = ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                    "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_NODE_RANK", "OMPI_UNIVERSE_SIZE",
                    "OMPI_NUM_APP_CTX", "PMI_RANK", "PMI_SIZE", "PMIX_RANK")
# What an outer launcher (mpirun, srun) gave the launcher itself: a rank must not inherit it, or
# a real libmpi in it would join the outer job as the launcher's rank.
_OUTER_JOB_PREFIXES = ("OMPI_COMM_WORLD_", "PMIX_", "PMI_", "OMPI_UNIVERSE_SIZE", "OMPI_NUM_APP_CTX",
                       "OMPI_APP_CTX_", "OMPI_FIRST_RANKS")


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
        if name in RANK_VARS or name in COMPAT_RANK_VARS:
            raise ValueError(f"-x {spec}: {name} is set by the launcher for each rank")
        if sep:
            exports[name] = value
        elif name in environ:
            exports[name] = environ[name]
        else:
            unset.append(name)
    return exports, unset


# Holds the `mpi4py` package that --mpi4py puts first on the ranks' path (toro_mpi/mpi4py_shim).
MPI4PY_SHIM_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "mpi4py_shim")


def rank_env(base: Mapping[str, str], exports: Mapping[str, str], rank: int, size: int,
             segment: str, config_json: str, piped: bool = False, mpi4py: bool = False,
             appnum: int = 0, napps: int = 1) -> dict[str, str]:
    """The environment of one rank: ours (less an outer job's rank variables), the -x exports,
    then the TORO_MPI_* variables and the rank variables other launchers set (COMPAT_RANK_VARS).

    `piped`: Python ranks run unbuffered, so that their output shows as it is printed although
    it reaches the launcher through a pipe (--tag-output, or the launcher's output is a terminal).
    `mpi4py`: the shim directory goes first on PYTHONPATH, so `import mpi4py` finds toro_mpi's.
    """
    env = {k: v for k, v in base.items() if not k.startswith(_OUTER_JOB_PREFIXES) or k.startswith("PMIX_MCA_")}
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
        "TORO_MPI_APPNUM": str(appnum),
    })
    # One machine: the local rank is the rank.
    env.update(dict.fromkeys(("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_NODE_RANK",
                              "PMI_RANK", "PMIX_RANK"), str(rank)))
    env.update(dict.fromkeys(("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_UNIVERSE_SIZE",
                              "PMI_SIZE"), str(size)))
    env["OMPI_NUM_APP_CTX"] = str(napps)
    return env
