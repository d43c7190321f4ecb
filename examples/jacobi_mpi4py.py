"""2-D heat equation (Jacobi) in Python + numpy + mpi4py: the same solver as jacobi_jit.py.

    python -m toro_mpi --mpi4py -n 4 python examples/jacobi_mpi4py.py
    mpiexec -n 4 python examples/jacobi_mpi4py.py
"""

from __future__ import annotations

import time

import numpy as np
from jacobi_common import gather_field, local_block, options
from mpi4py import MPI


def solve(comm, u, new, up, down, steps, check_every, tol):
    """Up to `steps` Jacobi steps on this rank's block; returns (steps made, last block)."""
    local = np.zeros(1)
    worst = np.zeros(1)
    done = 0
    for step in range(1, steps + 1):
        comm.Sendrecv(u[1], up, 1, u[-1], down, 1)
        comm.Sendrecv(u[-2], down, 2, u[0], up, 2)
        new[1:-1, 1:-1] = 0.25 * (((u[:-2, 1:-1] + u[2:, 1:-1]) + u[1:-1, :-2]) + u[1:-1, 2:])
        u, new = new, u
        done = step
        if step % check_every == 0:
            local[0] = np.abs(u[1:-1, 1:-1] - new[1:-1, 1:-1]).max()
            comm.Allreduce(local, worst, MPI.MAX)
            if worst[0] < tol:
                break
    return done, u


def main() -> None:
    """Solve, report the time per iteration, optionally save the field."""
    opt = options(__doc__.splitlines()[0])
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    up = rank - 1 if rank > 0 else MPI.PROC_NULL
    down = rank + 1 if rank < size - 1 else MPI.PROC_NULL
    scratch = local_block(rank, size, opt.nx, opt.ny)
    solve(comm, scratch, scratch.copy(), up, down, 1, 1, -1.0)
    u = local_block(rank, size, opt.nx, opt.ny)
    comm.Barrier()
    t0 = time.perf_counter()
    steps, u = solve(comm, u, u.copy(), up, down, opt.steps, opt.check_every, opt.tol)
    t = np.array([time.perf_counter() - t0])
    comm.Allreduce(MPI.IN_PLACE, t, MPI.MAX)
    whole = gather_field(comm, u, opt.nx, opt.ny)
    if rank == 0:
        print(f"jacobi_mpi4py ranks {size} grid {opt.ny}x{opt.nx} steps {steps} "
              f"time/iter {t[0] / steps * 1e6:.2f} us", flush=True)
        if opt.save:
            np.save(opt.save, whole)


if __name__ == "__main__":
    main()
