"""toro_mpi only: which hot records exist after fresh and repeated calls (test_fresh_buffers.py)."""

import numpy as np

from toro_mpi import MPI

comm = MPI.COMM_WORLD
a, b = np.ones(3), np.zeros(3)
g, h = np.ones(3), np.zeros(3 * comm.size)
for _ in range(3):
    comm.Allreduce(np.ones(3), np.zeros(3))   # fresh: never a record
for _ in range(3):
    comm.Allreduce(a, b)
    comm.Reduce(a, b if comm.rank == 0 else None, MPI.SUM, 0)
    comm.Bcast(a, 1)
    comm.Gather(g, h if comm.rank == 0 else None, 0)
kinds = {"allreduce": comm._hot_allreduce, "reduce": comm._hot_reduce, "bcast": comm._hot_bcast}
got = {k: sorted(id(v.send) == id(a) for v in t.values()) for k, t in kinds.items()}
moves = sum(1 for k in comm._moves if isinstance(k, tuple))
print(comm.rank, got, "moves", moves, flush=True)
