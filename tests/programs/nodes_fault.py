"""Faults in a job of several nodes. Usage: nodes_fault.py kill|abort|hang.

kill: every rank runs Allreduce in a loop; rank 3 prints `3 allreducing pid P` first (the test
kills it with SIGKILL). abort: the last rank (on the last node) calls Abort(7) while the others
wait in Recv. hang: the last rank computes for ever while the others wait in a Recv it never sends: a live job,
not a deadlock (the deadlock report must not fire), which the launcher's --timeout ends.
"""

import os
import sys

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE

mode = sys.argv[1]
COMM.Barrier()
if mode == "kill":
    a = np.ones(1, np.float64)
    b = np.empty_like(a)
    for i in range(10**7):
        if i == 50 and RANK == 3:
            print(RANK, "allreducing pid", os.getpid(), flush=True)
        COMM.Allreduce(a, b)
elif mode == "abort":
    if RANK == SIZE - 1:
        COMM.Abort(7)
    COMM.Recv(np.empty(1), MPI.ANY_SOURCE, 5)
else:
    if RANK == SIZE - 1:
        while True:  # busy, never blocked in MPI
            sum(range(10_000))
    COMM.Recv(np.empty(1), MPI.ANY_SOURCE, 5)
