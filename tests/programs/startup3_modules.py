"""What a rank's process has imported and how its collector stands once the program runs.

Run by tests/test_startup3.py, one process per rank or several green-thread ranks per process
(hosting). Each rank prints: RANK, the sum of an Allreduce and of an object allreduce (which
load the collective interpreter's kernel), after point-to-point calls with its neighbour (the
ring's receive kernels), then which of numba.np.arrayobj and tomllib its
process has imported, whether the start-up froze objects out of the collector (gc.freeze)
with the collector on, and how many of toro_mpi's kernels this process compiled instead of
loading them from numba's cache (a compile imports numba.np.arrayobj whatever the kernels use).
At exit, after MPI's finalize (which calls a kernel with an array), a second line: whether
numpy.ma is imported by then."""

import atexit
import gc
import os
import sys

# Registered before the runtime's own exit handler (at MPI's import), so it runs after it.
_RANK = os.environ["TORO_MPI_RANK"]  # now: green-thread ranks of one process share its exit
atexit.register(lambda: print(_RANK, "exit numpy.ma", int("numpy.ma" in sys.modules), flush=True))

import numpy as np  # noqa: E402 - after the handler above
from _mpi import COMM, MPI, RANK  # noqa: E402

recv = np.zeros(3, np.int64)
COMM.Allreduce(np.arange(3, dtype=np.int64) + RANK, recv, op=MPI.SUM)
total = COMM.allreduce(RANK + 1)
# Point-to-point too: blocking calls (the third runs their call-site records), a window of
# nonblocking ones posted before their messages, each pair of ranks with the other.
peer = RANK ^ 1
if peer < COMM.Get_size():
    mine, theirs = np.arange(4.0), np.empty(4)
    for _ in range(3):
        if RANK % 2 == 0:
            COMM.Send(mine, peer, 5)
            COMM.Recv(theirs, peer, 5)
        else:
            COMM.Recv(theirs, peer, 5)
            COMM.Send(mine, peer, 5)
    window = [np.empty(2) for _ in range(4)]
    requests = [COMM.Irecv(w, peer, 6) for w in window]
    COMM.Sendrecv(mine[:1], peer, 7, theirs[:1], peer, 7)  # both posted (not Barrier: its objmode compiles)
    MPI.Request.Waitall(requests + [COMM.Isend(mine[:2], peer, 6) for _ in range(4)])
    assert theirs.tolist() == [0.0, 1.0, 2.0, 3.0] and all(w.tolist() == [0.0, 1.0] for w in window)
misses = 0
for name, module in list(sys.modules.items()):
    if module is not None and name.startswith("toro_mpi."):
        for value in list(vars(module).values()):
            misses += sum(getattr(value, "_cache_misses", {}).values()) if hasattr(value, "overloads") else 0
loaded = [int(m in sys.modules) for m in ("numba.np.arrayobj", "tomllib")]
print(RANK, recv.tolist(), total, *loaded, int(gc.get_freeze_count() > 0), int(gc.isenabled()), misses, flush=True)
