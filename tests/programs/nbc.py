"""Nonblocking and persistent collectives, Alltoallw, Isendrecv(_replace), Idup and partitioned
point-to-point: results and error classes, compared with mpi4py + Open MPI.

Integer data throughout (results do not depend on the order of combination), so every line is
exact under both implementations. Covers: each I-collective (IN_PLACE forms too), several
outstanding on one communicator completed in another order (Waitall of a reversed list, Testany
and Test loops) mixed with blocking collectives and p2p on the same communicator, persistent
restart loops, Alltoallw with per-peer datatypes, partitioned transfers readied in reverse order,
and bad arguments (root, sizes, partition indices).
"""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, error_class, out

I64 = np.int64
n, me = SIZE, RANK
right, left = (me + 1) % n, (me - 1) % n


def klass(exc: BaseException) -> str:
    if isinstance(exc, ValueError):
        return "ValueError"  # mpi4py checks counts itself; toro_mpi's is a ValueError too
    if isinstance(exc, MPI.Exception) and exc.Get_error_class() == MPI.ERR_ROOT:
        return "ERR_ROOT"
    return error_class(exc)


# -- every call once -------------------------------------------------------------------------
for root in range(n):
    buf = np.arange(5, dtype=I64) * (root + 1) if me == root else np.zeros(5, I64)
    COMM.Ibcast(buf, root).Wait()
    out("Ibcast", root, buf.tolist())
    r = np.zeros(3, I64)
    COMM.Ireduce(np.arange(3, dtype=I64) + me, r, MPI.SUM, root).Wait()
    out("Ireduce", root, r.tolist() if me == root else "-")
    g = np.zeros(2 * n, I64)
    COMM.Igather(np.array([me, -me], I64), g if me == root else None, root).Wait()
    out("Igather", root, g.tolist() if me == root else "-")
    s = np.zeros(2, I64)
    COMM.Iscatter(np.arange(2 * n, dtype=I64) * 3 if me == root else None, s, root).Wait()
    out("Iscatter", root, s.tolist())
    counts = [k + 1 for k in range(n)]
    displs = [sum(counts[:k]) for k in range(n)]
    gv = np.full(sum(counts), -1, I64)
    COMM.Igatherv(np.full(me + 1, me, I64), [gv, (counts, displs), MPI.INT64_T] if me == root else None, root).Wait()
    out("Igatherv", root, gv.tolist() if me == root else "-")
    sv = np.zeros(me + 1, I64)
    COMM.Iscatterv([np.arange(sum(counts), dtype=I64), (counts, displs), MPI.INT64_T] if me == root else None,
                   sv, root).Wait()
    out("Iscatterv", root, sv.tolist())

a = np.zeros(4, I64)
COMM.Iallreduce(np.arange(4, dtype=I64) * (me + 1), a, MPI.SUM).Wait()
out("Iallreduce SUM", a.tolist())
COMM.Iallreduce(np.array([me, -me, 7 * me], I64), a[:3], MPI.MAX).Wait()
out("Iallreduce MAX", a[:3].tolist())
ip = np.array([me + 1, 2], I64)
COMM.Iallreduce(MPI.IN_PLACE, ip, MPI.PROD).Wait()
out("Iallreduce IN_PLACE PROD", ip.tolist())
ag = np.zeros(n, I64)
COMM.Iallgather(np.array([me * me], I64), ag).Wait()
out("Iallgather", ag.tolist())
agv = np.zeros(sum(range(1, n + 1)), I64)
COMM.Iallgatherv(np.full(me + 1, me, I64), [agv, [k + 1 for k in range(n)]]).Wait()
out("Iallgatherv", agv.tolist())
at = np.zeros(n, I64)
COMM.Ialltoall(np.arange(n, dtype=I64) + 10 * me, at).Wait()
out("Ialltoall", at.tolist())
sc = [k + 1 for k in range(n)]
sd = [sum(sc[:k]) for k in range(n)]
rc = [me + 1] * n
rd = [k * (me + 1) for k in range(n)]
atv = np.zeros((me + 1) * n, I64)
COMM.Ialltoallv([np.arange(sum(sc), dtype=I64) + 100 * me, (sc, sd), MPI.INT64_T],
                [atv, (rc, rd), MPI.INT64_T]).Wait()
