"""Calibration: one shared cache line ping-ponged between two pinned processes (ns one-way).

The host moves this VM's vCPUs around: the same ping-pong reads about 14, 32 or 155 ns
depending on placement, so every benchmark run prints this figure beside its own.
Run: python -m osu.probes calibrate [--cores 0,1] [--rounds 200000]
"""

from __future__ import annotations

import mmap
import os
import time

import numpy as np
from numba import njit

from toro_mpi.bus.atomics import cpu_relax, load_acquire_i64, store_release_i64

from . import parser


@njit(cache=True)
def _ping(addr, rounds):
    for i in range(1, rounds + 1):
        store_release_i64(addr, 2 * i - 1)
        while load_acquire_i64(addr + 64) != 2 * i:
            cpu_relax()


@njit(cache=True)
def _pong(addr, rounds):
    for i in range(1, rounds + 1):
        while load_acquire_i64(addr) != 2 * i - 1:
            cpu_relax()
        store_release_i64(addr + 64, 2 * i)


def measure(cores: tuple[int, int] = (0, 1), rounds: int = 200_000) -> float:
    """One-way ns of a release/acquire hand-off between two processes pinned to `cores`."""
    area = mmap.mmap(-1, 4096, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
    view = np.frombuffer(area, np.uint8)
    addr = view.ctypes.data
    _ping(addr, 0)  # compile (or load) before timing
    _pong(addr, 0)
    ncpu = os.cpu_count() or 1
    pid = os.fork()
    if pid == 0:
        try:
            os.sched_setaffinity(0, {cores[1] % ncpu})
            _pong(addr, rounds)
        finally:
            os._exit(0)
    os.sched_setaffinity(0, {cores[0] % ncpu})
    t0 = time.perf_counter()
    _ping(addr, rounds)
    elapsed = time.perf_counter() - t0
    os.waitpid(pid, 0)
    os.sched_setaffinity(0, set(range(ncpu)))
    del view
    return elapsed / rounds / 2 * 1e9


def main(argv: list[str] | None = None) -> int:
    """Print the calibration figure."""
    ap = parser("calibrate", __doc__)
    ap.add_argument("--cores", default="0,1")
    ap.add_argument("--rounds", type=int, default=200_000)
    args = ap.parse_args(argv)
    a, b = (int(x) for x in args.cores.split(","))
    print(f"calibration: cache-line ping-pong cores {a}<->{b}: {measure((a, b), args.rounds):.1f} ns one-way")
    return 0
