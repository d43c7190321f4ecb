"""OSU MPI_Get_accumulate latency Test (OMB 7.4 osu_get_acc_latency): rank 0 adds (MPI_SUM)
`size` bytes into rank 1's window, fetching what was there, and synchronises as -s says;
latency per call (fence and pscw: half a round trip). OMB's defaults here are MPI_Win_create and
lock (exclusive, as its flush epochs are); its header has no datatype line.

Run: toro-mpirun -n 2 python -m osu.osu_get_acc_latency [-w create|allocate|dynamic]
         [-s lock|pscw|fence|flush|flush_local|lock_all] [-m [MIN:]MAX] [-i ITER] [-x WARMUP]
 or: mpiexec -n 2 python -m osu.osu_get_acc_latency ...
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import omb
from . import one_sided as rma

BENCH = rma.RmaBench("osu_get_acc_latency", "OSU MPI_Get_accumulate latency Test", rma.ONE_SIDED_LAT,
                     win="create", sync="lock", lock_exclusive=True, flush_exclusive=True, datatype_line=False)


def _get_acc(ctx: omb.Ctx, w: rma.Window, size: int, dtype: Any) -> rma.Step:
    """One step: MPI_Get_accumulate(MPI_SUM) of `size` chars, the old values into a result buffer."""
    sbuf = np.zeros(size, np.uint8)
    cbuf = np.zeros(size, np.uint8)
    win, disp, op = w.win, w.disp, ctx.MPI.SUM

    def step(target: int) -> None:
        win.Get_accumulate(sbuf, cbuf, target, disp, op)

    return step


def body(ctx: omb.Ctx) -> None:
    """Every size, as OMB's run_get_acc_with_<sync> (the window starts zeroed, as OMB's rbuf)."""
    rma.latency_sweep(ctx, _get_acc)


def main(argv: list[str] | None = None) -> int:
    """Run osu_get_acc_latency; returns the exit status."""
    return rma.main(BENCH, body, argv)


if __name__ == "__main__":
    sys.exit(main())
