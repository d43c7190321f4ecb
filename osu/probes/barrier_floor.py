"""Where a 2-rank barrier's time goes: the bare signal exchange, the interpreter, the Python call.

Run: toro-mpirun -n 2 python -m osu.probes barrier_floor [--iters 300000] [--reps 3]

Per barrier, in us (rank 0's mean over --iters calls, each line one repetition):
- "signals": ring.tx_signal + spin on ring.rx_signal in a jitted loop (the bus alone);
- "run_at": the communicator's hot barrier plan through interpreter.run_at in a jitted loop
  (plus the interpreter's entry and bookkeeping);
- "Barrier": comm.Barrier() in a Python loop (plus the call from Python into numba).
Print the cache-line calibration next to it (python -m osu.probes calibrate): the host moves the vCPUs.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from numba import njit

from toro_mpi import MPI
from toro_mpi.bus import ring
from toro_mpi.bus.atomics import cpu_relax
from toro_mpi.coll import interpreter as I

from . import parser


@njit(cache=True)
def _signals(tx, rx, n):
    for _ in range(n):
        ring.tx_signal(tx)
        while ring.rx_signal(rx) == 0:
            cpu_relax()
    return 0


@njit(cache=True)
def run_to_done(addr):
    """One run of the hot plan at addr to its end (run_at again while it reports BLOCKED)."""
    st = I.run_at(addr, np.uint8(0))
    while st == I.BLOCKED:
        st = I.run_at(addr, np.uint8(0))
    return st


@njit(cache=True)
def _run_at(addr, n):
    for _ in range(n):
        run_to_done(addr)
    return 0


def two_rank_setup(doc: str, name: str, iters: int, argv: list[str] | None) -> tuple[argparse.Namespace, Any]:
    """The floor probes' --iters/--reps options and COMM_WORLD, which must hold 2 ranks."""
    ap = parser(name, doc)
    ap.add_argument("--iters", type=int, default=iters)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    if comm.Get_size() != 2:
        raise SystemExit(f"run with 2 ranks: toro-mpirun -n 2 python -m osu.probes {name}")
    return args, comm


def main(argv: list[str] | None = None) -> None:
    """Print the three per-barrier times, one line per repetition (rank 0)."""
    args, comm = two_rank_setup(__doc__, "barrier_floor", 300_000, argv)
    comm.Barrier()
    comm.Barrier()
    hot = comm._fast_barrier  # the hot plan (HotRun) the second call left
    peer = 1 - comm.Get_rank()
    tx = int(hot.words[hot.words[I.P_TXH] + peer])
    rx = int(hot.words[hot.words[I.P_RXH] + peer])
    _signals(tx, rx, 10)
    _run_at(hot.addr, 10)
    n = args.iters
    for _ in range(args.reps):
        times = []
        for fn in (lambda: _signals(tx, rx, n), lambda: _run_at(hot.addr, n)):
            comm.Barrier()
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) / n * 1e6)
        comm.Barrier()
        barrier = comm.Barrier
        start = time.perf_counter()
        for _ in range(n):
            barrier()
        times.append((time.perf_counter() - start) / n * 1e6)
        if comm.Get_rank() == 0:
            print(f"signals {times[0]:.3f} us  run_at {times[1]:.3f} us  Barrier {times[2]:.3f} us", flush=True)
