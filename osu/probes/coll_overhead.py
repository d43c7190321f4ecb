"""Where a small collective's time goes, measured in one process (no peer, no bus traffic).

Run: python -m osu.probes coll_overhead [--iters 200000]

- "call": the whole MPI call on a one-rank world (the hot path: argument checks, plan lookup, one
  jitted interpreter call that runs the program's copy/reduce rows);
- "entry": the jitted interpreter call alone through its compiled entry point (numba unboxing four
  arrays and walking the plan);
- "reduce 1 MiB": the jitted SUM over 131072 float64 against a plain copy of the same bytes.
The rest of a collective's latency on n ranks is ring traffic: see osu.probes ring_floor for one message.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from . import parser


def best_ns(fn: Callable[[], object], iters: int, reps: int = 5) -> float:
    """Best-of-reps mean time per call in ns."""
    fn()
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(iters):
            fn()
        best = min(best, (time.perf_counter() - start) / iters * 1e9)
    return best


def main(argv: list[str] | None = None) -> None:
    """Print the per-call costs of the collective layer."""
    ap = parser("coll_overhead", __doc__)
    ap.add_argument("--iters", type=int, default=200000)
    args = ap.parse_args(argv)
    from toro_mpi import MPI
    from toro_mpi.coll import interpreter as I
    from toro_mpi.coll.engine import plan_words
    from toro_mpi.coll.schedules import Program

    comm = MPI.COMM_SELF
    f8, g8 = np.ones(1), np.zeros(1)
    i4, o4 = np.ones(1, np.int32), np.zeros(1, np.int32)
    rows = [
        ("Barrier", lambda: comm.Barrier()),
        ("Bcast 4 B", lambda: comm.Bcast(i4, 0)),
        ("Reduce 4 B", lambda: comm.Reduce(i4, o4, MPI.SUM, 0)),
        ("Allreduce 8 B", lambda: comm.Allreduce(f8, g8, MPI.SUM)),
    ]
    print(f"{'what':24s} {'ns/call':>9s}")
    for name, fn in rows:
        print(f"{name + ' call':24s} {best_ns(fn, args.iters):9.0f}")
    prog = Program()
    prog.copy(0, 0, 1, 0, 1)
    words = plan_words(prog.array(), 1, [0], [0], 0, 0, 0, 0)
    words[I.P_WSTART] = -1
    entry = I.entry_point(f8.dtype)
    tmp = np.empty(0)
    print(f"{'interpreter entry':24s} {best_ns(lambda: entry(words, f8, g8, tmp), args.iters):9.0f}")
    big_a, big_b = np.random.default_rng(0).random(131072), np.ones(131072)
    prog = Program()
    prog.reduce((0, 0), (1, 0), (1, 0), big_a.size)
    words = plan_words(prog.array(), 1, [0], [0], 0, 0, 1, 0)
    words[I.P_WSTART] = -1
    reps = max(10, args.iters // 1000)
    reduce_ns = best_ns(lambda: entry(words, big_a, big_b, tmp), reps)
    copy_ns = best_ns(lambda: np.copyto(big_b, big_a), reps)
    mib = big_a.nbytes / 2**20
    print(f"{'reduce 1 MiB (SUM f8)':24s} {reduce_ns:9.0f}   {mib / (reduce_ns * 1e-9) / 1024:.1f} GiB/s")
    print(f"{'copy 1 MiB (numpy)':24s} {copy_ns:9.0f}   {mib / (copy_ns * 1e-9) / 1024:.1f} GiB/s")
