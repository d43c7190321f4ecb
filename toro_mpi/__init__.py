"""toro_mpi: MPI for Python on one machine, run the way the Toro unikernel runs its cores.

`from toro_mpi import MPI` gives an mpi4py-compatible module. `spawn` and `yield_` drive the
rank's cooperative green threads.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def spawn(fn: Any, *args: Any) -> Any:
    """Start fn(*args) as a green thread of the calling rank; returns a Task with join()."""
    from .runtime import world

    return world().engine.sched.spawn(fn, *args)


def yield_() -> None:
    """Give the core to another green thread of this rank (Toro's SysThreadSwitch)."""
    from .runtime import world

    world().engine.sched.yield_()


__all__ = ["spawn", "yield_", "__version__"]
