"""Windows of receives posted before their messages arrive (the posted-receive table of
mpi/posted_run.py matches them in runs), with what may interrupt a run: a message needing the
general path (synchronous, fragmented, truncated, another element type), another tag at the
queue head, an ANY_SOURCE or other-source receive among them, a cancelled receive in the
middle; both directions at once (osu_bibw); and Waitall / Waitany / Testall / Waitsome over
mixed request kinds (born-complete sends and receives, posted receives, persistent requests,
request copies, nonblocking collectives).

Run under toro-mpirun or mpiexec (tests/programs/_mpi.py picks the MPI); ranks 0 and 1 exchange
the windows, every other rank sends ANY_SOURCE traffic to rank 0. Prints deterministic lines.
"""

from __future__ import annotations

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, done, error_class, out

W = 24  # messages per window


def payload(i: int, size: int, salt: int) -> np.ndarray:
    """Deterministic bytes of message i."""
    return ((np.arange(size, dtype=np.int64) * 5 + i * 11 + salt) % 253).astype(np.uint8)


def status_line(st) -> str:
    """What a status says (source, tag, count in bytes, error)."""
    return f"{st.Get_source()}/{st.Get_tag()}/{st.Get_count(MPI.BYTE)}/{st.Get_error()}"


def posted_same_buffer(salt: int) -> None:
    """One receive buffer for a whole posted window (osu_bw's receiver): the last message wins;
    every status is right."""
    if RANK == 1:
        buf = np.zeros(8, np.uint8)
        reqs = [COMM.Irecv(buf, 0, 7) for _ in range(W)]
        COMM.Barrier()
        sts = [MPI.Status() for _ in reqs]
        MPI.Request.Waitall(reqs, sts)
        out("same-buffer", salt, digest(buf) == digest(payload(W - 1, 8, salt)),
            sorted({status_line(s) for s in sts}))
    elif RANK == 0:
        COMM.Barrier()
        keep = [payload(i, 8, salt) for i in range(W)]
        MPI.Request.Waitall([COMM.Isend(k, 1, 7) for k in keep])
    else:
        COMM.Barrier()


def posted_mixed(salt: int) -> None:
    """A posted window whose messages interrupt the run: sizes 0 / 8 / beyond one ring buffer,
    a synchronous send, an int32 message into an int32 buffer, a truncated message."""
    sizes = [8, 0, 8, 100000, 8, 8, 3, 8] * 3
    if RANK == 1:
        bufs = []
        reqs = []
        for i, s in enumerate(sizes[:W]):
            if i == 6:
                b = np.zeros(2, np.uint8)  # message i is 3 bytes: truncated
            elif i == 10:
                b = np.zeros(2, np.int32)
            else:
                b = np.zeros(max(s, 1), np.uint8)
            bufs.append(b)
            reqs.append(COMM.Irecv(b, 0, 30 + i % 2))
        COMM.Barrier()
        errs = []
        for i, r in enumerate(reqs):
            st = MPI.Status()
            try:
                r.Wait(st)
                errs.append((i, 0, st.Get_count(MPI.BYTE)))
            except MPI.Exception as exc:
                errs.append((i, error_class(exc), -1))
        ok = all(digest(bufs[i][:s]) == digest(payload(i, s, salt)) for i, s in enumerate(sizes[:W])
                 if i not in (6, 10))
        ints = bufs[10].tolist()
        out("mixed", salt, errs, ok, ints == np.arange(2, dtype=np.int32).tolist())
    elif RANK == 0:
        COMM.Barrier()
        reqs = []
        for i, s in enumerate(sizes[:W]):
            if i == 10:
                reqs.append(COMM.Isend(np.arange(2, dtype=np.int32), 1, 30))
            elif i == 5:
                reqs.append(COMM.Issend(payload(i, s, salt), 1, 30 + i % 2))
            else:
                reqs.append(COMM.Isend(payload(i, s, salt), 1, 30 + i % 2))
        MPI.Request.Waitall(reqs)
    else:
        COMM.Barrier()


