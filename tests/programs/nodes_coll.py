"""Every collective (v-variants included) at 0, 8 B, 64 KiB - 1, 64 KiB, 64 KiB + 1 and 1 MiB per
rank, roots on every rank, on COMM_WORLD and on sub-communicators (Split by parity, Dup,
Create_group of the ranks reversed). Integer data (and float64 holding small integers), so every
result is exact whatever the grouping; each line is a label and a digest of the result.
Runs under toro-mpirun (--nodes K, any node map) and mpiexec + mpi4py alike.
"""

import numpy as np
from _mpi import COMM, MPI, RANK, digest, out

SIZES = [0, 8, 65535, 65536, 65537, 1 << 20]


def data(nbytes: int, salt: int, dtype=np.uint8) -> np.ndarray:
    n = nbytes // np.dtype(dtype).itemsize
    # Small values: a sum of up to 8 ranks' never overflows uint8 (Open MPI's uint8 SUM does not
    # wrap the way numpy does: 4 ranks of values < 101 gave digests no modular sum gives).
    return ((np.arange(n, dtype=np.int64) * 7 + salt * 13 + 1) % 31).astype(dtype)


def counts_for(size: int, nbytes: int) -> list[int]:
    """Uneven element counts per rank summing to about nbytes (v-variants)."""
    base = nbytes // max(1, size * 2)
    return [base * (1 + (r % 3)) // 2 + r for r in range(size)] if nbytes else [0] * size


def run(comm, name: str) -> None:
    me, size = comm.Get_rank(), comm.Get_size()
    comm.Barrier()
    for nb in SIZES:
        tag = f"{name} {nb}"
        dt = np.uint8 if nb % 8 else np.int64
        for root in range(size):
            buf = data(nb, root, dt) if me == root else np.zeros(nb // np.dtype(dt).itemsize, dt)
            comm.Bcast(buf, root=root)
            out(tag, "Bcast", root, digest(buf))
            recv = np.zeros_like(buf) if me == root else None
            comm.Reduce(data(nb, me, dt), recv, op=MPI.SUM, root=root)
            if me == root:
                out(tag, "Reduce", root, digest(recv))
            per = nb // size // np.dtype(dt).itemsize
            g = np.zeros(per * size, dt) if me == root else None
            comm.Gather(data(per * np.dtype(dt).itemsize, me, dt), g, root=root)
            if me == root:
                out(tag, "Gather", root, digest(g))
            s = np.empty(per, dt)
            comm.Scatter(data(per * size * np.dtype(dt).itemsize, root, dt) if me == root else None, s, root=root)
            out(tag, "Scatter", root, digest(s))
            cnt = counts_for(size, nb)
            gv = np.zeros(sum(cnt), np.uint8) if me == root else None
            comm.Gatherv(data(cnt[me], me), [gv, cnt] if me == root else None, root=root)
            if me == root:
                out(tag, "Gatherv", root, digest(gv))
            sv = np.empty(cnt[me], np.uint8)
            comm.Scatterv([data(sum(cnt), root), cnt] if me == root else None, sv, root=root)
            out(tag, "Scatterv", root, digest(sv))
        a = data(nb, me, dt)
        r = np.empty_like(a)
        for opname, op in (("SUM", MPI.SUM), ("MAX", MPI.MAX), ("BXOR", MPI.BXOR)):
            comm.Allreduce(a, r, op=op)
            out(tag, "Allreduce", opname, digest(r))
        f = data(nb, me, np.float64)
        fr = np.empty_like(f)
        comm.Allreduce(f, fr, op=MPI.SUM)
        out(tag, "Allreduce float64", digest(fr))
        per = nb // size // np.dtype(dt).itemsize
        ag = np.empty(per * size, dt)
        comm.Allgather(data(per * np.dtype(dt).itemsize, me, dt), ag)
        out(tag, "Allgather", digest(ag))
        at = np.empty(per * size, dt)
        comm.Alltoall(data(per * size * np.dtype(dt).itemsize, me, dt), at)
        out(tag, "Alltoall", digest(at))
        cnt = counts_for(size, nb)
        agv = np.empty(sum(cnt), np.uint8)
        comm.Allgatherv(data(cnt[me], me), [agv, cnt])
        out(tag, "Allgatherv", digest(agv))
        # Alltoallv: rank i sends cnt[(i + d) % size] % 97 elements to rank d.
        scnt = [cnt[(me + d) % size] % 97 for d in range(size)]
        rcnt = [cnt[(s + me) % size] % 97 for s in range(size)]
        av = np.empty(sum(rcnt), np.uint8)
        comm.Alltoallv([data(sum(scnt), me), scnt], [av, rcnt])
        out(tag, "Alltoallv", digest(av))
        rsb = np.empty(per, dt)
        comm.Reduce_scatter_block(data(per * size * np.dtype(dt).itemsize, me, dt), rsb, op=MPI.SUM)
        out(tag, "Reduce_scatter_block", digest(rsb))
        rc = [c % 89 for c in cnt]
        rs = np.empty(rc[me], np.uint8)
        comm.Reduce_scatter(data(sum(rc), me), rs, rc, op=MPI.SUM)
        out(tag, "Reduce_scatter", digest(rs))
        sc = np.empty_like(a)
        comm.Scan(a, sc, op=MPI.SUM)
        out(tag, "Scan", digest(sc))
        ex = np.zeros_like(a)
        comm.Exscan(a, ex, op=MPI.SUM)
        if me:
            out(tag, "Exscan", digest(ex))
    out(name, "bcast obj", comm.bcast({"from": 0, "size": size} if me == 0 else None, root=0))
    out(name, "allgather obj", comm.allgather((me, name)))
    comm.Barrier()


run(COMM, "world")
half = COMM.Split(RANK % 2, RANK)
run(half, f"parity{RANK % 2}")
dup = COMM.Dup()
run(dup, "dup")
rev = COMM.Create_group(COMM.Get_group().Incl(list(range(COMM.Get_size()))[::-1]))
run(rev, "reversed")
for c in (half, dup, rev):
    c.Free()
out("ok")
