"""Hides numba and prunes sys.path before it imports MPI, as mpi4py's test runner does
(`sys.modules["numba"] = None`): the rank's runtime must not care. Then a reduction over int8
(whose collective interpreter a test may have left uncompiled, so that it compiles now, with
numba still hidden), a point-to-point message and a barrier.

Usage: hide_numba.py [--mpi4py]   (`from mpi4py import MPI` under toro-mpirun --mpi4py)
"""

import sys

import numpy as np

sys.modules["numba"] = None
sys.modules["llvmlite"] = None
sys.path[:] = [p for p in sys.path if "site-packages" not in p and "mpi4py_shim" not in p]
if "--mpi4py" in sys.argv[1:]:
    from mpi4py import MPI
else:
    from toro_mpi import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
mine = (np.arange(5) + rank).astype(np.int8)
total = np.zeros(5, np.int8)
comm.Allreduce(mine, total, op=MPI.SUM)
expected = (np.arange(5) * size + size * (size - 1) // 2).astype(np.int8)
print(f"{rank} allreduce {'good' if np.array_equal(total, expected) else total.tolist()}", flush=True)
if rank == 0:
    comm.Send(np.full(3, 7.0), dest=size - 1, tag=4)
if rank == size - 1:
    got = np.zeros(3)
    comm.Recv(got, source=0, tag=4)
    print(f"{rank} recv {got.tolist()}", flush=True)
comm.Barrier()
print(f"{rank} numba hidden {sys.modules['numba'] is None}", flush=True)
print(f"{rank} ok", flush=True)
