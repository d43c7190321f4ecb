"""Intercommunicators: COMM_WORLD split in two halves joined by Create_intercomm (leaders at
either end of each half), point-to-point both ways (ANY_SOURCE, statuses in remote ranks,
isolation from COMM_WORLD's traffic), every collective with the root on each side and MPI's
ROOT / PROC_NULL convention, the object collectives, Merge with `high` on either side, Dup,
Split, Create, Compare, and the errors bad arguments raise."""

import sys

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

ERRORS = ("ERR_ROOT", "ERR_RANK", "ERR_ARG", "ERR_COMM", "ERR_GROUP", "ERR_TRUNCATE", "ERR_COUNT", "ERR_BUFFER",
          "ERR_OP", "ERR_TAG", "ERR_OTHER")


def err(exc: BaseException) -> str:
    """The MPI error class name of an exception (the numbers differ between implementations)."""
    if isinstance(exc, MPI.Exception):
        code = exc.Get_error_class()
        return next((name for name in ERRORS if getattr(MPI, name) == code), f"ERR_{code}")
    return type(exc).__name__


def make(leader_last: bool):
    """(intercomm, local intracomm, color): low half color 0, high half color 1."""
    half = SIZE // 2
    color = 0 if RANK < half else 1
    local = COMM.Split(color, key=0)
    low, high = list(range(half)), list(range(half, SIZE))
    mine, theirs = (low, high) if color == 0 else (high, low)
    local_leader = len(mine) - 1 if leader_last else 0
    remote_leader = theirs[-1] if leader_last else theirs[0]  # a rank of COMM_WORLD, the peer comm
    return local.Create_intercomm(local_leader, COMM, remote_leader, tag=11), local, color


def p2p(ic, color: int) -> None:
    rsize = ic.Get_remote_size()
    sends = [ic.Isend(np.array([RANK, j, color], np.int64), dest=j, tag=4) for j in range(rsize)]
    got = []
    for _ in range(rsize):
        buf = np.zeros(3, np.int64)
        st = MPI.Status()
        ic.Recv(buf, source=MPI.ANY_SOURCE, tag=4, status=st)
        got.append((st.Get_source(), st.Get_tag(), buf.tolist()))
    MPI.Request.Waitall(sends)
    out("p2p any_source", sorted(got))
    # objects, both ways, from each remote rank by rank
    reqs = [ic.isend({"from": RANK, "to": j}, dest=j, tag=5) for j in range(rsize)]
    out("p2p objects", [ic.recv(source=j, tag=5) for j in range(rsize)])
    for r in reqs:
        r.wait()
    # traffic on the intercommunicator never matches COMM_WORLD's, same peers and tag
    if ic.Get_rank() == 0:
        peer = ic.Get_remote_group().Translate_ranks([0], COMM.Get_group())[0]
        a = COMM.isend("world", dest=peer, tag=6)
        b = ic.isend("inter", dest=0, tag=6)
        first = ic.recv(source=0, tag=6)
        second = COMM.recv(source=peer, tag=6)
        a.wait()
        b.wait()
        out("isolation", first, second)
    # Sendrecv across, to the remote rank of the same index (wrapped)
    me = ic.Get_rank()
    buf = np.zeros(1, np.int32)
    partner = me % rsize
    # every remote rank that targets me: those j with j % lsize == me
    senders = [j for j in range(rsize) if j % ic.Get_size() == me]
    reqs = [ic.Irecv(np.zeros(1, np.int32), source=j, tag=8) for j in senders]
    ic.Send(np.array([RANK], np.int32), dest=partner, tag=8)
    statuses = [MPI.Status() for _ in reqs]
    MPI.Request.Waitall(reqs, statuses)
    out("sendrecv sources", sorted(s.Get_source() for s in statuses))
    del buf


