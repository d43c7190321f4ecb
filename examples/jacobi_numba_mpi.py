"""2-D heat equation (Jacobi) in numba + numba-mpi (PyPI, over a C MPI library through mpi4py):
the same solver as jacobi_jit.py, for comparison. numba-mpi calls libmpi, so this runs under
mpiexec only (not under toro-mpirun):

    pip install numba-mpi
    mpiexec -n 4 python examples/jacobi_numba_mpi.py
"""

from __future__ import annotations

import time

import numba
import numba_mpi as nm
import numpy as np
from jacobi_common import gather_field, largest_change, local_block, options, sweep
from mpi4py import MPI


# Not cache=True: numba-mpi's calls hold ctypes pointers, which numba cannot cache.
@numba.njit
def solve(u, new, up, down, steps, check_every, tol):
    """Up to `steps` Jacobi steps on this rank's block; returns (code, steps made, last block)."""
    n = u.shape[0]
    local = np.zeros(1)
    worst = np.zeros(1)
    done = 0
    for step in range(1, steps + 1):
        code = nm.sendrecv(u[1], up, u[n - 1], down, 1, 1)
        if code != 0:
            return code, done, u
        code = nm.sendrecv(u[n - 2], down, u[0], up, 2, 2)
        if code != 0:
            return code, done, u
        sweep(u, new)
        u, new = new, u
        done = step
        if step % check_every == 0:
            local[0] = largest_change(u, new)
            code = nm.allreduce(local, worst, nm.Operator.MAX)
            if code != 0:
                return code, done, u
            if worst[0] < tol:
                break
    return 0, done, u


def main() -> None:
    """Solve, report the time per iteration, optionally save the field."""
    opt = options(__doc__.splitlines()[0])
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    up = rank - 1 if rank > 0 else MPI.PROC_NULL
    down = rank + 1 if rank < size - 1 else MPI.PROC_NULL
    scratch = local_block(rank, size, opt.nx, opt.ny)
    assert solve(scratch, scratch.copy(), up, down, 1, 1, -1.0)[0] == 0
    u = local_block(rank, size, opt.nx, opt.ny)
    comm.Barrier()
    t0 = time.perf_counter()
    code, steps, u = solve(u, u.copy(), up, down, opt.steps, opt.check_every, opt.tol)
    t = np.array([time.perf_counter() - t0])
    assert code == 0, f"numba-mpi error {code}"
    comm.Allreduce(MPI.IN_PLACE, t, MPI.MAX)
    whole = gather_field(comm, u, opt.nx, opt.ny)
    if rank == 0:
        print(f"jacobi_numba_mpi ranks {size} grid {opt.ny}x{opt.nx} steps {steps} "
              f"time/iter {t[0] / steps * 1e6:.2f} us", flush=True)
        if opt.save:
            np.save(opt.save, whole)


if __name__ == "__main__":
    main()
