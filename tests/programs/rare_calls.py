"""Calls no other program makes: Reduce_scatter (vector form), Comm.Compare, Group.Compare / Incl /
Union / Intersection / Difference, Testsome, Irsend, Ssend_init / Bsend_init / Rsend_init,
Op.Reduce_local, object issend and waitany, Is_initialized, Query_thread, Pcontrol.

Deterministic lines only, so the output compares with mpi4py's. Any SIZE >= 1 (the pairwise
sections pair rank r with r ^ 1 and skip a rank without a partner).
"""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

RESULTS = {"IDENT": MPI.IDENT, "CONGRUENT": MPI.CONGRUENT, "SIMILAR": MPI.SIMILAR, "UNEQUAL": MPI.UNEQUAL}
PARTNER = RANK ^ 1 if (RANK ^ 1) < SIZE else None


def result_name(code: int) -> str:
    """IDENT / CONGRUENT / SIMILAR / UNEQUAL by value (the constants differ between MPIs)."""
    return next(name for name, value in RESULTS.items() if value == code)


def environment() -> None:
    assert MPI.Is_initialized()
    level = MPI.Query_thread()
    names = {MPI.THREAD_SINGLE: "SINGLE", MPI.THREAD_FUNNELED: "FUNNELED", MPI.THREAD_SERIALIZED: "SERIALIZED",
             MPI.THREAD_MULTIPLE: "MULTIPLE"}
    out("Is_initialized", MPI.Is_initialized(), "Query_thread", names[level])
    out("Pcontrol", MPI.Pcontrol(0), MPI.Pcontrol(1))


def reduce_scatter() -> None:
    """Rank r gets recvcounts[r] = r + 1 elements of the elementwise sum (and MAX)."""
    counts = [r + 1 for r in range(SIZE)]
    total = sum(counts)
    send = np.arange(total, dtype=np.int64) * (RANK + 1)
    recv = np.zeros(counts[RANK], np.int64)
    COMM.Reduce_scatter(send, recv, counts, op=MPI.SUM)
    first = sum(counts[:RANK])
    scale = SIZE * (SIZE + 1) // 2
    assert (recv == np.arange(first, first + counts[RANK]) * scale).all(), recv
    out("Reduce_scatter SUM", recv.tolist())
    COMM.Reduce_scatter(send.astype(np.float64), recv := np.zeros(counts[RANK]), counts, op=MPI.MAX)
    out("Reduce_scatter MAX", recv.tolist())
    # Counts with zeros: ranks with nothing to receive.
    zeros = [2 if r % 2 == 0 else 0 for r in range(SIZE)]
    recv = np.zeros(zeros[RANK], np.int32)
    COMM.Reduce_scatter(np.ones(sum(zeros), np.int32), recv, zeros, op=MPI.SUM)
    out("Reduce_scatter zeros", recv.tolist())


def compare() -> None:
    dup = COMM.Dup()
    backwards = COMM.Split(0, SIZE - RANK)  # same members, other order
    halves = COMM.Split(RANK % 2, RANK)
    out("Comm.Compare", *(result_name(MPI.Comm.Compare(COMM, c)) for c in (COMM, dup, backwards, halves)))
    g = COMM.Get_group()
    gb = backwards.Get_group()
    gd = dup.Get_group()
    evens = g.Incl(list(range(0, SIZE, 2)))
    odds = g.Incl(list(range(1, SIZE, 2)))
    out("Group.Compare", *(result_name(MPI.Group.Compare(g, x)) for x in (g, gd, gb, evens)))
    union = MPI.Group.Union(odds, evens)
    inter = MPI.Group.Intersection(g, odds)
    diff = MPI.Group.Difference(g, evens)
    rev = g.Incl(list(reversed(range(SIZE))))
    for name, grp in (("evens", evens), ("odds", odds), ("union", union), ("intersection", inter),
                      ("difference", diff), ("reversed", rev)):
        rank = grp.Get_rank()
        members = MPI.Group.Translate_ranks(grp, list(range(grp.Get_size())), g)
        out("group", name, grp.Get_size(), "UNDEFINED" if rank == MPI.UNDEFINED else rank, list(members))
    out("union vs world", result_name(MPI.Group.Compare(union, g)), "reversed vs world",
        result_name(MPI.Group.Compare(rev, g)))
    for grp in (g, gb, gd, evens, odds, union, inter, diff, rev):
        grp.Free()
    for c in (dup, backwards, halves):
        c.Free()


