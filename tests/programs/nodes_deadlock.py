"""A deadlock across nodes, or a slow but live job, for toro-mpirun --nodes K (4 ranks, 2x2).

Usage: nodes_deadlock.py dead | slow [SECONDS]
dead: rank 0 (node 0) and rank 2 (node 1) each Recv from the other, ranks 1 and 3 wait in
      Barrier: never completes (the launcher must report it, exit 111).
slow: rank 0 computes for SECONDS (default 5) without calling MPI while the others wait in
      Recv from it, then sends to each: completes, every rank prints `ok`.
"""

import sys
import time

import numpy as np
from _mpi import COMM, RANK, SIZE

mode = sys.argv[1]
buf = np.zeros(4, np.int64)
if mode == "dead":
    COMM.Barrier()
    if RANK == 0:  # when the deadlock starts (wall clock), for who measures how soon it is reported
        print(0, "BLOCKED", f"{time.time():.3f}", flush=True)
    if RANK in (0, 2):
        COMM.Recv(buf, 2 - RANK, 3)
    COMM.Barrier()
else:
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    if RANK == 0:
        end = time.monotonic() + seconds
        x = 0
        while time.monotonic() < end:  # busy, no MPI call
            x += 1
        for r in range(1, SIZE):
            COMM.Send(np.full(4, r, np.int64), r, 4)
    else:
        COMM.Recv(buf, 0, 4)
        assert int(buf[0]) == RANK
    COMM.Barrier()
    print(RANK, "ok")
