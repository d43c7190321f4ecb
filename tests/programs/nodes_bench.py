"""Small benchmarks for jobs of several nodes (run under toro-mpirun --nodes K or mpiexec alike).

Usage: nodes_bench.py lat A B [ITERS] | bw A B [ITERS] | allreduce|bcast|barrier [ITERS] [BYTES]
lat: 8-byte ping-pong between ranks A and B (OSU osu_latency: one-way us = round trip / 2);
bw: windows of 64 nonblocking 1 MiB sends from A to B, then a 4-byte ack (OSU osu_bw), MB/s;
allreduce: 8 B (one float64; BYTES: more, iBYTES: int64) Allreduce over COMM_WORLD, average us
per call (OSU osu_allreduce); bcast: Bcast from rank 0 of BYTES (float64); barrier: Barrier.
Other ranks wait in the final Barrier. Rank 0 prints `0 RESULT <number>`.
"""

import sys
import time

import numpy as np
from _mpi import COMM, MPI, RANK

mode = sys.argv[1]
res = None
cpu = None
if mode in ("lat", "bw"):
    a, b = int(sys.argv[2]), int(sys.argv[3])
    iters = int(sys.argv[4]) if len(sys.argv) > 4 else (20000 if mode == "lat" else 30)
    if mode == "lat":
        s = np.zeros(8, np.uint8)
        r = np.zeros(8, np.uint8)
        for _phase, n in (("warm", 1000), ("timed", iters)):
            if RANK == a:
                t0 = MPI.Wtime()
                for _ in range(n):
                    COMM.Send(s, b, 1)
                    COMM.Recv(r, b, 1)
                t = MPI.Wtime() - t0
            elif RANK == b:
                for _ in range(n):
                    COMM.Recv(r, a, 1)
                    COMM.Send(s, a, 1)
        if RANK == a:
            res = t * 1e6 / (2 * iters)
    else:
        size, window = 1 << 20, 64
        s = np.ones(size, np.uint8)
        r = np.empty(size, np.uint8)
        ack = np.zeros(1, np.int32)
        for _phase, n in (("warm", 3), ("timed", iters)):
            if RANK == a:
                t0 = MPI.Wtime()
                for _ in range(n):
                    MPI.Request.Waitall([COMM.Isend(s, b, 100) for _ in range(window)])
                    COMM.Recv(ack, b, 101)
                t = MPI.Wtime() - t0
            elif RANK == b:
                for _ in range(n):
                    MPI.Request.Waitall([COMM.Irecv(r, a, 100) for _ in range(window)])
                    COMM.Send(ack, a, 101)
        if RANK == a:
            res = size * window * iters / t / 1e6
    if a != 0:
        if RANK == a:
            COMM.send(res, 0, 7)
        elif RANK == 0:
            res = COMM.recv(source=a, tag=7)
else:
    # allreduce|bcast|barrier [ITERS] [BYTES]: float64 SUM Allreduce (int64 with BYTES prefixed by
    # "i", e.g. i1048576: a reduction any grouping gives exactly), Bcast from rank 0, Barrier.
    iters = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    spec = sys.argv[3] if len(sys.argv) > 3 else "8"
    dtype = np.int64 if spec.startswith("i") else np.float64
    count = max(1, int(spec.lstrip("i")) // 8)
    x = np.ones(count, dtype)
    y = np.empty(count, dtype)
    if mode == "allreduce":
        def call():
            COMM.Allreduce(x, y)
    elif mode == "bcast":
        def call():
            COMM.Bcast(x, 0)
    else:
        call = COMM.Barrier
    for _ in range(max(10, min(1000, iters // 10))):
        call()
    COMM.Barrier()
    c0 = time.process_time()
    t0 = MPI.Wtime()
    for _ in range(iters):
        call()
    res = (MPI.Wtime() - t0) * 1e6 / iters
    cpu = (time.process_time() - c0) * 1e6 / iters
COMM.Barrier()
if RANK == 0:
    print(0, "RESULT", f"{res:.2f}")
    if cpu is not None:
        print(0, "CPU", f"{cpu:.2f}")  # rank 0's CPU time per call (us): less noisy under load
