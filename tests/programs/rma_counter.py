"""A Fetch_and_op work counter shared by all ranks (issue #22): every rank takes task numbers
from one counter in rank 0's window until they run out; every task must be handed out exactly
once. Twice: under Lock_all + Flush with an int64 counter, then under an exclusive Lock per
fetch with an int32 counter (MPI.INT). Which rank gets which task varies from run to run, so only
the totals are printed (rank 0 gathers every rank's tasks)."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

NTASKS = 40 * SIZE


def drain(win, dtype, mpitype, exclusive: bool) -> list[int]:
    """Take tasks until the counter passes NTASKS; returns the task numbers this rank got."""
    one = np.ones(1, dtype)
    got = np.zeros(1, dtype)
    mine = []
    if not exclusive:
        win.Lock_all()
    while True:
        if exclusive:
            win.Lock(0, MPI.LOCK_EXCLUSIVE)
        win.Fetch_and_op([one, mpitype], [got, mpitype], 0, 0, MPI.SUM)
        if exclusive:
            win.Unlock(0)
        else:
            win.Flush(0)
        task = int(got[0])
        if task >= NTASKS:
            break
        mine.append(task)
    if not exclusive:
        win.Unlock_all()
    return mine


for label, dtype, mpitype, exclusive in (("lock_all", np.int64, MPI.INT64_T, False),
                                         ("exclusive", np.int32, MPI.INT, True)):
    itemsize = np.dtype(dtype).itemsize
    win = MPI.Win.Allocate(itemsize if RANK == 0 else 0, itemsize, comm=COMM)
    if RANK == 0:
        counter = np.frombuffer(win.tomemory(), dtype, 1)
        win.Lock(0, MPI.LOCK_EXCLUSIVE)
        counter[0] = 0
        win.Unlock(0)
    COMM.Barrier()
    mine = drain(win, dtype, mpitype, exclusive)
    everyone = COMM.gather(mine, root=0)
    COMM.Barrier()
    if RANK == 0:
        tasks = sorted(t for part in everyone for t in part)
        final = np.zeros(1, dtype)
        win.Lock(0, MPI.LOCK_SHARED)
        win.Get([final, mpitype], 0, 0)
        win.Unlock(0)
        out(label, "tasks", len(tasks), "distinct", len(set(tasks)), "all", tasks == list(range(NTASKS)),
            "counter", int(final[0]))
    # The counter only grows, so the tasks one rank gets come in increasing order.
    out(label, "own tasks increasing", all(a < b for a, b in zip(mine, mine[1:], strict=False)))
    win.Free()
done()
