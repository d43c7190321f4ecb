"""OSU MPI Bandwidth Test (OMB 7.4 osu_bw): rank 0 streams a window of messages to rank 1, which
acknowledges each window with 4 bytes; bandwidth in MB/s (10^6 bytes per second).

Run: toro-mpirun -n 2 python -m osu.osu_bw [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-W WINDOW] [-c]
 or: mpiexec -n 2 python -m osu.osu_bw ...
"""

from __future__ import annotations

import sys

import numpy as np

from . import omb

BENCH = omb.Bench("osu_bw", "OSU MPI Bandwidth Test", omb.BANDWIDTH)


def body(ctx: omb.Ctx) -> int:
    """Time `window` Isends + Waitall + the 4-byte acknowledgement per iteration on rank 0."""
    comm, opts, MPI, rank = ctx.comm, ctx.opts, ctx.MPI, ctx.rank
    window = opts.window
    sbuf = np.zeros(max(opts.max_size, 4), np.uint8)
    rbuf = np.zeros(max(opts.max_size, 4), np.uint8)
    ack_s, ack_r = ctx.chars(sbuf, 4), ctx.chars(rbuf, 4)
    one = np.zeros(1, np.int32)
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
                sbuf[:size] = omb.pattern(size, size, i, 0)
                rbuf[:size] = 0
                comm.Barrier()
            if rank == 0:
                for k in range(opts.warmup_validation + 1):
                    timed = i >= skip and k == opts.warmup_validation
                    if timed:
                        t0 = MPI.Wtime()
                    reqs = [comm.Isend(s, 1, 100) for _ in range(window)]
                    MPI.Request.Waitall(reqs)
                    comm.Recv(ack_r, 1, 101)
                    if timed:
                        total += MPI.Wtime() - t0
                if opts.validate:
                    comm.Recv([one, MPI.INT], 1, 102)
                    errors += int(one[0])
            else:
                for _ in range(opts.warmup_validation + 1):
                    reqs = [comm.Irecv(r, 0, 100) for _ in range(window)]
                    MPI.Request.Waitall(reqs)
                    comm.Send(ack_s, 0, 101)
                if opts.validate:
                    one[0] = int(not np.array_equal(rbuf[:size], omb.pattern(size, size, i, 0)))
                    comm.Send([one, MPI.INT], 0, 102)
        errors = omb.close_size(ctx, size, size / 1e6 * iters * window / total if total else 0.0, errors)
        if errors:
            break
    return errors


def main(argv: list[str] | None = None) -> int:
    """Run osu_bw; returns the exit status."""
    return omb.main(BENCH, body, argv, exact_two=True)


if __name__ == "__main__":
    sys.exit(main())
