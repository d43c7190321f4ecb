"""Progress of a nonblocking neighbourhood collective without one of the ranks in MPI: rank 0
starts an Ineighbor_alltoall on a periodic ring and then makes no MPI call until every other rank
has confirmed, through a file (a side channel outside MPI), that its own Ineighbor_alltoall
completed, with rank 0's blocks in place; only then does rank 0 Wait. A design that moved the
data only when rank 0 entered Wait would leave the others waiting, and rank 0 would give up
after its deadline and print "not confirmed".

Usage: neighbor_progress.py DIR NBYTES (DIR: a directory all ranks can write; NBYTES per block).
"""

import os
import sys
import time

import numpy as np
from _mpi import COMM, RANK, SIZE, done, out

where, nbytes = sys.argv[1], int(sys.argv[2])
n = nbytes // 8
cart = COMM.Create_cart([SIZE], periods=[True])
send = np.stack([np.arange(n, dtype=np.int64) + 1000 * RANK + k for k in range(2)])
recv = np.full((2, n), -1, np.int64)
req = cart.Ineighbor_alltoall(send, recv)
left, right = cart.Shift(0, 1)
# Block 0 comes from the left neighbour's positive-direction block (its block 1), block 1 from
# the right neighbour's block 0.
want = np.stack([np.arange(n, dtype=np.int64) + 1000 * left + 1, np.arange(n, dtype=np.int64) + 1000 * right])
if RANK == 0:
    deadline = time.monotonic() + 30
    marks = [os.path.join(where, f"got{r}") for r in range(1, SIZE)]
    while not all(os.path.exists(m) for m in marks) and time.monotonic() < deadline:
        time.sleep(0.01)  # outside MPI: no call that could progress anything
    out("confirmed" if all(os.path.exists(m) for m in marks) else "not confirmed")
    req.Wait()
else:
    req.Wait()
    with open(os.path.join(where, f"got{RANK}"), "w") as f:
        f.write("ok")
out("received", bool((recv == want).all()))
cart.Free()
done()
