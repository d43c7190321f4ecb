"""Generalized active target, post-start-complete-wait (issue #22): a ring in which each rank
exposes its window to its left neighbour and accesses its right one, with Wait; then the same
with Test polled until the exposure epoch ends; then a star where rank 0 accesses every other
rank in one epoch (a group of several targets) and gets from each."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

win = MPI.Win.Allocate(8 * 4, 8, comm=COMM)
mem = np.frombuffer(win.tomemory(), np.int64, 4)
mem[:] = -1
COMM.Barrier()
world = COMM.Get_group()
left, right = (RANK - 1) % SIZE, (RANK + 1) % SIZE
from_left = world.Incl([left])
to_right = world.Incl([right])

# ring with Wait
win.Post(from_left)
win.Start(to_right)
win.Put(np.array([RANK * 10 + 1], np.int64), right, 0)
win.Complete()
win.Wait()
out("ring wait", int(mem[0]))

# ring with Test
win.Post(from_left)
win.Start(to_right)
win.Put(np.array([RANK * 10 + 2], np.int64), right, 1)
win.Complete()
polls = 0
while not win.Test():
    polls += 1
out("ring test", int(mem[1]))

# star: rank 0 accesses all others at once; they expose to rank 0 only
if SIZE > 1:
    if RANK == 0:
        others = world.Excl([0])
        win.Start(others)
        got = np.zeros(SIZE, np.int64)
        for r in range(1, SIZE):
            win.Put(np.array([500 + r], np.int64), r, 2)
            win.Get(got[r:r + 1], r, 1)
        win.Complete()
        out("star got", got[1:].tolist())
        others.Free()
    else:
        zero = world.Incl([0])
        win.Post(zero)
        win.Wait()
        out("star put", int(mem[2]))
        zero.Free()
from_left.Free()
to_right.Free()
world.Free()
COMM.Barrier()
del mem
win.Free()
done()
