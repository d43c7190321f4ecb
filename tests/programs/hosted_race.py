"""Stress of the collectives that ranks hosted as green threads run in two levels (issue #19:
test_cco_buf.py at 4 ranks on 2 cores once deadlocked after a wrong Reduce_scatter result).

    hosted_race.py ITERATIONS SEED [MAX_SCALE]

A random sequence (the same on every rank: one seeded generator) of Reduce_scatter (counts or
None, IN_PLACE), Reduce_scatter_block, Reduce (every root, IN_PLACE), Allreduce, Bcast (every
root), Scatterv, Gatherv, Allgather, Alltoall, Scan, Exscan, an object allgather, Barrier, and
Dup / Split (reversed order) / Free of the communicator they run on, with counts from 0 to
4 * MAX_SCALE elements (MAX_SCALE 40000 by default), six dtypes and four operators. Under
toro_mpi each rank also yields to the other ranks of its process before a random share of its
calls, so the order in which they reach a call varies. Every rank checks every result against
numpy (each rank's contribution is a function of the iteration and its rank, so any rank can
compute all of them), prints one line per wrong result, and at the end `wrong N` (the job's
total, on rank 0) and `ok`. Integer-valued data, so float sums are exact whatever the grouping.
"""

from __future__ import annotations

import sys

import numpy as np
from _mpi import COMM, IMPL, MPI, out

iters = int(sys.argv[1]) if len(sys.argv) > 1 else 200
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
max_scale = int(sys.argv[3]) if len(sys.argv) > 3 else 40000
world = COMM
n = world.Get_size()
rng = np.random.default_rng(seed)  # the same stream on every rank: every rank makes the same calls
DTYPES = [np.int32, np.int64, np.float64, np.float32, np.uint8, np.int16]
OPS = [(MPI.SUM, np.add), (MPI.MAX, np.maximum), (MPI.MIN, np.minimum), (MPI.PROD, np.multiply)]
wrong = 0
# Under toro_mpi, each rank also gives the core away (toro_mpi.yield_) before a random share of
# its calls, from a generator of its own: the ranks of one process then reach each call in
# varying orders, and the last one in (which runs the processes' part) varies too.
shake = None
if IMPL == "toro":
    import toro_mpi

    shaker = np.random.default_rng([seed, 99, world.Get_rank()])

    def shake() -> None:
        for _ in range(int(shaker.integers(0, 4))):
            toro_mpi.yield_()


def data(it: int, r: int, size: int, dt, prod: bool) -> np.ndarray:
    """Rank r's contribution at iteration it (small integers: exact in every dtype)."""
    g = np.random.default_rng([seed, it, r])
    v = g.integers(1, 3, size) if prod else g.integers(0, 50, size)
    return v.astype(dt)


def expect(it: int, size: int, dt, npop, prod: bool) -> np.ndarray:
    acc = data(it, 0, size, dt, prod)
    for r in range(1, n):
        acc = npop(acc, data(it, r, size, dt, prod)).astype(dt)
    return acc


def check(name: str, it: int, got: np.ndarray, want: np.ndarray) -> None:
    global wrong
    if not np.array_equal(got, want):
        wrong += 1
        bad = np.flatnonzero(got != want)
        out("WRONG", it, name, f"{bad.size} of {want.size} elements, first at {bad[0]}:",
            got[bad[0]], "want", want[bad[0]])


