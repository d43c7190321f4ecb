"""Progress without the root in MPI: rank 0 starts an Ibcast (and an Iallreduce) and then makes
no MPI call until every other rank has confirmed, through a file (a side channel outside MPI),
that it has received the data; only then does rank 0 Wait. A design that moved the data only
when the root enters Wait would leave the others waiting, and rank 0 would give up after its
deadline and print "not confirmed".

Usage: nbc_progress.py DIR NBYTES (DIR: a directory all ranks can write).
"""

import os
import sys
import time

import numpy as np
from _mpi import COMM, RANK, SIZE, done, out

where, nbytes = sys.argv[1], int(sys.argv[2])
data = np.arange(nbytes // 8, dtype=np.int64) if RANK == 0 else np.zeros(nbytes // 8, np.int64)
total = np.zeros(1, np.int64)
mine = np.array([RANK + 1], np.int64)
bcast = COMM.Ibcast(data, 0)
if RANK == 0:
    # The allreduce needs rank 0's contribution too: it is posted at the start call.
    reduce = COMM.Iallreduce(mine, total)
    deadline = time.monotonic() + 30
    marks = [os.path.join(where, f"got{r}") for r in range(1, SIZE)]
    while not all(os.path.exists(m) for m in marks) and time.monotonic() < deadline:
        time.sleep(0.01)  # outside MPI: no call that could progress anything
    out("confirmed" if all(os.path.exists(m) for m in marks) else "not confirmed")
    bcast.Wait()
    reduce.Wait()
else:
    reduce = COMM.Iallreduce(mine, total)
    bcast.Wait()
    reduce.Wait()
    ok = bool((data == np.arange(nbytes // 8)).all()) and int(total[0]) == SIZE * (SIZE + 1) // 2
    with open(os.path.join(where, f"got{RANK}"), "w") as f:
        f.write("ok" if ok else "bad")
    out("received", ok)
out("sum", int(total[0]))
done()
