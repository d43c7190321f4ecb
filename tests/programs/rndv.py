"""Rendezvous messages (64 KiB and more between processes of one node: only a header travels, the
receiver reads the payload out of the sender and acknowledges in a slot; bus/layout.py
"Rendezvous"), under toro_mpi and under mpi4py + Open MPI, which prints the same lines:

- reuse: a blocking Send returns only once the payload is read, so the sender may overwrite its
  buffer at once, while the receiver is still asleep;
- isend_reuse: an Isend's buffer is read when its receive is posted, not when Isend is called;
- many_outstanding: more unread requests than a queue has acknowledgement slots, received in an
  order that leaves the earliest unread longest (the later ones go eager through the ring);
- mprobe: a matched probe of a rendezvous message reports its size; Mrecv then reads it;
- any_source: rendezvous messages from every rank to rank 0 by ANY_SOURCE;
- sendrecv_ring: Sendrecv of 256 KiB around all ranks;
- ssend_waits (3 ranks or more): a synchronous send completes only once its receive is posted,
  also while the receiver is blocked elsewhere (idle: it reads standard sends unasked, never
  synchronous ones) and when every acknowledgement slot of the queue is taken (the eager
  fallback stays synchronous). Shown by the order of messages: rank 2 looks for rank 0's notice
  "my Ssend returned" before it lets rank 1 post the receive.

With the argument `head-to-head` (toro_mpi only: Open MPI deadlocks there, as MPI allows) every
rank first Sends 1 MiB to its right neighbour and only then receives from its left: the Sends
complete once each rank, idle in its Send, reads what it was sent unasked.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, done, out

BIG = 1 << 18  # bytes: well above the rendezvous threshold


def reuse() -> None:
    if RANK == 0:
        buf = np.full(BIG, 1, np.uint8)
        COMM.Send(buf, dest=1, tag=1)
        buf[:] = 2  # Send returned: the payload has been read
        COMM.Send(buf, dest=1, tag=2)
    elif RANK == 1:
        time.sleep(0.05)
        first, second = np.zeros(BIG, np.uint8), np.zeros(BIG, np.uint8)
        COMM.Recv(first, source=0, tag=1)
        COMM.Recv(second, source=0, tag=2)
        out("reuse", int(first.min()), int(first.max()), int(second.min()), int(second.max()))


def isend_reuse() -> None:
    if RANK == 0:
        buf = np.arange(BIG // 8, dtype=np.float64)
        req = COMM.Isend(buf, dest=1, tag=3)
        req.Wait()
        buf[:] = -1  # complete: the receiver has its copy, whatever happens to buf now
        out("isend done")
    elif RANK == 1:
        time.sleep(0.05)  # the receive is posted well after the Isend
        got = np.zeros(BIG // 8, np.float64)
        COMM.Recv(got, source=0, tag=3)
        out("isend got", digest(got), bool((got == np.arange(BIG // 8)).all()))


def many_outstanding() -> None:
    count = 80  # more than the 64 slots of a queue
    if RANK == 0:
        bufs = [np.full(70000, t % 251, np.uint8) for t in range(count)]
        reqs = [COMM.Isend(bufs[t], dest=1, tag=t) for t in range(count)]
        MPI.Request.Waitall(reqs)
    elif RANK == 1:
        buf = np.zeros(70000, np.uint8)
        for t in list(range(count - 1, count // 2, -1)) + list(range(count // 2 + 1)):
            COMM.Recv(buf, source=0, tag=t)
            assert (buf == t % 251).all(), t
        out("many outstanding received", count)
    COMM.Barrier()


def mprobe() -> None:
    if RANK == 0:
        COMM.Send(np.arange(BIG // 4, dtype=np.int32), dest=1, tag=4)
    elif RANK == 1:
        status = MPI.Status()
        msg = COMM.Mprobe(source=0, tag=4, status=status)
        count = status.Get_count(MPI.INT32_T)
        buf = np.zeros(count, np.int32)
        msg.Recv(buf)
        out("mprobe", count, digest(buf))


def any_source() -> None:
    if RANK == 0:
        seen = []
        buf = np.zeros(BIG, np.uint8)
        status = MPI.Status()
        for _ in range(SIZE - 1):
            COMM.Recv(buf, source=MPI.ANY_SOURCE, tag=5, status=status)
            assert (buf == status.Get_source()).all()
            seen.append(status.Get_source())
        out("any source", sorted(seen))
    else:
        COMM.Send(np.full(BIG, RANK, np.uint8), dest=0, tag=5)


def sendrecv_ring() -> None:
    right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE
    got = np.zeros(BIG // 8, np.float64)
    COMM.Sendrecv(np.full(BIG // 8, RANK, np.float64), dest=right, sendtag=6, recvbuf=got, source=left, recvtag=6)
    out("sendrecv ring got", int(got[0]), int(got[-1]))


def ssend_waits() -> None:
    if SIZE < 3:
        return
    for phase, busy in (("idle", False), ("slots taken", True)):
        COMM.Barrier()
        if RANK == 0:
            reqs = [COMM.Isend(np.full(BIG, 1, np.uint8), dest=1, tag=20) for _ in range(70 if busy else 0)]
            COMM.Ssend(np.full(BIG, 2, np.uint8), dest=1, tag=21)
            COMM.Send(np.zeros(1, np.uint8), dest=2, tag=22)  # notice: the Ssend returned
            MPI.Request.Waitall(reqs)
        elif RANK == 1:
            go = np.zeros(1, np.uint8)
            if busy:
                # Never idle: every unread request keeps its slot, and the Ssend finds none.
                while not COMM.Iprobe(source=2, tag=9):
                    pass
                COMM.Recv(go, source=2, tag=9)
            else:
                COMM.Recv(go, source=2, tag=9)  # blocked (idle) meanwhile
            got = np.zeros(BIG, np.uint8)
            COMM.Recv(got, source=0, tag=21)
            for _ in range(70 if busy else 0):
                COMM.Recv(np.zeros(BIG, np.uint8), source=0, tag=20)
            assert (got == 2).all()
        elif RANK == 2:
            time.sleep(0.3)  # 100 times the spin before a rank goes idle
            early = COMM.Iprobe(source=0, tag=22)
            COMM.Send(np.zeros(1, np.uint8), dest=1, tag=9)
            COMM.Recv(np.zeros(1, np.uint8), source=0, tag=22)
            out("ssend", phase, "returned before its receive was posted:", early)


def head_to_head() -> None:
    right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE
    COMM.Send(np.full(1 << 20, RANK, np.uint8), dest=right, tag=7)
    got = np.zeros(1 << 20, np.uint8)
    COMM.Recv(got, source=left, tag=7)
    assert (got == left).all()
    out("head to head got", left)


if sys.argv[1:] == ["head-to-head"]:
    head_to_head()
else:
    for scenario in (reuse, isend_reuse, many_outstanding, mprobe, any_source, sendrecv_ring, ssend_waits):
        scenario()
        COMM.Barrier()
done()
