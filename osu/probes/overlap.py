"""Overlap of a nonblocking collective with computation (Iallreduce), toro_mpi vs Open MPI.

Run: python -m osu.probes overlap [--reps 5] [--sizes 8192,1048576] [--iters 50] [--alloc-mem]
Runs the measurement below under toro-mpirun and under mpiexec + mpi4py (tuned, as osu.compare
runs it) alternately, --reps times, a cache-line calibration before each pair, and prints per
size the medians of the three times and of the overlap.

The measurement alone (one job, CSV on rank 0):
  toro-mpirun -n 2 python -m osu.probes overlap --run
  mpiexec -n 2 python -m osu.probes overlap --run
Per size, medians over --iters rounds of: coll, `Iallreduce` (SUM, float64) started and waited at
once; comp, numpy work (no MPI call) for about coll; both, `Iallreduce` started, the same work,
then `Wait`; start and tail, the start call and the `Wait` of the `both` rounds alone (the
collective's own CPU work that cannot hide behind the work: posting and pushing, then copying
out and combining what arrived). overlap = (coll + comp - both) / min(coll, comp): 1 when the
collective finished entirely behind the work (both = max), 0 when the times add up (both =
coll + comp). Issue #19 asks that a rank computing for T between start and wait finish in about
max(T, collective). Also, for comparison, `Ibarrier` started and waited at once, and the
blocking `Allreduce` and `Barrier`. Runs at any rank count with --run (e.g. -n 4).
CSV: `overlap,bytes,coll_us,comp_us,both_us,start_us,tail_us`, `allreduce,bytes,us`,
`ibarrier,0,us`, `barrier,0,us`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from . import parser
from ._pair import launch_pair
from .calibrate import measure


def _work(seconds: float, scratch: np.ndarray) -> None:
    """Compute (numpy, no MPI call) until `seconds` have passed."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        np.sin(scratch, out=scratch)


