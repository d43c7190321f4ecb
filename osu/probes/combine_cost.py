"""Speed of a reduction's combine (out = a + b) when b was just written by the other core.

The root of a 2-rank Reduce combines each segment straight out of the ring buffer its leaf has
just filled (bus/held.py): every line of b comes out of the other core's cache. This probe
times the runtime's own combine (coll/elementwise.reduce_into, MPI_SUM of uint8 as osu_reduce
calls it) three ways, in two processes pinned to cores 0 and 1:
- remote: the other process has just copied b into shared memory with plain stores;
- streamed: the same with streaming stores (bus/atomics.memcpy_stream), b in memory;
- local: b is this process's own array, in its cache.
remote against local is what moving the data between the cores costs the combine; against the
reference's figures it says whether the combine's speed or the transfer bounds a large Reduce.
Measured on the Intel host of 2026-12-07 (calibration 150-330 ns): 64 KiB remote 5.4-6.2 us,
local 2.6-3.7 us; 1 MiB remote 113-124 us, local 101-116 us (three 1 MiB streams spill the
2 MiB L2).
Run: python -m osu.probes combine_cost [--reps 150] [SIZE ...]
"""

from __future__ import annotations

import mmap
import os
import time

import numpy as np
from numba import njit

from toro_mpi.bus.atomics import array_address, memcpy, memcpy_stream
from toro_mpi.coll.elementwise import OP_SUM, reduce_into

from . import parser
from .calibrate import measure

KINDS = ("remote", "streamed", "local")


@njit(cache=True)
def _combine(a, b, out):
    reduce_into(OP_SUM, a, b, out)


@njit(cache=True)
def _fill(dst, src, stream):
    if stream:
        memcpy_stream(array_address(dst), array_address(src), src.size)
    else:
        memcpy(array_address(dst), array_address(src), src.size)


def run(size: int, reps: int) -> dict[str, float]:
    """Median microseconds of the combine of `size` bytes, by where b comes from (KINDS)."""
    ncpu = os.cpu_count() or 1
    shared = mmap.mmap(-1, size + 64)
    # Two words after the data: the turn the root asks for, the turn the leaf has filled.
    flags = np.frombuffer(shared, np.int64, 2, size)
    ring = np.frombuffer(shared, np.uint8, size, 0)
    a = np.arange(size, dtype=np.uint8)
    src = (np.arange(size) * 7).astype(np.uint8)
    out = np.full(size, 0, np.uint8)
    mine = src.copy()
    _fill(ring, src, False)
    _fill(ring, src, True)
    _combine(a, ring, out)
    flags[:] = -1
    turns = reps * len(KINDS)
    pid = os.fork()
    if pid == 0:
        try:
            os.sched_setaffinity(0, {1 % ncpu})
            for turn in range(turns):
                while flags[0] != turn:
                    pass
                kind = KINDS[turn % len(KINDS)]
                if kind != "local":
                    _fill(ring, src, kind == "streamed")
                flags[1] = turn
        finally:
            os._exit(0)
    os.sched_setaffinity(0, {0})
    times: dict[str, list[float]] = {k: [] for k in KINDS}
    b = mine
    try:
        for turn in range(turns):
            kind = KINDS[turn % len(KINDS)]
            flags[0] = turn
            while flags[1] != turn:
                pass
            b = mine if kind == "local" else ring
            t0 = time.perf_counter_ns()
            _combine(a, b, out)
            times[kind].append((time.perf_counter_ns() - t0) / 1000)
    finally:
        os.waitpid(pid, 0)
        os.sched_setaffinity(0, set(range(ncpu)))
    b = None  # drop every view of the mapping before closing it
    del flags, ring
    shared.close()
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    """Print the calibration, then the combine's median time per size and source of b."""
    ap = parser("combine_cost", __doc__)
    ap.add_argument("--reps", type=int, default=150)
    ap.add_argument("sizes", type=int, nargs="*", default=[65536, 262144, 1048576])
    args = ap.parse_args(argv)
    print(f"calibration cache-line ping-pong: {measure():.1f} ns one-way")
    for size in args.sizes:
        med = run(size, args.reps)
        cells = "  ".join(f"{k} {med[k]:8.2f} us ({size / med[k] / 1000:5.1f} GB/s)" for k in KINDS)
        print(f"combine {size:8d} B: {cells}")
    return 0
