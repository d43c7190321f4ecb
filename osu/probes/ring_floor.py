"""Floor of the virtio-bus itself: 8-byte ping-pong with the whole loop inside jitted code.

Two processes pinned to two cores exchange messages through two virtqueues of a private
segment, calling the same kernels the MPI layer calls (tx_push, rx_match) but from a jitted
loop, so no Python runs per message. Compare with the cache-line calibration (the hardware
floor) and with osu.osu_latency (the same exchange through toro_mpi.MPI from Python): the gaps are
what the split-ring layout costs and what the Python layer costs.
Run: python -m osu.probes ring_floor [--rounds 200000] [--size 8]
"""

from __future__ import annotations

import os
import time

import numpy as np
from numba import njit

from toro_mpi.bus import layout as L
from toro_mpi.bus.ring import rx_match, tx_push
from toro_mpi.bus.segment import Segment

from . import parser
from .calibrate import measure


@njit(cache=True)
def _ping(qout, qin, buf, info, rounds):
    for _ in range(rounds):
        while tx_push(qout, L.KIND_EAGER, 1, 0, buf.nbytes, 0, buf, L.TX_NOT_STARTED) < 0:
            pass
        while rx_match(qin, 1, 0, buf, info) != L.RX_COMPLETE:
            pass


@njit(cache=True)
def _pong(qout, qin, buf, info, rounds):
    for _ in range(rounds):
        while rx_match(qin, 1, 0, buf, info) != L.RX_COMPLETE:
            pass
        while tx_push(qout, L.KIND_EAGER, 1, 0, buf.nbytes, 0, buf, L.TX_NOT_STARTED) < 0:
            pass


def run(rounds: int, size: int, ping=None, pong=None) -> float:  # type: ignore[no-untyped-def]
    """One-way ns of an in-jit ping-pong of `size`-byte messages over the virtqueues.

    `ping` / `pong` replace the loops (same signature) to time other builds of the kernels."""
    _ping = ping or globals()["_ping"]
    _pong = pong or globals()["_pong"]
    seg = Segment.create(2, 64, 8192)
    seg.unlink()
    q01, q10 = seg.handle(0, 1), seg.handle(1, 0)
    buf = np.zeros(size, np.uint8)
    info = np.zeros(L.INFO_LEN, np.int64)
    _ping(q01, q10, buf, info, 0)
    _pong(q10, q01, buf, info, 0)
    ncpu = os.cpu_count() or 1
    pid = os.fork()
    if pid == 0:
        try:
            os.sched_setaffinity(0, {1 % ncpu})
            _pong(q10, q01, buf, info, rounds)
        finally:
            os._exit(0)
    os.sched_setaffinity(0, {0})
    t0 = time.perf_counter()
    _ping(q01, q10, buf, info, rounds)
    elapsed = time.perf_counter() - t0
    os.waitpid(pid, 0)
    os.sched_setaffinity(0, set(range(ncpu)))
    seg.close()
    return elapsed / rounds / 2 * 1e9


def main(argv: list[str] | None = None) -> int:
    """Print the calibration and the in-jit virtqueue ping-pong."""
    ap = parser("ring_floor", __doc__)
    ap.add_argument("--rounds", type=int, default=200_000)
    ap.add_argument("--size", type=int, default=8)
    args = ap.parse_args(argv)
    print(f"calibration cache-line ping-pong: {measure(rounds=args.rounds):.1f} ns one-way")
    print(f"virtqueue ping-pong in jitted code, {args.size} B: {run(args.rounds, args.size):.1f} ns one-way")
    return 0
