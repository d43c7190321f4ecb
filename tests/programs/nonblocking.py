"""Nonblocking calls: Isend/Irecv with Waitall, Waitany, Waitsome, Testall, Testany, Test;
requests equal REQUEST_NULL once completed; Ssend/Issend complete only when matched."""

import time

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, done, out, pattern

SIZES = (0, 3, 8161, 300000)  # float64 counts: eager, fragmented, rendezvous


def all_to_all_waitall() -> None:
    reqs, bufs, srcs = [], [], []
    for peer in range(SIZE):
        for i, count in enumerate(SIZES):
            buf = np.zeros(count)
            reqs.append(COMM.Irecv(buf, source=peer, tag=i))
            bufs.append(buf)
            srcs.append((peer, i, count))
    sends = [COMM.Isend(pattern("float64", count, RANK * 10 + i), dest=peer, tag=i)
             for peer in range(SIZE) for i, count in enumerate(SIZES)]
    statuses = [MPI.Status() for _ in reqs]
    MPI.Request.Waitall(reqs, statuses)
    MPI.Request.Waitall(sends)
    assert all(r == MPI.REQUEST_NULL for r in reqs + sends)
    for buf, st, (peer, i, count) in zip(bufs, statuses, srcs, strict=True):
        assert st.Get_source() == peer and st.Get_tag() == i and st.Get_count(MPI.DOUBLE) == count
        assert np.array_equal(buf, pattern("float64", count, peer * 10 + i)), (peer, i)
    out("Waitall", len(reqs), digest(np.concatenate(bufs)))


