"""OSU MPI_Get Bandwidth Test (OMB 7.4 osu_get_bw): rank 0 gets a window (-W, 64) of
`size`-byte blocks from consecutive places of rank 1's window and synchronises as -s says; MB/s.

Run: toro-mpirun -n 2 python -m osu.osu_get_bw [-w create|allocate|dynamic]
         [-s lock|pscw|fence|flush|flush_local|lock_all] [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-W WINDOW]
 or: mpiexec -n 2 python -m osu.osu_get_bw ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from . import omb
from . import one_sided as rma

BENCH = rma.RmaBench("osu_get_bw", "OSU MPI_Get Bandwidth Test", rma.ONE_SIDED_BW)


def gets(ctx: omb.Ctx, w: rma.Window, size: int) -> Callable[[int, int], None]:
    """Step j: MPI_Get of the peer's j-th `size`-byte block into block j of a local buffer."""
    rbuf = np.full(size * ctx.opts.window, ord("b"), np.uint8)
    blocks = [rbuf[j * size:(j + 1) * size] for j in range(ctx.opts.window)]
    win, disp = w.win, w.disp

    def step(target: int, j: int) -> None:
        win.Get(blocks[j], target, disp + j * size)

    return step


def body(ctx: omb.Ctx) -> None:
    """Every size, as OMB's run_get_with_<sync>."""
    rma.bandwidth_sweep(ctx, gets)


def main(argv: list[str] | None = None) -> int:
    """Run osu_get_bw; returns the exit status."""
    return rma.main(BENCH, body, argv)


if __name__ == "__main__":
    sys.exit(main())
