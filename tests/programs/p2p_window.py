"""Windows of Isend / Irecv (the pattern of osu_bw) with everything a window may hold: receives
posted before and after their messages arrived, mixed tags, ANY_TAG and ANY_SOURCE, synchronous,
fragmented and truncated messages, and every way of completing them (Waitall with and without
statuses, Waitany, Testall, Test, Get_status, Cancel, request copies).

Run under toro-mpirun or mpiexec (tests/programs/_mpi.py picks the MPI); rank 0 and 1 exchange
the windows, every other rank sends ANY_SOURCE traffic to rank 0. Prints deterministic lines.
"""

from __future__ import annotations

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, done, error_class, out

W = 16  # messages per window
SIZES = [1, 8, 0, 300, 8161, 100000]  # eager, empty, fragmented (beyond one ring buffer)


def payload(i: int, size: int, salt: int) -> np.ndarray:
    """Deterministic bytes of message i."""
    return ((np.arange(size, dtype=np.int64) * 7 + i * 13 + salt) % 251).astype(np.uint8)


def status_line(st) -> str:
    """What a status says (source, tag, count in bytes, error)."""
    return f"{st.Get_source()}/{st.Get_tag()}/{st.Get_count(MPI.BYTE)}/{st.Get_error()}"


def window_arrived_first(salt: int) -> None:
    """Rank 0 sends a window, then the receiver posts its receives (the messages are in)."""
    sizes = [SIZES[i % len(SIZES)] for i in range(W)]
    if RANK == 0:
        keep = [payload(i, s, salt) for i, s in enumerate(sizes)]  # alive until completion
        reqs = [COMM.Isend(k, 1, 100 + i % 3) for i, k in enumerate(keep)]
        COMM.Barrier()
        MPI.Request.Waitall(reqs)
        out("arrived-first sends done", all(r == MPI.REQUEST_NULL for r in reqs))
    elif RANK == 1:
        COMM.Barrier()
        bufs = [np.zeros(max(s, 1), np.uint8) for s in sizes]
        # Same-tag receives in order; every third with ANY_TAG (status gives the real tag).
        reqs = [COMM.Irecv(b, 0, MPI.ANY_TAG if i % 3 == 2 else 100 + i % 3) for i, b in enumerate(bufs)]
        sts = [MPI.Status() for _ in reqs]
        first = MPI.Status()
        flag = reqs[0].Get_status(first)  # not freed
        out("arrived-first get_status", flag, bool(reqs[0]), status_line(first))
        reqs[1] = MPI.Request(reqs[1])  # a second handle to the same receive completes it
        MPI.Request.Waitall(reqs, sts)
        out("arrived-first statuses", [status_line(s) for s in sts])
        out("arrived-first data", all(digest(b[:s]) == digest(payload(i, s, salt))
                                      for i, (b, s) in enumerate(zip(bufs, sizes, strict=True))))
        out("arrived-first nulls", all(r == MPI.REQUEST_NULL for r in reqs))
    else:
        COMM.Barrier()


def window_posted_first(salt: int, sync: bool) -> None:
    """The receiver posts its window, then rank 0 sends (a few synchronous sends among them)."""
    sizes = [SIZES[(i + 2) % len(SIZES)] for i in range(W)]
    if RANK == 0:
        COMM.Barrier()
        reqs = []
        keep = [payload(i, s, salt) for i, s in enumerate(sizes)]
        for i, k in enumerate(keep):
            send = COMM.Issend if sync and i % 4 == 1 else COMM.Isend
            reqs.append(send(k, 1, 7))
        done_idx = []
        while len(done_idx) < len(reqs):
            i = MPI.Request.Waitany(reqs)
            done_idx.append(i)
        out("posted-first sends", sorted(done_idx) == list(range(W)), MPI.Request.Waitany(reqs) == MPI.UNDEFINED)
    elif RANK == 1:
        bufs = [np.zeros(max(s, 1), np.uint8) for s in sizes]
        reqs = [COMM.Irecv(b, 0, 7) for b in bufs]
        COMM.Barrier()
        while not MPI.Request.Testall(reqs):
            pass
        out("posted-first data", sync, all(digest(b[:s]) == digest(payload(i, s, salt))
                                           for i, (b, s) in enumerate(zip(bufs, sizes, strict=True))))
    else:
        COMM.Barrier()


def window_tags_reordered(salt: int) -> None:
    """Messages sent with tags A B A B ...; the receiver takes all B first, then all A."""
    if RANK == 0:
        keep = [payload(i, 4, salt) for i in range(W)]
        reqs = [COMM.Isend(keep[i], 1, 1 + i % 2) for i in range(W)]
        MPI.Request.Waitall(reqs)
    elif RANK == 1:
        bufs = [np.zeros(4, np.uint8) for _ in range(W)]
        order = [i for i in range(W) if i % 2 == 1] + [i for i in range(W) if i % 2 == 0]
        reqs = [COMM.Irecv(bufs[i], 0, 1 + i % 2) for i in order]
        sts = [MPI.Status() for _ in reqs]
        MPI.Request.Waitall(reqs, sts)
        out("reordered tags", [s.Get_tag() for s in sts],
            all(digest(bufs[i]) == digest(payload(i, 4, salt)) for i in range(W)))


