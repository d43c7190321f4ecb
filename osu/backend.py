"""Pick the MPI module once: toro_mpi under toro-mpirun, mpi4py under mpiexec (OSU_MPI overrides)."""

from __future__ import annotations

import os
from types import ModuleType


def backend_name() -> str:
    """'toro' or 'mpi4py', from OSU_MPI or the launcher's environment."""
    forced = os.environ.get("OSU_MPI", "").strip().lower()
    if forced in ("toro", "mpi4py"):
        return forced
    if forced:
        raise SystemExit(f"OSU_MPI must be 'toro' or 'mpi4py', not {forced!r}")
    if "TORO_MPI_SEGMENT" in os.environ:
        return "toro"
    if any(k in os.environ for k in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK")):
        return "mpi4py"
    return "toro"


def load_mpi() -> ModuleType:
    """Import and return the chosen MPI module."""
    if backend_name() == "toro":
        from toro_mpi import MPI
    else:
        from mpi4py import MPI
    return MPI