comm = world
for it in range(iters):
    rank = comm.Get_rank()
    kind = int(rng.integers(0, 14))
    dt = DTYPES[rng.integers(0, len(DTYPES))]
    op, npop = OPS[rng.integers(0, len(OPS))]
    if (dt == np.uint8 and op is MPI.SUM) or (dt in (np.uint8, np.int16) and op is MPI.PROD):
        op, npop = MPI.MAX, np.maximum  # keep the results in range
    prod = op is MPI.PROD
    scale = min(max_scale, [1, 1, 1, 10, 1000, 40000][rng.integers(0, 6)])
    counts = [int(c) * scale for c in rng.integers(0, 5, n)]
    total = sum(counts)
    root = int(rng.integers(0, n))
    inplace = bool(rng.integers(0, 2))
    none_counts = bool(rng.integers(0, 2))
    if shake is not None:
        shake()
    if kind == 0:  # Reduce_scatter
        send = data(it, rank, total, dt, prod)
        off = sum(counts[:rank])
        want = expect(it, total, dt, npop, prod)[off: off + counts[rank]]
        if inplace:
            buf = send.copy()
            comm.Reduce_scatter(MPI.IN_PLACE, buf, counts, op)
            check("Reduce_scatter in place", it, buf[: counts[rank]], want)
            check("Reduce_scatter in place (rest)", it, buf[counts[rank]:], send[counts[rank]:])
        else:
            recv = np.full(counts[rank], 7).astype(dt)
            comm.Reduce_scatter(send, recv, None if none_counts else counts, op)
            check("Reduce_scatter", it, recv, want)
    elif kind == 1:  # Reduce_scatter_block
        c = counts[0]
        send = data(it, rank, c * n, dt, prod)
        want = expect(it, c * n, dt, npop, prod)[rank * c: (rank + 1) * c]
        if inplace:
            buf = send.copy()
            comm.Reduce_scatter_block(MPI.IN_PLACE, buf, op)
            check("Reduce_scatter_block in place", it, buf[:c], want)
        else:
            recv = np.full(c, 7).astype(dt)
            comm.Reduce_scatter_block(send, recv, op)
            check("Reduce_scatter_block", it, recv, want)
    elif kind == 2:  # Reduce
        size = total + 1
        send = data(it, rank, size, dt, prod)
        want = expect(it, size, dt, npop, prod)
        if rank == root and inplace:
            recv = send.copy()
            comm.Reduce(MPI.IN_PLACE, recv, op, root)
        else:
            recv = np.full(size, 7).astype(dt) if rank == root else None
            comm.Reduce(send, recv, op, root)
        if rank == root:
            check(f"Reduce root {root}", it, recv, want)
    elif kind == 3:  # Allreduce
        size = total + 1
        send = data(it, rank, size, dt, prod)
        want = expect(it, size, dt, npop, prod)
        if inplace:
            buf = send.copy()
            comm.Allreduce(MPI.IN_PLACE, buf, op)
            check("Allreduce in place", it, buf, want)
        else:
            recv = np.full(size, 7).astype(dt)
            comm.Allreduce(send, recv, op)
            check("Allreduce", it, recv, want)
    elif kind == 4:  # Bcast
        want = data(it, root, total + 1, dt, prod)
        buf = want.copy() if rank == root else np.zeros(total + 1, dt)
        comm.Bcast(buf, root)
        check(f"Bcast root {root}", it, buf, want)
    elif kind == 5:  # object allgather (Allgather + Allgatherv)
        got = comm.allgather((it, rank))
        check("allgather", it, np.array(got), np.array([(it, r) for r in range(n)]))
    elif kind == 6:  # Scatterv
        displs = [sum(counts[:r]) for r in range(n)]
        full = data(it, root, total, dt, prod)
        recv = np.full(counts[rank], 7).astype(dt)
        comm.Scatterv([full, (counts, displs)] if rank == root else None, recv, root)
        check(f"Scatterv root {root}", it, recv, full[displs[rank]: displs[rank] + counts[rank]])
    elif kind == 9:  # Gatherv
        displs = [sum(counts[:r]) for r in range(n)]
        send = data(it, rank, counts[rank], dt, prod)
        recv = np.full(total, 7).astype(dt) if rank == root else None
        comm.Gatherv(send, [recv, (counts, displs)] if rank == root else None, root)
        if rank == root:
            want = np.concatenate([data(it, r, counts[r], dt, prod) for r in range(n)])
            check(f"Gatherv root {root}", it, recv, want)
    elif kind == 10:  # Allgather
        c = counts[0]
        recv = np.full(c * n, 7).astype(dt)
        comm.Allgather(data(it, rank, c, dt, prod), recv)
        check("Allgather", it, recv, np.concatenate([data(it, r, c, dt, prod) for r in range(n)]))
    elif kind == 11:  # Alltoall: block j of rank i's send is element-wise f(it, i) offset by j
        c = counts[0]
        send = np.concatenate([data(it, rank, c, dt, prod) + j for j in range(n)]).astype(dt)
        recv = np.full(c * n, 7).astype(dt)
        comm.Alltoall(send, recv)
        want = np.concatenate([(data(it, r, c, dt, prod) + rank).astype(dt) for r in range(n)])
        check("Alltoall", it, recv, want)
    elif kind in (12, 13):  # Scan, Exscan
        size = total + 1
        send = data(it, rank, size, dt, prod)
        recv = np.full(size, 7).astype(dt)
        (comm.Scan if kind == 12 else comm.Exscan)(send, recv, op)
        upto = rank + 1 if kind == 12 else rank
        if upto:
            want = data(it, 0, size, dt, prod)
            for r in range(1, upto):
                want = npop(want, data(it, r, size, dt, prod)).astype(dt)
            check("Scan" if kind == 12 else "Exscan", it, recv, want)
    elif kind == 7:  # another communicator: a Dup, or a Split in reversed rank order
        if comm is world:
            comm = world.Dup() if rng.integers(0, 2) else world.Split(0, n - world.Get_rank())
        else:
            comm.Free()
            comm = world
    else:
        comm.Barrier()
if comm is not world:
    comm.Free()
total_wrong = world.allreduce(wrong)
if world.Get_rank() == 0:
    out("wrong", total_wrong)
out("ok")
