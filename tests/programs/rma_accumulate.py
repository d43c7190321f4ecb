"""Concurrent Accumulate from all ranks to the same elements (issue #22): MPI requires each
element's update to be atomic, so no update is lost whatever the interleaving. SUM under shared
locks (every rank accumulates into every rank at once), MAX under Lock_all, REPLACE within a
fence epoch (each element ends as one rank's whole value), then MIN/PROD/BAND/BOR/BXOR and
Raccumulate, checked with Get_accumulate(NO_OP)."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

N = 64
ROUNDS = 25

# float64 window (SUM, MAX, MIN, PROD, REPLACE) and an int64 one (bitwise ops).
fwin = MPI.Win.Allocate(N * 8, 8, comm=COMM)
iwin = MPI.Win.Allocate(N * 8, 8, comm=COMM)
fmem = np.frombuffer(fwin.tomemory(), np.float64, N)
imem = np.frombuffer(iwin.tomemory(), np.int64, N)


def reset(win, mem, value) -> None:
    """Fill this rank's part and make it visible to every rank before the next phase (the first
    barrier: no rank still reads the previous phase's values)."""
    COMM.Barrier()
    win.Lock(RANK, MPI.LOCK_EXCLUSIVE)
    mem[:] = value
    win.Unlock(RANK)
    COMM.Barrier()


def read(win, dtype, target: int) -> np.ndarray:
    """The target's window, fetched with Get_accumulate(NO_OP) (an atomic read)."""
    got = np.zeros(N, dtype)
    dummy = np.zeros(N, dtype)
    win.Lock(target, MPI.LOCK_SHARED)
    win.Get_accumulate(dummy, got, target, op=MPI.NO_OP)
    win.Unlock(target)
    return got


idx = np.arange(N, dtype=np.float64)

# SUM: every rank adds (rank + 1) * (i + 1) to element i of every rank, ROUNDS times.
reset(fwin, fmem, 0.0)
add = (RANK + 1) * (idx + 1)
for _ in range(ROUNDS):
    for target in range(SIZE):
        fwin.Lock(target, MPI.LOCK_SHARED)
        fwin.Accumulate(add, target, op=MPI.SUM)
        fwin.Unlock(target)
COMM.Barrier()
got = read(fwin, np.float64, (RANK + 1) % SIZE)
want = ROUNDS * SIZE * (SIZE + 1) / 2 * (idx + 1)
out("sum", np.array_equal(got, want), got[:4].tolist())

# MAX: each rank offers a value per element that depends on rank and element.
reset(fwin, fmem, -1.0)
fwin.Lock_all()
for target in range(SIZE):
    fwin.Accumulate((RANK * 7 + idx * 3) % (SIZE * 5), target, op=MPI.MAX)
fwin.Unlock_all()
COMM.Barrier()
got = read(fwin, np.float64, RANK)
want = np.max([(r * 7 + idx * 3) % (SIZE * 5) for r in range(SIZE)], axis=0)
out("max", np.array_equal(got, want), got[:6].tolist())

# REPLACE in a fence epoch: every rank writes its row to rank 0; each element is one rank's.
fwin.Fence()
fwin.Accumulate(np.full(N, 1000.0 + RANK), 0, op=MPI.REPLACE)
fwin.Fence()
if RANK == 0:
    ok = bool(np.all(np.isin(fmem, 1000.0 + np.arange(SIZE))))
    out("replace each element one rank's", ok)
fwin.Fence()

# MIN and PROD with Raccumulate in a lock_all epoch.
reset(fwin, fmem, 1.0)
fwin.Lock_all()
reqs = [fwin.Raccumulate(np.full(N, 2.0), t, op=MPI.PROD) for t in range(SIZE)]
MPI.Request.Waitall(reqs)
fwin.Flush_all()
fwin.Unlock_all()
COMM.Barrier()
out("prod", read(fwin, np.float64, RANK)[:3].tolist())
reset(fwin, fmem, 1e9)
fwin.Lock_all()
for t in range(SIZE):
    fwin.Accumulate(idx + RANK, t, op=MPI.MIN)
fwin.Unlock_all()
COMM.Barrier()
out("min", read(fwin, np.float64, RANK)[:3].tolist())

# Bitwise ops on int64: each rank owns one bit.
for name, op, start in (("bor", MPI.BOR, 0), ("band", MPI.BAND, -1), ("bxor", MPI.BXOR, 0)):
    reset(iwin, imem, start)
    bits = np.full(N, 1 << RANK, np.int64) if name != "band" else np.full(N, ~(1 << RANK), np.int64)
    for t in range(SIZE):
        iwin.Lock(t, MPI.LOCK_SHARED)
        iwin.Accumulate(bits, t, op=op)
        iwin.Unlock(t)
    COMM.Barrier()
    out(name, int(read(iwin, np.int64, RANK)[0]))

del fmem, imem
fwin.Free()
iwin.Free()
done()
