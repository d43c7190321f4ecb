"""Message matching: self sends, PROC_NULL, tags and ANY_TAG, non-overtaking order, ANY_SOURCE
with several senders (and a sender that never stops), Status fields, a Sendrecv ring.

Runs with any number of ranks; the sections needing 2 or 3 ranks are skipped below that.
"""

import time

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, done, out, pattern, tag_ub


def status_words(st) -> str:
    src = "PROC_NULL" if st.Get_source() == MPI.PROC_NULL else st.Get_source()
    tag = "ANY_TAG" if st.Get_tag() == MPI.ANY_TAG else st.Get_tag()
    return f"source={src} tag={tag} bytes={st.Get_count(MPI.BYTE)}"


def count_words(st, dt) -> str:
    n = st.Get_count(dt)
    return "UNDEFINED" if n == MPI.UNDEFINED else str(n)


def self_sends() -> None:
    a = pattern("float64", 100, RANK)
    b = np.zeros(100)
    st = MPI.Status()
    COMM.Send(a, dest=RANK, tag=11)  # small: buffered, so Recv afterwards is fine
    COMM.Recv(b, source=RANK, tag=11, status=st)
    assert np.array_equal(a, b)
    out("self Send/Recv", status_words(st), digest(b))
    big = pattern("uint8", 3 << 20, RANK)
    got = np.zeros_like(big)
    req = COMM.Isend(big, dest=RANK, tag=12)
    COMM.Recv(got, source=RANK, tag=12, status=st)
    req.Wait()
    assert np.array_equal(big, got)
    out("self Isend/Recv", status_words(st), digest(got))
    got2 = np.zeros(100)
    rreq = COMM.Irecv(got2, source=MPI.ANY_SOURCE, tag=13)
    COMM.Send(a, dest=RANK, tag=13)
    rreq.Wait(st)
    assert np.array_equal(a, got2)
    out("self Irecv/Send", status_words(st))
    c = np.zeros(100)
    COMM.Sendrecv(a, RANK, 14, c, RANK, 14, st)
    assert np.array_equal(a, c)
    out("self Sendrecv", status_words(st))
    COMM.send({"me": RANK}, dest=RANK, tag=15)
    out("self object", COMM.recv(source=RANK, tag=15))
    # COMM_SELF is its own context: its messages never match COMM_WORLD receives and back.
    me = MPI.COMM_SELF
    assert me.Get_rank() == 0 and me.Get_size() == 1
    me.Send(np.full(3, 1.0), dest=0, tag=16)
    COMM.Send(np.full(3, 2.0), dest=RANK, tag=16)
    w, s = np.zeros(3), np.zeros(3)
    COMM.Recv(w, source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
    me.Recv(s, source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG)
    assert (w == 2).all() and (s == 1).all(), (w, s)
    out("COMM_SELF separate", status_words(st))


def proc_null() -> None:
    buf = np.full(4, 7, np.int32)
    st = MPI.Status()
    COMM.Send(buf, dest=MPI.PROC_NULL, tag=1)
    COMM.Ssend(buf, dest=MPI.PROC_NULL, tag=1)
    COMM.Recv(buf, source=MPI.PROC_NULL, tag=1, status=st)
    assert list(buf) == [7, 7, 7, 7]
    out("PROC_NULL Recv", status_words(st))
    COMM.Sendrecv(buf, MPI.PROC_NULL, 2, buf, MPI.PROC_NULL, 2, st)
    out("PROC_NULL Sendrecv", status_words(st))
    reqs = [COMM.Isend(buf, MPI.PROC_NULL, 3), COMM.Irecv(buf, MPI.PROC_NULL, 3)]
    MPI.Request.Waitall(reqs)
    assert all(r == MPI.REQUEST_NULL for r in reqs)
    st2 = MPI.Status()
    assert COMM.Iprobe(MPI.PROC_NULL, 4, st2)
    out("PROC_NULL Iprobe", status_words(st2))
    assert COMM.recv(source=MPI.PROC_NULL) is None
    COMM.send("lost", dest=MPI.PROC_NULL)
    assert list(buf) == [7, 7, 7, 7]


def tags() -> None:
    ub = tag_ub()
    order = [5, 0, ub, 77, 6]
    st = MPI.Status()
    if RANK == 0:
        for t in order:
            COMM.Send(np.array([t], np.int64), dest=1, tag=t)
    elif RANK == 1:
        time.sleep(0.05)
        got = []
        buf = np.zeros(1, np.int64)
        COMM.Recv(buf, source=0, tag=77, status=st)  # overtakes the earlier tags
        assert buf[0] == 77 and st.Get_tag() == 77
        for _ in range(len(order) - 1):
            COMM.Recv(buf, source=0, tag=MPI.ANY_TAG, status=st)
            assert buf[0] == st.Get_tag()
            got.append("UB" if st.Get_tag() == ub else st.Get_tag())
        out("tags in order", got)


def non_overtaking() -> None:
    st = MPI.Status()
    n = 1000
    if RANK == 0:
        for i in range(n):
            COMM.Send(np.array([i], np.int64), dest=1, tag=3)
        for t in range(100, 110):
            COMM.Send(np.array([t], np.int64), dest=1, tag=t)
    elif RANK == 1:
        buf = np.zeros(1, np.int64)
        for i in range(n):
            COMM.Recv(buf, source=0, tag=3 if i % 2 else MPI.ANY_TAG, status=st)
            assert buf[0] == i and st.Get_tag() == 3, (i, buf[0], st.Get_tag())
        got = []
        for t in range(109, 99, -1):  # reverse tag order: each one waits in the unexpected list
            COMM.Recv(buf, source=0, tag=t, status=st)
            assert buf[0] == t and st.Get_tag() == t
            got.append(int(buf[0]))
        out("same tag in order", n, "reverse tags", got)
    # Eager, fragmented and rendezvous messages on one tag keep their order, whether the
    # receives are posted late (unexpected list) or early (matched on arrival).
    sizes = [10, 300000, 10, 8161, 1 << 20, 0, 5, 262144, 1]
    cap = 1 << 20
    for variant in ("late", "early"):
        if RANK == 0:
            if variant == "early":
                COMM.Recv(np.zeros(1, np.uint8), source=1, tag=40)  # go
            for i, size in enumerate(sizes):
                COMM.Send(np.full(size, i, np.uint8), dest=1, tag=41)
        elif RANK == 1:
            bufs = [np.full(cap, 255, np.uint8) for _ in sizes]
            statuses = [MPI.Status() for _ in sizes]
            if variant == "late":
                time.sleep(0.2)
                for b, s in zip(bufs, statuses, strict=True):
                    COMM.Recv(b, source=0, tag=MPI.ANY_TAG, status=s)
            else:
                reqs = [COMM.Irecv(b, source=0, tag=41) for b in bufs]
                COMM.Send(np.zeros(1, np.uint8), dest=0, tag=40)
                MPI.Request.Waitall(reqs, statuses)
                assert all(r == MPI.REQUEST_NULL for r in reqs)
            for i, (b, s) in enumerate(zip(bufs, statuses, strict=True)):
                assert s.Get_count(MPI.BYTE) == sizes[i], (variant, i, s.Get_count(MPI.BYTE))
                assert (b[: sizes[i]] == i).all() and (b[sizes[i]:] == 255).all(), (variant, i)
            out("mixed sizes in order", variant, [s.Get_count(MPI.BYTE) for s in statuses])


def any_source() -> None:
    per = 50
    st = MPI.Status()
    if RANK == 0:
        seen = {p: [] for p in range(1, SIZE)}
        buf = np.zeros(2, np.int64)
        for _ in range(per * (SIZE - 1)):
            COMM.Recv(buf, source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
            src = st.Get_source()
            assert buf[0] == src and st.Get_tag() == 20 + src, (buf, src, st.Get_tag())
            seen[src].append(int(buf[1]))
        for p, seq in seen.items():
            assert seq == list(range(per)), (p, seq[:10])
        out("ANY_SOURCE got", {p: len(s) for p, s in seen.items()})
    else:
        for i in range(per):
            COMM.Send(np.array([RANK, i], np.int64), dest=0, tag=20 + RANK)


def any_source_with_streamer() -> None:
    """Rank 1 sends until told to stop; ANY_SOURCE must still see the other senders."""
    data, last, stop = 30, 31, 32
    if RANK == 0:
        buf = np.zeros(1, np.int64)
        st = MPI.Status()
        need = {p: 10 for p in range(2, SIZE)}
        from_streamer = 0
        while any(need.values()):
            COMM.Recv(buf, source=MPI.ANY_SOURCE, tag=data, status=st)
            if st.Get_source() == 1:
                from_streamer += 1
            else:
                need[st.Get_source()] -= 1
        COMM.Send(np.zeros(1, np.int64), dest=1, tag=stop)
        while True:
            COMM.Recv(buf, source=1, tag=MPI.ANY_TAG, status=st)
            if st.Get_tag() == last:
                break
            from_streamer += 1
        assert from_streamer == int(buf[0]), (from_streamer, buf[0])
        out("streamer stopped, others delivered", sorted(need))
    elif RANK == 1:
        sent = 0
        while not COMM.Iprobe(source=0, tag=stop):
            COMM.Send(np.array([sent], np.int64), dest=0, tag=data)
            sent += 1
        COMM.Recv(np.zeros(1, np.int64), source=0, tag=stop)
        COMM.Send(np.array([sent], np.int64), dest=0, tag=last)
    else:
        for i in range(10):
            COMM.Send(np.array([i], np.int64), dest=0, tag=data)


def status_counts() -> None:
    if RANK == 0:
        COMM.Send(np.arange(6, dtype=np.uint8), dest=1, tag=50)
        COMM.Send(np.arange(3, dtype=np.float64), dest=1, tag=51)
    elif RANK == 1:
        buf = np.zeros(64, np.uint8)
        for tag in (50, 51):
            st = MPI.Status()
            COMM.Recv(buf, source=0, tag=tag, status=st)
            assert st.source == 0 and st.tag == tag and st.Get_error() == MPI.SUCCESS
            out("count", tag, *(count_words(st, dt) for dt in (MPI.BYTE, MPI.INT, MPI.DOUBLE, MPI.INT16_T)))


def ring() -> None:
    right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE
    for i, count in enumerate((0, 1, 1021, 40000, 70000)):
        send = pattern("float64", count, RANK)
        recv = np.zeros(count)
        st = MPI.Status()
        COMM.Sendrecv(send, right, 60 + i, recv, left, 60 + i, st)
        assert np.array_equal(recv, pattern("float64", count, left)), count
        assert st.Get_source() == left and st.Get_count(MPI.DOUBLE) == count
        out("ring", count, status_words(st), digest(recv))
    buf = pattern("int32", 5000, RANK)
    COMM.Sendrecv_replace(buf, right, 70, left, 70)
    assert np.array_equal(buf, pattern("int32", 5000, left))
    got = COMM.sendrecv({"from": RANK, "data": list(range(RANK + 3))}, dest=right, source=left)
    out("ring object", got)


def main() -> None:
    sections = [self_sends, proc_null]
    if SIZE >= 2:
        sections += [tags, non_overtaking, any_source, status_counts]
    if SIZE >= 3:
        sections.append(any_source_with_streamer)
    sections.append(ring)
    for section in sections:
        COMM.Barrier()
        section()
    COMM.Barrier()
    done()


main()
