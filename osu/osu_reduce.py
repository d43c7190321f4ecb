"""OSU MPI Reduce Latency Test (OMB 7.4 osu_reduce): MPI_Reduce (MPI_SUM of MPI_CHAR) to rank 0,
latency averaged over the ranks (min and max with -f).

Run: toro-mpirun -n 4 --oversubscribe python -m osu.osu_reduce [-m [MIN:]MAX] [-i ITER] [-x WARMUP] [-f] [-c]
 or: mpiexec -n 4 python -m osu.osu_reduce ...
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from . import omb

BENCH = omb.Bench("osu_reduce", "OSU MPI Reduce Latency Test", omb.COLLECTIVE)


def contribution(ctx: omb.Ctx, size: int, i: int, rank: int) -> np.ndarray:
    """Rank's iteration-i data, kept small enough that the sum over all ranks fits a signed char.

    Overflow is avoided on purpose: Open MPI's vectorised MPI_SUM on 8-bit types saturates instead
    of wrapping (open-mpi/ompi#8045, closed wontfix), so wrapping sums would fail on the reference."""
    return omb.pattern(size, size, i, rank) % np.uint8(max(1, 127 // ctx.nprocs))


def summed(ctx: omb.Ctx, size: int, i: int) -> np.ndarray:
    """What every rank's iteration-i contribution adds up to."""
    acc = np.zeros(size, np.uint8)
    for r in range(ctx.nprocs):
        acc += contribution(ctx, size, i, r)
    return acc


def body(ctx: omb.Ctx) -> int:
    """Reduce size chars with MPI_SUM to rank 0; OMB's osu_reduce puts its barrier before the call."""
    MPI = ctx.MPI
    # Written like OMB's set_buffer (sendbuf 1, recvbuf 0), so every page is a page of its own.
    # Never written, np.zeros leaves the send buffer on the kernel's shared zero page: a
    # single-copy reference (Open MPI's CMA reads the leaf's buffer with process_vm_readv) then
    # reads one 4 KiB page, always in cache, for the whole message, while a copy through shared
    # memory moves real lines between the cores (1 MiB, this Intel host: reference 54 us from
    # the zero page, 190 us from written pages).
    sbuf = np.ones(ctx.opts.max_size, np.uint8)
    rbuf = np.full(ctx.opts.max_size, 0, np.uint8)  # np.full writes it (np.zeros would not)

    def setup(size: int) -> Callable[[], None]:
        s, r = ctx.chars(sbuf, size), ctx.chars(rbuf, size)
        return lambda: ctx.comm.Reduce(s, r, op=MPI.SUM, root=0)

    def fill(size: int, i: int) -> None:
        sbuf[:size] = contribution(ctx, size, i, ctx.rank)
        rbuf[:size] = 0

    def check(size: int, i: int) -> bool:
        return ctx.rank != 0 or np.array_equal(rbuf[:size], summed(ctx, size, i))

    return omb.collective(ctx, setup, fill, check, barrier_first=True)


def main(argv: list[str] | None = None) -> int:
    """Run osu_reduce; returns the exit status."""
    return omb.main(BENCH, body, argv, mem_per_rank=False)


if __name__ == "__main__":
    sys.exit(main())
