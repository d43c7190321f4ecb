"""Overlap of a nonblocking collective with computation (Iallreduce), toro_mpi vs Open MPI.

Run: python -m osu.probes overlap [--reps 5] [--sizes 8192,1048576] [--iters 50]
Runs the measurement below under toro-mpirun and under mpiexec + mpi4py (tuned, as osu.compare
runs it) alternately, --reps times, a cache-line calibration before each pair, and prints per
size the medians of the three times and of the overlap.

The measurement alone (one job, CSV `overlap,bytes,coll_us,comp_us,both_us` on rank 0):
  toro-mpirun -n 2 python -m osu.probes overlap --run
  mpiexec -n 2 python -m osu.probes overlap --run
Per size, medians over --iters rounds of: coll, `Iallreduce` (SUM, float64) started and waited at
once; comp, numpy work (no MPI call) for about coll; both, `Iallreduce` started, the same work,
then `Wait`. overlap = (coll + comp - both) / min(coll, comp): 1 when the collective finished
entirely behind the work (both = max), 0 when the times add up (both = coll + comp). Issue #19
asks that a rank computing for T between start and wait finish in about max(T, collective).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from . import parser
from ._pair import launch_pair
from .calibrate import measure


def _work(seconds: float, scratch: np.ndarray) -> None:
    """Compute (numpy, no MPI call) until `seconds` have passed."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        np.sin(scratch, out=scratch)


def measure_job(sizes: list[int], iters: int) -> None:
    """The in-job measurement: CSV on rank 0, results checked on every rank."""
    from ..backend import load_mpi

    MPI = load_mpi()  # noqa: N806
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    scratch = np.ones(2048)
    for nbytes in sizes:
        send = np.full(nbytes // 8, rank + 1.0)
        recv = np.empty_like(send)
        expect = size * (size + 1) / 2
        coll, comp, both = [], [], []
        for _ in range(3):  # warm-up
            comm.Iallreduce(send, recv, MPI.SUM).Wait()
        for _ in range(iters):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Iallreduce(send, recv, MPI.SUM).Wait()
            coll.append(time.perf_counter() - t0)
        target = statistics.median(coll)
        for _ in range(iters):
            comm.Barrier()
            t0 = time.perf_counter()
            _work(target, scratch)
            comp.append(time.perf_counter() - t0)
            comm.Barrier()
            recv[:] = 0
            t0 = time.perf_counter()
            req = comm.Iallreduce(send, recv, MPI.SUM)
            _work(target, scratch)
            req.Wait()
            both.append(time.perf_counter() - t0)
            assert (recv == expect).all(), "Iallreduce result wrong"
        # Every rank's medians: the slowest rank's figures count.
        mine = np.array([statistics.median(coll), statistics.median(comp), statistics.median(both)])
        worst = np.empty_like(mine)
        comm.Allreduce(mine, worst, MPI.MAX)
        if rank == 0:
            c, w, b = (x * 1e6 for x in worst)
            print(f"overlap,{nbytes},{c:.1f},{w:.1f},{b:.1f}", flush=True)


def overlap(coll: float, comp: float, both: float) -> float:
    """The share of the shorter of collective and work hidden behind the other (1: all, 0: none)."""
    return (coll + comp - both) / min(coll, comp)


def run_once(backend: str, args: argparse.Namespace) -> dict[int, tuple[float, float, float]]:
    """One launch of the measurement: size -> (coll, comp, both) in us."""
    bench = [sys.executable, "-m", "osu.probes", "overlap", "--run", "--sizes", args.sizes, "--iters", str(args.iters)]
    stdout = launch_pair(backend, bench, args.timeout)
    rows = {}
    for line in stdout.splitlines():
        parts = line.split(",")
        if len(parts) == 5 and parts[0] == "overlap":
            rows[int(parts[1])] = (float(parts[2]), float(parts[3]), float(parts[4]))
    if not rows:
        raise SystemExit(f"{backend}: no result line in:\n{stdout}")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the comparison (or, with --run, the measurement inside a job)."""
    ap = parser("overlap", __doc__)
    ap.add_argument("--run", action="store_true", help="measure inside this job (under a launcher)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sizes", default="8192,1048576", help="message sizes in bytes, comma-separated")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.run:
        measure_job(sizes, args.iters)
        return 0
    runs: dict[str, list[dict[int, tuple[float, float, float]]]] = {"toro": [], "mpi4py": []}
    calib = []
    for rep in range(args.reps):
        calib.append(measure(rounds=100_000))
        for backend in ("toro", "mpi4py") if rep % 2 == 0 else ("mpi4py", "toro"):
            runs[backend].append(run_once(backend, args))
        print(f"rep {rep + 1}/{args.reps}: calibration {calib[-1]:.0f} ns", file=sys.stderr, flush=True)
    print(f"calibration (cache-line one-way, per rep): {', '.join(f'{c:.0f}' for c in calib)} ns")
    print("| bytes | MPI | Iallreduce + Wait us | work us | start, work, Wait us | overlap |")
    print("|---:|---|---:|---:|---:|---:|")
    for nbytes in sizes:
        for backend, label in (("toro", "toro_mpi"), ("mpi4py", "mpi4py + Open MPI")):
            rows = [r[nbytes] for r in runs[backend]]
            c, w, b = (statistics.median(x[i] for x in rows) for i in range(3))
            ov = statistics.median(overlap(*x) for x in rows)
            print(f"| {nbytes} | {label} | {c:.1f} | {w:.1f} | {b:.1f} | {ov:.2f} |")
    return 0
