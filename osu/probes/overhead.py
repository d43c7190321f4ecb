"""Per-call cost of the Python layer: one process drives both ends of a private 2-rank bus.

No cache line moves between cores here, so the figures are pure software cost:
  Send+Recv      the mpi4py-style calls (toro_mpi.mpi.comm.Comm), 8-byte float64 message
  kernels        the two jitted kernels alone, through their compiled entry points
Run: python -m osu.probes overhead [--calls 100000]
"""

from __future__ import annotations

import timeit

import numpy as np

from toro_mpi.bus import ring
from toro_mpi.bus.segment import Segment
from toro_mpi.bus.transport import VirtioBus
from toro_mpi.config import load_config
from toro_mpi.mpi.comm import Comm
from toro_mpi.mpi.p2p import Engine

from . import parser


def main(argv: list[str] | None = None) -> int:
    """Print ns per Send+Recv pair and per kernel pair (best of 7)."""
    ap = parser("overhead", __doc__)
    ap.add_argument("--calls", type=int, default=100_000)
    args = ap.parse_args(argv)
    cfg = load_config()
    seg = Segment.create(2, 64, 8192)
    seg.unlink()
    ends = [Engine(VirtioBus(seg, r, False), r, 2, cfg.bus, cfg.sched) for r in (0, 1)]
    comms = [Comm(e, [0, 1], 0) for e in ends]
    sbuf = np.zeros(1, np.float64)
    rbuf = np.zeros(1, np.float64)
    push = ring.entry_point(ring.tx_send, sbuf.dtype)
    match = ring.entry_point(ring.rx_recv, rbuf.dtype)
    h = seg.handle(0, 1)

    def calls() -> None:
        comms[0].Send(sbuf, 1, 1)
        comms[1].Recv(rbuf, 0, 1)

    def kernels() -> None:
        push(h, 1, 0, sbuf)
        match(h, 1, 0, rbuf)

    for name, fn in (("Send+Recv", calls), ("kernels", kernels), ("empty call", lambda: None)):
        fn()
        best = min(timeit.repeat(fn, number=args.calls, repeat=7)) / args.calls * 1e9
        print(f"{name:12s} {best:7.0f} ns per pair")
    return 0