def rooted(ic, color: int) -> None:
    size, rank, rsize = ic.Get_size(), ic.Get_rank(), ic.Get_remote_size()
    for side in (0, 1):
        roots = range(size) if color == side else range(rsize)
        for root in roots:
            tagged = f"root side {side} root {root}"
            if color == side:
                mine = MPI.ROOT if root == rank else MPI.PROC_NULL
                n = rsize
                # Bcast from the root
                ic.Bcast(np.arange(5, dtype=np.float64) + 10 * root if mine == MPI.ROOT else None, root=mine)
                # Gather: root receives one block of 3 per remote rank
                rbuf = np.full((n, 3), -1, np.int32) if mine == MPI.ROOT else None
                ic.Gather(None, rbuf, root=mine)
                if mine == MPI.ROOT:
                    out(tagged, "Gather", rbuf.ravel().tolist())
                # Gatherv: remote rank j sends j + 1 elements
                counts = [j + 1 for j in range(n)]
                rbuf = np.full(sum(counts), -1, np.int64) if mine == MPI.ROOT else None
                ic.Gatherv(None, [rbuf, counts] if mine == MPI.ROOT else None, root=mine)
                if mine == MPI.ROOT:
                    out(tagged, "Gatherv", rbuf.tolist())
                # Scatter: block j of 2 to remote rank j
                sbuf = np.arange(2 * n, dtype=np.int16) + 100 * root if mine == MPI.ROOT else None
                ic.Scatter(sbuf, None, root=mine)
                sbuf = np.arange(sum(counts), dtype=np.float32) if mine == MPI.ROOT else None
                ic.Scatterv([sbuf, counts] if mine == MPI.ROOT else None, None, root=mine)
                for op, name in ((MPI.SUM, "SUM"), (MPI.MAX, "MAX")):
                    rbuf = np.zeros(4, np.int64) if mine == MPI.ROOT else None
                    ic.Reduce(None, rbuf, op=op, root=mine)
                    if mine == MPI.ROOT:
                        out(tagged, "Reduce", name, rbuf.tolist())
                out(tagged, "bcast", ic.bcast({"root": root} if mine == MPI.ROOT else None, root=mine))
                out(tagged, "gather", ic.gather("unused", root=mine))
                out(tagged, "scatter", ic.scatter([f"item {j}" for j in range(n)] if mine == MPI.ROOT else None,
                                                  root=mine))
                out(tagged, "reduce", ic.reduce(None, op=MPI.SUM, root=mine))
            else:
                buf = np.zeros(5, np.float64)
                ic.Bcast(buf, root=root)
                out(tagged, "Bcast", buf.tolist())
                ic.Gather(np.full(3, 10 * RANK + root, np.int32), None, root=root)
                ic.Gatherv(np.full(rank + 1, RANK, np.int64), None, root=root)
                rbuf = np.zeros(2, np.int16)
                ic.Scatter(None, rbuf, root=root)
                out(tagged, "Scatter", rbuf.tolist())
                rbuf = np.zeros(rank + 1, np.float32)
                ic.Scatterv(None, rbuf, root=root)
                out(tagged, "Scatterv", rbuf.tolist())
                for op in (MPI.SUM, MPI.MAX):
                    ic.Reduce(np.arange(4, dtype=np.int64) * (RANK + 1), None, op=op, root=root)
                out(tagged, "bcast", ic.bcast(None, root=root))
                out(tagged, "gather", ic.gather({"rank": RANK}, root=root))
                out(tagged, "scatter", ic.scatter(None, root=root))
                out(tagged, "reduce", ic.reduce(RANK * 3 + 1, op=MPI.SUM, root=root))


