"""Accumulates to the same elements from every rank at once (issue #22: atomic per element),
through every path that updates an element: the remembered hot calls (same arrays each time),
fresh arrays each call (the general path), a derived target datatype (run by run), and a
misaligned element (an Allocate_shared part that starts at an odd address, kept under the lock).
Every rank runs ROUNDS rounds with no synchronisation but Flush; a lost update shows as a final
value short of its exact expectation (every value is exactly representable).

Printed by rank 0 (and compared with mpi4py + Open MPI): the final values."""

import sys

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
R = ROUNDS * SIZE


def fresh_win(nbytes: int, unit: int, kind: str = "allocate") -> tuple:
    """A window with rank 0's part zeroed (every rank's, in fact), and rank 0's part as bytes."""
    if kind == "shared":
        # Rank 0's part is 3 bytes: rank 1's part starts 3 bytes after it (Allocate_shared packs
        # them), so its int64 elements are misaligned.
        win = MPI.Win.Allocate_shared(3 if RANK == 0 else nbytes, unit, comm=COMM)
    else:
        win = MPI.Win.Allocate(nbytes, unit, comm=COMM)
    mem = np.frombuffer(win.tomemory(), np.uint8)
    win.Lock(RANK, MPI.LOCK_EXCLUSIVE)
    mem[:] = 0
    win.Unlock(RANK)
    COMM.Barrier()
    return win, mem


# 1. Accumulate SUM of 16 int64, 16 float64 and 8 uint8 to the same elements of rank 0.
win, mem = fresh_win(16 * 8 + 16 * 8 + 8, 1)
ones_i = np.ones(16, np.int64)
halves = np.full(16, 0.5)
ones_b = np.ones(8, np.uint8)
win.Lock_all()
for _ in range(ROUNDS):
    win.Accumulate(ones_i, 0, 0, MPI.SUM)
    win.Accumulate(halves, 0, 128, MPI.SUM)
    win.Accumulate(ones_b, 0, 256, MPI.SUM)
    win.Flush(0)
win.Unlock_all()
COMM.Barrier()
if RANK == 0:
    ints = mem[:128].view(np.int64)
    floats = mem[128:256].view(np.float64)
    out("acc int64", ints.tolist(), bool((ints == R).all()))
    out("acc float64", floats.tolist(), bool((floats == R * 0.5).all()))
    out("acc uint8", mem[256:264].tolist(), bool((mem[256:264] == R % 256).all()))
win.Free()

# 2. One int64 counter incremented by every rank through Accumulate, Fetch_and_op,
# Get_accumulate and a Compare_and_swap retry loop in turn: it ends at exactly 4 * R.
win, mem = fresh_win(64, 8)
one = np.ones(1, np.int64)
old = np.zeros(1, np.int64)
new = np.zeros(1, np.int64)
seen = np.zeros(1, np.int64)
win.Lock_all()
for _ in range(ROUNDS):
    win.Accumulate(one, 0, 0, MPI.SUM)
    win.Flush(0)
    win.Fetch_and_op(one, old, 0, 0, MPI.SUM)
    win.Flush(0)
    win.Get_accumulate(one, old, 0, 0, MPI.SUM)
    win.Flush(0)
    win.Fetch_and_op(one, old, 0, 0, MPI.NO_OP)
    win.Flush(0)
    while True:
        new[0] = old[0] + 1
        win.Compare_and_swap(new, old, seen, 0, 0)
        win.Flush(0)
        if seen[0] == old[0]:
            break
        old[0] = seen[0]
win.Unlock_all()
COMM.Barrier()
if RANK == 0:
    count = int(mem[:8].view(np.int64)[0])
    out("mixed counter", count, count == 4 * R)
win.Free()

# 3. int32 elements 0, 2, 4, 6 of rank 0 through a vector target datatype (the general path,
# run by run) and element 0 also with a fresh array each call and a remembered one, and float32
# MAX / int32 PROD / BXOR by fresh arrays: general and hot updates of the same elements.
win, mem = fresh_win(64, 4)
vec = MPI.INT32_T.Create_vector(4, 1, 2).Commit()
eight = np.ones(8, np.int32)
one32 = np.ones(1, np.int32)
win.Lock_all()
for i in range(ROUNDS):
    win.Accumulate([eight, 1, vec], 0, (0, 1, vec), MPI.SUM)
    win.Accumulate(np.ones(1, np.int32), 0, 0, MPI.SUM)
    win.Accumulate(one32, 0, 0, MPI.SUM)
    win.Accumulate(np.array([RANK * ROUNDS + i], np.float32), 0, 8, MPI.MAX)
    win.Accumulate(np.array([1 << (i % 31)], np.int32), 0, 9, MPI.BXOR)
    win.Flush(0)
win.Unlock_all()
COMM.Barrier()
if RANK == 0:
    i32 = mem[:40].view(np.int32)
    out("vector int32", i32[:8].tolist(), i32[0] == 3 * R and bool((i32[2:8:2] == R).all()))
    out("max float32", float(mem[32:36].view(np.float32)[0]), "bxor", int(i32[9]))
vec.Free()
win.Free()

# 4. Misaligned int64 elements (rank 1's part of an Allocate_shared window): the hot path and
# the general path (a fresh array), under the accumulate lock both.
if SIZE > 1:
    win, mem = fresh_win(64, 1, "shared")
    win.Lock_all()
    for _ in range(ROUNDS):
        win.Accumulate(ones_i[:2], 1, 8, MPI.SUM)
        win.Accumulate(np.ones(2, np.int64), 1, 8, MPI.SUM)
        win.Fetch_and_op(one, old, 1, 8, MPI.SUM)
        win.Flush(1)
    win.Unlock_all()
    COMM.Barrier()
    if RANK == 1:
        got = mem[8:24].view(np.int64).tolist()
        out("misaligned int64", got, got == [3 * R, 2 * R])
    win.Free()

done()
