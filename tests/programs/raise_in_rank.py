"""Rank RAISER (argument, default 1) raises after a barrier while the others wait in a Recv from
it or in a barrier: the job must end with that rank named and its traceback. toro_mpi only."""

import sys

import numpy as np
from _mpi import COMM, RANK, SIZE, out

RAISER = int(sys.argv[1]) if len(sys.argv) > 1 else 1
COMM.Barrier()
out("pid", __import__("os").getpid())
if RANK == RAISER:
    raise RuntimeError(f"boom from rank {RANK}")
if RANK == (RAISER + 1) % SIZE:
    COMM.Recv(np.zeros(1), source=RAISER)
COMM.Barrier()
out("never")