def all_to_all(ic, color: int) -> None:
    size, rank, rsize = ic.Get_size(), ic.Get_rank(), ic.Get_remote_size()
    rbuf = np.full((rsize, 2), -1, np.int32)
    ic.Allgather(np.array([RANK, color], np.int32), rbuf)
    out("Allgather", rbuf.ravel().tolist())
    counts = [j + 1 for j in range(rsize)]  # remote rank j sends j + 1 elements
    rbuf = np.full(sum(counts), -1.0)
    ic.Allgatherv(np.full(rank + 1, float(RANK)), [rbuf, counts])
    out("Allgatherv", rbuf.tolist())
    sbuf = np.array([100 * RANK + j for j in range(rsize)], np.int64)
    rbuf = np.full(rsize, -1, np.int64)
    ic.Alltoall(sbuf, rbuf)
    out("Alltoall", rbuf.tolist())
    # Alltoallv: I send j + 1 elements to remote rank j; remote rank j sends me rank + 1
    scounts = [j + 1 for j in range(rsize)]
    sbuf = np.concatenate([np.full(c, 10 * RANK + j, np.int32) for j, c in enumerate(scounts)])
    rcounts = [rank + 1] * rsize
    rbuf = np.full(sum(rcounts), -1, np.int32)
    ic.Alltoallv([sbuf, scounts], [rbuf, rcounts])
    out("Alltoallv", rbuf.tolist())
    for op, name in ((MPI.SUM, "SUM"), (MPI.PROD, "PROD"), (MPI.MIN, "MIN")):
        rbuf = np.zeros(3, np.float64)
        ic.Allreduce(np.array([RANK + 1.0, 2.0, -RANK]), rbuf, op=op)
        out("Allreduce", name, rbuf.tolist())
    # Reduce_scatter_block: each rank sends local-size blocks; 12 elements in all on both sides
    rbuf = np.zeros(12 // size, np.int64)
    ic.Reduce_scatter_block(np.arange(12, dtype=np.int64) * (RANK + 1), rbuf, op=MPI.SUM)
    out("Reduce_scatter_block", rbuf.tolist())
    # Reduce_scatter: the total must agree on both sides: 12 elements, split over the local ranks
    counts = [12 // size + (i < 12 % size) for i in range(size)]
    rbuf = np.zeros(counts[rank], np.int64)
    ic.Reduce_scatter(np.arange(12, dtype=np.int64) + RANK, rbuf, counts, op=MPI.SUM)
    out("Reduce_scatter", rbuf.tolist())
    ic.Barrier()
    ic.barrier()
    out("allgather", ic.allgather((RANK, color)))
    out("alltoall", ic.alltoall([f"{RANK}->{j}" for j in range(rsize)]))
    out("allreduce", ic.allreduce(RANK + 1, op=MPI.SUM), ic.allreduce([RANK], op=MPI.SUM))


def management(ic, color: int) -> None:
    for highs in ((False, True), (True, False), (False, False), (True, True)):
        merged = ic.Merge(high=highs[color])
        world = merged.Get_group().Translate_ranks(list(range(merged.Get_size())), COMM.Get_group())
        out("Merge", highs, merged.Get_rank(), merged.Get_size(), world)
        out("Merge allreduce", merged.allreduce(RANK))
        merged.Free()
    dup = ic.Dup()
    out("Dup", dup.Get_rank(), dup.Get_size(), dup.Get_remote_size(), dup.Is_inter(),
        MPI.Comm.Compare(ic, dup) == MPI.CONGRUENT, MPI.Comm.Compare(ic, ic) == MPI.IDENT)
    out("Dup isolated", dup.allgather(RANK), ic.allgather(-RANK))
    dup.Free()
    sub = ic.Split(color=ic.Get_rank() % 2, key=-ic.Get_rank())
    if sub == MPI.COMM_NULL:
        out("Split", "COMM_NULL")
    else:
        out("Split", sub.Get_rank(), sub.Get_size(), sub.Get_remote_size(),
            sub.Get_remote_group().Translate_ranks(list(range(sub.Get_remote_size())), COMM.Get_group()),
            sub.allgather(RANK))
        sub.Free()
    undefined = ic.Split(MPI.UNDEFINED if ic.Get_rank() == 0 else 0, 0)
    out("Split UNDEFINED", undefined == MPI.COMM_NULL)
    if undefined != MPI.COMM_NULL:
        undefined.Free()
    group = ic.Get_group().Incl([0])
    created = ic.Create(group)
    if created == MPI.COMM_NULL:
        out("Create", "COMM_NULL")
    else:
        out("Create", created.Get_rank(), created.Get_size(), created.Get_remote_size(), created.allgather(RANK))
        created.Free()
    out("Compare with an intracommunicator", MPI.Comm.Compare(ic, COMM) == MPI.UNEQUAL)
    out("Get_parent is COMM_NULL", MPI.Comm.Get_parent() == MPI.COMM_NULL)


def bad_input(ic, local) -> None:
    rsize = ic.Get_remote_size()
    for root in (-3, -1, rsize, rsize + 5):
        try:
            ic.Bcast(np.zeros(1), root=root)
            out("Bcast root", root, "no error")
        except MPI.Exception as exc:
            out("Bcast root", root, err(exc))
        try:
            ic.reduce(None, op=MPI.SUM, root=root)
            out("reduce root", root, "no error")
        except MPI.Exception as exc:
            out("reduce root", root, err(exc))
    try:
        ic.Send(np.zeros(1), dest=rsize, tag=0)
    except MPI.Exception as exc:
        out("Send to remote_size", err(exc))
    try:
        ic.Recv(np.zeros(1), source=rsize, tag=0)
    except MPI.Exception as exc:
        out("Recv from remote_size", err(exc))
    try:
        local.Create_intercomm(local.Get_size(), COMM, 0, tag=3)
        out("bad local_leader: no error")
    except MPI.Exception as exc:
        out("bad local_leader", err(exc))
    try:
        MPI.Intercomm(local)
    except TypeError:
        out("Intercomm(intracomm) TypeError")
    try:
        MPI.Intracomm(ic)
    except TypeError:
        out("Intracomm(intercomm) TypeError")


def main() -> None:
    if SIZE < 2:
        out("needs 2 ranks")
        done()
        return
    for leader_last in (False, True):
        ic, local, color = make(leader_last)
        out("made", leader_last, ic.Is_inter(), ic.Is_intra(), ic.Get_rank(), ic.Get_size(), ic.Get_remote_size(),
            ic.Get_remote_group().Translate_ranks(list(range(ic.Get_remote_size())), COMM.Get_group()))
        p2p(ic, color)
        if not leader_last:
            rooted(ic, color)
            all_to_all(ic, color)
            management(ic, color)
            bad_input(ic, local)
        else:
            all_to_all(ic, color)
        ic.Free()
        local.Free()
    sys.stdout.flush()
    done()


main()
