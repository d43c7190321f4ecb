"""Large messages that arrive before their receive is posted (issue #20, "unexp"): under toro_mpi
they are *parked*, left in the ring until a receive matches them (mpi/p2p.py), and *spilled*
(copied out as before) whenever the engine must read past them. Every way that can go:

a parked message received by a later Recv, by ANY_SOURCE / ANY_TAG, into a smaller buffer
(ERR_TRUNCATE, the next message intact; toro_mpi only), by an object receive; messages behind a parked one
asked for first by Recv, Probe, Iprobe and an ANY_SOURCE receive; a synchronous send whose
acknowledgement travels behind a parked message; Mprobe / Mrecv of a parked message, and of
one spilled while matched; a cancelled receive next to a parked message; a sender blocked on
the ring a parked message fills while the receiver waits in a Barrier; ordering of equal tags;
and osu_bibw's two-way windows with the peer's window arriving first.

A message is made to arrive (and park) before its receive by an Iprobe loop for it: Iprobe finds
the header without taking the payload. Run under toro-mpirun or mpiexec (tests/programs/_mpi.py):
ranks 0 and 1 exchange, the others only join the barriers; stdout is deterministic. Under
toro_mpi rank 0 reports on stderr how many messages it parked and spilled ("R parked N spilled
M"), so the test can tell the paths were taken.

`p2p_parked.py truncate`: the truncation scenario alone (toro_mpi only, see there).
`p2p_parked.py finalize`: rank 1 sends a message nobody receives, parked at rank 0 when it
finalizes. (Not one beyond a ring: its Send fails once rank 0 has finalized, parked or not.)
`p2p_parked.py dies`: rank 1 dies with a message parked at rank 0 and another half
pushed; rank 0's receives must end in an error, not hang. These three: toro_mpi only.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from _mpi import COMM, IMPL, MPI, RANK, SIZE, digest, done, error_class, out

BIG = 100_000  # several ring fragments, well inside one ring (parks, the sender completes)
HUGE = 3 << 20  # beyond one ring (2 MiB): its sender waits for the receiver


def payload(size: int, salt: int) -> np.ndarray:
    """Deterministic bytes."""
    return ((np.arange(size, dtype=np.int64) * 31 + salt * 7) % 253).astype(np.uint8)


def status_line(st: MPI.Status) -> str:
    """Source, tag and byte count of a status."""
    return f"{st.Get_source()}/{st.Get_tag()}/{st.Get_count(MPI.BYTE)}"


def arrive(src: int, tag: int) -> None:
    """Wait until a message (src, tag) has arrived, without receiving it."""
    while not COMM.Iprobe(src, tag):
        pass


def recv(size: int, src: int = 1, tag: int = MPI.ANY_TAG) -> str:
    """Receive into a fresh buffer of `size` bytes; the digest and status (or the error class)."""
    buf = np.zeros(size, np.uint8)
    st = MPI.Status()
    try:
        COMM.Recv(buf, src, tag, st)
    except MPI.Exception as exc:
        return error_class(exc)
    return f"{digest(buf)}:{status_line(st)}"


def scenario_basic() -> None:
    """Parked, then received by a specific, an ANY_TAG and an ANY_SOURCE receive."""
    if RANK == 1:
        for salt in (1, 2, 3):
            COMM.Send(payload(BIG, salt), 0, 10 + salt)
    elif RANK == 0:
        for salt, (src, tag) in zip((1, 2, 3), [(1, 11), (1, MPI.ANY_TAG), (MPI.ANY_SOURCE, MPI.ANY_TAG)],
                                    strict=True):
            arrive(1, 10 + salt)
            out("basic", salt, recv(BIG, src, tag))


def scenario_behind() -> None:
    """A message behind a parked one asked for first: by Recv, Probe, Iprobe, ANY_SOURCE Recv."""
    for way in ("recv", "probe", "iprobe", "anysource"):
        if RANK == 1:
            reqs = [COMM.Isend(payload(BIG, 4), 0, 1), COMM.Isend(payload(BIG, 5), 0, 1),
                    COMM.Isend(payload(64, 6), 0, 2)]
            MPI.Request.Waitall(reqs)
        elif RANK == 0:
            arrive(1, 1)
            st = MPI.Status()
            if way == "probe":
                COMM.Probe(1, 2, st)
                out("behind", way, "probed", status_line(st))
            elif way == "iprobe":
                while not COMM.Iprobe(1, 2, st):
                    pass
                out("behind", way, "probed", status_line(st))
            src = MPI.ANY_SOURCE if way == "anysource" else 1
            out("behind", way, "small", recv(64, src, 2))
            out("behind", way, "first", recv(BIG, 1, 1))  # equal tags: in the order sent
            out("behind", way, "second", recv(BIG, 1, 1))
        COMM.Barrier()


def scenario_truncate() -> None:
    """A parked message into a smaller buffer: ERR_TRUNCATE with the first bytes delivered, and
    the next message intact. toro_mpi only: Open MPI 4's single copy (CMA) writes a truncated
    rendezvous message past the receive buffer (heap corruption, the reference aborts)."""
    if RANK == 1:
        COMM.Send(payload(BIG, 7), 0, 3)
        COMM.Send(payload(BIG, 8), 0, 3)
    elif RANK == 0:
        arrive(1, 3)
        buf = np.zeros(BIG // 2, np.uint8)
        try:
            COMM.Recv(buf, 1, 3)
            out("truncate", "no error")
        except MPI.Exception as exc:
            out("truncate", error_class(exc), "first bytes", np.array_equal(buf, payload(BIG, 7)[:BIG // 2]))
        arrive(1, 3)
        out("truncate next", recv(BIG, 1, 3) == f"{digest(payload(BIG, 8))}:1/3/{BIG}")


def scenario_ack_behind() -> None:
    """Rank 0 waits for a synchronous send's acknowledgement, which rank 1's queue carries behind
    a message parked at rank 0; and a parked synchronous send (acknowledged when received)."""
    if RANK == 1:
        req = COMM.Isend(payload(BIG, 9), 0, 4)
        out("ack", recv(16, 0, 5))
        req.Wait()
        COMM.Ssend(payload(BIG, 10), 0, 6)
        out("ack", "ssend done")
    elif RANK == 0:
        arrive(1, 4)
        COMM.Ssend(payload(16, 11), 1, 5)
        out("ack", "ssend done")
        out("ack", recv(BIG, 1, 4))
        arrive(1, 6)
        time.sleep(0.05)
        out("ack", recv(BIG, 1, 6))


def scenario_mprobe() -> None:
    """Mprobe / Mrecv of a parked message; and of one matched, then spilled by a receive of the
    message behind it, then received."""
    if RANK == 1:
        COMM.Send(payload(BIG, 12), 0, 7)
        reqs = [COMM.Isend(payload(BIG, 13), 0, 7), COMM.Isend(payload(32, 14), 0, 8)]
        MPI.Request.Waitall(reqs)
    elif RANK == 0:
        arrive(1, 7)
        st = MPI.Status()
        msg = COMM.Mprobe(1, 7, st)
        buf = np.zeros(BIG, np.uint8)
        msg.Recv(buf)
        out("mprobe", status_line(st), digest(buf))
        arrive(1, 7)
        msg = COMM.Mprobe(1, 7, st)
        out("mprobe behind", recv(32, 1, 8))
        buf = np.zeros(BIG, np.uint8)
        msg.Recv(buf, st)
        out("mprobe", status_line(st), digest(buf))


def scenario_cancel() -> None:
    """A receive of another tag cancelled while a message is parked; one that matches it takes it
    at once (too late to cancel)."""
    if RANK == 1:
        COMM.Send(payload(BIG, 15), 0, 9)
    elif RANK == 0:
        arrive(1, 9)
        other = COMM.Irecv(np.zeros(8, np.uint8), 1, 99)
        other.Cancel()
        st = MPI.Status()
        other.Wait(st)
        out("cancel other", st.Is_cancelled())
        buf = np.zeros(BIG, np.uint8)
        req = COMM.Irecv(buf, 1, 9)
        req.Wait(st)
        out("cancel taken", st.Is_cancelled(), digest(buf), status_line(st))
    COMM.Barrier()


def scenario_object() -> None:
    """A large pickled object parked, then received by recv() (its buffer sized on arrival)."""
    if RANK == 1:
        COMM.send(bytes(payload(BIG, 16)), 0, 12)
    elif RANK == 0:
        st = MPI.Status()
        while not COMM.Iprobe(1, 12, st):
            pass
        obj = COMM.recv(None, 1, 12)
        out("object", len(obj), digest(np.frombuffer(obj, np.uint8)))


def scenario_blocked_sender() -> None:
    """Rank 1's ring to rank 0 fills with a message parked there and its next send waits for
    room, while rank 0 waits in a Barrier for rank 1: the parked message must not stay parked."""
    if RANK == 1:
        req = COMM.Isend(payload(HUGE, 17), 0, 13)
        COMM.Send(payload(64, 18), 0, 14)
        COMM.Barrier()
        req.Wait()
    elif RANK == 0:
        arrive(1, 13)
        COMM.Barrier()
        out("blocked", recv(64, 1, 14))
        out("blocked", recv(HUGE, 1, 13))
    else:
        COMM.Barrier()


def scenario_windows() -> None:
    """osu_bibw: both ranks post a window of receives, then a window of sends, then Waitall; the
    peer's window (or part of it) arrives before the receives are posted."""
    if RANK > 1:
        return
    peer = 1 - RANK
    size, window = 64 << 10, 8
    for it in range(4):
        sends = [payload(size, 20 + i + 10 * it + 100 * RANK) for i in range(window)]
        if RANK == it % 2:
            arrive(peer, 30)  # the peer's window is ahead of our receives
        bufs = [np.zeros(size, np.uint8) for _ in range(window)]
        reqs = [COMM.Irecv(b, peer, 30) for b in bufs]
        reqs += [COMM.Isend(s, peer, 30) for s in sends]
        MPI.Request.Waitall(reqs)
        out("window", it, digest(np.concatenate(bufs)))


