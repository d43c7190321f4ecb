"""Start-up time stamps (TORO_MPI_STARTUP_TRACE=1): when the launcher and each rank reach each
step of a job's start, in seconds since the launcher's process was created, on stderr.

Off by default (one environment lookup per stamp). The ranks stamp through
toro_mpi.runtime.startup_stamp, on the same clock (CLOCK_BOOTTIME, the clock of a process's
creation time in /proc): the launcher passes its origin to them (TORO_MPI_STARTUP_T0)."""

from __future__ import annotations

import os
import sys
import time

TRACE_VAR = "TORO_MPI_STARTUP_TRACE"
ORIGIN_VAR = "TORO_MPI_STARTUP_T0"


def now() -> float:
    """Seconds since boot (CLOCK_BOOTTIME)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def process_start(pid: int | str = "self") -> float | None:
    """When process pid was created, in seconds since boot (to a clock tick), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            ticks = int(fh.read().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def origin() -> float:
    """The trace's time zero: this launcher's creation (set in the environment for the ranks)."""
    value = os.environ.get(ORIGIN_VAR)
    if value is None:
        value = repr(process_start() or now())
        os.environ[ORIGIN_VAR] = value
    return float(value)


def stamp(what: str) -> None:
    """Print `what` with the time since the origin when tracing is on."""
    if os.environ.get(TRACE_VAR):
        print(f"toro_mpi startup: +{now() - origin():.3f} s {what} (cpu {time.process_time():.3f} s)",
              file=sys.stderr, flush=True)
