"""A job that hangs without deadlocking: rank 0 sleeps outside MPI (so it is never idle in a
call) while every other rank waits in a Recv from it. Only the launcher's --timeout or a signal
ends it. toro_mpi only."""

import time

import numpy as np
from _mpi import COMM, RANK, out

COMM.Barrier()
out("ready")
if RANK == 0:
    time.sleep(60)
else:
    COMM.Recv(np.zeros(1), source=0)
out("never")
