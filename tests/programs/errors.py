"""Argument errors raise MPI.Exception with the right error class, and none of them hangs or
breaks the communicator: invalid ranks and tags, truncation (eager, fragmented, rendezvous;
blocking and nonblocking), and (toro_mpi only; mpi4py raises Python errors there) read-only
receive buffers and counts larger than the buffer."""

import numpy as np
from _mpi import COMM, IMPL, MPI, RANK, SIZE, done, error_class, out, tag_ub


def expect(what: str, fn, *classes: str, words: tuple[str, ...] = (), show: bool = True) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the class is what is checked
        name = error_class(exc)
        assert name in classes, f"{what}: expected {classes}, got {name}: {exc}"
        for w in words:
            assert w in str(exc), f"{what}: {w!r} not in the message {str(exc)!r}"
        if show:
            out(what, name)
        return
    raise AssertionError(f"{what}: no error raised, expected {classes}")


def invalid_arguments() -> None:
    buf = np.zeros(4, np.int32)
    expect("Send to rank SIZE", lambda: COMM.Send(buf, dest=SIZE, tag=0), "ERR_RANK")
    expect("Send to rank -5", lambda: COMM.Send(buf, dest=-5, tag=0), "ERR_RANK")
    expect("Recv from rank SIZE", lambda: COMM.Recv(buf, source=SIZE, tag=0), "ERR_RANK")
    expect("Isend to rank SIZE+3", lambda: COMM.Isend(buf, dest=SIZE + 3, tag=0), "ERR_RANK")
    expect("Ssend to rank SIZE", lambda: COMM.Ssend(buf, dest=SIZE, tag=0), "ERR_RANK")
    expect("send object to rank SIZE", lambda: COMM.send("x", dest=SIZE, tag=0), "ERR_RANK")
    expect("Send tag -3", lambda: COMM.Send(buf, dest=0, tag=-3), "ERR_TAG")
    expect("Recv tag -5", lambda: COMM.Recv(buf, source=0, tag=-5), "ERR_TAG")
    expect("Isend tag -7", lambda: COMM.Isend(buf, dest=0, tag=-7), "ERR_TAG")
    if IMPL == "toro":  # mpi4py cannot even pass TAG_UB + 1 (a C int overflow)
        ub = tag_ub()
        expect("Send tag UB+1", lambda: COMM.Send(buf, dest=0, tag=ub + 1), "ERR_TAG", show=False)
        expect("Recv tag UB+1", lambda: COMM.Recv(buf, source=0, tag=ub + 1), "ERR_TAG", show=False)
        expect("send object tag -2", lambda: COMM.send(1, dest=0, tag=-2), "ERR_TAG", show=False)
        # Read-only receive buffers.
        expect("Recv into bytes", lambda: COMM.Recv(bytes(16), source=0, tag=0), "ERR_BUFFER", show=False)
        ro = np.zeros(4)
        ro.flags.writeable = False
        expect("Recv into read-only array", lambda: COMM.Recv(ro, source=0, tag=0), "ERR_BUFFER", show=False)
        expect("Irecv into bytes", lambda: COMM.Irecv(b"abcd", source=0, tag=0), "ERR_BUFFER", show=False)
        # Counts and displacements beyond the buffer.
        small = np.zeros(4, np.int32)
        for what, spec in (("count > buffer", [small, 10, MPI.INT]),
                           ("count + displ > buffer", [small, (3, 2), MPI.INT]),
                           ("negative count", [small, -1, MPI.INT])):
            expect(f"Send {what}", lambda s=spec: COMM.Send(s, dest=0, tag=0), "ERR_BUFFER", "ERR_COUNT",
                   show=False)
            expect(f"Recv {what}", lambda s=spec: COMM.Recv(s, source=0, tag=0), "ERR_BUFFER", "ERR_COUNT",
                   show=False)


def truncation() -> None:
    cases = [(100, 10)]  # bytes sent, bytes room
    if IMPL == "toro":  # Open MPI (5.0, sm) corrupts its heap truncating messages over its eager limit
        cases += [(20000, 9000), (1 << 20, 1000), (300000, 299999), (262144, 0), (8161, 8160)]
    if RANK == 0:
        for i, (n, _) in enumerate(cases):
            COMM.Send(np.full(n, i + 1, np.uint8), dest=1, tag=10 + i)
            COMM.Send(np.full(n, i + 1, np.uint8), dest=1, tag=20 + i)
            COMM.Send(np.array([i], np.int64), dest=1, tag=30 + i)  # right behind it
    elif RANK == 1:
        for i, (n, room) in enumerate(cases):
            buf = np.zeros(room, np.uint8)
            words = (str(n), str(room)) if IMPL == "toro" else ()
            show = i < 1
            expect(f"Recv {n} bytes into {room}", lambda b=buf, t=10 + i: COMM.Recv(b, source=0, tag=t),
                   "ERR_TRUNCATE", words=words, show=show)
            buf2 = np.zeros(room, np.uint8)
            req = COMM.Irecv(buf2, source=0, tag=20 + i)
            expect(f"Irecv {n} bytes into {room}, Wait", req.Wait, "ERR_TRUNCATE", words=words, show=show)
            nxt = np.zeros(1, np.int64)
            COMM.Recv(nxt, source=0, tag=30 + i)  # the communicator still works
            assert nxt[0] == i
        out("after truncation the next messages arrive")


def main() -> None:
    invalid_arguments()
    if SIZE >= 2:
        COMM.Barrier()
        truncation()
    COMM.Barrier()
    # Nothing is stuck: a last ring exchange.
    token = COMM.sendrecv(RANK, dest=(RANK + 1) % SIZE, source=(RANK - 1) % SIZE)
    assert token == (RANK - 1) % SIZE
    done()


main()
