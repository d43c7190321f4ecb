"""toro_mpi.jit against the Python API: the same scenarios, made with jitted calls (MODE jit, under
toro-mpirun) or with the Python calls (MODE py, under toro-mpirun or mpiexec + mpi4py); the output
must be the same line for line. MODE jit also mixes jitted and Python calls on the same pair and
forces the fallbacks (a queued Python isend before a jitted send, an unexpected message before a
jitted receive).

Usage: python jit_api.py MODE   (MODE: jit or py)
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _mpi import COMM, IMPL, MPI, RANK, SIZE

MODE = sys.argv[1] if len(sys.argv) > 1 else "py"
JIT = MODE == "jit"
if JIT:
    import numba

    import toro_mpi.jit as tj

    H = tj.comm_handle(COMM)

    @numba.njit(cache=True)
    def j_send(h, buf, dest, tag):
        return tj.send(h, buf, dest, tag)

    @numba.njit(cache=True)
    def j_recv(h, buf, source, tag, st):
        return tj.recv(h, buf, source, tag, st)

    @numba.njit(cache=True)
    def j_sendrecv(h, sbuf, dest, stag, rbuf, source, rtag, st):
        return tj.sendrecv(h, sbuf, dest, stag, rbuf, source, rtag, st)

    @numba.njit(cache=True)
    def j_exchange(h, sbuf, rbuf, left, right, sts):
        """irecv from left, isend to right, waitall: all in one jitted call."""
        reqs = np.empty(2, np.int64)
        c1, reqs[0] = tj.irecv(h, rbuf, left, 9)
        c2, reqs[1] = tj.isend(h, sbuf, right, 9)
        if c1 != 0:
            return c1
        if c2 != 0:
            return c2
        return tj.waitall(h, reqs, sts)

    @numba.njit(cache=True)
    def j_coll(h, buf, sbuf, rbuf, rbuf2, root):
        c = tj.bcast(h, buf, 0)
        c = c or tj.allreduce(h, sbuf, rbuf, tj.SUM)
        c = c or tj.reduce(h, sbuf, rbuf2, tj.MAX, root)
        c = c or tj.barrier(h)
        return c

    @numba.njit(cache=True)
    def j_allreduce_loop(h, rank, n, res):
        """Repeated small allreduces: the first learns a record, the later ones run it."""
        a = np.zeros(2)
        b = np.zeros(2)
        k = np.zeros(1, np.int64)
        kr = np.zeros(1, np.int64)
        for i in range(n):
            a[0] = rank + i
            a[1] = -rank * i
            c = tj.allreduce(h, a, b, tj.SUM) or tj.allreduce(h, a[:1], b[:1], tj.MAX)
            k[0] = rank * 3 + i
            c = c or tj.allreduce(h, k, kr, tj.MIN)
            if c != 0:
                return c
            res[i, 0] = b[0]
            res[i, 1] = b[1]
            res[i, 2] = kr[0]
        return 0

    @numba.njit(cache=True)
    def j_recv_many(h, buf, source, n, out):
        st = np.zeros(4, np.int64)
        for i in range(n):
            c = tj.recv(h, buf, source, tj.ANY_TAG, st)
            if c != 0:
                return c
            out[i] = buf[0]
        return 0


def out(*args: object) -> None:
    print(RANK, *args, flush=True)


def err_class(fn) -> str:
    """Run fn (py mode: raises; jit mode: returns a code, turned into MPI.Exception by check)."""
    try:
        r = fn()
        if JIT:
            tj.check(r)
        return "ok"
    except MPI.Exception as exc:
        return f"error {exc.Get_error_class()}"


def send(buf, dest, tag):
    return j_send(H, buf, dest, tag) if JIT else COMM.Send(buf, dest, tag)


def recv(buf, source, tag):
    """(error, source, tag, count) of a receive."""
    if JIT:
        st = np.zeros(4, np.int64)
        code = j_recv(H, buf, source, tag, st)
        try:
            tj.check(code)
            e = "ok"
        except MPI.Exception as exc:
            e = f"error {exc.Get_error_class()}"
        return e, int(st[0]), int(st[1]), int(st[2])
    st = MPI.Status()
    try:
        COMM.Recv(buf, source, tag, st)
        e = "ok"
    except MPI.Exception as exc:
        e = f"error {exc.Get_error_class()}"
    return e, st.Get_source(), st.Get_tag(), st.Get_count(MPI.DOUBLE if buf.dtype == np.float64 else MPI.BYTE)


# 1. tags out of order on one pair: the later receives see the earlier messages in order.
buf = np.zeros(3)
if RANK == 0:
    for tag in (5, 6, 7):
        send(np.full(3, float(tag)), 1, tag)
elif RANK == 1:
    out("tags", recv(buf, 0, 7), buf.tolist())
    out("tags", recv(buf, 0, MPI.ANY_TAG), buf.tolist())
    out("tags", recv(buf, MPI.ANY_SOURCE, MPI.ANY_TAG), buf.tolist())
COMM.Barrier()

# 2. ANY_SOURCE: every other rank sends to 0.
if RANK == 0:
    got = []
    for _ in range(SIZE - 1):
        e, s, t, c = recv(buf, MPI.ANY_SOURCE, MPI.ANY_TAG)
        got.append((e, s, t, c, buf[0] == s))
    out("any_source", sorted(got))
else:
    send(np.full(3, float(RANK)), 0, 100 + RANK)
COMM.Barrier()

# 3. truncation, then the pair still works.
if RANK == 0:
    send(np.arange(4.0), 1, 3)
    send(np.arange(2.0) + 10, 1, 4)
elif RANK == 1:
    small = np.zeros(2)
    out("truncate", recv(small, 0, 3)[0], small.tolist())
    out("after", recv(small, 0, 4), small.tolist())
COMM.Barrier()

# 4. argument errors.
one = np.zeros(1)
out("bad rank", err_class(lambda: send(one, SIZE, 0)))
out("bad tag", err_class(lambda: send(one, (RANK + 1) % SIZE, -5)))
out("bad source", err_class(lambda: j_recv(H, one, SIZE + 3, 0, np.zeros(4, np.int64)) if JIT
                            else COMM.Recv(one, SIZE + 3, 0)))
COMM.Barrier()

# 5. ring shift with sendrecv, PROC_NULL at the ends.
left = RANK - 1 if RANK > 0 else MPI.PROC_NULL
right = RANK + 1 if RANK < SIZE - 1 else MPI.PROC_NULL
sb = np.full(4, float(RANK))
rb = np.full(4, -1.0)
if JIT:
    st = np.zeros(4, np.int64)
    code = j_sendrecv(H, sb, right, 2, rb, left, 2, st)
    out("sendrecv", code, int(st[0]), int(st[1]) if left >= 0 else -1, int(st[2]), rb.tolist())
else:
    st = MPI.Status()
    COMM.Sendrecv(sb, right, 2, rb, left, 2, st)
    out("sendrecv", 0, st.Get_source(), st.Get_tag() if left >= 0 else -1, st.Get_count(MPI.DOUBLE), rb.tolist())

# 6. nonblocking ring: irecv from the left, isend to the right, waitall.
lp, rp = (RANK - 1) % SIZE, (RANK + 1) % SIZE
sb = np.full(5, RANK * 1.5)
rb = np.zeros(5)
if JIT:
    sts = np.zeros((2, 4), np.int64)
    code = j_exchange(H, sb, rb, lp, rp, sts)
    out("waitall", code, sts[0, :3].tolist(), rb.tolist())
else:
    st = MPI.Status()
    reqs = [COMM.Irecv(rb, lp, 9), COMM.Isend(sb, rp, 9)]
    reqs[0].Wait(st)
    reqs[1].Wait()
    out("waitall", 0, [st.Get_source(), st.Get_tag(), st.Get_count(MPI.DOUBLE)], rb.tolist())

# 7. collectives.
b = np.arange(3.0) * (7 if RANK == 0 else 0)
s = np.array([RANK + 1.0, 2.0 * RANK])
r1 = np.zeros(2)
r2 = np.zeros(2)
if JIT:
    code = j_coll(H, b, s, r1, r2, SIZE - 1)
else:
    COMM.Bcast(b, 0)
    COMM.Allreduce(s, r1, MPI.SUM)
    COMM.Reduce(s, r2, MPI.MAX, SIZE - 1)
    COMM.Barrier()
    code = 0
out("coll", code, b.tolist(), r1.tolist(), r2.tolist() if RANK == SIZE - 1 else None)

# 7b. repeated small allreduces (the jitted ones run the Python call's plan after the first).
res = np.zeros((6, 3))
if JIT:
    code = j_allreduce_loop(H, RANK, 6, res)
    # The three combinations (SUM 2 x f8, MAX 1 x f8, MIN 1 x i8) each learned a record that the
    # later calls replay in jitted code; green-thread ranks keep none (their calls are Python's).
    from toro_mpi.jit import layout as JL
    first = JL.H_TX + 2 * int(H[JL.H_SIZE]) + JL.NREQ * JL.REQ_W
    kept = sum(int(H[first + i * JL.AR_W + JL.AR_WORDS] != 0) for i in range(JL.NAR))
    out("fallbacks-free allreduce records", kept, COMM._engine.host_of is not None)
else:
    a, b = np.zeros(2), np.zeros(2)
    k, kr = np.zeros(1, np.int64), np.zeros(1, np.int64)
    for i in range(6):
        a[0], a[1] = RANK + i, -RANK * i
        COMM.Allreduce(a, b, MPI.SUM)
        COMM.Allreduce(a[:1], b[:1], MPI.MAX)
        k[0] = RANK * 3 + i
        COMM.Allreduce(k, kr, MPI.MIN)
        res[i] = b[0], b[1], kr[0]
    code = 0
out("allreduce loop", code, res.tolist())

# 8. jitted and Python senders and receivers mixed on one pair, and forced fallbacks.
if JIT and IMPL == "toro":
    N = 100
    if RANK == 0:
        # 8 MiB is four times what a ring holds: most of it stays queued in Python.
        big = np.arange(1 << 20, dtype=np.float64)
        reqs = [COMM.Isend(big, 1, 2)] + [COMM.Isend(np.full(1, float(i)), 1, 3) for i in range(N)]
        out("queued behind", COMM._engine.pending_sends > 0)
        send(np.full(1, float(N)), 1, 4)  # jitted: must not overtake the queued Python sends
        MPI.Request.Waitall(reqs)
        for i in range(6):  # alternate jitted and Python sends
            (send if i % 2 else COMM.Send)(np.full(1, float(i)), 1, 10 + i)
        COMM.Send(np.full(1, 1.0), 1, 21)
        send(np.full(1, 2.0), 1, 22)
    elif RANK == 1:
        # Rank 0's ring (64 slots) fills while we do not drain it: the rest of its isends queue.
        time.sleep(2)
        bigr = np.zeros(1 << 20)
        e, s_, t_, c_ = recv(bigr, 0, MPI.ANY_TAG)
        got = np.zeros(N + 1)
        code = j_recv_many(H, one, 0, N + 1, got)
        out("in order", code, bool((got == np.arange(N + 1.0)).all()),
            (e, t_, c_), bool((bigr == np.arange(1 << 20)).all()))
        vals = []
        for i in range(6):
            if i % 2:
                COMM.Recv(one, 0, MPI.ANY_TAG)
            else:
                recv(one, 0, MPI.ANY_TAG)
            vals.append(float(one[0]))
        out("mixed", vals)
        COMM.Recv(one, 0, 22)  # the tag-21 message becomes unexpected in Python
        out("unexpected", float(one[0]), recv(one, 0, 21), float(one[0]))
        # type mismatch: the jitted call reports what the Python call raises
        COMM.Send(np.arange(2, dtype=np.int32), 0, 30)
        COMM.Send(np.arange(2, dtype=np.int32), 0, 31)
    if RANK == 0:
        f = np.zeros(2)
        e_py = err_class(lambda: COMM.Recv(f, 1, 30))
        e_jit = recv(f, 1, 31)[0]
        out("type", e_py == e_jit, e_jit)
    # Fallback counts: a message to oneself has no ring (both calls go to Python, one fallback
    # each); PROC_NULL needs no engine (none).
    before = tj.fallbacks(H)
    mine = np.full(1, 7.0 + RANK)
    send(mine, RANK, 40)
    got = recv(np.zeros(1), RANK, 40)
    self_fb = tj.fallbacks(H) - before
    send(mine, MPI.PROC_NULL, 41)
    null = recv(np.zeros(1), MPI.PROC_NULL, 41)
    out("fallbacks", self_fb, got, tj.fallbacks(H) - before - self_fb, null)
COMM.Barrier()

# 9. a split communicator: ranks and contexts of its own (the handle maps them to world ranks).
sub = COMM.Split(RANK % 2, -RANK)  # reversed order: comm ranks differ from world ranks
sr, ss = sub.Get_rank(), sub.Get_size()
sb = np.full(2, 10.0 * RANK)
rb = np.zeros(2)
if JIT:
    hs = tj.comm_handle(sub)
    st = np.zeros(4, np.int64)
    code = j_sendrecv(hs, sb, (sr + 1) % ss, 4, rb, (sr - 1) % ss, 4, st)
    out("split", code, int(st[0]), int(st[1]), rb.tolist())
else:
    st = MPI.Status()
    sub.Sendrecv(sb, (sr + 1) % ss, 4, rb, (sr - 1) % ss, 4, st)
    out("split", 0, st.Get_source(), st.Get_tag(), rb.tolist())
sub.Free()
COMM.Barrier()
out("ok")
