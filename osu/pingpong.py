"""Ping-pong latency between ranks 0 and 1, 0 B .. 4 MiB (OSU osu_latency's loop and defaults).

Run: toro-mpirun -n 2 python -m osu.pingpong [--max BYTES] [--csv]
 or: mpiexec -n 2 python -m osu.pingpong ...
Prints one-way latency in microseconds: the round-trip time of `iterations` exchanges / 2.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from .backend import backend_name, load_mpi

SMALL_ITERS, SMALL_SKIP = 10000, 100
LARGE_ITERS, LARGE_SKIP = 1000, 10
LARGE = 8192


def sizes(max_size: int) -> list[int]:
    """0, 1, 2, 4, ... max_size."""
    out = [0]
    s = 1
    while s <= max_size:
        out.append(s)
        s *= 2
    return out


def timed_loop(MPI, comm, iters: int, skip: int, step) -> float:  # noqa: N803 - the MPI module
    """After a Barrier, run step() `skip` untimed times, then `iters` timed ones; seconds taken."""
    comm.Barrier()
    t0 = 0.0
    for i in range(iters + skip):
        if i == skip:
            t0 = MPI.Wtime()
        step()
    return MPI.Wtime() - t0


def one_way_us(MPI, comm, sbuf, rbuf, iters: int, skip: int) -> float:  # noqa: N803 - the MPI module
    """Ping-pong between ranks 0 and 1 (others idle): one-way latency in us over `iters` round
    trips after `skip` untimed ones."""
    rank = comm.Get_rank()

    def step() -> None:
        if rank == 0:
            comm.Send(sbuf, 1, 1)
            comm.Recv(rbuf, 1, 1)
        elif rank == 1:
            comm.Recv(rbuf, 0, 1)
            comm.Send(sbuf, 0, 1)

    return timed_loop(MPI, comm, iters, skip, step) * 1e6 / (2 * iters)


def main(argv: list[str] | None = None) -> int:
    """Run the ping-pong and print a table (or CSV) on rank 0."""
    ap = argparse.ArgumentParser(prog="osu.pingpong", description=__doc__)
    ap.add_argument("--max", type=int, default=4 << 20, help="largest message in bytes")
    ap.add_argument("--iter-scale", type=float, default=1.0, help="multiply the iteration counts")
    ap.add_argument("--csv", action="store_true", help="print size,latency_us rows")
    args = ap.parse_args(argv)
    MPI = load_mpi()
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    if comm.Get_size() < 2:
        print("osu.pingpong needs at least 2 ranks", file=sys.stderr)
        return 2
    if rank == 0 and not args.csv:
        print(f"# ping-pong one-way latency, backend {backend_name()}")
        print(f"# {'Size':<10}{'Latency(us)':>16}")
    for size in sizes(args.max):
        iters, skip = (SMALL_ITERS, SMALL_SKIP) if size <= LARGE else (LARGE_ITERS, LARGE_SKIP)
        iters = max(10, int(iters * args.iter_scale))
        sbuf = np.full(size, 1, np.uint8)
        rbuf = np.zeros(size, np.uint8)
        latency = one_way_us(MPI, comm, sbuf, rbuf, iters, skip)
        if rank == 0:
            print(f"{size},{latency:.3f}" if args.csv else f"{size:<10d}{latency:>18.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
