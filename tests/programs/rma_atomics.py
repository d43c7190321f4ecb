"""Get_accumulate, Fetch_and_op and Compare_and_swap (issue #22): a spin lock made of
Compare_and_swap guarding a non-atomic read-modify-write (Get + Put) of a counter, which ends
exact only if the lock excludes; Get_accumulate with SUM (the old values come back), NO_OP (an
atomic read) and REPLACE (an atomic swap, each old value seen once); Fetch_and_op with NO_OP,
REPLACE, MIN, MAX, PROD on int32, int64 and float64; and Rget_accumulate."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

ROUNDS = 15
win = MPI.Win.Allocate(8 * 8, 8, comm=COMM)  # slot 0: lock, 1: counter, 2..: scratch
mem = np.frombuffer(win.tomemory(), np.int64, 8)
win.Lock(RANK, MPI.LOCK_EXCLUSIVE)
mem[:] = 0
win.Unlock(RANK)
COMM.Barrier()

# A CAS spin lock on rank 0's slot 0 around an unprotected increment of slot 1.
one, zero, seen = np.ones(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64)
val = np.zeros(1, np.int64)
win.Lock_all()
for _ in range(ROUNDS):
    while True:
        win.Compare_and_swap(one, zero, seen, 0, 0)  # take the lock if it is 0
        win.Flush(0)
        if seen[0] == 0:
            break
    win.Get(val, 0, 1)
    win.Flush(0)
    val += 1
    win.Put(val, 0, 1)
    win.Flush(0)
    win.Compare_and_swap(zero, one, seen, 0, 0)  # release
    win.Flush(0)
    assert seen[0] == 1
win.Unlock_all()
COMM.Barrier()
if RANK == 0:
    out("cas-locked counter", int(mem[1]), "lock free", int(mem[0]))

# Get_accumulate SUM into rank 0 slot 2: the old values are distinct partial sums.
olds = []
win.Lock_all()
for _ in range(ROUNDS):
    old = np.zeros(1, np.int64)
    win.Get_accumulate(np.array([RANK + 1], np.int64), old, 0, 2, MPI.SUM)
    win.Flush(0)
    olds.append(int(old[0]))
win.Unlock_all()
everyone = COMM.gather(olds, root=0)
COMM.Barrier()
if RANK == 0:
    flat = [v for part in everyone for v in part]
    out("get_acc sum final", int(mem[2]), "olds distinct", len(set(flat)) == len(flat), "count", len(flat))

# Get_accumulate REPLACE as a swap on slot 3: every rank swaps its token in once; the values
# seen (including the final one) are each token exactly once plus the initial 0.
win.Lock(0, MPI.LOCK_SHARED)
old = np.zeros(1, np.int64)
win.Get_accumulate(np.array([100 + RANK], np.int64), old, 0, 3, MPI.REPLACE)
win.Unlock(0)
swapped = COMM.gather(int(old[0]), root=0)
COMM.Barrier()
if RANK == 0:
    out("swap chain", sorted(swapped + [int(mem[3])]) == [0] + [100 + r for r in range(SIZE)])

# NO_OP reads, and Rget_accumulate.
win.Lock(0, MPI.LOCK_SHARED)
got = np.zeros(2, np.int64)
win.Get_accumulate(np.zeros(2, np.int64), got, 0, 1, MPI.NO_OP)
win.Unlock(0)
out("no_op read", got.tolist())
COMM.Barrier()

# Fetch_and_op on other dtypes in a window of doubles / ints.
for dtype in (np.int32, np.int64, np.float64):
    w = MPI.Win.Allocate(8 * 4, np.dtype(dtype).itemsize, comm=COMM)
    m = np.frombuffer(w.tomemory(), dtype, 4)
    w.Lock(RANK, MPI.LOCK_EXCLUSIVE)
    m[:] = [5, 5, 1, 7]
    w.Unlock(RANK)
    COMM.Barrier()
    res = np.zeros(1, dtype)
    w.Lock_all()
    w.Fetch_and_op(np.array([RANK + 3], dtype), res, 0, 0, MPI.MIN)
    w.Fetch_and_op(np.array([RANK + 3], dtype), res, 0, 1, MPI.MAX)
    w.Fetch_and_op(np.array([2], dtype), res, 0, 2, MPI.PROD)
    w.Flush(0)
    w.Fetch_and_op(np.zeros(1, dtype), res, 0, 3, MPI.NO_OP)
    w.Flush(0)
    noop = res[0].item()
    r = w.Rget_accumulate(np.zeros(1, dtype), res, 0, 3, MPI.NO_OP)
    r.Wait()
    w.Unlock_all()
    COMM.Barrier()
    if RANK == 0:
        out(np.dtype(dtype).name, "min/max/prod", m[:3].tolist(), "no_op", noop, res[0].item())
    COMM.Barrier()
    del m
    w.Free()
del mem
win.Free()
done()