def measure_job(sizes: list[int], iters: int, alloc_mem: bool = False) -> None:
    """The in-job measurement: CSV on rank 0, results checked on every rank. alloc_mem: both
    buffers from MPI.Alloc_mem (toro_mpi's shared heap: a large send then goes as a descriptor
    the peer copies from once, instead of through the ring)."""
    from ..backend import load_mpi

    MPI = load_mpi()  # noqa: N806
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    scratch = np.ones(2048)
    for nbytes in sizes:
        if alloc_mem:
            send = np.frombuffer(MPI.Alloc_mem(nbytes), np.float64)
            recv = np.frombuffer(MPI.Alloc_mem(nbytes), np.float64)
            send[:] = rank + 1.0
        else:
            send = np.full(nbytes // 8, rank + 1.0)
            recv = np.empty_like(send)
        expect = size * (size + 1) / 2
        coll, comp, both, start, tail = [], [], [], [], []
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
            t1 = time.perf_counter()
            _work(target, scratch)
            t2 = time.perf_counter()
            req.Wait()
            t3 = time.perf_counter()
            both.append(t3 - t0)
            start.append(t1 - t0)
            tail.append(t3 - t2)
            assert (recv == expect).all(), "Iallreduce result wrong"
        # Every rank's medians: the slowest rank's figures count.
        mine = np.array([statistics.median(x) for x in (coll, comp, both, start, tail)])
        worst = np.empty_like(mine)
        comm.Allreduce(mine, worst, MPI.MAX)
        if rank == 0:
            print("overlap," + str(nbytes) + "".join(f",{x * 1e6:.1f}" for x in worst), flush=True)
        _timed_line(comm, MPI, f"allreduce,{nbytes}", iters, lambda s=send, r=recv: comm.Allreduce(s, r, MPI.SUM))
    _timed_line(comm, MPI, "ibarrier,0", iters, lambda: comm.Ibarrier().Wait())
    _timed_line(comm, MPI, "barrier,0", iters, comm.Barrier)


def _timed_line(comm: Any, MPI: Any, label: str, iters: int, call: Callable[[], Any]) -> None:  # noqa: N803
    """Time call() after a Barrier, iters times (3 more to warm up); rank 0 prints
    `label,us` with the slowest rank's median."""
    times = []
    for i in range(iters + 3):
        comm.Barrier()
        t0 = time.perf_counter()
        call()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    mine = np.array([statistics.median(times)])
    worst = np.empty_like(mine)
    comm.Allreduce(mine, worst, MPI.MAX)
    if comm.Get_rank() == 0:
        print(f"{label},{worst[0] * 1e6:.1f}", flush=True)


def _median_of(runs: list[dict[int, tuple[float, ...]]], key: int) -> str:
    """The median over runs of a one-figure row, formatted ("-" if no run had it)."""
    got = [r[key][0] for r in runs if key in r]
    return f"{statistics.median(got):.1f}" if got else "-"


def overlap(coll: float, comp: float, both: float) -> float:
    """The share of the shorter of collective and work hidden behind the other (1: all, 0: none)."""
    return (coll + comp - both) / min(coll, comp)


def run_once(backend: str, args: argparse.Namespace) -> dict[int, tuple[float, ...]]:
    """One launch of the measurement: size -> (coll, comp, both, start, tail) in us; -1 ->
    (Ibarrier + Wait,), -2 -> (Barrier,), -3 - size -> (blocking Allreduce,)."""
    bench = [sys.executable, "-m", "osu.probes", "overlap", "--run", "--sizes", args.sizes, "--iters", str(args.iters)]
    if args.alloc_mem:
        bench.append("--alloc-mem")
    stdout = launch_pair(backend, bench, args.timeout)
    rows = {}
    for line in stdout.splitlines():
        parts = line.split(",")
        if len(parts) == 7 and parts[0] == "overlap":
            rows[int(parts[1])] = tuple(float(x) for x in parts[2:])
        elif len(parts) == 3 and parts[0] == "ibarrier":
            rows[-1] = (float(parts[2]),)
        elif len(parts) == 3 and parts[0] == "barrier":
            rows[-2] = (float(parts[2]),)
        elif len(parts) == 3 and parts[0] == "allreduce":
            rows[-3 - int(parts[1])] = (float(parts[2]),)
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
    ap.add_argument("--alloc-mem", action="store_true", help="buffers from MPI.Alloc_mem (shared heap)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.run:
        measure_job(sizes, args.iters, args.alloc_mem)
        return 0
    runs: dict[str, list[dict[int, tuple[float, ...]]]] = {"toro": [], "mpi4py": []}
    calib = []
    for rep in range(args.reps):
        calib.append(measure(rounds=100_000))
        for backend in ("toro", "mpi4py") if rep % 2 == 0 else ("mpi4py", "toro"):
            runs[backend].append(run_once(backend, args))
        print(f"rep {rep + 1}/{args.reps}: calibration {calib[-1]:.0f} ns", file=sys.stderr, flush=True)
    print(f"calibration (cache-line one-way, per rep): {', '.join(f'{c:.0f}' for c in calib)} ns")
    print("| bytes | MPI | Iallreduce + Wait us | work us | start, work, Wait us | start us | Wait us | overlap |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for nbytes in sizes:
        for backend, label in (("toro", "toro_mpi"), ("mpi4py", "mpi4py + Open MPI")):
            rows = [r[nbytes] for r in runs[backend]]
            c, w, b, s0, t0 = (statistics.median(x[i] for x in rows) for i in range(5))
            ov = statistics.median(overlap(*x[:3]) for x in rows)
            print(f"| {nbytes} | {label} | {c:.1f} | {w:.1f} | {b:.1f} | {s0:.1f} | {t0:.1f} | {ov:.2f} |")
    print("\nThe blocking calls, for comparison (us, medians):")
    for backend, label in (("toro", "toro_mpi"), ("mpi4py", "mpi4py + Open MPI")):
        blocking = ", ".join(f"{n} B {_median_of(runs[backend], -3 - n)}" for n in sizes)
        print(f"{label}: Ibarrier + Wait {_median_of(runs[backend], -1)}, Barrier "
              f"{_median_of(runs[backend], -2)}; Allreduce {blocking}")
    ratios = [t[n][0] / m[n][0] for n in sizes for t, m in zip(runs["toro"], runs["mpi4py"], strict=True)]
    print(f"Iallreduce + Wait, toro_mpi / reference, median of paired ratios over sizes and reps: "
          f"{statistics.median(ratios):.2f}")
    return 0
