"""Probe/Iprobe report a message's source, tag and size without receiving it; a Recv sized
from the probe then gets exactly that message."""

import time

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, done, out, pattern

SIZES = (0, 5, 2040, 2041, 75000, 300000)  # int32 counts


def probe_then_recv() -> None:
    if RANK == 0:
        st = MPI.Status()
        assert not COMM.Iprobe(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
        for _ in range(SIZE - 1):
            COMM.send("go", dest=_ + 1, tag=1)
        lines = []
        for _ in range(len(SIZES) * (SIZE - 1)):
            COMM.Probe(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
            src, tag, count = st.Get_source(), st.Get_tag(), st.Get_count(MPI.INT)
            assert tag >= 100, tag
            st2 = MPI.Status()
            COMM.Probe(source=src, tag=tag, status=st2)  # probing again finds the same message
            assert (st2.Get_source(), st2.Get_tag(), st2.Get_count(MPI.INT)) == (src, tag, count)
            buf = np.empty(count, np.int32)
            COMM.Recv(buf, source=src, tag=tag, status=st2)
            assert st2.Get_count(MPI.INT) == count
            assert np.array_equal(buf, pattern("int32", count, src * 100 + tag)), (src, tag)
            lines.append((src, tag, count, digest(buf)))
        for line in sorted(lines):
            out("probed", *line)
        assert not COMM.Iprobe(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG)
    else:
        assert COMM.recv(source=0, tag=1) == "go"
        for i, count in enumerate(SIZES):
            tag = 100 + (i * 5) % len(SIZES)
            COMM.Send(pattern("int32", count, RANK * 100 + tag), dest=0, tag=tag)


def iprobe_until() -> None:
    if RANK == 1:
        st = MPI.Status()
        deadline = time.monotonic() + 30
        while not COMM.Iprobe(source=0, tag=7, status=st):
            assert time.monotonic() < deadline, "Iprobe never saw the message"
        assert st.Get_source() == 0 and st.Get_tag() == 7
        n = st.Get_count(MPI.DOUBLE)
        buf = np.empty(n)
        COMM.Recv(buf, source=0, tag=7)
        out("Iprobe", n, digest(buf))
        # Object messages: probe, then recv from the probed source and tag.
        COMM.probe(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
        obj = COMM.recv(source=st.Get_source(), tag=st.Get_tag())
        out("probe object", st.Get_source(), st.Get_tag(), obj)
        assert COMM.iprobe(source=0, tag=9) is False
    elif RANK == 0:
        time.sleep(0.1)
        COMM.Send(pattern("float64", 12345, 7), dest=1, tag=7)
        COMM.send({"x": [1, 2, 3]}, dest=1, tag=8)


def main() -> None:
    if SIZE >= 2:
        COMM.Barrier()
        probe_then_recv()
        COMM.Barrier()
        iprobe_until()
    COMM.Barrier()
    done()


main()
