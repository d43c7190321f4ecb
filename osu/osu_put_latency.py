"""OSU MPI_Put Latency Test (OMB 7.4 osu_put_latency): rank 0 puts `size` bytes into rank 1's
window and synchronises as -s says; latency per put (fence and pscw: half a round trip).

Run: toro-mpirun -n 2 python -m osu.osu_put_latency [-w create|allocate|dynamic]
         [-s lock|pscw|fence|flush|flush_local|lock_all] [-m [MIN:]MAX] [-i ITER] [-x WARMUP]
 or: mpiexec -n 2 python -m osu.osu_put_latency ...
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import omb
from . import one_sided as rma

BENCH = rma.RmaBench("osu_put_latency", "OSU MPI_Put Latency Test", rma.ONE_SIDED_LAT)


def _put(ctx: omb.Ctx, w: rma.Window, size: int, dtype: Any) -> rma.Step:
    """One step: MPI_Put of `size` bytes from a buffer of 'a's to the peer's window."""
    sbuf = np.full(size, ord("a"), np.uint8)
    win, disp = w.win, w.disp

    def step(target: int) -> None:
        win.Put(sbuf, target, disp)

    return step


def body(ctx: omb.Ctx) -> None:
    """Every size, as OMB's run_put_with_<sync>."""
    rma.latency_sweep(ctx, _put)


def main(argv: list[str] | None = None) -> int:
    """Run osu_put_latency; returns the exit status."""
    return rma.main(BENCH, body, argv)


if __name__ == "__main__":
    sys.exit(main())