out("Ialltoallv", atv.tolist())
sn = np.zeros(2, I64)
COMM.Iscan(np.array([me + 1, 1], I64), sn, MPI.SUM).Wait()
out("Iscan", sn.tolist())
ex = np.full(2, -5, I64)
COMM.Iexscan(np.array([me + 1, 1], I64), ex, MPI.SUM).Wait()
out("Iexscan", ex.tolist() if me > 0 else "-")
rsb = np.zeros(2, I64)
COMM.Ireduce_scatter_block(np.arange(2 * n, dtype=I64) * (me + 1), rsb, MPI.SUM).Wait()
out("Ireduce_scatter_block", rsb.tolist())
cnts = [k % 2 + 1 for k in range(n)]
rs = np.zeros(cnts[me], I64)
COMM.Ireduce_scatter(np.arange(sum(cnts), dtype=I64) + me, rs, cnts, MPI.SUM).Wait()
out("Ireduce_scatter", rs.tolist())
COMM.Ibarrier().Wait()
out("Ibarrier done")

# Alltoallw with per-peer datatypes: int32 to even ranks, int64 to odd ones (byte displacements).
types = [MPI.INT32_T if k % 2 == 0 else MPI.INT64_T for k in range(n)]
sizes = [4 if k % 2 == 0 else 8 for k in range(n)]
offs = [sum(sizes[:k]) for k in range(n)]
sbytes = np.zeros(sum(sizes), np.uint8)
for k in range(n):
    sbytes[offs[k]: offs[k] + sizes[k]].view(np.int32 if sizes[k] == 4 else np.int64)[0] = 1000 * me + k
mine = MPI.INT32_T if me % 2 == 0 else MPI.INT64_T
msz = 4 if me % 2 == 0 else 8
rbytes = np.zeros(msz * n, np.uint8)
COMM.Alltoallw([sbytes, [1] * n, offs, types], [rbytes, [1] * n, [k * msz for k in range(n)], [mine] * n])
out("Alltoallw", rbytes.view(np.int32 if msz == 4 else np.int64).tolist())
rbytes[:] = 0
COMM.Ialltoallw([sbytes, ([1] * n, offs), types], [rbytes, ([1] * n, [k * msz for k in range(n)]), [mine] * n]).Wait()
out("Ialltoallw", rbytes.view(np.int32 if msz == 4 else np.int64).tolist())

# -- several outstanding, completed in another order, mixed with blocking calls and p2p ------
x1, x2, x3 = np.zeros(1, I64), np.zeros(n, I64), np.zeros(1, I64)
b2 = np.full(2, me, I64)
s1, s2, s3 = np.array([me], I64), np.array([me + 5], I64), np.array([1], I64)  # alive until completion
reqs = [COMM.Iallreduce(s1, x1), COMM.Iallgather(s2, x2), COMM.Ibcast(b2, n - 1), COMM.Iscan(s3, x3)]
blocking = COMM.allreduce(me)  # a blocking collective while they are outstanding
pr = np.zeros(1, I64)
sreq = COMM.Isend(np.array([me], I64), right, 9)
COMM.Recv(pr, left, 9)
sreq.Wait()
MPI.Request.Waitall(reqs[::-1])
out("outstanding", x1.tolist(), x2.tolist(), b2.tolist(), x3.tolist(), blocking, pr.tolist())
ys = [np.zeros(1, I64) for _ in range(5)]
xs = [np.array([me * k], I64) for k in range(5)]
reqs = [COMM.Iallreduce(xs[k], ys[k]) for k in range(5)]
got = []
while len(got) < 5:
    i, flag = MPI.Request.Testany(reqs)
    if flag and i != MPI.UNDEFINED:
        got.append(i)
out("testany", sorted(got), [y.tolist() for y in ys])
z = np.zeros(1, I64)
zs = np.array([me + 1], I64)
r = COMM.Ireduce(zs, z, MPI.SUM, 0)
while not r.Test():
    pass
