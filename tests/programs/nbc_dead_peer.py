"""A peer dies while a nonblocking collective is pending: rank 1 exits with status 3 before it
takes part in an Iallreduce every other rank has started and waits for. The job must end with
rank 1's status, the waiting ranks' Wait turning into an error, never a hang."""

import os

import numpy as np
from _mpi import COMM, RANK, out

COMM.Barrier()
if RANK == 1:
    os._exit(3)
req = COMM.Iallreduce(np.ones(4), np.zeros(4))
try:
    req.Wait()
    out("completed?")
except Exception as exc:  # noqa: BLE001 - any MPI error is the right outcome
    out("Wait raised", type(exc).__name__)