def window_any_source(salt: int) -> None:
    """Every other rank sends a window to rank 0, which receives them all with ANY_SOURCE."""
    senders = list(range(1, SIZE))
    if RANK == 0:
        bufs = [np.zeros(8, np.uint8) for _ in range(W * len(senders))]
        reqs = [COMM.Irecv(b, MPI.ANY_SOURCE, 50) for b in bufs]
        sts = [MPI.Status() for _ in reqs]
        MPI.Request.Waitall(reqs, sts)
        got: dict[int, list[int]] = {}
        for b, s in zip(bufs, sts, strict=True):
            got.setdefault(s.Get_source(), []).append(int(b[0]))
        # Non-overtaking: each sender's messages arrive in the order sent.
        out("any-source", {p: v == sorted(v) and len(v) == W for p, v in sorted(got.items())})
    else:
        keep = [np.full(8, i, np.uint8) for i in range(W)]
        reqs = [COMM.Isend(k, 0, 50) for k in keep]
        MPI.Request.Waitall(reqs)


def truncation_and_cancel(salt: int) -> None:
    """A message larger than its receive buffer (ERR_TRUNCATE at completion, whichever path took
    it); a cancelled receive that never matched; a receive that matched cannot be cancelled."""
    if RANK == 0:
        COMM.Send(payload(0, 64, salt), 1, 9)
        COMM.Send(payload(1, 5, salt), 1, 10)
        COMM.Barrier()
    elif RANK == 1:
        COMM.Barrier()  # both messages are in
        small = np.zeros(16, np.uint8)
        req = COMM.Irecv(small, 0, 9)
        st = MPI.Status()
        try:
            req.Wait(st)
            out("truncation not reported")
        except MPI.Exception as exc:
            out("truncation", error_class(exc), digest(small) == digest(payload(0, 64, salt)[:16]))
        matched = COMM.Irecv(np.zeros(5, np.uint8), 0, 10)
        matched.Cancel()
        st = MPI.Status()
        matched.Wait(st)
        out("matched cancel", st.Is_cancelled(), status_line(st))
        never = COMM.Irecv(np.zeros(5, np.uint8), 0, 11)
        never.Cancel()
        st = MPI.Status()
        never.Wait(st)
        out("unmatched cancel", st.Is_cancelled())
    else:
        COMM.Barrier()


def acks(rounds: int) -> None:
    """osu_bw's loop itself: windows of 1-byte messages closed by an acknowledgement."""
    msg = np.zeros(1, np.uint8)
    ack = np.zeros(4, np.uint8)
    total = 0
    for r in range(rounds):
        if RANK == 0:
            keep = [np.full(1, (r + i) % 256, np.uint8) for i in range(W)]
            reqs = [COMM.Isend(k, 1, 100) for k in keep]
            MPI.Request.Waitall(reqs)
            COMM.Recv(ack, 1, 101)
        elif RANK == 1:
            bufs = [np.zeros(1, np.uint8) for _ in range(W)]
            reqs = [COMM.Irecv(b, 0, 100) for b in bufs]
            MPI.Request.Waitall(reqs)
            total += sum(int(b[0]) for b in bufs)
            COMM.Send(ack, 0, 101)
    del msg
    if RANK == 1:
        out("ack windows", rounds, total)


def same_buffers(rounds: int) -> None:
    """One buffer passed again and again (Isend's and Irecv's call-site records), with its
    dtype reassigned in place at the end: the record must notice (else the message would carry
    the old element type and a float32 receive would fail with ERR_TYPE)."""
    ack = np.zeros(4, np.uint8)
    if RANK == 0:
        a = np.zeros(5, np.int32)
        for r in range(rounds):
            a[:] = np.arange(5, dtype=np.int32) + 10 * r
            reqs = [COMM.Isend(a, 1, 200 + i % 2) for i in range(4)]
            MPI.Request.Waitall(reqs)
            COMM.Recv(ack, 1, 101)
        a.dtype = np.float32  # same memory, same size, another element type
        a[:] = 1.5
        for _ in range(3):
            COMM.Isend(a, 1, 202).Wait()
        COMM.Send(np.full(5, 2.5, np.float32), 1, 203)
    elif RANK == 1:
        b = np.zeros(5, np.int32)
        sums = []
        st = MPI.Status()
        for _ in range(rounds):
            for i in range(4):
                COMM.Irecv(b, 0, MPI.ANY_TAG if i == 3 else 200 + i % 2).Wait(st)
                sums.append((int(b.sum()), st.Get_tag(), st.Get_count(MPI.INT)))
            COMM.Send(ack, 0, 101)
        out("same-buffer int32", rounds, sums[::7])
        c = np.zeros(5, np.float32)
        got = []
        for _ in range(3):
            COMM.Irecv(c, 0, 202).Wait(st)
            got.append((float(c.sum()), st.Get_count(MPI.FLOAT)))
        b.dtype = np.float32  # the receive's record is for int32
        COMM.Irecv(b, 0, 203).Wait(st)
        out("same-buffer float32", got, float(b.sum()), st.Get_count(MPI.FLOAT))


def main() -> None:
    """Every scenario a few times (the receiver and sender race differently each time)."""
    for salt in range(3):
        window_arrived_first(salt)
        window_posted_first(salt, sync=salt == 1)
        window_tags_reordered(salt)
        COMM.Barrier()
    window_any_source(0)
    COMM.Barrier()
    truncation_and_cancel(0)
    COMM.Barrier()
    acks(50)
    COMM.Barrier()
    same_buffers(20)
    COMM.Barrier()
    done()


if __name__ == "__main__":
    main()
