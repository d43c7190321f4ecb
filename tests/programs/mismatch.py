"""toro_mpi only: a job whose ranks went out of step, as when one rank raises in a collective the
others completed: rank 0 completes its part of a Gather (its data now waits in the collective
queue to rank 1), then waits in a Recv; rank 1, the root, skipped the Gather and waits in a Recv
too. Every rank is blocked while a message waits in a queue: the launcher must call it a
deadlock (exit 111), not wait for --timeout."""

import numpy as np
from _mpi import COMM, IMPL, RANK, out

assert IMPL == "toro"

COMM.Barrier()
if RANK == 0:
    COMM.Gather(np.arange(4.0), None, root=1)
    out("gathered")
    COMM.Recv(np.empty(1), source=1, tag=5)
else:
    out("skipped the gather")
    COMM.Recv(np.empty(1), source=0, tag=6)
out("never")
