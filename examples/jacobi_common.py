"""Shared by the Jacobi examples: the problem, its 1-D row decomposition, and a plain
single-process numpy solver that the parallel runs reproduce to the last bit.

The problem: the 2-D heat equation at steady state on an (ny + 2) x (nx + 2) grid, the top edge
held at 1 and the other edges at 0, solved by Jacobi iteration
    u'[i, j] = 0.25 * (((u[i-1, j] + u[i+1, j]) + u[i, j-1]) + u[i, j+1])
(this order of additions everywhere, so every version computes the same bits). Every
`check_every` steps the largest change of the last step is compared with `tol`; the run stops
there when it is below (or after `steps` steps).
"""

from __future__ import annotations

import argparse

import numba
import numpy as np


def options(description: str) -> argparse.Namespace:
    """The command line every version takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--nx", type=int, default=512, help="interior columns")
    p.add_argument("--ny", type=int, default=512, help="interior rows (split among the ranks)")
    p.add_argument("--steps", type=int, default=1000, help="most steps")
    p.add_argument("--check-every", type=int, default=10, help="steps between convergence checks")
    p.add_argument("--tol", type=float, default=1e-6, help="stop when the largest change is below")
    p.add_argument("--save", help="write the whole field (with its edges) to this .npy file")
    return p.parse_args()


@numba.njit(cache=True)
def sweep(u: np.ndarray, new: np.ndarray) -> None:
    """One Jacobi step of u's interior into new (the jitted versions' update; ghost rows and edges
    are left as they are)."""
    n, m = u.shape
    for i in range(1, n - 1):
        for j in range(1, m - 1):
            new[i, j] = 0.25 * (((u[i - 1, j] + u[i + 1, j]) + u[i, j - 1]) + u[i, j + 1])


@numba.njit(cache=True)
def largest_change(u: np.ndarray, old: np.ndarray) -> float:
    """The largest |u - old| over the interior (the jitted versions' convergence measure)."""
    n, m = u.shape
    d = 0.0
    for i in range(1, n - 1):
        for j in range(1, m - 1):
            d = max(d, abs(u[i, j] - old[i, j]))
    return d


def rows_of(rank: int, size: int, ny: int) -> tuple[int, int]:
    """First and one-past-last interior row (1-based, as in the global grid) of a rank."""
    base, extra = divmod(ny, size)
    first = 1 + rank * base + min(rank, extra)
    return first, first + base + (1 if rank < extra else 0)


def initial(nx: int, ny: int) -> np.ndarray:
    """The whole field at step 0: top edge 1, everything else 0."""
    u = np.zeros((ny + 2, nx + 2))
    u[0, :] = 1.0
    return u


def local_block(rank: int, size: int, nx: int, ny: int) -> np.ndarray:
    """A rank's rows of the initial field with one ghost (or edge) row above and below."""
    first, last = rows_of(rank, size, ny)
    return initial(nx, ny)[first - 1:last + 1].copy()


def reference(nx: int, ny: int, steps: int, check_every: int, tol: float) -> tuple[np.ndarray, int]:
    """The single-process numpy solver: (field, steps made)."""
    u = initial(nx, ny)
    new = u.copy()
    done = 0
    for step in range(1, steps + 1):
        new[1:-1, 1:-1] = 0.25 * (((u[:-2, 1:-1] + u[2:, 1:-1]) + u[1:-1, :-2]) + u[1:-1, 2:])
        u, new = new, u
        done = step
        if step % check_every == 0 and np.abs(u[1:-1, 1:-1] - new[1:-1, 1:-1]).max() < tol:
            break
    return u, done


def gather_field(comm, u: np.ndarray, nx: int, ny: int) -> np.ndarray | None:
    """The whole field at rank 0 (None elsewhere), from every rank's interior rows."""
    rank, size = comm.Get_rank(), comm.Get_size()
    mine = np.ascontiguousarray(u[1:-1])
    if rank != 0:
        comm.Send(mine, 0, 77)
        return None
    whole = initial(nx, ny)
    first, last = rows_of(0, size, ny)
    whole[first:last] = mine
    for r in range(1, size):
        first, last = rows_of(r, size, ny)
        part = np.empty((last - first, nx + 2))
        comm.Recv(part, r, 77)
        whole[first:last] = part
    # The edge rows of the last step: the bottom is fixed, the top too.
    return whole
