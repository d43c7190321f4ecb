"""OSU MPI Barrier Latency Test (OMB 7.4 osu_barrier): average MPI_Barrier time over the ranks.

Run: toro-mpirun -n 4 --oversubscribe python -m osu.osu_barrier [-i ITER] [-x WARMUP] [-f]
 or: mpiexec -n 4 python -m osu.osu_barrier ...
"""

from __future__ import annotations

import sys

from . import omb

BENCH = omb.Bench("osu_barrier", "OSU MPI Barrier Latency Test", omb.BARRIER)


def body(ctx: omb.Ctx) -> int:
    """Time each barrier; one row (no size column) with avg [min max iterations] over ranks."""
    comm, opts, MPI = ctx.comm, ctx.opts, ctx.MPI
    # OMB times the barrier with the small-message counts (its loop never switches to large).
    iters, skip = opts.iterations, opts.skip
    timer = 0.0
    for i in range(iters + skip):
        t0 = MPI.Wtime()
        comm.Barrier()
        t1 = MPI.Wtime()
        if i >= skip:
            timer += t1 - t0
    comm.Barrier()
    avg, mn, mx = ctx.stats(timer * 1e6 / iters)
    ctx.out(omb.row(ctx.bench, opts, 0, avg, mn, mx, iters))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run osu_barrier; returns the exit status."""
    return omb.main(BENCH, body, argv)


if __name__ == "__main__":
    sys.exit(main())
