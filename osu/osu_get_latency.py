"""OSU MPI_Get latency Test (OMB 7.4 osu_get_latency): rank 0 gets `size` bytes from rank 1's
window and synchronises as -s says; latency per get (fence and pscw: half a round trip).

Run: toro-mpirun -n 2 python -m osu.osu_get_latency [-w create|allocate|dynamic]
         [-s lock|pscw|fence|flush|flush_local|lock_all] [-m [MIN:]MAX] [-i ITER] [-x WARMUP]
 or: mpiexec -n 2 python -m osu.osu_get_latency ...
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import omb
from . import one_sided as rma

BENCH = rma.RmaBench("osu_get_latency", "OSU MPI_Get latency Test", rma.ONE_SIDED_LAT)


def _get(ctx: omb.Ctx, w: rma.Window, size: int, dtype: Any) -> rma.Step:
    """One step: MPI_Get of `size` bytes of the peer's window into a local buffer."""
    rbuf = np.full(size, ord("b"), np.uint8)
    win, disp = w.win, w.disp

    def step(target: int) -> None:
        win.Get(rbuf, target, disp)

    return step


def body(ctx: omb.Ctx) -> None:
    """Every size, as OMB's run_get_with_<sync>."""
    rma.latency_sweep(ctx, _get)


def main(argv: list[str] | None = None) -> int:
    """Run osu_get_latency; returns the exit status."""
    return rma.main(BENCH, body, argv)


if __name__ == "__main__":
    sys.exit(main())
