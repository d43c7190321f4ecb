"""Comm.Abort: rank 1 aborts with code 7 while rank 0 is blocked in a Recv that no rank will ever
match and the other ranks sleep 30 s outside MPI. The job must end with the abort: status 7, and
no rank gets past its wait (the lines "recv returned" / "slept 30 s" must never appear).
Runs under mpiexec + mpi4py too, for the reference's exit status."""

import time

import numpy as np
from _mpi import COMM, RANK, out

out("started")
COMM.Barrier()
if RANK == 1:
    out("aborting")
    COMM.Abort(7)
    out("Abort returned")
elif RANK == 0:
    COMM.Recv(np.zeros(1), source=1, tag=99)
    out("recv returned")
else:
    time.sleep(30)
    out("slept 30 s")
