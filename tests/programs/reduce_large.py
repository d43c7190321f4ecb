"""Reduce from 4 KiB up, where the root combines its children's segments in their ring buffers
(coll/schedules.py `_reduce_tree` with hold, bus/held.py), printed for comparison with mpi4py.

Run: python tests/programs/reduce_large.py [SECTION...] (under toro-mpirun or mpiexec; sections:
ops, shapes, hot; default all; `interleaved` and `mismatch` run under toro_mpi only, see below).
Every predefined operator on every dtype it applies to, sizes just under and at the hold threshold
and over several segments with a short last one, roots 0 and SIZE - 1, IN_PLACE at the root,
recvbuf None away from it, one call site repeated with new data. The data are small integers
(also in the float and complex dtypes), so every result is exact in any order of combination:
both implementations must produce the same bits, printed as digests.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _mpi import COMM, IMPL, MPI, RANK, SIZE, digest, error_class, out

SECTIONS = tuple(sys.argv[1:]) or ("ops", "shapes", "hot")
KIB = 1024
SEGMENT = 32736  # toro_mpi's [coll] segment_bytes: one ring buffer minus its header

INT_OPS = ("SUM", "PROD", "MIN", "MAX", "LAND", "LOR", "LXOR", "BAND", "BOR", "BXOR")
FLOAT_OPS = ("SUM", "PROD", "MIN", "MAX")
COMPLEX_OPS = ("SUM", "PROD")
DTYPE_OPS = (("int8", INT_OPS), ("uint8", INT_OPS), ("int16", INT_OPS), ("uint16", INT_OPS),
             ("int32", INT_OPS), ("uint32", INT_OPS), ("int64", INT_OPS), ("uint64", INT_OPS),
             ("float32", FLOAT_OPS), ("float64", FLOAT_OPS), ("complex64", COMPLEX_OPS),
             ("complex128", COMPLEX_OPS), ("bool", ("LAND", "LOR", "LXOR")))
# The MAXLOC / MINLOC pair types: (MPI name, numpy fields of value and index).
PAIRS = (("FLOAT_INT", "f4", "i4"), ("DOUBLE_INT", "f8", "i4"), ("LONG_INT", "i8", "i4"),
         ("TWOINT", "i4", "i4"), ("SHORT_INT", "i2", "i4"))


def data(dtype: str, count: int, *key: int, real: bool = False) -> np.ndarray:
    """This rank's operand: values 0-3 (products over 8 ranks stay exact), by rank and key.
    real: complex values with a zero imaginary part (see section_ops)."""
    g = np.random.default_rng([RANK, count, *key])
    values = g.integers(0, 4, count)
    if np.dtype(dtype).kind == "c":
        return (values + 1j * g.integers(0, 4, count) * (not real)).astype(dtype)
    return values.astype(dtype)


def sizes(itemsize: int) -> tuple[int, ...]:
    """Byte sizes: one element below the hold threshold (4 KiB), at it, and three full segments
    plus a short fourth (a multiple of the element size)."""
    several = (3 * SEGMENT + 40) // itemsize * itemsize
    return (4 * KIB - itemsize, 4 * KIB, several)


def reduce_case(label: str, send: np.ndarray, op, root: int, inplace: bool) -> None:
    """One Reduce; the root prints a digest of its result, the others '-'."""
    if RANK == root:
        recv = np.full_like(send, 7) if not inplace else send.copy()
        COMM.Reduce(MPI.IN_PLACE if inplace else send, recv, op=op, root=root)
        out(label, "=", f"d {digest(recv)}")
    else:
        COMM.Reduce(send, None, op=op, root=root)
        out(label, "=", "-")


def section_ops() -> None:
    """Every operator on every dtype, three sizes, two roots, IN_PLACE at the second.

    A product of complex numbers with negative parts can round a zero to -0.0 or +0.0 depending
    on the order of the factors, which the implementations choose differently above two ranks
    (Open MPI by size): there the complex PROD operands are real (imaginary parts +0.0)."""
    key = 0
    for dtype, ops in DTYPE_OPS:
        itemsize = np.dtype(dtype).itemsize
        for nbytes in sizes(itemsize):
            for name in ops:
                key += 1
                real = name == "PROD" and SIZE > 2
                for root, inplace in ((0, False), (SIZE - 1, True)):
                    reduce_case(f"{dtype} {name} {nbytes}B root{root} inplace{int(inplace)}",
                                data(dtype, nbytes // itemsize, key, root, real=real), getattr(MPI, name), root,
                                inplace)


def section_shapes() -> None:
    """MAXLOC and MINLOC on the pair types (values with ties, so the index rule shows), and a
    Reduce with an MPI datatype given explicitly."""
    key = 100
    for name, vt, it in PAIRS:
        pair = np.dtype([("v", vt), ("i", it)], align=True)  # the C struct's layout, as MPI's
        count = (2 * SEGMENT + 24) // pair.itemsize
        for opname in ("MAXLOC", "MINLOC"):
            key += 1
            send = np.empty(count, pair)
            send["v"] = data(vt, count, key)
            send["i"] = RANK * 1000 + np.arange(count) % 997
            for root in (0, SIZE - 1):
                label = f"{name} {opname} {count} root{root}"
                if RANK == root:
                    recv = np.zeros(count, pair)
                    COMM.Reduce([send, getattr(MPI, name)], [recv, getattr(MPI, name)], op=getattr(MPI, opname),
                                root=root)
                    out(label, "=", f"d {digest(recv)}")
                else:
                    COMM.Reduce([send, getattr(MPI, name)], None, op=getattr(MPI, opname), root=root)
                    out(label, "=", "-")
    send = data("float64", 20000, 7)
    recv = np.zeros(20000, np.float64) if RANK == 0 else None
    COMM.Reduce([send, MPI.DOUBLE], [recv, MPI.DOUBLE] if RANK == 0 else None, op=MPI.SUM, root=0)
    out("explicit DOUBLE 160000B", "=", f"d {digest(recv)}" if RANK == 0 else "-")


def section_hot() -> None:
    """One call site repeated with new data in the same arrays (the hot record), then the same
    arrays with another root and operator."""
    send = np.empty(256 * KIB // 4, np.int32)
    recv = np.empty_like(send)
    for rep in range(6):
        send[:] = data("int32", send.size, 200 + rep)
        recv[:] = -1
        root = 0 if rep < 4 else SIZE - 1
        op = MPI.SUM if rep < 5 else MPI.MAX
        COMM.Reduce(send, recv, op=op, root=root)
        out(f"hot int32 256KiB rep{rep}", "=", f"d {digest(recv)}" if RANK == root else "-")


def section_interleaved() -> None:
    """toro_mpi only: the leaf reduces on communicator A then B, the root on B then A. The leaf's
    segments of A reach the root while it runs B's reduce: B's program sets them aside (the
    stash) and A's receives get them from there, never held; both results must be right.
    (Open MPI's rendezvous would deadlock here: the program relies on eager sends.)"""
    a, b = COMM.Dup(), COMM.Dup()
    count = (3 * SEGMENT + 8) // 8
    xa, xb = data("int64", count, 300), data("int64", count, 301)
    want_a = sum(np.random.default_rng([r, count, 300]).integers(0, 4, count) for r in range(SIZE))
    want_b = sum(np.random.default_rng([r, count, 301]).integers(0, 4, count) for r in range(SIZE))
    ra, rb = np.zeros(count, np.int64), np.zeros(count, np.int64)
    if RANK == 0:
        b.Reduce(xb, rb, op=MPI.SUM, root=0)
        a.Reduce(xa, ra, op=MPI.SUM, root=0)
        out("interleaved", "a", np.array_equal(ra, want_a), "b", np.array_equal(rb, want_b))
    else:
        a.Reduce(xa, ra, op=MPI.SUM, root=0)
        b.Reduce(xb, rb, op=MPI.SUM, root=0)
        out("interleaved sent")
    a.Free()
    b.Free()


def section_mismatch() -> None:
    """toro_mpi only: the root expects fewer elements than the others send (their counts
    differ), so the segment at its ring's head cannot be held: the root reports ERR_TRUNCATE, it
    does not hang or combine the wrong bytes; the others' sends complete."""
    c = COMM.Dup()
    count = 1000 if RANK == 0 else 2000  # one segment each, 8000 and 16000 bytes: both held sizes
    try:
        c.Reduce(data("int64", count, 400), np.zeros(count, np.int64) if RANK == 0 else None, op=MPI.SUM, root=0)
        out("mismatch", "no error")
    except MPI.Exception as exc:
        out("mismatch", error_class(exc))
    c.Free()


def section_held_error() -> None:
    """toro_mpi only, 3 ranks or more (the root has two children in one window): rank 1's
    segment is held in its ring when rank 2's, longer, raises ERR_TRUNCATE at the root. The failed
    Reduce must hand the held segment back: the next Reduce on the same communicator must combine
    new data, not find rank 1's old segment at the head of the queue."""
    c = COMM.Dup()
    count = 2000 if RANK == 2 else 1000  # one segment each, both of a held size
    if RANK == 0:
        time.sleep(0.5)  # both children's segments are in the rings before the root looks
    try:
        c.Reduce(np.full(count, 100 * (RANK + 1), np.int64), np.zeros(count, np.int64) if RANK == 0 else None,
                 op=MPI.SUM, root=0)
        out("held error", "no error")
    except MPI.Exception as exc:
        out("held error", error_class(exc))
    c.Barrier()
    got = np.zeros(1000, np.int64)
    c.Reduce(np.full(1000, RANK + 1, np.int64), got if RANK == 0 else None, op=MPI.SUM, root=0)
    if RANK == 0:
        out("held error then", "right" if (got == SIZE * (SIZE + 1) // 2).all() else f"wrong {got[0]}")
    c.Free()


def main() -> None:
    for name in SECTIONS:
        if name in ("interleaved", "mismatch", "held_error") and IMPL != "toro":
            continue
        globals()[f"section_{name}"]()
    COMM.Barrier()
    out("ok")


if __name__ == "__main__":
    main()
