"""A neighbour dies before a neighbourhood collective: rank 1 exits with status 3 while the
others wait in Neighbor_alltoall (blocking) or in Wait on an Ineighbor_alltoall ("nonblocking"
argument). The job must end with the failure, not hang until its timeout."""

import os
import sys

import numpy as np
from _mpi import COMM, RANK, SIZE, out

cart = COMM.Create_cart([SIZE], periods=[True])
if RANK == 1:
    sys.stdout.flush()
    os._exit(3)
send = np.zeros((2, 1000))
recv = np.empty((2, 1000))
out("entering")
if sys.argv[1:] == ["nonblocking"]:
    cart.Ineighbor_alltoall(send, recv).Wait()
else:
    cart.Neighbor_alltoall(send, recv)
out("not reached")