def posted_interrupted(salt: int) -> None:
    """A posted window with a receive of another tag first at the queue head (not matched by
    the run: the head stays, later receives see it), an ANY_SOURCE receive and a cancelled
    receive in the middle, then more receives posted after some messages arrived."""
    if RANK == 1:
        bufs = [np.zeros(4, np.uint8) for _ in range(W)]
        reqs = []
        for i in range(W // 2):
            src = MPI.ANY_SOURCE if i == 4 else 0
            reqs.append(COMM.Irecv(bufs[i], src, 40 if i != 7 else 99))
        reqs[9].Cancel()
        COMM.Barrier()
        # Some have arrived now: more receives behind them.
        reqs += [COMM.Irecv(bufs[i], 0, 40) for i in range(W // 2, W)]
        sts = [MPI.Status() for _ in reqs]
        MPI.Request.Waitall(reqs, sts)
        lines = [status_line(s) for s in sts]
        lines[9] = f"cancelled={sts[9].Is_cancelled()}"
        out("interrupted", salt, lines)
        vals = sorted(int(b[0]) for i, b in enumerate(bufs) if i != 9)
        out("interrupted values", salt, vals)
    elif RANK == 0:
        COMM.Barrier()
        # 99 first (received by receive 7 out of order), then the window of 40s.
        reqs = [COMM.Isend(np.full(4, 200, np.uint8), 1, 99)]
        # One tag-40 message per tag-40 receive: 10 of the first 12 (7 takes 99, 9 is cancelled).
        reqs += [COMM.Isend(np.full(4, i, np.uint8), 1, 40) for i in range(W - 2)]
        MPI.Request.Waitall(reqs)
    else:
        COMM.Barrier()


def bidirectional(rounds: int) -> None:
    """osu_bibw: both ranks post a window of receives, then send a window, then Waitall."""
    if RANK > 1:
        return
    peer = 1 - RANK
    rbuf = np.zeros(8, np.uint8)
    total = 0
    for r in range(rounds):
        keep = [np.full(8, (r * 7 + i + RANK) % 256, np.uint8) for i in range(W)]
        rbufs = [rbuf if i % 2 else np.zeros(8, np.uint8) for i in range(W)]
        reqs = [COMM.Irecv(b, peer, 50) for b in rbufs]
        reqs += [COMM.Isend(k, peer, 50) for k in keep]
        MPI.Request.Waitall(reqs)
        total += sum(int(b[0]) for i, b in enumerate(rbufs) if i % 2 == 0) + int(rbuf[0])
    out("bibw", rounds, total)


def any_source_windows() -> None:
    """Every rank but 0 sends a window to rank 0, which posts one window per sender (runs of
    different sources one after another) and one of ANY_SOURCE receives."""
    if RANK == 0:
        per = {}
        for p in range(1, SIZE):
            per[p] = [np.zeros(2, np.int64) for _ in range(8)]
        reqs = [COMM.Irecv(b, p, 60) for p in range(1, SIZE) for b in per[p]]
        anyb = [np.zeros(2, np.int64) for _ in range(8 * (SIZE - 1))]
        reqs += [COMM.Irecv(b, MPI.ANY_SOURCE, 61) for b in anyb]
        COMM.Barrier()
        sts = [MPI.Status() for _ in reqs]
        MPI.Request.Waitall(reqs, sts)
        firsts = {p: [int(b[0]) for b in per[p]] for p in per}
        out("per-source", firsts)
        out("any-source", sorted(int(b[0]) for b in anyb), sorted(s.Get_source() for s in sts))
    else:
        COMM.Barrier()
        reqs = [COMM.Isend(np.array([RANK * 100 + i, i], np.int64), 0, 60) for i in range(8)]
        reqs += [COMM.Isend(np.array([RANK * 1000 + i, i], np.int64), 0, 61) for i in range(8)]
        MPI.Request.Waitall(reqs)


def mixed_kinds(salt: int) -> None:
    """Waitall without statuses, Waitany, Testall and Waitsome over requests of every kind."""
    if RANK > 1:
        COMM.Barrier()
        COMM.Ibarrier().Wait()
        COMM.Barrier()
        return
    peer = 1 - RANK
    a = np.zeros(4, np.uint8)
    b = np.zeros(4, np.uint8)
    early = np.zeros(4, np.uint8)
    COMM.Send(np.full(4, 1 + RANK + salt, np.uint8), peer, 70)
    COMM.Barrier()  # the peer's 70 is in: its Irecv completes at once
    reqs = [COMM.Irecv(early, peer, 70)]
    reqs.append(COMM.Irecv(a, peer, 71))  # posted before its message
    preq = COMM.Recv_init(b, peer, 72)
    preq.Start()
    reqs.append(preq)
    copy = MPI.Request(COMM.Irecv(np.zeros(4, np.uint8), peer, 73))
    reqs.append(copy)
    reqs.append(COMM.Isend(np.full(4, 10 + RANK, np.uint8), peer, 71))
    reqs.append(COMM.Isend(np.full(4, 20 + RANK, np.uint8), peer, 72))
    reqs.append(COMM.Isend(np.full(4, 30 + RANK, np.uint8), peer, 73))
    reqs.append(COMM.Ibarrier())
    MPI.Request.Waitall(reqs)
    out("kinds waitall", salt, early.tolist(), a.tolist(), b.tolist(),
        [r == MPI.REQUEST_NULL for r in reqs])
    preq.Free()
    # Waitany / Waitsome / Testall over posted receives and sends.
    bufs = [np.zeros(1, np.uint8) for _ in range(6)]
    reqs = [COMM.Irecv(x, peer, 80 + i) for i, x in enumerate(bufs)]
    sends = [COMM.Isend(np.full(1, 40 + i, np.uint8), peer, 85 - i) for i in range(6)]
    got = set()
    st = MPI.Status()
    i = MPI.Request.Waitany(reqs, st)
    got.add(i)
    while len(got) < 6:
        some = MPI.Request.Waitsome(reqs)
        got.update(some or [])
    flag = MPI.Request.Testall(sends)
    if not flag:
        MPI.Request.Waitall(sends)
    out("kinds any/some", salt, sorted(got), [int(x[0]) for x in bufs],
        all(r == MPI.REQUEST_NULL for r in reqs + sends))
    COMM.Barrier()


def main() -> None:
    """Each scenario a few times (the ranks race differently each time)."""
    for salt in range(3):
        posted_same_buffer(salt)
        posted_mixed(salt)
        posted_interrupted(salt)
        mixed_kinds(salt)
        COMM.Barrier()
    bidirectional(40)
    COMM.Barrier()
    any_source_windows()
    COMM.Barrier()
    done()


if __name__ == "__main__":
    main()
