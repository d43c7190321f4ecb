"""Halo exchange of one column of a 4096 x 4096 float64 array with a vector datatype, toro_mpi vs Open MPI.

Run: python -m osu.probes halo [--reps 7] [--n 4096] [--iters 200]
Runs the measurement below under toro-mpirun and under mpiexec + mpi4py (tuned, as osu.compare
runs it) alternately, --reps times, a cache-line calibration before each pair, and prints the
medians (min-max), the ratio of the medians and the median of the per-pair ratios.

The measurement alone (one job, CSV `halo,n,us` on rank 0):
  toro-mpirun -n 2 python -m osu.probes halo --run
  mpiexec -n 2 python -m osu.probes halo --run
Each iteration both ranks call Sendrecv with `[a, 1, column]`, column =
DOUBLE.Create_vector(n, 1, n): rank 0 sends its last column and receives into its first, rank 1
the other way round (the usual 1-D decomposition's ghost-cell exchange). The column's elements
are one row (32 KiB at n = 4096) apart, so the pack and unpack touch one cache line per element.
The time is per exchange (both directions), in us, after a barrier and 10 untimed exchanges.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

from . import parser
from ._pair import launch_pair
from .calibrate import measure


def measure_job(n: int, iters: int) -> None:
    """The in-job measurement: CSV on rank 0, data checked on both ranks."""
    from ..backend import load_mpi

    MPI = load_mpi()  # noqa: N806
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    other = 1 - rank
    a = np.zeros((n, n))
    a[:, n - 1 if rank == 0 else 0] = np.arange(n) + 1000.0 * rank
    column = MPI.DOUBLE.Create_vector(n, 1, n).Commit()
    flat = a.reshape(-1)
    # rank 0: send column n-1, receive into column 0; rank 1: send column 0, receive into n-1.
    send = [flat[n - 1:], 1, column] if rank == 0 else [flat, 1, column]
    recv = [flat, 1, column] if rank == 0 else [flat[n - 1:], 1, column]
    for _ in range(10):
        comm.Sendrecv(send, other, 7, recv, other, 7)
    comm.Barrier()
    t0 = MPI.Wtime()
    for _ in range(iters):
        comm.Sendrecv(send, other, 7, recv, other, 7)
    us = (MPI.Wtime() - t0) * 1e6 / iters
    got = a[:, 0] if rank == 0 else a[:, n - 1]
    assert (got == np.arange(n) + 1000.0 * other).all(), "halo data corrupted"
    column.Free()
    if rank == 0:
        print(f"halo,{n},{us:.3f}", flush=True)


def run_once(backend: str, args: argparse.Namespace) -> float:
    """One launch of the measurement; us per exchange."""
    bench = [sys.executable, "-m", "osu.probes", "halo", "--run", "--n", str(args.n), "--iters", str(args.iters)]
    stdout = launch_pair(backend, bench, args.timeout)
    for line in stdout.splitlines():
        parts = line.split(",")
        if len(parts) == 3 and parts[0] == "halo":
            return float(parts[2])
    raise SystemExit(f"{backend}: no result line in:\n{stdout}")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison (or, with --run, the measurement inside a job)."""
    ap = parser("halo", __doc__)
    ap.add_argument("--run", action="store_true", help="measure inside this job (under a launcher)")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--n", type=int, default=4096, help="the array is n x n float64")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args(argv)
    if args.run:
        measure_job(args.n, args.iters)
        return 0
    toro, ref, calib = [], [], []
    for rep in range(args.reps):
        calib.append(measure(rounds=100_000))
        for backend in ("toro", "mpi4py") if rep % 2 == 0 else ("mpi4py", "toro"):
            (toro if backend == "toro" else ref).append(run_once(backend, args))
        print(f"rep {rep + 1}/{args.reps}: calibration {calib[-1]:.0f} ns, toro {toro[-1]:.1f} us, "
              f"Open MPI {ref[-1]:.1f} us", file=sys.stderr, flush=True)
    ratios = [t / r for t, r in zip(toro, ref, strict=True)]
    print(f"calibration (cache-line one-way, per rep): {', '.join(f'{c:.0f}' for c in calib)} ns")
    print(f"halo exchange of one column, {args.n} x {args.n} float64, us per Sendrecv, {args.reps} runs")
    print(f"toro_mpi: {statistics.median(toro):.1f} ({min(toro):.1f}-{max(toro):.1f})")
    print(f"mpi4py + Open MPI: {statistics.median(ref):.1f} ({min(ref):.1f}-{max(ref):.1f})")
    print(f"ratio of medians: {statistics.median(toro) / statistics.median(ref):.2f}, "
          f"paired: {statistics.median(ratios):.2f} (max {max(ratios):.2f})")
    return 0
