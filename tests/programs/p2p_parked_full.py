"""A parked message that fills its queue while the receiver is busy with other traffic, and a
receiver that goes idle with a message arriving: both must let the sender through (issue #20,
"unexp"; found in review). toro_mpi only.

`busy`, 3 ranks: rank 1 sends 200 x 8 KiB to rank 0 (more than its ring holds) while ranks 0
and 2 ping-pong; rank 2 stops when rank 1 says it is done, then rank 0 takes the 200. Before the
fix the ping-pong reset the spill's patience and rank 1 never finished.
`idle`, 2 ranks: rank 1 sends 40 x 100 KB (more than the ring) to rank 0, which sits in a
Barrier: a message parked as rank 0 goes to sleep would keep rank 1 waiting for a wake-up.
Each rank prints whether it finished within its limit."""

from __future__ import annotations

import sys
import time

import numpy as np
from _mpi import COMM, RANK, done, out

LIMIT = 20.0


def busy() -> None:
    n, size = 200, 8192
    COMM.Barrier()
    t0 = time.monotonic()
    if RANK == 1:
        for i in range(n):
            COMM.Send(np.full(size, i % 251, np.uint8), 0, 5)
        COMM.Send(np.zeros(1, np.int64), 2, 9)
        out("busy sends done", time.monotonic() - t0 < LIMIT)
    elif RANK == 2:
        flag, heard = np.zeros(1, np.int64), False
        while True:
            if not heard and COMM.Iprobe(1, 9):
                COMM.Recv(np.zeros(1, np.int64), 1, 9)
                heard = True
            flag[0] = 1 if heard or time.monotonic() - t0 > LIMIT else 0
            COMM.Send(flag, 0, 1)
            COMM.Recv(flag, 0, 2)
            if flag[0]:
                break
        out("busy heard", heard)
    else:
        flag = np.zeros(1, np.int64)
        while True:
            COMM.Recv(flag, 2, 1)
            COMM.Send(flag, 2, 2)
            if flag[0]:
                break
        buf = np.zeros(size, np.uint8)
        ok = True
        for i in range(n):
            COMM.Recv(buf, 1, 5)
            ok = ok and bool((buf == i % 251).all())
        out("busy received", ok)


def idle() -> None:
    n, size = 40, 100_000
    COMM.Barrier()
    if RANK == 1:
        time.sleep(0.3)
        t0 = time.monotonic()
        for i in range(n):
            COMM.Send(np.full(size, i, np.uint8), 0, 1)
        out("idle sends in time", time.monotonic() - t0 < 0.5 * LIMIT)
        COMM.Barrier()
    else:
        COMM.Barrier()
        buf = np.zeros(size, np.uint8)
        ok = True
        for i in range(n):
            COMM.Recv(buf, 1, 1)
            ok = ok and bool((buf == i).all())
        out("idle received", ok)


{"busy": busy, "idle": idle}[sys.argv[1]]()
done()
