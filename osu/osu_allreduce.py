"""OSU MPI Allreduce Latency Test (OMB 7.4 osu_allreduce): MPI_Allreduce (MPI_SUM of MPI_CHAR),
latency averaged over the ranks (min and max with -f).

Run: toro-mpirun -n 4 --oversubscribe python -m osu.osu_allreduce [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-f] [-c]
 or: mpiexec -n 4 python -m osu.osu_allreduce ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from . import omb
from .osu_reduce import contribution, summed

BENCH = omb.Bench("osu_allreduce", "OSU MPI Allreduce Latency Test", omb.COLLECTIVE)


def body(ctx: omb.Ctx) -> int:
    """Allreduce size chars with MPI_SUM every iteration."""
    MPI = ctx.MPI
    sbuf = np.ones(ctx.opts.max_size, np.uint8)
    rbuf = np.zeros(ctx.opts.max_size, np.uint8)

    def setup(size: int) -> Callable[[], None]:
        s, r = ctx.chars(sbuf, size), ctx.chars(rbuf, size)
        return lambda: ctx.comm.Allreduce(s, r, op=MPI.SUM)

    def fill(size: int, i: int) -> None:
        sbuf[:size] = contribution(ctx, size, i, ctx.rank)
        rbuf[:size] = 0

    def check(size: int, i: int) -> bool:
        return np.array_equal(rbuf[:size], summed(ctx, size, i))

    return omb.collective(ctx, setup, fill, check)


def main(argv: list[str] | None = None) -> int:
    """Run osu_allreduce; returns the exit status."""
    return omb.main(BENCH, body, argv, mem_per_rank=False)


if __name__ == "__main__":
    sys.exit(main())
