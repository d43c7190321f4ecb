"""OSU MPI Allgather Latency Test (OMB 7.4 osu_allgather): MPI_Allgather of size bytes per rank,
latency averaged over the ranks (min and max with -f).

Run: toro-mpirun -n 4 --oversubscribe python -m osu.osu_allgather [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-f] [-c]
 or: mpiexec -n 4 python -m osu.osu_allgather ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from . import omb
from .osu_gather import blocks_ok

BENCH = omb.Bench("osu_allgather", "OSU MPI Allgather Latency Test", omb.COLLECTIVE)


def body(ctx: omb.Ctx) -> int:
    """Every rank contributes size bytes and receives nprocs * size."""
    sbuf = np.ones(ctx.opts.max_size, np.uint8)
    rbuf = np.zeros(ctx.opts.max_size * ctx.nprocs, np.uint8)

    def setup(size: int) -> Callable[[], None]:
        s, r = ctx.chars(sbuf, size), ctx.chars(rbuf, size * ctx.nprocs)
        return lambda: ctx.comm.Allgather(s, r)

    def fill(size: int, i: int) -> None:
        sbuf[:size] = omb.pattern(size, size, i, ctx.rank)
        rbuf[:] = 0

    def check(size: int, i: int) -> bool:
        return blocks_ok(ctx, rbuf, size, size, i)

    return omb.collective(ctx, setup, fill, check)


def main(argv: list[str] | None = None) -> int:
    """Run osu_allgather; returns the exit status."""
    return omb.main(BENCH, body, argv, mem_per_rank=True)


if __name__ == "__main__":
    sys.exit(main())
