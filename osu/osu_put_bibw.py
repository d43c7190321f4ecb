"""OSU MPI_Put Bi-directional Bandwidth Test (OMB 7.4 osu_put_bibw): both ranks put a window
(-W, 64) of `size`-byte messages into each other's window at once, in a pscw (default) or fence
epoch; MB/s of both directions together.

Run: toro-mpirun -n 2 python -m osu.osu_put_bibw [-w create|allocate|dynamic] [-s pscw|fence]
         [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-W WINDOW]
 or: mpiexec -n 2 python -m osu.osu_put_bibw ...
"""

from __future__ import annotations

import sys

from . import omb
from . import one_sided as rma
from .osu_put_bw import puts

BENCH = rma.RmaBench("osu_put_bibw", "OSU MPI_Put Bi-directional Bandwidth Test", rma.ONE_SIDED_BW,
                     sync="pscw", syncs=rma.ACTIVE_SYNC)


def body(ctx: omb.Ctx) -> None:
    """Every size, as OMB's run_put_with_<sync> in osu_put_bibw."""
    rma.bandwidth_sweep(ctx, puts, bidirectional=True)


def main(argv: list[str] | None = None) -> int:
    """Run osu_put_bibw; returns the exit status."""
    return rma.main(BENCH, body, argv)


if __name__ == "__main__":
    sys.exit(main())