def testsome_irsend() -> None:
    """Testsome over receives completed by Irsend (ready mode: the receives are posted first,
    and the Barrier orders the posting before any send)."""
    k = 4
    bufs = [np.zeros(10, np.int32) for _ in range(k)]
    reqs = [COMM.Irecv(bufs[t], source=PARTNER, tag=t) for t in range(k)] if PARTNER is not None else []
    if PARTNER is not None:
        assert MPI.Request.Testsome(reqs) == [], "Testsome completed a receive before any send"
    COMM.Barrier()
    if PARTNER is None:
        COMM.Barrier()
        return
    sends = [COMM.Irsend(np.full(10, RANK * 10 + t, np.int32), dest=PARTNER, tag=t) for t in range(k)]
    got = []
    statuses = [MPI.Status() for _ in reqs]
    while True:
        idx = MPI.Request.Testsome(reqs, statuses)
        if idx is None:  # every request is inactive (REQUEST_NULL): all done
            break
        # MPI fills statuses in completion order: statuses[j] belongs to request idx[j].
        for j, i in enumerate(idx):
            assert statuses[j].Get_source() == PARTNER and statuses[j].Get_tag() == i, (j, i, statuses[j].Get_tag())
        got += idx
    MPI.Request.Waitall(sends)
    assert sorted(got) == list(range(k)), got
    out("Testsome Irsend", sorted(got), [int(b[0]) for b in bufs])
    COMM.Barrier()


def persistent_sends() -> None:
    """Ssend_init / Bsend_init / Rsend_init, each started twice; the receives are persistent too."""
    if PARTNER is None:
        return
    MPI.Attach_buffer(bytearray(2 * (64 + MPI.BSEND_OVERHEAD)))
    data = np.zeros(8, np.int64)
    rbuf = np.zeros(8, np.int64)
    for name, init in (("Ssend_init", COMM.Ssend_init), ("Bsend_init", COMM.Bsend_init),
                       ("Rsend_init", COMM.Rsend_init)):
        sreq = init(data, dest=PARTNER, tag=40)
        rreq = COMM.Recv_init(rbuf, source=PARTNER, tag=40)
        seen = []
        for it in range(2):
            data[:] = RANK * 100 + it
            rreq.Start()
            # Both receives are posted once this exchange is done (Rsend_init needs that).
            COMM.Sendrecv(np.zeros(0, np.uint8), dest=PARTNER, sendtag=41, recvbuf=np.zeros(0, np.uint8),
                          source=PARTNER, recvtag=41)
            sreq.Start()
            MPI.Request.Waitall([sreq, rreq])
            seen.append(int(rbuf[0]))
        sreq.Free()
        rreq.Free()
        out(name, seen)
    MPI.Detach_buffer()


def reduce_local() -> None:
    a = np.array([1, 5, -3, 7], np.int64)
    b = np.array([4, 2, -1, 7], np.int64)
    MPI.SUM.Reduce_local(a, b)
    out("Reduce_local SUM", b.tolist())
    MPI.MAX.Reduce_local(np.array([9, 0, -5, 1], np.int64), b)
    out("Reduce_local MAX", b.tolist())
    f = np.array([0.5, 2.0])
    MPI.PROD.Reduce_local(np.array([4.0, 0.25]), f)
    out("Reduce_local PROD", f.tolist())


def object_issend_waitany() -> None:
    if PARTNER is None:
        return
    reqs = [COMM.irecv(source=PARTNER, tag=50 + t) for t in range(3)]
    sreq = COMM.issend({"from": RANK, "items": list(range(RANK + 3))}, dest=PARTNER, tag=51)
    others = [COMM.isend(("plain", RANK, t), dest=PARTNER, tag=50 + t) for t in (0, 2)]
    got = {}
    for _ in range(3):
        index, obj = MPI.Request.waitany(reqs)
        assert index not in got
        got[index] = obj
    sreq.wait()
    MPI.Request.waitall(others)
    index, obj = MPI.Request.waitany(reqs)
    out("issend waitany", sorted(got.items()), "then", index == MPI.UNDEFINED, obj)


def main() -> None:
    for section in (environment, reduce_scatter, compare, testsome_irsend, persistent_sends, reduce_local,
                    object_issend_waitany):
        COMM.Barrier()
        section()
    COMM.Barrier()
    done()


main()
