"""The small-message paths of issue #20's smallmsg work: Send / Recv call-site records (a buffer
passed twice in a row is then sent and received through its record's block), Isend / Irecv's
records, and windows of identical posted receives that share one table row (mpi/posted_run.py's
`same` mode), with everything that may interrupt them: statuses with ANY_TAG, truncation, a
message beyond one ring buffer, a full ring, a buffer changed or retyped in place, a receive of
another tag or a cancelled one inside a window, windows completed in several parts, a window
longer than the table.

Run under toro-mpirun or mpiexec (tests/programs/_mpi.py picks the MPI): ranks 0 and 1 exchange,
the other ranks only join the barriers. Prints deterministic lines.
"""

from __future__ import annotations

import time

import numpy as np
from _mpi import COMM, MPI, RANK, digest, done, error_class, out


def payload(i: int, size: int, salt: int) -> np.ndarray:
    """Deterministic bytes of message i."""
    return ((np.arange(size, dtype=np.int64) * 7 + i * 13 + salt) % 251).astype(np.uint8)


def status_line(st) -> str:
    """What a status says (source, tag, count in bytes, error)."""
    return f"{st.Get_source()}/{st.Get_tag()}/{st.Get_count(MPI.BYTE)}/{st.Get_error()}"


def pingpong_records(salt: int) -> None:
    """Send / Recv with one buffer each, again and again (their records), with statuses, ANY_TAG,
    contents changed in place between sends, and a few other buffers in between."""
    s = np.zeros(8, np.uint8)
    r = np.zeros(8, np.uint8)
    st = MPI.Status()
    lines = []
    for i in range(40):
        if RANK == 0:
            s[:] = payload(i, 8, salt)
            COMM.Send(s, 1, i % 3)
            COMM.Recv(r, 1, MPI.ANY_TAG, st)
            lines.append(f"{digest(r)}:{status_line(st)}")
        elif RANK == 1:
            COMM.Recv(r, 0, MPI.ANY_TAG if i % 2 else i % 3, st)
            lines.append(f"{digest(r)}:{status_line(st)}")
            r[:] = r[::-1]
            COMM.Send(r, 0, 5)
        if i % 13 == 12 and RANK < 2:  # another buffer: the record stays the old one's
            other = np.full(3, i, np.uint8)
            if RANK == 0:
                COMM.Send(other, 1, 9)
            else:
                got = np.zeros(3, np.uint8)
                COMM.Recv(got, 0, 9)
                lines.append(digest(got))
    if RANK < 2:
        out("pingpong", salt, len(lines))
        for line in lines:
            out("pp", line)


def records_interrupted(salt: int) -> None:
    """A recorded Recv buffer given a message that is too long (ERR_TRUNCATE), one beyond a ring
    buffer (fragments), a recorded Send buffer retyped in place, and a full ring."""
    big = 100000
    if RANK == 0:
        s = np.zeros(4, np.uint8)
        for i in range(3):
            s[:] = i + salt
            COMM.Send(s, 1, 1)  # records
        COMM.Send(payload(0, 6, salt), 1, 1)  # 6 bytes into the recorded 4-byte buffer
        b = payload(1, big, salt)
        for _ in range(3):
            COMM.Send(b, 1, 2)  # beyond one ring buffer, from a recorded buffer
        s8 = np.zeros(8, np.uint8)
        for i in range(2):
            s8[:] = i
            COMM.Send(s8, 1, 3)
        s8.dtype = np.int32  # in place: now two int32 elements
        s8[:] = [salt, 77]
        COMM.Send(s8, 1, 3)
        COMM.Barrier()
        for i in range(100):  # more than the ring holds: the receiver is late
            s[:] = i % 256
            COMM.Send(s, 1, 4)
    elif RANK == 1:
        r = np.zeros(4, np.uint8)
        st = MPI.Status()
        for _ in range(3):
            COMM.Recv(r, 0, 1, st)
        out("recorded", digest(r), status_line(st))
        try:
            COMM.Recv(r, 0, 1)
            out("truncate", "no error")
        except MPI.Exception as exc:
            out("truncate", error_class(exc))
        rb = np.zeros(big, np.uint8)
        for _ in range(3):
            rb[:] = 0
            COMM.Recv(rb, 0, 2, st)
            out("fragments", digest(rb), status_line(st))
        r8 = np.zeros(8, np.uint8)
        for _ in range(2):
            COMM.Recv(r8, 0, 3)
        r32 = np.zeros(2, np.int32)
        COMM.Recv(r32, 0, 3, st)
        out("retyped", r32.tolist(), status_line(st))
        COMM.Barrier()
        time.sleep(0.2)
        got = []
        for _ in range(100):
            COMM.Recv(r, 0, 4)
            got.append(int(r[0]))
        out("full ring", got == list(range(100)))
    else:
        COMM.Barrier()


