"""The software cost of one 8-byte message between two ranks, each side apart (CPU-bound, so
it holds up on a loaded machine where a ping-pong's wall time does not).

Usage: nodes_hop.py A B [BATCHES]. Rank A sends batches of 200 8-byte messages to B, timing its
Sends; B waits until a whole batch has arrived, then times its Recvs of it and acknowledges.
Rank 0 prints `0 RESULT send <us> recv <us>`: medians over the batches of the time per message.
Runs under toro-mpirun (--nodes K or not) and mpiexec alike.
"""

import sys
import time

import numpy as np
from _mpi import COMM, RANK

a, b = int(sys.argv[1]), int(sys.argv[2])
batches = int(sys.argv[3]) if len(sys.argv) > 3 else 30
per = 200
s = np.zeros(8, np.uint8)
r = np.zeros(8, np.uint8)
ack = np.zeros(1, np.int32)
costs = []
for _ in range(batches):
    if RANK == a:
        t0 = time.perf_counter()
        for _ in range(per):
            COMM.Send(s, b, 1)
        costs.append((time.perf_counter() - t0) / per)
        COMM.Recv(ack, b, 2)
    elif RANK == b:
        # Wait for the whole batch: the last message probed, then received with the others.
        time.sleep(0.02)
        while not COMM.Iprobe(a, 1):
            time.sleep(0.001)
        time.sleep(0.02)
        t0 = time.perf_counter()
        for _ in range(per):
            COMM.Recv(r, a, 1)
        costs.append((time.perf_counter() - t0) / per)
        COMM.Send(ack, a, 2)
res = float(np.median(costs)) * 1e6 if costs else 0.0
if RANK == b:
    COMM.send(res, a, 7)
elif RANK == a:
    print(0, "RESULT", f"send {res:.2f} recv {COMM.recv(source=b, tag=7):.2f}")