def waitany_waitsome() -> None:
    k = 3
    if RANK == 0:
        bufs = [np.zeros(1000, np.int32) for _ in range(k * (SIZE - 1))]
        reqs = [COMM.Irecv(bufs[j], source=1 + j // k, tag=j % k) for j in range(len(bufs))]
        COMM.Barrier()
        seen = []
        st = MPI.Status()
        for _ in reqs:
            idx = MPI.Request.Waitany(reqs, st)
            assert reqs[idx] == MPI.REQUEST_NULL
            assert st.Get_source() == 1 + idx // k and st.Get_tag() == idx % k, (idx, st.Get_source())
            assert (bufs[idx] == st.Get_source() * 100 + st.Get_tag()).all()
            seen.append(idx)
        assert sorted(seen) == list(range(len(reqs)))
        assert MPI.Request.Waitany(reqs) == MPI.UNDEFINED
        out("Waitany", len(seen), "then", "UNDEFINED")
        # Waitsome until everything is in.
        reqs = [COMM.Irecv(bufs[j], source=1 + j // k, tag=10 + j % k) for j in range(len(bufs))]
        COMM.Barrier()
        got = []
        while True:
            idx = MPI.Request.Waitsome(reqs)
            if idx is None:
                break
            assert idx, "Waitsome returned no index"
            got += idx
        assert sorted(got) == list(range(len(reqs))), got
        out("Waitsome", len(got))
    else:
        COMM.Barrier()
        for t in reversed(range(k)):
            COMM.Send(np.full(1000, RANK * 100 + t, np.int32), dest=0, tag=t)
        COMM.Barrier()
        for t in range(k):
            COMM.Send(np.full(1000, RANK, np.int32), dest=0, tag=10 + t)


def testall_testany() -> None:
    go, data = 90, 91
    if RANK == 1:
        bufs = [np.zeros(5000, np.int64) for _ in range(4)]
        reqs = [COMM.Irecv(b, source=0, tag=data) for b in bufs]
        assert not MPI.Request.Testall(reqs), "Testall true before anything was sent"
        index, flag = MPI.Request.Testany(reqs)
        assert not flag and index == MPI.UNDEFINED, (index, flag)
        assert not reqs[0].Test()
        COMM.Send(np.zeros(1, np.int64), dest=0, tag=go)
        first = None
        deadline = time.monotonic() + 30
        while first is None:
            index, flag = MPI.Request.Testany(reqs)
            if flag:
                first = index
            assert time.monotonic() < deadline, "Testany never completed"
        assert first == 0 and reqs[0] == MPI.REQUEST_NULL
        while not MPI.Request.Testall(reqs):
            assert time.monotonic() < deadline, "Testall never completed"
        assert all(r == MPI.REQUEST_NULL for r in reqs)
        assert [int(b[0]) for b in bufs] == [0, 1, 2, 3]
        # A completed request tests true again, and Wait on REQUEST_NULL returns at once.
        assert reqs[0].Test() and MPI.Request.Testall(reqs)
        reqs[1].Wait()
        out("Testany first", first, "Testall", [int(b[-1]) for b in bufs])
    elif RANK == 0:
        COMM.Recv(np.zeros(1, np.int64), source=1, tag=go)
        for i in range(4):
            COMM.Send(np.full(5000, i, np.int64), dest=1, tag=data)


def flood_received_in_reverse() -> None:
    """Far more outstanding Isends than the ring holds (eager, fragmented, rendezvous), received
    in reverse tag order, so all but one wait in the unexpected list at any time."""
    for size, k in ((9000, 300), (100000, 100), (600000, 12)):
        if RANK == 0:
            reqs = [COMM.Isend(np.full(size, t % 251, np.uint8), dest=1, tag=t) for t in range(k)]
            MPI.Request.Waitall(reqs)
        elif RANK == 1:
            buf = np.zeros(size, np.uint8)
            for t in reversed(range(k)):
                COMM.Recv(buf, source=0, tag=t)
                assert (buf == t % 251).all(), (size, t)
            out("flood received in reverse", size, k)
        COMM.Barrier()


def _poll_until(flag, what: str) -> None:
    """Poll flag() until it is true. The 60 s bound only turns a hang into a failure naming the
    event that never came (nothing here measures how long it took)."""
    deadline = time.monotonic() + 60
    while not flag():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.001)


def synchronous() -> None:
    """Ssend returns only once the receiver has matched it; a small standard Send returns before
    its receive is posted. Shown by the order of messages, not by a clock: after each call rank 0
    sends a notice (tags 7, 8), and rank 1 looks for the notice before it posts the receive."""
    for size in (8, 8161, 1 << 20):
        COMM.Barrier()
        if RANK == 0:
            COMM.Send(np.zeros(8, np.uint8), dest=1, tag=1)
            COMM.Send(np.zeros(1, np.uint8), dest=1, tag=7)  # notice: the standard Send returned
            COMM.Ssend(np.zeros(size, np.uint8), dest=1, tag=2)
            COMM.Send(np.zeros(1, np.uint8), dest=1, tag=8)  # notice: the Ssend returned
            out("Ssend waited for the match", size)
        elif RANK == 1:
            # No receive for tag 1 is posted yet: the notice can only come if Send returned.
            _poll_until(lambda: COMM.Iprobe(source=0, tag=7), "standard Send returned before its receive was posted")
            COMM.Recv(np.zeros(1, np.uint8), source=0, tag=7)
            COMM.Recv(np.zeros(8, np.uint8), source=0, tag=1)
            # The Ssend has started (its envelope is here) but is not matched: its notice must not
            # come. The 0.3 s of polling (with the progress engine busy, so the message may
            # arrive as unexpected) only gives an early return time to show; it is not a bound.
            _poll_until(lambda: COMM.Iprobe(source=0, tag=2), "the Ssend's message arrived")
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                assert not COMM.Iprobe(source=0, tag=8), f"Ssend of {size} bytes returned before it was matched"
                time.sleep(0.005)
            COMM.Recv(np.zeros(size, np.uint8), source=0, tag=2)
            COMM.Recv(np.zeros(1, np.uint8), source=0, tag=8)
    COMM.Barrier()
    if RANK == 0:
        # Issend stays incomplete until the receiver, told to go only now, has matched it.
        req = COMM.Issend(np.arange(100, dtype=np.int16), dest=1, tag=3)
        for _ in range(50):
            assert not req.Test(), "Issend completed before the receiver matched it"
            time.sleep(0.002)
        COMM.Send(np.zeros(1, np.uint8), dest=1, tag=6)  # go
        req.Wait()
        assert req == MPI.REQUEST_NULL
        COMM.ssend({"sync": True}, dest=1, tag=4)
        out("Issend completed after the match")
    elif RANK == 1:
        COMM.Recv(np.zeros(1, np.uint8), source=0, tag=6)
        buf = np.zeros(100, np.int16)
        COMM.Recv(buf, source=0, tag=3)
        assert (buf == np.arange(100)).all()
        assert COMM.recv(source=0, tag=4) == {"sync": True}
    # Ssend to self completes against an Irecv posted before it.
    buf = np.zeros(10)
    rreq = COMM.Irecv(buf, source=RANK, tag=5)
    COMM.Ssend(np.ones(10), dest=RANK, tag=5)
    rreq.Wait()
    assert (buf == 1).all()


def main() -> None:
    for section in (all_to_all_waitall, waitany_waitsome, testall_testany, flood_received_in_reverse,
                    synchronous):
        if SIZE < 2 and section is not all_to_all_waitall:
            continue
        COMM.Barrier()
        section()
    COMM.Barrier()
    done()


main()