def same_window(salt: int, window: int, split: int) -> None:
    """A window of identical receives (one buffer, source and tag) posted before its messages,
    completed in two parts (Test in between), with statuses of varying counts."""
    if RANK == 1:
        buf = np.zeros(8, np.uint8)
        reqs = [COMM.Irecv(buf, 0, 7) for _ in range(window)]
        COMM.Barrier()
        COMM.Barrier()  # the first `split` messages are in
        flags = [reqs[i].Test() if i < split else False for i in range(window)]
        COMM.Barrier()
        sts = [MPI.Status() for _ in reqs]
        MPI.Request.Waitall([r for i, r in enumerate(reqs) if not flags[i]], sts)
        out("same", window, split, sum(flags), digest(buf), [status_line(s) for s in sts[:3]],
            sorted({status_line(s) for s in sts[: window - sum(flags)]}))
    elif RANK == 0:
        COMM.Barrier()
        keep = [payload(i, i % 9, salt) for i in range(window)]
        first = [COMM.Isend(keep[i], 1, 7) for i in range(split)]
        MPI.Request.Waitall(first)
        COMM.Barrier()
        COMM.Barrier()
        MPI.Request.Waitall([COMM.Isend(keep[i], 1, 7) for i in range(split, window)])
    else:
        COMM.Barrier()
        COMM.Barrier()
        COMM.Barrier()


def window_broken(salt: int) -> None:
    """Identical posted receives with another tag's receive among them (the shared row is
    written out for all), then more identical ones; a cancelled receive in the middle."""
    if RANK == 1:
        buf = np.zeros(8, np.uint8)
        other = np.zeros(8, np.uint8)
        reqs = [COMM.Irecv(buf, 0, 7) for _ in range(6)]
        reqs.append(COMM.Irecv(other, 0, 8))
        reqs += [COMM.Irecv(buf, 0, 7) for _ in range(6)]
        victim = COMM.Irecv(buf, 0, 7)
        reqs += [COMM.Irecv(buf, 0, 7) for _ in range(3)]
        victim.Cancel()
        COMM.Barrier()
        sts = [MPI.Status() for _ in reqs]
        MPI.Request.Waitall(reqs, sts)
        vst = MPI.Status()
        victim.Wait(vst)
        out("broken", digest(buf), digest(other), [status_line(s) for s in sts], vst.Is_cancelled())
    elif RANK == 0:
        COMM.Barrier()
        msgs = [payload(i, 1 + i % 8, salt) for i in range(15)]
        reqs = [COMM.Isend(m, 1, 7) for m in msgs]
        reqs.append(COMM.Isend(payload(99, 5, salt), 1, 8))
        MPI.Request.Waitall(reqs)
    else:
        COMM.Barrier()


def bibw_records(rounds: int) -> None:
    """osu_bibw's pattern: both ranks post a window of identical receives, then send theirs."""
    if RANK > 1:
        return
    peer = 1 - RANK
    s = np.zeros(16, np.uint8)
    r = np.zeros(16, np.uint8)
    total = 0
    for k in range(rounds):
        s[:] = k % 200 + RANK
        reqs = [COMM.Irecv(r, peer, 3) for _ in range(32)]
        reqs += [COMM.Isend(s, peer, 3) for _ in range(32)]
        sts = [MPI.Status() for _ in reqs]
        MPI.Request.Waitall(reqs, sts)
        total += int(r[0]) + sum(x.Get_count(MPI.BYTE) for x in sts[:32])
    out("bibw", rounds, total)


def fresh_ints_and_freed() -> None:
    """Recorded buffers with peers and tags that are new int objects on every call (a record
    remembers the objects it checked), then the records of a communicator freed under them."""
    comm = COMM.Dup()
    s = np.zeros(4, np.uint8)
    r = np.zeros(4, np.uint8)
    got = []
    for i in range(12):
        tag = int(str(100000 + i % 3))  # a new int object each time
        if RANK == 0:
            s[:] = i
            comm.Send(s, int("1"), tag)
            comm.Isend(s, int("1"), tag).Wait()
        elif RANK == 1:
            st = MPI.Status()
            comm.Recv(r, int("0"), tag, st)
            got.append((int(r[0]), st.Get_tag()))
            comm.Irecv(r, int("0"), tag).Wait(st)
            got.append((int(r[0]), st.Get_tag()))
    if RANK == 1:
        out("fresh ints", got)
    if RANK < 2:  # the records now remember these very objects (peer 1 - RANK, tag 5)
        for _ in range(2):
            if RANK == 0:
                comm.Send(s, 1 - RANK, 5)
                comm.Isend(s, 1 - RANK, 5).Wait()
            else:
                comm.Recv(r, 1 - RANK, 5)
                comm.Irecv(r, 1 - RANK, 5).Wait()
    comm.Barrier()
    comm.Free()
    if RANK < 2:
        peer = 1 - RANK
        for name, call in (("Send", lambda: comm.Send(s, peer, 5)), ("Recv", lambda: comm.Recv(r, peer, 5)),
                           ("Isend", lambda: comm.Isend(s, peer, 5)), ("Irecv", lambda: comm.Irecv(r, peer, 5))):
            try:
                call()
                out("freed", name, "no error")
            except MPI.Exception as exc:
                out("freed", name, error_class(exc))


def main() -> None:
    """Each scenario a few times (the ranks race differently each time)."""
    for salt in range(2):
        pingpong_records(salt)
        COMM.Barrier()
        records_interrupted(salt)
        COMM.Barrier()
        same_window(salt, 20, 5)
        same_window(salt, 300, 100)  # longer than the table (256 rows)
        window_broken(salt)
        COMM.Barrier()
    bibw_records(30)
    COMM.Barrier()
    fresh_ints_and_freed()
    COMM.Barrier()
    done()


if __name__ == "__main__":
    main()
