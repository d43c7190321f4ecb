"""OSU MPI All-to-All Personalized Exchange Latency Test (OMB 7.4 osu_alltoall): MPI_Alltoall of
size bytes per pair of ranks, latency averaged over the ranks (min and max with -f).

Run: toro-mpirun -n 4 --oversubscribe python -m osu.osu_alltoall [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-f] [-c]
 or: mpiexec -n 4 python -m osu.osu_alltoall ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from . import omb

BENCH = omb.Bench("osu_alltoall", "OSU MPI All-to-All Personalized Exchange Latency Test", omb.COLLECTIVE)


def body(ctx: omb.Ctx) -> int:
    """Each rank sends block d of its nprocs * size bytes to rank d."""
    n, me = ctx.nprocs, ctx.rank
    sbuf = np.ones(ctx.opts.max_size * n, np.uint8)
    rbuf = np.zeros(ctx.opts.max_size * n, np.uint8)

    def setup(size: int) -> Callable[[], None]:
        s, r = ctx.chars(sbuf, size * n), ctx.chars(rbuf, size * n)
        return lambda: ctx.comm.Alltoall(s, r)

    def fill(size: int, i: int) -> None:
        for d in range(n):
            sbuf[d * size:(d + 1) * size] = omb.pattern(size, size, i, me, d)
        rbuf[:] = 0

    def check(size: int, i: int) -> bool:
        got = rbuf[:size * n].reshape(n, size)
        return all(np.array_equal(got[s], omb.pattern(size, size, i, s, me)) for s in range(n))

    return omb.collective(ctx, setup, fill, check)


def main(argv: list[str] | None = None) -> int:
    """Run osu_alltoall; returns the exit status."""
    return omb.main(BENCH, body, argv, mem_per_rank=True)


if __name__ == "__main__":
    sys.exit(main())
