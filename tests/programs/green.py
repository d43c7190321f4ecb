"""toro_mpi only: green threads. A green thread blocked in Recv lets the other green threads of
its rank run; the message it waits for is sent only after another green thread made progress."""

import numpy as np
from _mpi import COMM, IMPL, MPI, RANK, SIZE, done, out

import toro_mpi

assert IMPL == "toro", "green threads are a toro_mpi feature"


def spawn_join_basics() -> None:
    """No communication: tasks return values through join(), in any join order; yield_ hands the
    core to the other ready green thread."""
    log = []

    def worker(name: str, steps: int) -> str:
        for i in range(steps):
            log.append((name, i))
            toro_mpi.yield_()
        return name * 2

    a, b, c = toro_mpi.spawn(worker, "a", 5), toro_mpi.spawn(worker, "b", 5), toro_mpi.spawn(worker, "c", 1)
    assert (a.join(), b.join(), c.join()) == ("aa", "bb", "cc")
    assert log.index(("b", 0)) < log.index(("a", 4)), f"yield_ did not let b run: {log}"
    tasks = [toro_mpi.spawn(lambda k=k: k * k) for k in range(10)]
    assert [t.join() for t in reversed(tasks)] == [k * k for k in reversed(range(10))]
    out("spawn/join/yield_ basics")


def blocked_recv_lets_others_run() -> None:
    """Rank 1: task A waits in Recv for rank 0, which answers only after task B reported in."""
    if RANK == 0:
        buf = np.zeros(1, np.int64)
        COMM.Recv(buf, source=1, tag=2)
        COMM.Send(buf + 1000, dest=1, tag=1)
    elif RANK == 1:
        progress = []

        def a() -> int:
            buf = np.zeros(1, np.int64)
            COMM.Recv(buf, source=0, tag=1)
            return int(buf[0])

        def b() -> int:
            for i in range(100):
                progress.append(i)
                toro_mpi.yield_()
            COMM.Send(np.array([len(progress)], np.int64), dest=0, tag=2)
            return len(progress)

        ta = toro_mpi.spawn(a)
        tb = toro_mpi.spawn(b)
        got = ta.join()
        assert tb.join() == 100 and got == 1100, (got, progress[-1:])
        out("green Recv waited while the other green thread ran", got)


def self_messages_between_green_threads() -> None:
    def receiver(tag: int) -> list[int]:
        buf = np.zeros(3, np.int32)
        st = MPI.Status()
        COMM.Recv(buf, source=RANK, tag=tag, status=st)
        return [*buf.tolist(), st.Get_tag()]

    tasks = [toro_mpi.spawn(receiver, t) for t in (7, 8, 9)]
    toro_mpi.yield_()  # the receivers start and block
    for t in (9, 8, 7):
        COMM.Send(np.array([t, t, t], np.int32), dest=RANK, tag=t)
    results = [task.join() for task in tasks]
    assert results == [[7, 7, 7, 7], [8, 8, 8, 8], [9, 9, 9, 9]], results
    # An object ping-pong between two green threads of this rank.
    def ping() -> str:
        COMM.send("ping", dest=RANK, tag=20)
        return COMM.recv(source=RANK, tag=21)

    def pong() -> str:
        msg = COMM.recv(source=RANK, tag=20)
        COMM.send(msg + "-pong", dest=RANK, tag=21)
        return msg

    t1, t2 = toro_mpi.spawn(ping), toro_mpi.spawn(pong)
    assert (t1.join(), t2.join()) == ("ping-pong", "ping")
    out("green threads talked through self messages")


def many_waiters_across_ranks() -> None:
    """Every rank runs one green thread per peer, each blocked in Recv from that peer."""
    def from_peer(peer: int) -> int:
        buf = np.zeros(1, np.int64)
        COMM.Recv(buf, source=peer, tag=30)
        return int(buf[0])

    tasks = {p: toro_mpi.spawn(from_peer, p) for p in range(SIZE) if p != RANK}
    for p in reversed(range(SIZE)):
        if p != RANK:
            COMM.Send(np.array([RANK * 10 + p], np.int64), dest=p, tag=30)
    got = {p: t.join() for p, t in tasks.items()}
    assert got == {p: p * 10 + RANK for p in tasks}, got
    out("one green thread per peer", len(got))


def main() -> None:
    spawn_join_basics()
    COMM.Barrier()
    self_messages_between_green_threads()
    if SIZE >= 2:
        COMM.Barrier()
        blocked_recv_lets_others_run()
        COMM.Barrier()
        many_waiters_across_ranks()
    COMM.Barrier()
    done()


main()
