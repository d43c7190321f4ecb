"""Where a 2-rank 4-byte Bcast's time goes: the jitted plans alone, the Python calls, OMB's loop.

Run: toro-mpirun -n 2 python -m osu.probes bcast_floor [--iters 100000] [--reps 3]

Per iteration, in us (each line one repetition):
- "jit": the communicator's hot Bcast plan, then its hot Barrier plan, both through
  interpreter.run_at in one jitted loop (the bus and the interpreter alone);
- "python": comm.Bcast(buf, 0) then comm.Barrier() in a Python loop (plus the calls into numba);
- "osu": osu_bcast's loop (Wtime, Bcast, Wtime, Barrier), only the Bcast timed: the mean over
  both ranks, and the root's alone (the root only sends, so its figure is the send's cost).
Print the cache-line calibration next to it (python -m osu.probes calibrate): the host moves the vCPUs.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit

from toro_mpi import MPI

from .barrier_floor import run_to_done, two_rank_setup


@njit(cache=True)
def _plans(bcast, barrier, n):
    for _ in range(n):
        run_to_done(bcast)
        run_to_done(barrier)
    return 0


def main(argv: list[str] | None = None) -> None:
    """Print the per-iteration times, one line per repetition (rank 0)."""
    args, comm = two_rank_setup(__doc__, "bcast_floor", 100_000, argv)
    buf = np.zeros(4, np.uint8)
    for _ in range(3):
        comm.Bcast(buf, 0)
        comm.Barrier()
    bcast = comm._hot_bcast[id(buf)].addr  # the hot records the calls above left
    barrier = comm._fast_barrier.addr
    _plans(bcast, barrier, 10)
    n = args.iters
    for _ in range(args.reps):
        comm.Barrier()
        start = time.perf_counter()
        _plans(bcast, barrier, n)
        jit = (time.perf_counter() - start) / n * 1e6
        comm.Barrier()
        call, sync = comm.Bcast, comm.Barrier
        start = time.perf_counter()
        for _ in range(n):
            call(buf, 0)
            sync()
        python = (time.perf_counter() - start) / n * 1e6
        comm.Barrier()
        wtime, timer = MPI.Wtime, 0.0
        for _ in range(n):
            t0 = wtime()
            call(buf, 0)
            t1 = wtime()
            sync()
            timer += t1 - t0
        mine = timer / n * 1e6
        mean = comm.allreduce(mine) / 2
        if comm.Get_rank() == 0:
            print(f"jit {jit:.3f} us  python {python:.3f} us  osu {mean:.3f} us (root {mine:.3f})", flush=True)
