"""How soon a rank that has been idle gets a message, and what its idling costs in CPU.

Run: python -m osu.probes wake [--reps 3] [--gaps 0,1000,5000,20000,100000] [--samples 40]
Compares, side by side in one run: toro_mpi with the doorbell (an idle process sleeps on a futex
its peers ring), toro_mpi without it (`sched.doorbell = false`: it sleeps in doubling steps up to
`sched.sleep_max_us`), and mpi4py + OpenMPI (tuned, as osu.compare runs it).

The measurement alone (2 ranks, CSV `gap_us,median_us,p90_us,max_us,cpu` on rank 1):
  toro-mpirun -n 2 python -m osu.probes wake --run
  mpiexec -n 2 python -m osu.probes wake --run
Rank 0 waits `gap` microseconds (busily, so that its own wake-up is not measured), then sends
its clock (CLOCK_MONOTONIC, the same in every process); rank 1, blocked in Recv all that time,
reads the clock the moment Recv returns and answers. Latency = the two readings apart. `cpu` =
rank 1's CPU time over wall time during that gap's samples: 1.0 means it spun the whole time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

from . import parser
from ._pair import launch_pair

BACKENDS = ("doorbell", "steps", "mpi4py")


def measure_job(gaps_us: list[int], samples: int) -> None:
    """The in-job measurement: per gap, `samples` wake-ups; CSV on rank 1."""
    from ..backend import load_mpi

    MPI = load_mpi()  # noqa: N806
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    stamp = np.zeros(1, np.int64)
    reply = np.zeros(1, np.int64)
    for gap in gaps_us:
        comm.Barrier()
        lat = []
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for _ in range(samples + 2):
            if rank == 0:
                # Wait busily: a sender that slept would measure its own wake-up as well.
                until = time.perf_counter_ns() + gap * 1000
                while time.perf_counter_ns() < until:
                    pass
                stamp[0] = time.perf_counter_ns()
                comm.Send(stamp, 1, 7)
                comm.Recv(reply, 1, 8)
            else:
                comm.Recv(stamp, 0, 7)
                lat.append((time.perf_counter_ns() - stamp[0]) / 1000)
                comm.Send(reply, 0, 8)
        if rank == 1:
            cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
            lat = sorted(lat[2:])  # the first two warm up
            p90 = lat[int(0.9 * (len(lat) - 1))]
            print(f"{gap},{statistics.median(lat):.2f},{p90:.2f},{lat[-1]:.2f},{cpu:.3f}", flush=True)


def run_once(backend: str, args: argparse.Namespace, steps_config: str) -> dict[int, tuple[float, ...]]:
    """One launch; gap -> (median, p90, max, cpu)."""
    bench = [sys.executable, "-m", "osu.probes", "wake", "--run", "--gaps", args.gaps, "--samples", str(args.samples)]
    flags = ("--config", steps_config) if backend == "steps" else ()
    stdout = launch_pair("mpi4py" if backend == "mpi4py" else "toro", bench, args.timeout, flags)
    out = {}
    for line in stdout.splitlines():
        parts = line.split(",")
        if len(parts) == 5:
            out[int(parts[0])] = tuple(float(p) for p in parts[1:])
    return out


def report(results: dict[str, list[dict[int, tuple[float, ...]]]]) -> None:
    """Markdown table: per gap, each backend's median wake latency, p90, max and CPU share."""
    reps = len(results[BACKENDS[0]])
    print(f"wake-up latency (us; medians over {reps} runs of each run's median / p90 / max) "
          "and the waiting rank's CPU share")
    print()
    head = " | ".join(f"{b} median | {b} p90 | {b} max | {b} cpu" for b in BACKENDS)
    print(f"| idle gap (us) | {head} |")
    print("|---:|" + "---:|" * (4 * len(BACKENDS)))
    for gap in sorted(results[BACKENDS[0]][0]):
        cells = []
        for b in BACKENDS:
            runs = [r[gap] for r in results[b]]
            med = [statistics.median(x[i] for x in runs) for i in range(4)]
            cells.append(f"{med[0]:.1f} | {med[1]:.1f} | {med[2]:.1f} | {med[3]:.2f}")
        print(f"| {gap} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison (or, with --run, the measurement inside a job)."""
    ap = parser("wake", __doc__)
    ap.add_argument("--run", action="store_true", help="measure inside this job (under a launcher)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--gaps", default="0,1000,5000,20000,100000", help="idle gaps in microseconds")
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args(argv)
    gaps = [int(g) for g in args.gaps.split(",")]
    if args.run:
        measure_job(gaps, args.samples)
        return 0
    results: dict[str, list[dict]] = {b: [] for b in BACKENDS}
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as cfg:
        cfg.write("[sched]\ndoorbell = false\n")
    try:
        for rep in range(args.reps):
            order = BACKENDS if rep % 2 == 0 else BACKENDS[::-1]
            for backend in order:
                results[backend].append(run_once(backend, args, cfg.name))
            print(f"rep {rep + 1}/{args.reps} done", file=sys.stderr, flush=True)
    finally:
        os.unlink(cfg.name)
    report(results)
    return 0
