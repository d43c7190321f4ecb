"""OSU MPI_Compare_and_swap latency Test (OMB 7.4 osu_cas_latency): rank 0 compares and swaps
one element of rank 1's window, fetching the old value, and synchronises as -s says; one row per
datatype (-T), its size in the size column (fence and pscw: half a round trip).

Run: toro-mpirun -n 2 python -m osu.osu_cas_latency [-w create|allocate|dynamic]
         [-s lock|pscw|fence|flush|flush_local|lock_all] [-T mpi_char|mpi_int|mpi_float|all]
         [-m [MIN:]MAX] [-i ITER] [-x WARMUP]
 or: mpiexec -n 2 python -m osu.osu_cas_latency ...
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import omb
from . import one_sided as rma

BENCH = rma.RmaBench("osu_cas_latency", "OSU MPI_Compare_and_swap latency Test", rma.ONE_SIDED_LAT,
                     lock_exclusive=True, types=True)


def _cas(ctx: omb.Ctx, w: rma.Window, size: int, dtype: Any) -> rma.Step:
    """One step: MPI_Compare_and_swap on the first element of the peer's window (OMB's buffers:
    origin 'a', compare 'a', result 'c')."""
    sbuf = np.full(1, ord("a"), dtype)
    cbuf = np.full(1, ord("a"), dtype)
    tbuf = np.full(1, ord("c"), dtype)
    win, disp = w.win, w.disp

    def step(target: int) -> None:
        win.Compare_and_swap(sbuf, cbuf, tbuf, target, disp)

    return step


def body(ctx: omb.Ctx) -> None:
    """One row for the current datatype, as OMB's run_cas_with_<sync>."""
    rma.atomic_row(ctx, _cas, rma.dtype_of(ctx))


def main(argv: list[str] | None = None) -> int:
    """Run osu_cas_latency; returns the exit status."""
    return rma.main(BENCH, body, argv, per_dtype=True)


if __name__ == "__main__":
    sys.exit(main())
