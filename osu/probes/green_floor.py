"""The floor under a hosted barrier: K bare greenlets meeting in a local barrier, nothing else.

Run: python -m osu.probes green_floor [--ranks 4] [--iters 100000] [--reps 3]

No MPI, no bus, no scheduler, no per-rank state: each greenlet runs osu_barrier's timing loop
(two Wtime calls around the call) and the barrier is a counter plus a direct switch to the next
parked greenlet. One process hosting K green-thread ranks cannot do a barrier faster than this on
the same machine, whatever toro_mpi does, so it bounds how far green-thread ranks can beat
another MPI: with 8 ranks on 2 cores each process runs 4 of these rank steps per barrier, plus
the exchange between the processes.

Prints, per repetition, us per barrier of the K greenlets and per rank step (barrier / K), and
next to it the same loop as toro_mpi runs it (`toro-mpirun -n K --ranks-per-core K python -m
osu.osu_barrier`) for comparison when --with-toro is given.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import deque

import greenlet

from . import parser


def bare_barrier_us(ranks: int, iters: int) -> float:
    """us per barrier of `ranks` greenlets running osu_barrier's loop around a bare local barrier."""
    ready: deque[greenlet.greenlet] = deque()
    parked: list[greenlet.greenlet] = []
    arrived = [0]
    wtime = time.perf_counter

    def barrier() -> None:
        arrived[0] += 1
        if arrived[0] < ranks:
            parked.append(greenlet.getcurrent())
            ready.popleft().switch()
            return
        arrived[0] = 0
        ready.extend(parked)
        parked.clear()

    def body() -> float:
        timer = 0.0
        for _ in range(iters):
            t0 = wtime()
            barrier()
            t1 = wtime()
            timer += t1 - t0
        return timer

    glets = [greenlet.greenlet(body) for _ in range(ranks)]
    ready.extend(glets[1:])
    start = time.perf_counter()
    glets[0].switch()
    # The first greenlet's loop ends first; the others are parked in their last barrier.
    return (time.perf_counter() - start) / iters * 1e6


def toro_barrier_us(ranks: int, iters: int) -> float:
    """osu_barrier's average under toro_mpi with all `ranks` in one process (us)."""
    cmd = ["toro-mpirun", "-n", str(ranks), "--ranks-per-core", str(ranks), sys.executable, "-m",
           "osu.osu_barrier", "-i", str(iters), "-x", "200"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rows = [line for line in out.splitlines() if line.strip() and not line.startswith("#")]
    return float(rows[-1].split()[0])


def main(argv: list[str] | None = None) -> None:
    """Print the bare floor (and toro_mpi's figure with --with-toro), one line per repetition."""
    ap = parser("green_floor", __doc__)
    ap.add_argument("--ranks", type=int, default=4)
    ap.add_argument("--iters", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--with-toro", action="store_true", help="also run osu_barrier under toro_mpi, in turn")
    args = ap.parse_args(argv)
    if args.ranks < 2:
        raise SystemExit("--ranks must be at least 2")
    floors, toros = [], []
    for rep in range(args.reps):
        floor = bare_barrier_us(args.ranks, args.iters)
        floors.append(floor)
        line = f"rep {rep}: bare {floor:.2f} us per barrier, {floor / args.ranks:.2f} us per rank step"
        if args.with_toro:
            toro = toro_barrier_us(args.ranks, args.iters // 5)
            toros.append(toro)
            line += f"; toro_mpi {toro:.2f} us ({toro / floor:.2f}x the floor)"
        print(line, flush=True)
    summary = f"median: bare {statistics.median(floors):.2f} us"
    if toros:
        summary += f", toro_mpi {statistics.median(toros):.2f} us"
    print(summary)
