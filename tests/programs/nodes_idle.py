"""The cost of waiting on the network (run with toro-mpirun --nodes 2 -n 2, or -n 2 for one node):
rank 1 blocks in Recv while rank 0 sleeps 1 s before each of 5 sends; rank 1 reports the share of
a core it used while waiting, rank 0 how long each message took to be received after a 1 s idle
(the bound of the idle sleep, runtime.NET_DOZE_US, plus the wake-up)."""

import resource
import time

import numpy as np
from mpi4py import MPI

c = MPI.COMM_WORLD
b = np.zeros(1)
c.Barrier()
if c.rank == 0:
    delays = []
    for _i in range(5):
        time.sleep(1.0)
        b[0] = time.time()
        c.Send(b, 1, 5)
        c.Recv(b, 1, 6)
        delays.append(b[0])
    print("wake delay after 1 s idle (ms):", " ".join(f"{d*1e3:.2f}" for d in delays), flush=True)
else:
    cpu0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime
    t0 = time.time()
    for _i in range(5):
        c.Recv(b, 0, 5)
        b[0] = time.time() - b[0]
        c.Send(b, 0, 6)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF).ru_utime + resource.getrusage(resource.RUSAGE_SELF).ru_stime
    print(f"idle receiver: {100*(cpu1-cpu0)/(time.time()-t0):.1f}% of a core while waiting", flush=True)