out("test loop", z.tolist() if me == 0 else "-")

# -- persistent collectives, restarted --------------------------------------------------------
src = np.zeros(2, I64)
dst = np.zeros(2, I64)
p = COMM.Allreduce_init(src, dst, MPI.SUM)
b = np.zeros(3, I64)
q = COMM.Bcast_init(b, 0)
g = np.zeros(n, I64)
pg = COMM.Gather_init(np.zeros(1, I64) + me, g if me == 0 else None, 0)
pb = COMM.Barrier_init()
for it in range(3):
    src[:] = [it, me]
    if me == 0:
        b[:] = [it, it * 2, it * 3]
    p.Start()
    MPI.Prequest.Startall([q, pg, pb])
    MPI.Request.Waitall([pb, pg, q, p])
    out("persistent", it, dst.tolist(), b.tolist(), g.tolist() if me == 0 else "-")
for req in (p, q, pg, pb):
    req.Free()
out("persistent freed", p == MPI.REQUEST_NULL)
ps = np.zeros(1, I64)
pscan = COMM.Scan_init(np.array([2], I64), ps, MPI.SUM)
for _ in range(2):
    pscan.Start()
    pscan.Wait()
    out("Scan_init", ps.tolist())
pscan.Free()

# -- Isendrecv, Isendrecv_replace, Idup ----------------------------------------------------------
rb = np.zeros(3, I64)
st = MPI.Status()
COMM.Isendrecv(np.full(3, me, I64), right, 4, rb, left, 4).Wait(st)
out("Isendrecv", rb.tolist(), st.Get_source(), st.Get_tag())
rep = np.full(2, me * 10, I64)
COMM.Isendrecv_replace(rep, right, 5, left, 5).Wait()
out("Isendrecv_replace", rep.tolist())
COMM.Isendrecv(None, MPI.PROC_NULL, 0, None, MPI.PROC_NULL, 0).Wait()
COMM.Isendrecv_replace(None, MPI.PROC_NULL, 0, MPI.PROC_NULL, 0).Wait()
out("Isendrecv PROC_NULL done")
dup, req = COMM.Idup()
req.Wait()
out("Idup", dup.Get_size(), dup.Get_rank(), dup.allreduce(me), dup.Compare(COMM) == MPI.CONGRUENT)
dup.Free()

# -- partitioned: readied in reverse order, restarted --------------------------------------------
parts = 3
sb = np.zeros(parts * 2, I64)
rbuf = np.full(parts * 2, -1, I64)
psend = COMM.Psend_init(sb, parts, right, 6)
precv = COMM.Precv_init(rbuf, parts, left, 6)
for it in range(2):
    sb[:] = np.arange(parts * 2) + 100 * me + it
    precv.Start()
    psend.Start()
    for k in reversed(range(parts)):
        psend.Pready(k)
    arrived = []
    for k in range(parts):
        while not precv.Parrived(k):
            pass
        arrived.append(k)
    MPI.Request.Waitall([psend, precv])
    out("partitioned", it, arrived, rbuf.tolist())
psend.Free()
precv.Free()

# -- bad input ---------------------------------------------------------------------------------
for what, fn in [
    ("Ibcast root", lambda: COMM.Ibcast(np.zeros(1, I64), n)),
    ("Ireduce root", lambda: COMM.Ireduce(np.zeros(1, I64), np.zeros(1, I64), MPI.SUM, -3)),
    ("Iallreduce sizes", lambda: COMM.Iallreduce(np.zeros(3, I64), np.zeros(2, I64))),
    ("Ialltoall sizes", lambda: COMM.Ialltoall(np.zeros(2 * n + 1, I64), np.zeros(2 * n + 1, I64))),
    ("Bcast_init root", lambda: COMM.Bcast_init(np.zeros(1, I64), n + 1)),
]:
    try:
        fn()
        out(what, "no error")
    except Exception as exc:  # noqa: BLE001 - the class is what is compared
        out(what, klass(exc))
COMM.Barrier()
done()
