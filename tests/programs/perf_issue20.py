"""The collective paths issue #20's performance work changed, printed for comparison with mpi4py.

Run: python tests/programs/perf_issue20.py [SECTION...] (under toro-mpirun or mpiexec; sections:
reduce, large, move, hot; default all). Every result is printed as a digest of its bytes: the data
are small integers (also in the float dtypes), so every sum, product, minimum or maximum is exact
in any order and both implementations must produce the same bits. The user operators: an
associative, non-commutative "first nonzero" (rank order matters) and a commutative sum written
in Python.
"""

from __future__ import annotations

import sys

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, out

SECTIONS = tuple(sys.argv[1:]) or ("reduce", "large", "move", "hot")
KIB = 1024
MIB = 1024 * KIB

INT_OPS = ("SUM", "PROD", "MIN", "MAX", "LAND", "LOR", "LXOR", "BAND", "BOR", "BXOR")
FLOAT_OPS = ("SUM", "PROD", "MIN", "MAX")


def data(dtype: str, count: int, *key: int) -> np.ndarray:
    """This rank's operand: small values (0-3, so products of up to 8 ranks stay exact), a
    pattern that depends on the rank and the key."""
    g = np.random.default_rng([RANK, count, np.dtype(dtype).num, *key])
    return g.integers(0, 4, count).astype(dtype)


def show(label: str, arr: np.ndarray | None) -> None:
    """One line: the label and a digest of the result (or '-' where MPI defines none)."""
    out(label, "=", "-" if arr is None else f"d {digest(arr)}")


def _first(invec, inoutvec, datatype=None):
    """inout = the first nonzero of (in, inout), elementwise: associative, not commutative, so
    the rank order of the operands shows in the result."""
    a = np.frombuffer(invec, np.int64)
    b = np.frombuffer(inoutvec, np.int64)
    b[:] = np.where(a != 0, a, b)


def _sum(invec, inoutvec, datatype=None):
    a = np.frombuffer(invec, np.int32)
    b = np.frombuffer(inoutvec, np.int32)
    b += a


FIRST = MPI.Op.Create(_first, commute=False)
USER_SUM = MPI.Op.Create(_sum, commute=True)


def reduce_case(label: str, dtype: str, count: int, op, root: int, inplace: bool, key: int) -> None:
    send = data(dtype, count, key)
    recv = np.full(count, 7, dtype) if RANK == root else None
    if RANK == root and inplace:
        recv = send.copy()
        COMM.Reduce(MPI.IN_PLACE, recv, op=op, root=root)
    else:
        COMM.Reduce(send, recv, op=op, root=root)
    show(label, recv if RANK == root else None)


