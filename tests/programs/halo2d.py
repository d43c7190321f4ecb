"""A 2-D Cartesian halo exchange as tutorials write it: Compute_dims, Create_cart (periodic in x,
not in y), Shift for the four neighbours, Sendrecv of the boundary rows and columns into the halo,
and a few Jacobi sweeps; every rank prints its place in the grid, its neighbours and digests of
its block after each sweep. Ranks beyond the grid (none here: the grid uses every rank) would get
COMM_NULL.

The columns travel as contiguous copies (np.ascontiguousarray of the column, received into a
contiguous vector and copied into the halo); a derived vector datatype could send them in place.
"""

import numpy as np
from _mpi import COMM, MPI, SIZE, digest, done, out

NX, NY = 6, 5  # interior points per rank (rows, columns)


def exchange(cart, u: np.ndarray) -> None:
    """Fill u's halo (one cell wide) from the four neighbours; PROC_NULL edges keep theirs."""
    up, down = cart.Shift(0, 1)  # source is the upper neighbour, dest the lower one
    left, right = cart.Shift(1, 1)
    # Rows: send my last interior row down, receive my top halo from above; then the reverse.
    cart.Sendrecv(u[-2, 1:-1].copy(), dest=down, sendtag=1, recvbuf=(top := np.empty(NY)), source=up,
                  recvtag=1)
    if up != MPI.PROC_NULL:
        u[0, 1:-1] = top
    cart.Sendrecv(u[1, 1:-1].copy(), dest=up, sendtag=2, recvbuf=(bottom := np.empty(NY)), source=down,
                  recvtag=2)
    if down != MPI.PROC_NULL:
        u[-1, 1:-1] = bottom
    # Columns (halo rows included, so corners propagate): contiguous copies.
    col = np.empty(NX + 2)
    cart.Sendrecv(np.ascontiguousarray(u[:, -2]), dest=right, sendtag=3, recvbuf=col, source=left, recvtag=3)
    if left != MPI.PROC_NULL:
        u[:, 0] = col
    cart.Sendrecv(np.ascontiguousarray(u[:, 1]), dest=left, sendtag=4, recvbuf=col, source=right, recvtag=4)
    if right != MPI.PROC_NULL:
        u[:, -1] = col


def main() -> None:
    dims = MPI.Compute_dims(SIZE, 2)
    cart = COMM.Create_cart(dims, periods=[False, True], reorder=True)
    out("dims", dims, "topo", cart.Get_topo(), "topology", cart.Get_topology() == MPI.CART)
    me = cart.Get_rank()
    coords = cart.Get_coords(me)
    assert cart.Get_cart_rank(coords) == me
    out("shift0", cart.Shift(0, 1), "shift1", cart.Shift(1, 1), "shift1 by 2", cart.Shift(1, 2))
    out("inedges", cart.inedges, "degrees", cart.degrees)
    # Initial field: a global function of the global coordinates, zero halos; fixed boundary
    # values (the grid's top and bottom halos) at the non-periodic edges.
    u = np.zeros((NX + 2, NY + 2))
    gx = coords[0] * NX + np.arange(NX)[:, None]
    gy = coords[1] * NY + np.arange(NY)[None, :]
    u[1:-1, 1:-1] = np.sin(gx * 0.3) + np.cos(gy * 0.2)
    if coords[0] == 0:
        u[0, :] = 1.0
    if coords[0] == dims[0] - 1:
        u[-1, :] = -1.0
    for sweep in range(4):
        exchange(cart, u)
        u[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
        local = np.array([np.sum(u[1:-1, 1:-1] ** 2)])
        total = np.empty(1)
        cart.Allreduce(local, total, op=MPI.SUM)
        out("sweep", sweep, "block", digest(np.round(u[1:-1, 1:-1], 9)), "norm", f"{total[0]:.9f}")
    # Rows and columns of the grid as sub-communicators.
    row = cart.Sub([False, True])
    col = cart.Sub([True, False])
    out("row", row.Get_topo(), row.Get_size(), "col", col.Get_topo(), col.Get_size())
    row_sum = row.allreduce(me)
    out("row sum", row_sum, "col ranks", col.allgather(me))
    dup = cart.Dup()
    clone = cart.Clone()
    out("dup", type(dup).__name__, dup.Get_topo() == cart.Get_topo(), "clone", type(clone).__name__,
        clone.Shift(1, 1) == cart.Shift(1, 1))
    for c in (dup, clone, row, col, cart):
        c.Free()
    done()


main()
