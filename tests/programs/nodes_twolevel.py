"""Barrier, Bcast, Reduce and Allreduce as a job of several nodes runs them two-level (node-local
phase, leaders over the network, node-local phase), on COMM_WORLD, a Split across the nodes
(parity) and a Split by halves, roots on every rank, sizes 0, 8 B, 64 KiB - 1, 64 KiB, 64 KiB + 1
and 1 MiB; in-place forms; MIN, MAX, BXOR, BAND, PROD, MAXLOC; a non-commutative user operator
(must fall back to rank order); Allgather, Gather and Scatter (in place too). Barrier: no rank
leaves before the last one entered (checked with a message sent after the barrier by the last rank
to enter).

Usage: nodes_twolevel.py [exact|floats] [quick]. `exact` (default): integer data, each line a
label and a digest; output identical to mpiexec + mpi4py. `floats`: random float64, float32 and
complex128 sums and products whose bits depend on the grouping: compared with the same program
on one node of toro_mpi (bit for bit).

Under toro_mpi, stderr gets "R twolevel N": how many Bcast/Reduce/Allreduce calls went
two-level on this rank (toro_mpi.mpi.net_collectives.run), and "R barrier twolevel B".
"""

import sys

import numpy as np
from _mpi import COMM, IMPL, MPI, RANK, SIZE, digest, out

MODE = sys.argv[1] if len(sys.argv) > 1 else "exact"
QUICK = "quick" in sys.argv[2:]  # fewer sizes (the default test run)
SIZES = [0, 8, 65537] if QUICK else [0, 8, 65535, 65536, 65537, 1 << 20]
TWO = [0]

if IMPL == "toro":
    from toro_mpi.mpi import net_collectives as NC

    _run = NC.run

    def _counting(*args, **kwargs):
        site = _run(*args, **kwargs)
        TWO[0] += site is not None
        return site

    NC.run = _counting


def data(n: int, salt: int, dtype) -> np.ndarray:
    """n elements, small values (a sum of 8 ranks stays exact in every dtype used)."""
    return ((np.arange(n, dtype=np.int64) * 7 + salt * 13 + 1) % 29).astype(dtype)


def barrier_check(comm, name: str) -> None:
    """No rank leaves the barrier before the last one has entered: the last rank enters late and
    sends to every other rank only after its barrier; a rank that had left early would see
    nothing from it before its own barrier either (printed), then gets the message after."""
    me, size = comm.Get_rank(), comm.Get_size()
    last = size - 1
    if me == last:
        import time

        time.sleep(0.05)  # everybody else is inside the barrier by now, or waiting for it
    flag = np.zeros(1, np.int32)
    req = comm.Irecv(flag, source=last, tag=77) if me != last else None
    if me != last:
        # Before the barrier: nothing can be here yet (the last rank sends only after it).
        out(name, "before barrier", bool(comm.Iprobe(source=last, tag=77)))
    comm.Barrier()
    if me == last:
        for r in range(size - 1):
            comm.Send(np.ones(1, np.int32), r, 77)
    else:
        req.Wait()
        out(name, "after barrier", int(flag[0]))
    for _ in range(20):
        comm.Barrier()


