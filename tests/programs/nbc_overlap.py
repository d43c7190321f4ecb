"""Nonblocking collectives with work between start and Wait: results compared with mpi4py +
Open MPI (tests/test_nbc_overlap.py).

Exercises the paths of mpi/nonblocking.py that make a repeated call cheap and let it progress
while the program computes: a repeated Iallreduce over the same arrays (its remembered call
site, receive straight into the result on two ranks, scratch and rank-order fold otherwise),
Ibarrier, the jitted spin at Wait. Between start and Wait: numpy work, other MPI traffic on the
same communicator (Sendrecv, blocking collectives, another nonblocking collective), Test()
polling loops; several pending collectives completed in an order that differs by rank; the
persistent forms. Values are small integers (also in float64), so every sum is exact whatever
the order of combination and each line is the same under both implementations.
"""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

n, me = SIZE, RANK
right, left = (me + 1) % n, (me - 1) % n
scratch = np.ones(4096)


def work(rounds: int = 20) -> None:
    """Computation with no MPI call."""
    for _ in range(rounds):
        np.sin(scratch, out=scratch)


def digest(a: np.ndarray) -> str:
    """A short exact summary of an integer-valued array."""
    a = a.astype(np.float64)
    return f"{a.sum():.0f}/{(a * np.arange(a.size)).sum():.0f}/{a.min():.0f}/{a.max():.0f}"


OPS = [("SUM", MPI.SUM), ("PROD", MPI.PROD), ("MAX", MPI.MAX), ("MIN", MPI.MIN), ("BAND", MPI.BAND),
       ("BOR", MPI.BOR), ("BXOR", MPI.BXOR), ("LAND", MPI.LAND), ("LOR", MPI.LOR)]

# -- a repeated call site, new values every time, work in between ---------------------------
for count in (1, 1000, 70000):
    for dtname in ("int64", "float64", "int32"):
        for opname, op in OPS:
            if dtname == "float64" and opname in ("BAND", "BOR", "BXOR", "LAND", "LOR"):
                continue
            send = np.zeros(count, dtname)
            recv = np.zeros(count, dtname)
            got = []
            for it in range(3):
                send[:] = (np.arange(count) + me + it) % 5 + (1 if opname == "PROD" else 0)
                if opname == "PROD" and count > 1:
                    send[:] = np.where(np.arange(count) % 7 == me % 7, 2, 1)
                req = COMM.Iallreduce(send, recv, op)
                work(5 if count < 70000 else 1)
                req.Wait()
                got.append(digest(recv))
            out("Iallreduce", count, dtname, opname, *got)

# -- other traffic on the same communicator between start and Wait ---------------------------
a = np.zeros(5000)
b = np.zeros(5000)
x = np.zeros(3, np.int64)
y = np.zeros(3, np.int64)
for it in range(4):
    a[:] = np.arange(5000) % 11 + me + it
    req = COMM.Iallreduce(a, b, MPI.SUM)
    bar = COMM.Ibarrier()
    got = np.zeros(7, np.int64)
    COMM.Sendrecv(np.full(7, me + it, np.int64), right, 5, got, left, 5)
    x[:] = [me, it, 1]
    COMM.Allreduce(x, y, MPI.SUM)
    c = np.arange(4, dtype=np.int64) * it if me == 0 else np.zeros(4, np.int64)
    COMM.Bcast(c, 0)
    work(3)
    if it % 2:
        bar.Wait()
        req.Wait()
    else:
        req.Wait()
        bar.Wait()
    out("traffic", it, digest(b), got.tolist(), y.tolist(), c.tolist())

# -- Test() polling loops --------------------------------------------------------------------
for count in (8, 20000):
    s = np.full(count, me + 1.0)
    r = np.zeros(count)
    for it in range(3):
        s += 1
        req = COMM.Iallreduce(s, r, MPI.SUM)
        while not req.Test():
            work(1)
        out("Test loop", count, it, digest(r))
    breq = COMM.Ibarrier()
    while not breq.Test():
        work(1)
    out("Ibarrier Test loop", count, breq == MPI.REQUEST_NULL)

# -- several pending, started in one order, completed in another (per rank) ------------------
s1, r1 = np.full(10, me, np.int64), np.zeros(10, np.int64)
s2, r2 = np.full(30000, me + 1.0), np.zeros(30000)
bc = np.arange(6, dtype=np.int64) if me == 0 else np.zeros(6, np.int64)
g = np.zeros(n, np.int64)
for it in range(3):
    s1 += 1
    s2 += 2
    reqs = [COMM.Iallreduce(s1, r1, MPI.MAX), COMM.Ibarrier(), COMM.Iallreduce(s2, r2, MPI.SUM),
            COMM.Ibcast(bc, 0), COMM.Iallgather(np.array([me * 10 + it], np.int64), g)]
    work(3)
    order = reqs[::-1] if (me + it) % 2 else reqs
    if (me + it) % 3 == 2:
        MPI.Request.Waitall(order)
    else:
        for q in order:
            q.Wait()
    out("pending", it, r1.tolist()[:3], digest(r2), bc.tolist(), g.tolist())

# -- two requests over one send buffer, alternating result buffers ---------------------------
s = np.arange(100, dtype=np.int64) + me
ra, rb = np.zeros(100, np.int64), np.zeros(100, np.int64)
for it in range(4):
    q1 = COMM.Iallreduce(s, ra, MPI.SUM)
    q2 = COMM.Iallreduce(s, rb, MPI.MAX)
    work(2)
    MPI.Request.Waitall([q2, q1] if me % 2 else [q1, q2])
    out("shared send", it, digest(ra), digest(rb))
    s += 1

# -- in place, and the persistent forms, with work between Start and Wait ---------------------
ip = np.zeros(50)
for it in range(3):
    ip[:] = np.arange(50) + me + it
    req = COMM.Iallreduce(MPI.IN_PLACE, ip, MPI.SUM)
    work(2)
    req.Wait()
    out("in place", it, digest(ip))
ps, pr = np.zeros(3000), np.zeros(3000)
preq = COMM.Allreduce_init(ps, pr, MPI.SUM)
pbar = COMM.Barrier_init()
for it in range(4):
    ps[:] = np.arange(3000) % 13 * (me + 1) + it
    preq.Start()
    pbar.Start()
    work(3)
    MPI.Request.Waitall([pbar, preq] if me % 2 else [preq, pbar])
    out("persistent", it, digest(pr))
preq.Free()
pbar.Free()

# -- a communicator of its own, then freed --------------------------------------------------
sub = COMM.Dup()
t = np.full(4, me, np.int64)
u = np.zeros(4, np.int64)
for it in range(2):
    q = sub.Iallreduce(t, u, MPI.SUM)
    qb = sub.Ibarrier()
    work(2)
    MPI.Request.Waitall([qb, q])
    out("dup", it, u.tolist())
sub.Free()
done()
