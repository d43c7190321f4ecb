"""A user's own jitted function that allocates (numba's runtime, NRT) feeds an Allreduce.

Run by tests/test_startup_caches.py: under toro-mpirun the ranks load NRT from object code
cached on disk (bus/compiling.init_runtime); the program's jitted code must work as usual."""

import numba
import numpy as np
from _mpi import COMM, MPI, RANK


@numba.njit
def doubled(n):
    a = np.zeros(n)
    for i in range(n):
        a[i] = 2.0 * i
    return a


send = doubled(6)
recv = np.empty_like(send)
COMM.Allreduce(send, recv, op=MPI.SUM)
print(RANK, recv.tolist(), flush=True)