def exact(comm, name: str) -> None:
    me, size = comm.Get_rank(), comm.Get_size()
    barrier_check(comm, name)
    for nb in SIZES:
        tag = f"{name} {nb}"
        for dt in ((np.uint8, np.int64) if nb in (8, 1 << 20) else (np.int32,) if nb % 4 == 0 else (np.uint8,)):
            n = nb // np.dtype(dt).itemsize
            for root in range(size):
                buf = data(n, root, dt) if me == root else np.zeros(n, dt)
                comm.Bcast(buf, root=root)
                out(tag, dt.__name__, "Bcast", root, digest(buf))
                recv = np.zeros(n, dt) if me == root else None
                comm.Reduce(data(n, me, dt), recv, op=MPI.SUM, root=root)
                if me == root:
                    out(tag, dt.__name__, "Reduce", root, digest(recv))
                # In place at the root.
                mine = data(n, me, dt)
                if me == root:
                    comm.Reduce(MPI.IN_PLACE, mine, op=MPI.MAX, root=root)
                    out(tag, dt.__name__, "Reduce in place MAX", root, digest(mine))
                else:
                    comm.Reduce(mine, None, op=MPI.MAX, root=root)
                per = max(1, n // size)
                g = np.zeros(per * size, dt) if me == root else None
                comm.Gather(data(per, me + root, dt), g, root=root)
                if me == root:
                    out(tag, dt.__name__, "Gather", root, digest(g))
                    gi = np.zeros(per * size, dt)
                    gi[me * per:(me + 1) * per] = data(per, me + 3, dt)
                    comm.Gather(MPI.IN_PLACE, gi, root=root)
                    out(tag, dt.__name__, "Gather in place", root, digest(gi))
                else:
                    comm.Gather(data(per, me + 3, dt), None, root=root)
                sc = np.zeros(per, dt)
                comm.Scatter(data(per * size, root, dt) if me == root else None, sc, root=root)
                out(tag, dt.__name__, "Scatter", root, digest(sc))
                if me == root:
                    si = data(per * size, root + 1, dt)
                    comm.Scatter(si, MPI.IN_PLACE, root=root)
                    out(tag, dt.__name__, "Scatter in place", root, digest(si))
                else:
                    sc2 = np.zeros(per, dt)
                    comm.Scatter(None, sc2, root=root)
                    out(tag, dt.__name__, "Scatter in place", root, digest(sc2))
            a = data(n, me, dt)
            r = np.empty_like(a)
            for opname, op in (("SUM", MPI.SUM), ("MIN", MPI.MIN), ("MAX", MPI.MAX), ("BXOR", MPI.BXOR),
                               ("BAND", MPI.BAND)):
                comm.Allreduce(a, r, op=op)
                out(tag, dt.__name__, "Allreduce", opname, digest(r))
            ip = data(n, me, dt)
            comm.Allreduce(MPI.IN_PLACE, ip, op=MPI.SUM)
            out(tag, dt.__name__, "Allreduce in place", digest(ip))
            per = max(1, n // size)
            ag = np.zeros(per * size, dt)
            comm.Allgather(data(per, me, dt), ag)
            out(tag, dt.__name__, "Allgather", digest(ag))
            agi = np.zeros(per * size, dt)
            agi[me * per:(me + 1) * per] = data(per, me + 5, dt)
            comm.Allgather(MPI.IN_PLACE, agi)
            out(tag, dt.__name__, "Allgather in place", digest(agi))
    # PROD over int64 (small factors), MAXLOC over (double, int) pairs, repeated calls (hot records).
    p = np.full(5, 2 + me % 2, np.int64)
    q = np.empty_like(p)
    for _ in range(3):
        comm.Allreduce(p, q, op=MPI.PROD)
    out(name, "Allreduce PROD", q.tolist())
    pair = np.dtype([("v", "f8"), ("i", "i4")], align=True)  # MPI.DOUBLE_INT's C layout
    loc = np.zeros(3, pair)  # zeroed padding
    loc["v"] = [(me * 5) % 3, me % 2, 1.0]
    loc["i"] = me
    best = np.zeros(3, pair)
    comm.Allreduce([loc, MPI.DOUBLE_INT], [best, MPI.DOUBLE_INT], op=MPI.MAXLOC)
    out(name, "Allreduce MAXLOC", best["v"].tolist(), best["i"].tolist())
    x = np.array([me + 1], np.int64)
    y = np.empty(1, np.int64)
    for i in range(50):
        x[0] = me + i
        comm.Allreduce(x, y, op=MPI.SUM)
    out(name, "hot Allreduce", int(y[0]))
    for i in range(50):
        b = np.array([i if me == i % size else -1], np.int64)
        comm.Bcast(b, root=i % size)
        assert b[0] == i, (b, i)
    # A non-commutative user operator: rank order must hold (one-node algorithm).
    ncop = MPI.Op.Create(lambda a, b, t: _ncop(a, b), commute=False)
    v = np.array([me + 1, 1], np.int64)
    w = np.empty(2, np.int64)
    comm.Allreduce(v, w, op=ncop)
    out(name, "Allreduce non-commutative", w.tolist())
    ncop.Free()
    out(name, "bcast obj", comm.bcast({"size": size} if me == 0 else None, root=0))


def _ncop(a, b) -> None:
    """b = a o b for affine maps t -> x0 * t + x1 (mod a prime): associative, not commutative."""
    ia = np.frombuffer(a, np.int64)
    ib = np.frombuffer(b, np.int64)
    # (ia o ib)(t) = ia0 * (ib0 * t + ib1) + ia1
    ib[1] = (ia[0] * ib[1] + ia[1]) % 1000003
    ib[0] = (ia[0] * ib[0]) % 1000003


def floats(comm, name: str) -> None:
    me = comm.Get_rank()
    rng = np.random.default_rng([RANK, 11])
    for n in (1, 3, 1000) if QUICK else (1, 3, 1000, 65536 // 8, (1 << 20) // 8):
        f = rng.standard_normal(n)
        fr = np.empty_like(f)
        comm.Allreduce(f, fr, op=MPI.SUM)
        out(name, n, "Allreduce float64 SUM", digest(fr))
        g = (1 + rng.standard_normal(n) * 1e-3).astype(np.float32)
        gr = np.empty_like(g)
        comm.Allreduce(g, gr, op=MPI.PROD)
        out(name, n, "Allreduce float32 PROD", digest(gr))
        c = rng.standard_normal(n) + 1j * rng.standard_normal(n)
        cr = np.empty_like(c)
        comm.Allreduce(c, cr, op=MPI.SUM)
        out(name, n, "Allreduce complex128 SUM", digest(cr))
        for root in range(comm.Get_size()):
            rr = np.empty_like(f) if me == root else None
            comm.Reduce(f, rr, op=MPI.SUM, root=root)
            if me == root:
                out(name, n, "Reduce float64 SUM", root, digest(rr))
    h = rng.standard_normal(4)
    comm.Allreduce(MPI.IN_PLACE, h, op=MPI.SUM)
    out(name, "Allreduce in place float64", digest(h))


run = exact if MODE == "exact" else floats
run(COMM, "world")
parity = COMM.Split(RANK % 2, RANK)  # across the nodes (blocks of consecutive ranks per node)
run(parity, f"parity{RANK % 2}")
comms = [parity]
if not QUICK:
    halves = COMM.Split(RANK * 2 // SIZE, -RANK)  # reversed rank order within each half
    run(halves, f"half{RANK * 2 // SIZE}")
    dup = COMM.Dup()
    run(dup, "dup")
    comms += [halves, dup]
for c in comms:
    c.Free()
if IMPL == "toro":
    sys.stderr.write(f"{RANK} twolevel {TWO[0]}\n")
    sys.stderr.write(f"{RANK} barrier twolevel {int(COMM.__dict__.get('_net_layout') is not None)}\n")
out("ok")
