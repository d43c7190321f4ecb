"""What a rank of a (simulated) multi-node job sees: its node, whether an MPI library is loaded
in the process, and whether the program's `mpi4py.MPI` is toro_mpi's (the shim) while the network
layer holds the real one. Prints `R node N`, `R libmpi BOOL`, `R shim BOOL`, `R sum S`,
`R eager LIMIT` (Open MPI's TCP eager limit in the rank's environment), rank 0 `0 hot BOOL`
(after a float64 Send to the last rank, Comm.Send's hot path now applies to float64: the
engine's send kernel for it is loaded), `R ok`."""

import os
import sys

import numpy as np
from mpi4py import MPI

import toro_mpi.MPI

COMM = MPI.COMM_WORLD
RANK = COMM.Get_rank()
with open("/proc/self/maps") as fh:
    libmpi = "libmpi" in fh.read()
real = "mpi4py.MPI" in sys.modules and sys.modules["mpi4py.MPI"] is not toro_mpi.MPI
print(RANK, "node", os.environ.get("TORO_MPI_NODE", "0"))
print(RANK, "libmpi", libmpi)
print(RANK, "shim", MPI is toro_mpi.MPI and not real)
print(RANK, "sum", COMM.allreduce(RANK))
print(RANK, "eager", os.environ.get("OMPI_MCA_btl_tcp_eager_limit"))
last = COMM.Get_size() - 1
x = np.arange(4, dtype=np.float64)
if RANK == 0:
    COMM.Send(x, last, 5)
    print(RANK, "hot", np.dtype(np.float64) in COMM._engine._send_by_dtype)
elif RANK == last:
    COMM.Recv(x, 0, 5)
print(RANK, "ok")
