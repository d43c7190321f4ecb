"""Passive-target synchronisation (issue #22): Lock/Unlock exclusive (a read-modify-write of a
shared counter with Get and Put, which only exclusive locks keep from losing updates) and shared
(each rank puts into its own slot of every rank's table at once), then Lock_all with Flush,
Flush_local, Flush_all, Flush_local_all and Sync, and the request forms Rput/Rget."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

ROUNDS = 20
win = MPI.Win.Allocate(8 * (SIZE + 1), 8, comm=COMM)
mem = np.frombuffer(win.tomemory(), np.int64, SIZE + 1)
win.Lock(RANK, MPI.LOCK_EXCLUSIVE)
mem[:] = 0
win.Unlock(RANK)
COMM.Barrier()

# Exclusive: get, add one, put back, ROUNDS times per rank, on rank 0's slot SIZE.
val = np.zeros(1, np.int64)
for _ in range(ROUNDS):
    win.Lock(0, MPI.LOCK_EXCLUSIVE)
    win.Get(val, 0, SIZE)
    win.Flush(0)
    val += 1
    win.Put(val, 0, SIZE)
    win.Unlock(0)
COMM.Barrier()

# Shared: every rank writes (rank + 1) * 11 into slot `rank` of every rank, concurrently.
mark = np.array([(RANK + 1) * 11], np.int64)
for target in range(SIZE):
    win.Lock(target, MPI.LOCK_SHARED)
    win.Put(mark, target, RANK)
    win.Unlock(target)
COMM.Barrier()
win.Lock(RANK, MPI.LOCK_SHARED)
table = mem.copy()
win.Unlock(RANK)
out("exclusive counter on rank 0", int(table[SIZE]) if RANK == 0 else "-")
out("shared table", table[:SIZE].tolist())
COMM.Barrier()

# Lock_all + Flush: put to the right neighbour, flush, read it back in the same epoch.
right = (RANK + 1) % SIZE
win.Lock_all()
win.Put(np.array([RANK * 100 + 5], np.int64), right, SIZE)
win.Flush(right)
back = np.zeros(1, np.int64)
win.Get(back, right, SIZE)
win.Flush_local(right)
out("lock_all put+flush read back", int(back[0]))
req = win.Rput(np.array([RANK * 1000], np.int64), right, RANK)
req.Wait()
win.Flush_all()
rget = win.Rget(back, right, RANK)
rget.Wait()
win.Flush_local_all()
out("rput/rget", int(back[0]))
win.Sync()
win.Unlock_all()
COMM.Barrier()
win.Lock(RANK, MPI.LOCK_SHARED)
out("my slot from the left", int(mem[(RANK - 1) % SIZE]), "and", int(mem[SIZE]))
win.Unlock(RANK)
COMM.Barrier()
del mem
win.Free()
done()
