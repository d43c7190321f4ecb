"""toro_mpi.jit on green-thread ranks (several ranks per process), against the Python calls: waits
between ranks of one process made inside jitted code, and a peer that finalizes while a jitted
receive waits for it. MODE jit (toro_mpi.jit calls) or py (Comm calls, under toro-mpirun or
mpiexec + mpi4py); the output must be the same line for line.

Usage: python jit_green.py MODE   (run with an even number of ranks; partners are r ^ 1, which
toro-mpirun hosts in one process at 2 ranks per core; at -n 2, one process per rank)
"""

from __future__ import annotations

import sys

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE

MODE = sys.argv[1] if len(sys.argv) > 1 else "py"
JIT = MODE == "jit"
ROUNDS = 2000
if JIT:
    import numba

    import toro_mpi.jit as tj

    H = tj.comm_handle(COMM)

    @numba.njit(cache=True)
    def j_sendrecv(h, sbuf, other, tag, rbuf, source):
        return tj.sendrecv(h, sbuf, other, tag, rbuf, source, tag)

    @numba.njit(cache=True)
    def j_pingpong(h, buf, other, first, rounds):
        """`rounds` round trips with `other`, each message one more than the last; the partner
        adds 1 before sending it back. Returns (code, last value seen)."""
        for _ in range(rounds):
            if first:
                buf[0] += 1.0
                c = tj.send(h, buf, other, 3)
                c = c or tj.recv(h, buf, other, 3)
            else:
                c = tj.recv(h, buf, other, 3)
                buf[0] += 1.0
                c = c or tj.send(h, buf, other, 3)
            if c != 0:
                return c, buf[0]
        return 0, buf[0]

    @numba.njit(cache=True)
    def j_ring(h, mine, theirs, left, right, rounds):
        """`rounds` shifts around the ring with sendrecv (waits across processes and within one)."""
        for _ in range(rounds):
            c = tj.sendrecv(h, mine, right, 4, theirs, left, 4)
            if c != 0:
                return c
            mine[:] = theirs
            mine[0] += 1.0
        return 0

    @numba.njit(cache=True)
    def j_recv(h, buf, source, tag):
        return tj.recv(h, buf, source, tag)


def out(*args: object) -> None:
    print(RANK, *args, flush=True)


def compiles(fn):
    """(fn(), how many functions numba compiled meanwhile in this process)."""
    if not JIT:
        return fn(), 0
    import numba.core.compiler as nc

    made = []
    ir = nc.compile_ir
    nc.compile_ir = lambda *a, **k: (made.append(1), ir(*a, **k))[1]
    try:
        return fn(), len(made)
    finally:
        nc.compile_ir = ir


# 0. A sendrecv that finds Python state first (a receive posted in Python: it leaves both halves
# to Comm.Sendrecv, as green-thread ranks' calls do every few steps, a message having been drained
# while they waited) after one that did not: numba compiled its fallback's objmode block at the
# handle's first sendrecv, not now, while the partner waits (issue #20). Only the send half (source
# PROC_NULL): the first call then has nothing to wait for and, with one rank per process, finds
# nothing drained before it; with green-thread ranks a partner's message may have been, and the
# first call takes the fallback itself.
other = RANK ^ 1
if other < SIZE:
    sb = np.full(4, float(RANK))
    rb = np.zeros(4)
    if JIT:
        tj.check(j_sendrecv(H, sb, other, 11, rb, MPI.PROC_NULL))
    else:
        COMM.Sendrecv(sb, other, 11, rb, MPI.PROC_NULL, 11)
    COMM.Barrier()
    COMM.Recv(rb, other, 11)
    COMM.Barrier()
    late = np.zeros(1)
    req = COMM.Irecv(late, other, 12)
    sb += 10
    if JIT:
        code, made = compiles(lambda: j_sendrecv(H, sb, other, 13, rb, MPI.PROC_NULL))
        tj.check(code)
    else:
        made = compiles(lambda: COMM.Sendrecv(sb, other, 13, rb, MPI.PROC_NULL, 13))[1]
    first = rb.tolist()
    COMM.Recv(rb, other, 13)
    COMM.Send(np.full(1, RANK + 0.5), other, 12)
    req.Wait()
    out("sendrecv after python state", first, rb.tolist(), late.tolist(), "compiled", made)
COMM.Barrier()

# 1. Ping-pong between the two ranks of a pair (one process under toro-mpirun, 2 ranks a core):
# every wait is for a green thread of this same process.
buf = np.zeros(4)
if other < SIZE:
    if JIT:
        code, last = j_pingpong(H, buf, other, RANK < other, ROUNDS)
        tj.check(code)
    else:
        for _ in range(ROUNDS):
            if RANK < other:
                buf[0] += 1.0
                COMM.Send(buf, other, 3)
                COMM.Recv(buf, other, 3)
            else:
                COMM.Recv(buf, other, 3)
                buf[0] += 1.0
                COMM.Send(buf, other, 3)
        last = buf[0]
    out("pingpong", last)
COMM.Barrier()

# 2. A ring of sendrecvs: each rank waits for its left neighbour, in its process or the other.
mine = np.full(8, float(RANK))
theirs = np.zeros(8)
left, right = (RANK - 1) % SIZE, (RANK + 1) % SIZE
if JIT:
    tj.check(j_ring(H, mine, theirs, left, right, 500))
else:
    for _ in range(500):
        COMM.Sendrecv(mine, right, 4, theirs, left, 4)
        mine[:] = theirs
        mine[0] += 1.0
out("ring", mine.tolist())
COMM.Barrier()

# 3. A peer that finalizes while a jitted receive waits for it: rank 1 ends without sending;
# rank 0 (its process under toro-mpirun) and rank 2 (the other process) wait for it. The receive
# must fail (as the Python Recv does), not hang.
if RANK == 1:
    out("ok")
    sys.exit(0)
if RANK in (0, 2):
    got = np.zeros(2)
    try:
        if JIT:
            tj.check(j_recv(H, got, 1, 5))
        else:
            COMM.Recv(got, 1, 5)
        out("dead peer", "received")
    except MPI.Exception as exc:
        out("dead peer", "error", exc.Get_error_class())
out("ok")
