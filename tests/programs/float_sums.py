"""Float and complex SUM / PROD reductions whose rounding depends on how the operands are grouped:
prints a digest of every result, so two runs (ranks hosted as green threads, with two-level
collectives, and one process per rank) can be compared bit for bit. toro_mpi and mpi4py alike.

Values span 16 orders of magnitude, so a different grouping of the sum changes low bits."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, out

rng = np.random.default_rng(1000 + RANK)
for dtype in ("f4", "f8", "c16"):
    for count in (1, 7, 1000):
        vals = rng.standard_normal(count) * 10.0 ** rng.integers(-8, 8, count)
        if dtype == "c16":
            vals = vals + 1j * rng.standard_normal(count)
        send = vals.astype(dtype)
        near_one = (1 + send * 1e-9 / (1 + np.abs(send))).astype(dtype)  # products that neither
        for op, data in (("SUM", send), ("PROD", near_one)):   # overflow nor underflow
            recv = np.zeros_like(data)
            COMM.Allreduce(data, recv, op=getattr(MPI, op))
            out("allreduce", dtype, count, op, digest(recv))
            for root in range(SIZE):
                recv[:] = 0
                COMM.Reduce(data, recv, op=getattr(MPI, op), root=root)
                if RANK == root:
                    out("reduce", dtype, count, op, root, digest(recv))
out("ok")
