"""OSU MPI Multi Latency Test (OMB 7.4 osu_multi_lat): ranks i and i + n/2 ping-pong at the same
time, every pair after a barrier; rank 0's one-way latency is reported.

Run: toro-mpirun -n 4 --oversubscribe python -m osu.osu_multi_lat [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-c]
 or: mpiexec -n 4 python -m osu.osu_multi_lat ...
"""

from __future__ import annotations

import sys

import numpy as np

from . import omb

BENCH = omb.Bench("osu_multi_lat", "OSU MPI Multi Latency Test", omb.LATENCY)


def body(ctx: omb.Ctx) -> int:
    """Each iteration: barrier, then the first half sends and waits for its partner's echo."""
    comm, opts, MPI, rank = ctx.comm, ctx.opts, ctx.MPI, ctx.rank
    pairs = ctx.nprocs // 2
    sender = rank < pairs
    partner = rank + pairs if sender else rank - pairs
    sbuf = np.zeros(opts.max_size, np.uint8)
    rbuf = np.zeros(opts.max_size, np.uint8)
    mine, total_err = np.zeros(1, np.int32), np.zeros(1, np.int32)
    errors = 0
    for size in omb.sizes(opts):
        ctx.last_size = size
        iters, skip = opts.loops(size)
        sbuf[:size] = ord("a")
        rbuf[:size] = ord("b")
        s, r = ctx.chars(sbuf, size), ctx.chars(rbuf, size)
        comm.Barrier()
        total = 0.0
        for i in range(iters + skip):
            if opts.validate:
                sbuf[:size] = omb.pattern(size, size, i, rank)
                rbuf[:size] = 0
            for j in range(opts.warmup_validation + 1):
                comm.Barrier()
                if sender:
                    timed = i >= skip and j == opts.warmup_validation
                    if timed:
                        t0 = MPI.Wtime()
                    comm.Send(s, partner, 1)
                    comm.Recv(r, partner, 1)
                    if timed:
                        total += MPI.Wtime() - t0
                else:
                    comm.Recv(r, partner, 1)
                    comm.Send(s, partner, 1)
            if opts.validate:
                mine[0] = int(not np.array_equal(rbuf[:size], omb.pattern(size, size, i, partner)))
                comm.Reduce([mine, MPI.INT], [total_err, MPI.INT], op=MPI.SUM, root=0)
                errors += int(total_err[0]) if rank == 0 else 0
        errors = omb.close_size(ctx, size, total * 1e6 / (2.0 * iters), errors)
        if errors:
            break
    return errors


def main(argv: list[str] | None = None) -> int:
    """Run osu_multi_lat; returns the exit status."""
    return omb.main(BENCH, body, argv, even=True)


if __name__ == "__main__":
    sys.exit(main())
