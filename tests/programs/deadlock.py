"""A job that deadlocks on purpose: after a barrier every rank receives from its left neighbour
(rank 0 with another tag than the one its neighbour would use), and nobody sends. The launcher
must report it at once, naming what every rank waits in. toro_mpi only."""

import numpy as np
from _mpi import COMM, RANK, SIZE, out

COMM.Barrier()
out("waiting")
buf = np.zeros(4)
COMM.Recv(buf, source=(RANK - 1) % SIZE, tag=9 if RANK == 0 else 3)
out("never")
