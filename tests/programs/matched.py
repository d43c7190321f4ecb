"""Matched probes (Mprobe/Improbe, MPI.Message) mixed with ordinary receives, ANY_SOURCE, large
messages and object forms; request truthiness; object receives of raw bytes; bad input.

A matched message is out of matching: an ordinary receive posted after the probe (even with
ANY_SOURCE / ANY_TAG) must take the next message, never the probed one."""

import pickle

import numpy as np
from _mpi import COMM, IMPL, MPI, RANK, SIZE, digest, done, error_class, out, pattern

SIZES = (0, 7, 2041, 75000, 300000)  # int32 counts: empty, small, fragment edges, large


def buffers() -> None:
    """Each other rank sends two messages per size; rank 0 matches the first with Mprobe and,
    before receiving it, posts an ANY_SOURCE Irecv that must get the second."""
    if RANK == 0:
        got = []
        for _ in range((SIZE - 1) * len(SIZES)):
            st = MPI.Status()
            m = COMM.Mprobe(MPI.ANY_SOURCE, MPI.ANY_TAG, st)
            src, tag, count = st.Get_source(), st.Get_tag(), st.Get_count(MPI.INT)
            second = np.empty(count, np.int32)
            r = COMM.Irecv(second, source=src, tag=MPI.ANY_TAG)
            first = np.empty(count, np.int32)
            if count % 2:
                m.Irecv(first).Wait()
            else:
                m.Recv(first)
            assert not m and m == MPI.MESSAGE_NULL
            st2 = MPI.Status()
            r.Wait(st2)
            got.append((src, tag, count, digest(first), st2.Get_tag(), digest(second)))
        for line in sorted(got):
            out("matched", *line)
        assert COMM.Improbe() is None
    else:
        for i, count in enumerate(SIZES):
            COMM.Send(pattern("int32", count, RANK * 10 + i), dest=0, tag=100 + i)
            COMM.Send(pattern("int32", count, RANK * 10 + i + 5), dest=0, tag=200 + i)
    COMM.Barrier()


def objects() -> None:
    """Object forms: mprobe / improbe and Message.recv / irecv, with a large out-of-band array."""
    if RANK == 0:
        for src in range(1, SIZE):
            for _ in range(2):
                m = None
                while m is None:
                    m = MPI.Message.iprobe(COMM, src)
                st = MPI.Status()
                m2 = COMM.mprobe(src, MPI.ANY_TAG)  # the next one, not m's
                obj = m.recv(st)
                obj2 = m2.irecv().wait()
                out("objects", st.Get_source(), st.Get_tag(), repr(obj["k"]), digest(obj["a"]),
                    repr(obj2["k"]), digest(obj2["a"]))
    else:
        # Nonblocking: rank 0 matches a second message before it receives the first, and a large
        # first one (rendezvous under Open MPI) completes only when received.
        reqs = [COMM.isend({"k": (RANK, j), "a": pattern("float64", 10 if j % 2 else 20000, j)}, dest=0, tag=j)
                for j in range(4)]
        MPI.Request.waitall(reqs)
    COMM.Barrier()


def handles() -> None:
    """MESSAGE_NULL / MESSAGE_NO_PROC and request truthiness."""
    out("null", bool(MPI.MESSAGE_NULL), bool(MPI.MESSAGE_NO_PROC), MPI.Message() == MPI.MESSAGE_NULL)
    m = COMM.Mprobe(MPI.PROC_NULL)
    st = MPI.Status()
    m.Recv(None, st)
    out("noproc", m == MPI.MESSAGE_NO_PROC, st.Get_source() == MPI.PROC_NULL, st.Get_count(MPI.BYTE))
    r = COMM.Irecv(np.empty(1), source=MPI.PROC_NULL)
    out("proc_null irecv", bool(r), r == MPI.REQUEST_NULL)
    r.Wait()
    out("after wait", bool(r), r == MPI.REQUEST_NULL)
    peer = (RANK + 1) % SIZE
    left = (RANK - 1) % SIZE
    r = COMM.Irecv(np.empty(3), source=left, tag=5)
    out("active irecv", bool(r))
    s = COMM.Isend(np.ones(3), dest=peer, tag=5)
    MPI.Request.Waitall([r, s])
    out("completed", bool(r), bool(s))
    out("pickle null", pickle.loads(pickle.dumps(MPI.MESSAGE_NULL)) is MPI.MESSAGE_NULL)
    COMM.Barrier()


def bad_input() -> None:
    """What bad use raises: receiving a message twice, an object receive of raw bytes, a too
    small receive buffer for an object."""
    peer = (RANK + 1) % SIZE
    left = (RANK - 1) % SIZE
    s = COMM.Isend(np.arange(4, dtype=np.int32), dest=peer, tag=7)
    m = COMM.Mprobe(left, 7)
    m.Recv(np.empty(4, np.int32))
    s.Wait()
    if IMPL == "toro":  # Open MPI aborts the job here (MPI_ERR_REQUEST, fatal on MPI_COMM_NULL)
        try:
            m.Recv(np.empty(4, np.int32))
            raise AssertionError("receiving a received Message did not fail")
        except MPI.Exception as exc:
            assert error_class(exc) == "ERR_REQUEST", exc
    s = COMM.Isend(bytearray(b"not a pickle"), dest=peer, tag=8)
    try:
        COMM.recv(source=left, tag=8)
        out("raw bytes", "no error")
    except Exception as exc:  # noqa: BLE001 - the exception type is the output
        out("raw bytes", type(exc).__name__)
    s.Wait()
    s = COMM.Isend(MPI.pickle.dumps({"x": 1}), dest=peer, tag=9)
    out("pickle bytes", COMM.recv(source=left, tag=9))
    s.Wait()
    s = COMM.Isend([None, 0, MPI.BYTE], dest=peer, tag=10)
    out("empty", COMM.recv(source=left, tag=10))
    s.Wait()
    COMM.Barrier()


buffers()
objects()
handles()
bad_input()
done()