def section_reduce() -> None:
    """Every predefined operator on its dtypes, user operators, IN_PLACE, every root, small and
    around-a-segment sizes."""
    key = 0
    for dtype, ops in (("int8", INT_OPS), ("uint8", INT_OPS), ("int32", INT_OPS), ("int64", INT_OPS),
                       ("float32", FLOAT_OPS), ("float64", FLOAT_OPS), ("bool", ("LAND", "LOR", "LXOR"))):
        itemsize = np.dtype(dtype).itemsize
        for nbytes in (0, 8, 64 * KIB - itemsize, 64 * KIB, 64 * KIB + itemsize):
            count = nbytes // itemsize
            for name in ops:
                key += 1
                root = key % SIZE
                for inplace in (False, True):
                    reduce_case(f"reduce {dtype} {name} {nbytes}B root{root} inplace{int(inplace)}", dtype, count,
                                getattr(MPI, name), root, inplace, key)
    for nbytes in (0, 16, 64 * KIB - 16, 64 * KIB, 64 * KIB + 16, MIB):
        for root in range(SIZE):
            key += 1
            reduce_case(f"reduce int64 first {nbytes}B root{root}", "int64", nbytes // 8, FIRST, root, False, key)
    for nbytes in (8, 64 * KIB + 4, MIB):
        key += 1
        reduce_case(f"reduce int32 usersum {nbytes}B", "int32", nbytes // 4, USER_SUM, SIZE - 1, False, key)


def section_large() -> None:
    """1 MiB and 4 MiB: Reduce at every root (and IN_PLACE), Allreduce, Reduce_scatter_block,
    repeated on the same arrays (the hot path) with new data each time."""
    key = 1000
    for dtype, name in (("uint8", "SUM"), ("int32", "MAX"), ("float64", "SUM"), ("float32", "PROD")):
        itemsize = np.dtype(dtype).itemsize
        for nbytes in (MIB, 4 * MIB):
            count = nbytes // itemsize
            op = getattr(MPI, name)
            for root in range(SIZE):
                key += 1
                reduce_case(f"large reduce {dtype} {name} {nbytes}B root{root}", dtype, count, op, root,
                            root == SIZE - 1, key)
            send = np.empty(count, dtype)
            recv = np.empty(count, dtype)
            for rep in range(3):
                key += 1
                send[:] = data(dtype, count, key)
                COMM.Allreduce(send, recv, op=op)
                show(f"large allreduce {dtype} {name} {nbytes}B rep{rep}", recv)
            block = count // SIZE
            part = np.empty(block, dtype)
            key += 1
            COMM.Reduce_scatter_block(data(dtype, block * SIZE, key), part, op=op)
            show(f"large reduce_scatter_block {dtype} {name} {nbytes}B", part)
    # The hot Reduce: one call site, new data each time, the root's receive buffer reused.
    send = np.empty(MIB, np.uint8)
    recv = np.empty(MIB, np.uint8)
    for rep in range(4):
        send[:] = data("uint8", MIB, 2000 + rep)
        COMM.Reduce(send, recv, op=MPI.SUM, root=0)
        show(f"hot reduce uint8 1MiB rep{rep}", recv if RANK == 0 else None)


def section_move() -> None:
    """Gatherv and Scatterv (uneven and empty pieces, every root, IN_PLACE at the root), Gather and
    Scatter of 0 and 8 bytes."""
    for root in range(SIZE):
        counts = [(r * 3 + root) % 5 for r in range(SIZE)]
        displs = [sum(counts[:r]) + r for r in range(SIZE)]  # gaps between the pieces
        total = displs[-1] + counts[-1] + 1
        mine = data("int32", counts[RANK], 3000 + root)
        if RANK == root:
            recv = np.full(total, -1, np.int32)
            COMM.Gatherv(mine, [recv, counts, displs, MPI.INT], root=root)
            show(f"gatherv root{root}", recv)
            recv2 = np.full(total, -1, np.int32)
            recv2[displs[RANK]: displs[RANK] + counts[RANK]] = mine
            COMM.Gatherv(MPI.IN_PLACE, [recv2, counts, displs, MPI.INT], root=root)
            show(f"gatherv inplace root{root}", recv2)
            full = np.arange(total, dtype=np.int32) * (root + 1)
            piece = np.full(counts[RANK], -1, np.int32)
            COMM.Scatterv([full, counts, displs, MPI.INT], piece, root=root)
            show(f"scatterv root{root}", piece)
            COMM.Scatterv([full, counts, displs, MPI.INT], MPI.IN_PLACE, root=root)
            show(f"scatterv inplace root{root}", full)
        else:
            COMM.Gatherv(mine, None, root=root)
            show(f"gatherv root{root}", None)
            COMM.Gatherv(mine, None, root=root)
            show(f"gatherv inplace root{root}", None)
            piece = np.full(counts[RANK], -1, np.int32)
            COMM.Scatterv(None, piece, root=root)
            show(f"scatterv root{root}", piece)
            piece = np.full(counts[RANK], -1, np.int32)
            COMM.Scatterv(None, piece, root=root)
            show(f"scatterv inplace root{root}", piece)
    for nbytes in (0, 8):
        for root in range(SIZE):
            s = data("uint8", nbytes, 4000 + root)
            r = np.full(nbytes * SIZE, 9, np.uint8)
            COMM.Gather(s, r, root=root)
            show(f"gather {nbytes}B root{root}", r if RANK == root else None)
            r8 = np.full(nbytes, 9, np.uint8)
            COMM.Scatter(data("uint8", nbytes * SIZE, 5000 + root), r8, root=root)
            show(f"scatter {nbytes}B root{root}", r8)


def section_hot() -> None:
    """The data-movement hot paths: one call site repeated with new data in the same buffers,
    two sites alternating, a root that changes between calls, and buffers replaced."""
    a_s, a_r = np.empty(8, np.uint8), np.empty(8 * SIZE, np.uint8)
    b_s, b_r = np.empty(8, np.uint8), np.empty(8 * SIZE, np.uint8)
    for rep in range(6):
        s, r = (a_s, a_r) if rep % 2 == 0 else (b_s, b_r)
        root = (rep // 2) % SIZE
        s[:] = data("uint8", 8, 6000 + rep)
        r[:] = 0
        COMM.Gather(s, r, root=root)
        show(f"hot gather rep{rep}", r if RANK == root else None)
        r[:] = data("uint8", 8 * SIZE, 6100 + rep)
        s[:] = 0
        COMM.Scatter(r, s, root=root)
        show(f"hot scatter rep{rep}", s)
        s[:] = data("uint8", 8, 6200 + rep)
        COMM.Allgather(s, r)
        show(f"hot allgather rep{rep}", r)
        t = data("uint8", 8 * SIZE, 6300 + rep)
        r[:] = 0
        COMM.Alltoall(t if rep < 3 else t.view(np.uint64), r)
        show(f"hot alltoall rep{rep}", r)
    # Same site, same buffers, 20 times with new data: the last-call record.
    s, r = np.empty(2, np.float64), np.empty(2 * SIZE, np.float64)
    for rep in range(20):
        s[:] = data("float64", 2, 6400 + rep)
        COMM.Allgather(s, r)
        if rep % 5 == 4:
            show(f"hot allgather float64 rep{rep}", r)
        COMM.Gather(s, r, root=SIZE - 1)
        if rep % 5 == 4:
            show(f"hot gather float64 rep{rep}", r if RANK == SIZE - 1 else None)


for name in SECTIONS:
    {"reduce": section_reduce, "large": section_large, "move": section_move, "hot": section_hot}[name]()
out("ok")
