"""OSU MPI Bi-Directional Bandwidth Test (OMB 7.4 osu_bibw): both ranks post a window of receives
and a window of sends to each other; bandwidth in MB/s counts both directions.

Run: toro-mpirun -n 2 python -m osu.osu_bibw [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-W WINDOW] [-c]
 or: mpiexec -n 2 python -m osu.osu_bibw ...
"""

from __future__ import annotations

import sys

import numpy as np

from . import omb

BENCH = omb.Bench("osu_bibw", "OSU MPI Bi-Directional Bandwidth Test", omb.BANDWIDTH)


def body(ctx: omb.Ctx) -> int:
    """Time window Irecvs + window Isends + Waitall on rank 0; 2 * size * window bytes moved."""
    comm, opts, MPI, rank = ctx.comm, ctx.opts, ctx.MPI, ctx.rank
    window, peer = opts.window, 1 - ctx.rank
    # Rank 0 receives on tag 10 and sends on 100, rank 1 the other way round, as in OMB.
    send_tag, recv_tag = (100, 10) if rank == 0 else (10, 100)
    sbuf = np.zeros(opts.max_size, np.uint8)
    rbuf = np.zeros(opts.max_size, np.uint8)
    one = np.zeros(1, np.int32)
    errors = 0
    for size in omb.sizes(opts):
        ctx.last_size = size
        iters, skip = opts.loops(size)
        sbuf[:size] = ord("a")
        rbuf[:size] = ord("b")
        s, r = ctx.chars(sbuf, size), ctx.chars(rbuf, size)
        comm.Barrier()
        total, local = 0.0, 0
        for i in range(iters + skip):
            if opts.validate:
                sbuf[:size] = omb.pattern(size, size, i, rank)
                rbuf[:size] = 0
                comm.Barrier()
            for k in range(opts.warmup_validation + 1):
                timed = rank == 0 and i >= skip and k == opts.warmup_validation
                if timed:
                    t0 = MPI.Wtime()
                rreqs = [comm.Irecv(r, peer, recv_tag) for _ in range(window)]
                sreqs = [comm.Isend(s, peer, send_tag) for _ in range(window)]
                if rank == 0:
                    MPI.Request.Waitall(sreqs)
                    MPI.Request.Waitall(rreqs)
                else:
                    MPI.Request.Waitall(rreqs)
                    MPI.Request.Waitall(sreqs)
                if timed:
                    total += MPI.Wtime() - t0
            if opts.validate:
                local += int(not np.array_equal(rbuf[:size], omb.pattern(size, size, i, peer)))
        if opts.validate:
            # Both ranks validate; rank 0 reports the sum (OMB shows only its own count).
            one[0] = local
            if rank == 1:
                comm.Send([one, MPI.INT], 0, 102)
            else:
                comm.Recv([one, MPI.INT], 1, 102)
                errors = local + int(one[0])
        errors = omb.close_size(ctx, size, size / 1e6 * iters * window * 2 / total if total else 0.0, errors)
        if errors:
            break
    return errors


def main(argv: list[str] | None = None) -> int:
    """Run osu_bibw; returns the exit status."""
    return omb.main(BENCH, body, argv, exact_two=True)


if __name__ == "__main__":
    sys.exit(main())
