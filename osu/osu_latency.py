"""OSU MPI Latency Test (OMB 7.4 osu_latency): ping-pong between ranks 0 and 1, one-way latency.

Run: toro-mpirun -n 2 python -m osu.osu_latency [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-c]
 or: mpiexec -n 2 python -m osu.osu_latency ...
"""

from __future__ import annotations

import sys

import numpy as np

from . import omb

BENCH = omb.Bench("osu_latency", "OSU MPI Latency Test", omb.LATENCY)


def body(ctx: omb.Ctx) -> int:
    """Rank 0 sends and waits for the echo; latency = total round-trip time / (2 * iterations)."""
    comm, opts, MPI, rank = ctx.comm, ctx.opts, ctx.MPI, ctx.rank
    peer = 1 - rank
    sbuf = np.zeros(opts.max_size, np.uint8)
    rbuf = np.zeros(opts.max_size, np.uint8)
    one = np.zeros(1, np.int32)
    errors = 0
    for size in omb.sizes(opts):
        ctx.last_size = size
        iters, skip = opts.loops(size)
        sbuf[:size] = ord("a")  # OMB's set_buffer_pt2pt: 'a' to send, 'b' to receive into
        rbuf[:size] = ord("b")
        s, r = ctx.chars(sbuf, size), ctx.chars(rbuf, size)
        comm.Barrier()
        total = 0.0
        for i in range(iters + skip):
            if opts.validate:
                sbuf[:size] = omb.pattern(size, size, i, rank)
                rbuf[:size] = 0
                comm.Barrier()
            if rank == 0:
                for j in range(opts.warmup_validation + 1):
                    timed = i >= skip and j == opts.warmup_validation
                    if timed:
                        t0 = MPI.Wtime()
                    comm.Send(s, 1, 1)
                    comm.Recv(r, 1, 1)
                    if timed:
                        total += MPI.Wtime() - t0
                if opts.validate:
                    comm.Recv([one, MPI.INT], 1, 2)
                    errors += int(one[0]) + int(not np.array_equal(rbuf[:size], omb.pattern(size, size, i, peer)))
            else:
                for _ in range(opts.warmup_validation + 1):
                    comm.Recv(r, 0, 1)
                    comm.Send(s, 0, 1)
                if opts.validate:
                    one[0] = int(not np.array_equal(rbuf[:size], omb.pattern(size, size, i, peer)))
                    comm.Send([one, MPI.INT], 0, 2)
        errors = omb.close_size(ctx, size, total * 1e6 / (2.0 * iters), errors)
        if errors:
            break
    return errors


def main(argv: list[str] | None = None) -> int:
    """Run osu_latency; returns the exit status."""
    return omb.main(BENCH, body, argv, exact_two=True)


if __name__ == "__main__":
    sys.exit(main())
