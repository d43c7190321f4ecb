"""toro_mpi.jit code run on a handle of another build (as a user's numba cache of older code
would be): every call returns ERR_STALE_BUILD without touching the queues, and check() raises an
MPI.Exception that says what to delete; the same calls on the real handle then work. Lines "RANK text"."""

import numba
import numpy as np
from mpi4py import MPI

import toro_mpi.jit as tj

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
h = tj.comm_handle(comm)
other = h.copy()
other[-1] ^= 1  # the build word of a handle from another toro_mpi


@numba.njit
def exchange(h, buf, right):
    """A send to the next rank and a receive from the previous one, with every kind of call."""
    codes = np.zeros(6, np.int64)
    codes[0], r1 = tj.irecv(h, buf[:1], tj.ANY_SOURCE, 7)
    codes[1], r2 = tj.isend(h, buf[1:2], right, 7)
    codes[2] = tj.wait(h, r2)
    codes[3] = tj.wait(h, r1)
    codes[4] = tj.barrier(h)
    codes[5] = tj.allreduce(h, buf[2:3], buf[3:4])
    return codes


buf = np.array([0.0, rank + 1.0, 1.0, 0.0])
right = (rank + 1) % comm.Get_size()
codes = exchange(other, buf, right)
print(rank, "stale codes", [int(c) == tj.ERR_STALE_BUILD for c in codes], "buffer", buf.tolist())
try:
    tj.check(codes[0])
except MPI.Exception as exc:
    print(rank, "stale raises", exc.Get_error_class() == MPI.ERR_OTHER, "another build" in str(exc))
codes = exchange(h, buf, right)
print(rank, "real codes", codes.tolist(), "buffer", buf.tolist())
print(rank, "ok")