def counts() -> None:
    """Under toro_mpi: how many messages this rank parked and spilled, on stderr."""
    if IMPL == "toro":
        from toro_mpi import runtime

        e = runtime.world().engine
        sys.stderr.write(f"{RANK} parked {e.parks} spilled {e.spills}\n")
        sys.stderr.flush()


def main() -> None:
    """The differential scenarios (no argument), or one of the toro_mpi-only ones."""
    mode = sys.argv[1] if len(sys.argv) > 1 else "all"
    if mode == "finalize":
        if RANK == 1:
            COMM.Send(payload(BIG, 40), 0, 50)  # nobody receives it
        elif RANK == 0:
            arrive(1, 50)
        counts()
        done()
        return
    if mode == "dies":
        if RANK == 1:
            COMM.Send(payload(BIG, 41), 0, 51)
            COMM.Isend(payload(HUGE, 42), 0, 52)
            time.sleep(1.0)  # rank 0 has parked both by then
            os._exit(3)
        if RANK == 0:
            arrive(1, 51)
            arrive(1, 52)
            counts()
            out("dies", recv(BIG, 1, 51))
            out("dies", recv(HUGE, 1, 52))
        COMM.Barrier()
        done()
        return
    if mode == "truncate":
        scenario_truncate()
        counts()
        done()
        return
    for scenario in (scenario_basic, scenario_behind, scenario_ack_behind, scenario_mprobe,
                     scenario_cancel, scenario_object, scenario_blocked_sender, scenario_windows):
        scenario()
        COMM.Barrier()
    out("size", SIZE)
    counts()
    done()


main()
