"""OSU MPI_Accumulate latency Test (OMB 7.4 osu_acc_latency): rank 0 adds (MPI_SUM) `size`
bytes of elements into rank 1's window and synchronises as -s says; latency per accumulate
(fence and pscw: half a round trip). -T runs each datatype in turn, header and all.

Run: toro-mpirun -n 2 python -m osu.osu_acc_latency [-w create|allocate|dynamic]
         [-s lock|pscw|fence|flush|flush_local|lock_all] [-T mpi_char|mpi_int|mpi_float|all]
         [-m [MIN:]MAX] [-i ITER] [-x WARMUP]
 or: mpiexec -n 2 python -m osu.osu_acc_latency ...
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import omb
from . import one_sided as rma

BENCH = rma.RmaBench("osu_acc_latency", "OSU MPI_Accumulate latency Test", rma.ONE_SIDED_LAT, types=True)


def _acc(ctx: omb.Ctx, w: rma.Window, size: int, dtype: Any) -> rma.Step:
    """One step: MPI_Accumulate(MPI_SUM) of size // itemsize elements to the peer's window."""
    sbuf = np.ones(size // np.dtype(dtype).itemsize, dtype)
    win, disp, op = w.win, w.disp, ctx.MPI.SUM

    def step(target: int) -> None:
        win.Accumulate(sbuf, target, disp, op)

    return step


def body(ctx: omb.Ctx) -> None:
    """Every size with at least one element, as OMB's run_acc_with_<sync>."""
    rma.latency_sweep(ctx, _acc, rma.dtype_of(ctx))


def main(argv: list[str] | None = None) -> int:
    """Run osu_acc_latency; returns the exit status."""
    return rma.main(BENCH, body, argv, per_dtype=True)


if __name__ == "__main__":
    sys.exit(main())
