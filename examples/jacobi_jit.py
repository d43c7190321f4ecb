"""2-D heat equation (Jacobi), whole time loop in one numba-jitted function calling toro_mpi.jit:
halo exchange with sendrecv, the update, a convergence allreduce every k steps.

    python -m toro_mpi -n 4 python examples/jacobi_jit.py --nx 512 --ny 512 --steps 1000

See jacobi_common.py for the problem; jacobi_mpi4py.py is the same solver in Python + numpy +
mpi4py, jacobi_numba_mpi.py in numba + numba-mpi.
"""

from __future__ import annotations

import time

import numba
import numpy as np
from jacobi_common import gather_field, largest_change, local_block, options, sweep

import toro_mpi.jit as tj
from toro_mpi import MPI


@numba.njit(cache=True)
def solve(h, u, new, up, down, steps, check_every, tol):
    """Run up to `steps` Jacobi steps on this rank's block u (ghost rows 0 and -1).

    Returns (MPI error code, steps made, the block holding the last step)."""
    n = u.shape[0]
    local = np.zeros(1)
    worst = np.zeros(1)
    done = 0
    for step in range(1, steps + 1):
        # Halo exchange: my first row up, my last row down; ghost rows from the neighbours.
        code = tj.sendrecv(h, u[1], up, 1, u[n - 1], down, 1)
        if code != 0:
            return code, done, u
        code = tj.sendrecv(h, u[n - 2], down, 2, u[0], up, 2)
        if code != 0:
            return code, done, u
        sweep(u, new)
        u, new = new, u
        done = step
        if step % check_every == 0:
            local[0] = largest_change(u, new)
            code = tj.allreduce(h, local, worst, tj.MAX)
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
    h = tj.comm_handle(comm)
    up = rank - 1 if rank > 0 else MPI.PROC_NULL
    down = rank + 1 if rank < size - 1 else MPI.PROC_NULL
    # Compile (or load from the cache) and warm up on a throwaway copy.
    scratch = local_block(rank, size, opt.nx, opt.ny)
    tj.check(solve(h, scratch, scratch.copy(), up, down, 1, 1, -1.0)[0])
    u = local_block(rank, size, opt.nx, opt.ny)
    comm.Barrier()
    fb = tj.fallbacks(h)
    t0 = time.perf_counter()
    code, steps, u = solve(h, u, u.copy(), up, down, opt.steps, opt.check_every, opt.tol)
    elapsed = time.perf_counter() - t0
    tj.check(code)
    t = np.array([elapsed])
    comm.Allreduce(MPI.IN_PLACE, t, MPI.MAX)
    whole = gather_field(comm, u, opt.nx, opt.ny)
    if rank == 0:
        print(f"jacobi_jit ranks {size} grid {opt.ny}x{opt.nx} steps {steps} "
              f"time/iter {t[0] / steps * 1e6:.2f} us fallbacks {tj.fallbacks(h) - fb} (rank 0)", flush=True)
        if opt.save:
            np.save(opt.save, whole)


if __name__ == "__main__":
    main()
