"""Issue #19: intercommunicator reductions over long double and long double complex (mpi4py's
test_cco_buf_inter.py testReduce / testAllreduce) and Alltoallw across an intercommunicator
(test_cco_vec_inter.py testAlltoallw2).

COMM_WORLD splits into a low and a high half (low gets SIZE // 2 ranks) joined by
Create_intercomm. Each rank prints what every call gave it; the results of a reduction are the
other group's contributions combined (MPI's intercommunicator semantics)."""

from __future__ import annotations

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

half = SIZE // 2
color = 0 if RANK < half else 1
local = COMM.Split(color, key=0)
ic = local.Create_intercomm(0, COMM, half if color == 0 else 0, tag=12)
me, lsize, rsize = ic.Get_rank(), ic.Get_size(), ic.Get_remote_size()


def show(arr: np.ndarray) -> str:
    """Values as text both implementations print alike (long doubles via Python floats)."""
    if arr.dtype.kind == "c":
        return " ".join(f"{complex(v).real:g}{complex(v).imag:+g}j" for v in arr)
    return " ".join(f"{float(v):g}" for v in arr)


OPS = {"SUM": MPI.SUM, "PROD": MPI.PROD, "MAX": MPI.MAX, "MIN": MPI.MIN}
for code, mpitype in (("g", MPI.LONG_DOUBLE), ("G", MPI.C_LONG_DOUBLE_COMPLEX), ("d", MPI.DOUBLE),
                      ("i", MPI.INT)):
    for name, op in OPS.items():
        if code == "G" and name in ("MAX", "MIN"):
            continue
        base = np.arange(5) + 1 + RANK
        send = base.astype(code) * (1 + 1j) if code == "G" else base.astype(code)
        recv = np.full(5, -1, dtype=code)
        ic.Allreduce([send, mpitype], [recv, mpitype], op)
        out("allreduce", code, name, show(recv))
        # Reduce with the root in each group in turn: ROOT at the root, PROC_NULL beside it.
        for root_color in (0, 1):
            for root in range(half if root_color == 0 else SIZE - half):
                got = np.full(5, -1, dtype=code)
                if color == root_color:
                    ic.Reduce(None, [got, mpitype], op, root=MPI.ROOT if me == root else MPI.PROC_NULL)
                    if me == root:
                        out("reduce", code, name, "root", root_color, root, show(got))
                else:
                    ic.Reduce([send, mpitype], None, op, root=root)
        # Reduce_scatter_block: lsize blocks of 2 each.
        sb = (np.arange(2 * lsize) + RANK).astype(code)
        rb = np.full(2, -1, dtype=code)
        if lsize == rsize:  # MPI needs the two vectors to be the same length
            ic.Reduce_scatter_block([sb, mpitype], [rb, mpitype], op)
            out("reduce_scatter_block", code, name, show(rb))

# Alltoallw: block j to remote rank j, n elements of a per-block datatype at byte displacements.
for code in ("i", "d", "g"):
    for n in range(4):
        dt = MPI.Datatype.fromcode(code)
        sbuf = np.array([[100 * RANK + 10 * j + k for k in range(n)] for j in range(rsize)], dtype=code).reshape(-1)
        rbuf = np.full(rsize * n, -1, dtype=code)
        ext = dt.extent
        smsg = (sbuf, ([n] * rsize, [j * n * ext for j in range(rsize)]), [dt] * rsize)
        rmsg = (rbuf, ([n] * rsize, [j * n * ext for j in range(rsize)]), [dt] * rsize)
        ic.Alltoallw(smsg, rmsg)
        out("alltoallw", code, n, show(rbuf))
# Different datatypes per block: a vector type (every other int) to remote rank 0, ints elsewhere.
vec = MPI.INT.Create_vector(3, 1, 2).Commit()
sbuf = (np.arange(6 * rsize) + 1000 * RANK).astype("i")
rbuf = np.full(3 * rsize, -1, dtype="i")
stypes = [vec] + [MPI.INT] * (rsize - 1)
scounts = [1] + [3] * (rsize - 1)
ic.Alltoallw((sbuf, (scounts, [24 * j for j in range(rsize)]), stypes),
             (rbuf, ([3] * rsize, [12 * j for j in range(rsize)]), [MPI.INT] * rsize))
vec.Free()
out("alltoallw mixed", show(rbuf))
ic.Free()
local.Free()
done()
