"""OSU MPI Broadcast Latency Test (OMB 7.4 osu_bcast): MPI_Bcast from rank 0, latency averaged
over the ranks (min and max with -f).

Run: toro-mpirun -n 4 --oversubscribe python -m osu.osu_bcast [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-f] [-c]
 or: mpiexec -n 4 python -m osu.osu_bcast ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from . import omb

BENCH = omb.Bench("osu_bcast", "OSU MPI Broadcast Latency Test", omb.COLLECTIVE)


def body(ctx: omb.Ctx) -> int:
    """Broadcast size bytes from rank 0 every iteration."""
    buf = np.ones(ctx.opts.max_size, np.uint8)

    def setup(size: int) -> Callable[[], None]:
        spec = ctx.chars(buf, size)
        return lambda: ctx.comm.Bcast(spec, root=0)

    def fill(size: int, i: int) -> None:
        buf[:size] = omb.pattern(size, size, i, 0) if ctx.rank == 0 else 0

    def check(size: int, i: int) -> bool:
        return np.array_equal(buf[:size], omb.pattern(size, size, i, 0))

    return omb.collective(ctx, setup, fill, check)


def main(argv: list[str] | None = None) -> int:
    """Run osu_bcast; returns the exit status."""
    return omb.main(BENCH, body, argv, mem_per_rank=False)


if __name__ == "__main__":
    sys.exit(main())
