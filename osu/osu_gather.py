"""OSU MPI Gather Latency Test (OMB 7.4 osu_gather): MPI_Gather of size bytes per rank to rank 0,
latency averaged over the ranks (min and max with -f).

Run: toro-mpirun -n 4 --oversubscribe python -m osu.osu_gather [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-f] [-c]
 or: mpiexec -n 4 python -m osu.osu_gather ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from . import omb

BENCH = omb.Bench("osu_gather", "OSU MPI Gather Latency Test", omb.COLLECTIVE)


def blocks_ok(ctx: omb.Ctx, buf: np.ndarray, size: int, *key: int) -> bool:
    """Whether block r of buf holds rank r's iteration data (pattern(size, *key, r))."""
    got = buf[:size * ctx.nprocs].reshape(ctx.nprocs, size)
    return all(np.array_equal(got[r], omb.pattern(size, *key, r)) for r in range(ctx.nprocs))


def body(ctx: omb.Ctx) -> int:
    """Gather size bytes from every rank into rank 0's buffer (nprocs * size bytes)."""
    root = ctx.rank == 0
    # Written (OMB's set_buffer(sendbuf, 1)): np.zeros would leave it on the shared zero page,
    # which a single-copy reference reads from one cached page (see osu_reduce).
    sbuf = np.ones(ctx.opts.max_size, np.uint8)
    rbuf = np.ones(ctx.opts.max_size * ctx.nprocs if root else 1, np.uint8)

    def setup(size: int) -> Callable[[], None]:
        s = ctx.chars(sbuf, size)
        r = ctx.chars(rbuf, size * ctx.nprocs) if root else None
        return lambda: ctx.comm.Gather(s, r, root=0)

    def fill(size: int, i: int) -> None:
        sbuf[:size] = omb.pattern(size, size, i, ctx.rank)
        rbuf[:] = 0

    def check(size: int, i: int) -> bool:
        return not root or blocks_ok(ctx, rbuf, size, size, i)

    return omb.collective(ctx, setup, fill, check)


def main(argv: list[str] | None = None) -> int:
    """Run osu_gather; returns the exit status."""
    return omb.main(BENCH, body, argv, mem_per_rank=True)


if __name__ == "__main__":
    sys.exit(main())
