"""OSU MPI_Put Bandwidth Test (OMB 7.4 osu_put_bw): rank 0 puts a window (-W, 64) of `size`-byte
messages to consecutive places of rank 1's window and synchronises as -s says; MB/s.

Run: toro-mpirun -n 2 python -m osu.osu_put_bw [-w create|allocate|dynamic]
         [-s lock|pscw|fence|flush|flush_local|lock_all] [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-W WINDOW]
 or: mpiexec -n 2 python -m osu.osu_put_bw ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from . import omb
from . import one_sided as rma

BENCH = rma.RmaBench("osu_put_bw", "OSU MPI_Put Bandwidth Test", rma.ONE_SIDED_BW)


def puts(ctx: omb.Ctx, w: rma.Window, size: int) -> Callable[[int, int], None]:
    """Step j: MPI_Put of the j-th `size`-byte block of a buffer of 'a's to block j of the peer."""
    sbuf = np.full(size * ctx.opts.window, ord("a"), np.uint8)
    blocks = [sbuf[j * size:(j + 1) * size] for j in range(ctx.opts.window)]
    win, disp = w.win, w.disp

    def step(target: int, j: int) -> None:
        win.Put(blocks[j], target, disp + j * size)

    return step


def body(ctx: omb.Ctx) -> None:
    """Every size, as OMB's run_put_with_<sync>."""
    rma.bandwidth_sweep(ctx, puts)


def main(argv: list[str] | None = None) -> int:
    """Run osu_put_bw; returns the exit status."""
    return rma.main(BENCH, body, argv)


if __name__ == "__main__":
    sys.exit(main())
