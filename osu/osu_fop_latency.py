"""OSU MPI_Fetch_and_op latency Test (OMB 7.4 osu_fop_latency): rank 0 applies MPI_SUM to one
element of rank 1's window, fetching the old value, and synchronises as -s says; one row per
datatype (-T), its size in the size column (fence and pscw: half a round trip).

Run: toro-mpirun -n 2 python -m osu.osu_fop_latency [-w create|allocate|dynamic]
         [-s lock|pscw|fence|flush|flush_local|lock_all] [-T mpi_char|mpi_int|mpi_float|all]
         [-m [MIN:]MAX] [-i ITER] [-x WARMUP]
 or: mpiexec -n 2 python -m osu.osu_fop_latency ...
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import omb
from . import one_sided as rma

BENCH = rma.RmaBench("osu_fop_latency", "OSU MPI_Fetch_and_op latency Test", rma.ONE_SIDED_LAT,
                     lock_exclusive=True, types=True)


def _fop(ctx: omb.Ctx, w: rma.Window, size: int, dtype: Any) -> rma.Step:
    """One step: MPI_Fetch_and_op(MPI_SUM) on the first element of the peer's window."""
    sbuf = np.ones(1, dtype)
    tbuf = np.zeros(1, dtype)
    win, disp, op = w.win, w.disp, ctx.MPI.SUM

    def step(target: int) -> None:
        win.Fetch_and_op(sbuf, tbuf, target, disp, op)

    return step


def body(ctx: omb.Ctx) -> None:
    """One row for the current datatype, as OMB's run_fop_with_<sync>."""
    rma.atomic_row(ctx, _fop, rma.dtype_of(ctx))


def main(argv: list[str] | None = None) -> int:
    """Run osu_fop_latency; returns the exit status."""
    return rma.main(BENCH, body, argv, per_dtype=True)


if __name__ == "__main__":
    sys.exit(main())
