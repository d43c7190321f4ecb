"""toro_mpi only: calls with `[data, MPI.DOUBLE]` specs reach the call-site records of the bare
arrays (test_typed_specs.py), as repeated bare calls do."""

import numpy as np

from toro_mpi import MPI

comm = MPI.COMM_WORLD
peer = 1 - comm.rank
D = MPI.DOUBLE
send, recv = np.ones(4), np.zeros(4)
a, b = np.ones(3), np.zeros(3)
g, h = np.ones(3), np.zeros(3 * comm.size)
for _ in range(3):
    comm.Sendrecv([send, D], peer, 1, [recv, D], peer, 1)
    comm.Isend([send, D], peer, 2).Wait()
    comm.Irecv([recv, D], peer, 2).Wait()
    comm.Allreduce([a, D], [b, D], MPI.SUM)
    comm.Reduce((a, D), [b, D], MPI.SUM, 0)
    comm.Bcast([a, D], 1)
    comm.Gather([g, D], [h, D], 0)
sites = {"send": comm._isend_site.buf is send, "recv": comm._recv_site.buf is recv,
         "irecv": comm._irecv_site.buf is recv}
kinds = {"allreduce": comm._hot_allreduce, "reduce": comm._hot_reduce, "bcast": comm._hot_bcast}
hot = {k: sorted(v.send is a for v in t.values()) for k, t in kinds.items()}
moves = [k for k in comm._moves if isinstance(k, tuple)]
print(comm.rank, sites, hot, "moves", len(moves), flush=True)
