"""What a rank of a (simulated) multi-node job sees: its node, whether an MPI library is loaded
in the process, and whether the program's `mpi4py.MPI` is toro_mpi's (the shim) while the network
layer holds the real one. Prints `R node N`, `R libmpi BOOL`, `R shim BOOL`, `R ok`."""

import os
import sys

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
print(RANK, "ok")
