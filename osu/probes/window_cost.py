"""Cost per message of a window of nonblocking small messages (the pattern of osu_bw), toro_mpi only.

Rank 0 posts WINDOW Isends of one byte and waits for them all, rank 1 posts WINDOW Irecvs and
waits; a 4-byte acknowledgement closes each window. Prints, per rank, the time per message and
the part of it spent posting (Isend / Irecv calls). Two repetitions; read the second.

Run: toro-mpirun -n 2 python -m osu.probes window_cost [WINDOWS] [WINDOW]
"""

from __future__ import annotations

import sys
import time

import numpy as np

from toro_mpi import MPI

from . import parser


def main(argv: list[str] | None = None) -> None:
    """Time the windows and print one line per rank and repetition."""
    ap = parser("window_cost", __doc__)
    ap.add_argument("windows", type=int, nargs="?", default=2000, help="windows timed (default 2000)")
    ap.add_argument("window", type=int, nargs="?", default=64, help="messages per window (default 64)")
    args = ap.parse_args(argv)
    windows, window = args.windows, args.window
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    if comm.Get_size() != 2:
        raise SystemExit("run with 2 ranks: toro-mpirun -n 2 python -m osu.probes window_cost")
    msg = np.zeros(1, np.uint8)
    ack = np.zeros(4, np.uint8)
    for rep in range(2):
        comm.Barrier()
        start = time.perf_counter()
        posting = 0.0
        for _ in range(windows):
            t0 = time.perf_counter()
            if rank == 0:
                reqs = [comm.Isend(msg, 1, 100) for _ in range(window)]
            else:
                reqs = [comm.Irecv(msg, 0, 100) for _ in range(window)]
            posting += time.perf_counter() - t0
            MPI.Request.Waitall(reqs)
            if rank == 0:
                comm.Recv(ack, 1, 101)
            else:
                comm.Send(ack, 0, 101)
        total = time.perf_counter() - start
        n = windows * window
        side = "Isend" if rank == 0 else "Irecv"
        sys.stdout.write(f"rep {rep} rank {rank}: {total / n * 1e6:.2f} us per message, "
                         f"{side} posting {posting / n * 1e6:.2f} us\n")
        sys.stdout.flush()
