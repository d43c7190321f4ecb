"""OSU MPI Scatter Latency Test (OMB 7.4 osu_scatter): MPI_Scatter of size bytes per rank from
rank 0, latency averaged over the ranks (min and max with -f).

Run: toro-mpirun -n 4 --oversubscribe python -m osu.osu_scatter [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-f] [-c]
 or: mpiexec -n 4 python -m osu.osu_scatter ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from . import omb

BENCH = omb.Bench("osu_scatter", "OSU MPI Scatter Latency Test", omb.COLLECTIVE)


def body(ctx: omb.Ctx) -> int:
    """Scatter rank 0's nprocs * size bytes, size bytes to each rank."""
    root = ctx.rank == 0
    sbuf = np.ones(ctx.opts.max_size * ctx.nprocs if root else 1, np.uint8)
    rbuf = np.zeros(ctx.opts.max_size, np.uint8)

    def setup(size: int) -> Callable[[], None]:
        s = ctx.chars(sbuf, size * ctx.nprocs) if root else None
        r = ctx.chars(rbuf, size)
        return lambda: ctx.comm.Scatter(s, r, root=0)

    def fill(size: int, i: int) -> None:
        if root:
            for r in range(ctx.nprocs):
                sbuf[r * size:(r + 1) * size] = omb.pattern(size, size, i, r)
        rbuf[:size] = 0

    def check(size: int, i: int) -> bool:
        return np.array_equal(rbuf[:size], omb.pattern(size, size, i, ctx.rank))

    return omb.collective(ctx, setup, fill, check)


def main(argv: list[str] | None = None) -> int:
    """Run osu_scatter; returns the exit status."""
    return omb.main(BENCH, body, argv, mem_per_rank=True)


if __name__ == "__main__":
    sys.exit(main())
