"""Buffer specifications as mpi4py accepts them: [buf, dt], (buf, count, dt),
[buf, (count, displ), dt], typecode strings, bytearray, memoryview, array.array, 2-D and
Fortran-ordered arrays; and non-contiguous arrays and arrays in non-native byte order, which
mpi4py refuses with BufferError (before anything is sent or received), as toro_mpi does."""

import array

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, done, out, pattern


def sender() -> None:
    a = pattern("int32", 100, 1)
    d = pattern("float64", 5000, 2)
    COMM.Send([a, MPI.INT], dest=1, tag=1)
    COMM.Send((a, 5, MPI.INT), dest=1, tag=2)
    COMM.Send([a, (10, 20), MPI.INT], dest=1, tag=3)
    COMM.Send([d, "d"], dest=1, tag=4)
    COMM.Send([d, MPI.BYTE], dest=1, tag=5)
    COMM.Send(bytearray(b"hello world " * 1000), dest=1, tag=6)
    COMM.Send(memoryview(bytes(range(256)) * 40)[100:9000], dest=1, tag=7)
    COMM.Send(array.array("i", range(3000)), dest=1, tag=8)
    COMM.Send(pattern("float32", 12000, 3).reshape(30, 400), dest=1, tag=9)
    COMM.Send(np.asfortranarray(pattern("int64", 6000, 4).reshape(60, 100)), dest=1, tag=10)
    COMM.Send([d, (0, 7), MPI.DOUBLE], dest=1, tag=11)
    COMM.Send([d[:2000], 1000, MPI.DOUBLE], dest=1, tag=12)
    m = pattern("float64", 60000, 5).reshape(300, 200)
    swapped = pattern("int32", 10, 7).astype(">i4" if np.little_endian else "<i4")
    for what, view in (("rows", m[::2]), ("column", m[:, 3]), ("reversed", m[::-3, ::7]),
                       ("strided", pattern("int16", 9001, 6)[::3]), ("byte order", swapped)):
        try:
            COMM.Send(view, dest=1, tag=20)
        except BufferError:
            out("send refused", what)
    COMM.Send([swapped, MPI.INT], dest=1, tag=21)  # an explicit datatype: the bytes as they are
    COMM.Send(np.arange(40, dtype=np.int32), dest=1, tag=25)


def receiver() -> None:
    st = MPI.Status()
    a = pattern("int32", 100, 1)
    d = pattern("float64", 5000, 2)

    r = np.zeros(100, np.int32)
    COMM.Recv([r, MPI.INT], source=0, tag=1, status=st)
    assert np.array_equal(r, a) and st.Get_count(MPI.INT) == 100
    out("[buf, INT]", digest(r))

    r = np.full(100, -1, np.int32)
    COMM.Recv((r, 50, MPI.INT), source=0, tag=2, status=st)
    assert st.Get_count(MPI.INT) == 5 and np.array_equal(r[:5], a[:5]) and (r[5:] == -1).all()
    out("(buf, count, INT)", st.Get_count(MPI.INT), digest(r))

    r = np.full(100, -1, np.int32)
    COMM.Recv([r, (10, 70), MPI.INT], source=0, tag=3, status=st)
    assert np.array_equal(r[70:80], a[20:30]) and (r[:70] == -1).all() and (r[80:] == -1).all()
    out("[buf, (count, displ), INT]", st.Get_count(MPI.INT), digest(r))

    r = np.zeros(5000)
    COMM.Recv([r, "d"], source=0, tag=4, status=st)
    assert np.array_equal(r, d)
    out("[buf, 'd']", st.Get_count(MPI.DOUBLE), digest(r))

    r = bytearray(40000)
    COMM.Recv([r, MPI.BYTE], source=0, tag=5, status=st)
    assert bytes(r) == d.tobytes()
    out("doubles as BYTE into bytearray", st.Get_count(MPI.BYTE), st.Get_count(MPI.DOUBLE))

    r = bytearray(20000)
    COMM.Recv(r, source=0, tag=6, status=st)
    n = st.Get_count(MPI.BYTE)
    assert bytes(r[:n]) == b"hello world " * 1000 and not any(r[n:])
    out("bytearray", n)

    backing = bytearray(10000)
    COMM.Recv(memoryview(backing)[50:9000], source=0, tag=7, status=st)
    n = st.Get_count(MPI.BYTE)
    assert bytes(backing[50:50 + n]) == (bytes(range(256)) * 40)[100:9000] and not any(backing[:50])
    out("memoryview slice", n)

    r = array.array("i", [0] * 3000)
    COMM.Recv(r, source=0, tag=8, status=st)
    assert list(r) == list(range(3000))
    out("array.array", st.Get_count(MPI.INT))

    r = np.zeros((30, 400), np.float32)
    COMM.Recv(r, source=0, tag=9, status=st)
    assert np.array_equal(r.ravel(), pattern("float32", 12000, 3))
    out("2-D", st.Get_count(MPI.FLOAT), digest(r))

    r = np.zeros((60, 100), np.int64, order="F")
    COMM.Recv(r, source=0, tag=10, status=st)
    assert np.array_equal(r, pattern("int64", 6000, 4).reshape(60, 100))
    out("Fortran order", st.Get_count(MPI.INT64_T), digest(r))

    r = np.full(3, 9.0)
    COMM.Recv([r, (0, 1), MPI.DOUBLE], source=0, tag=11, status=st)
    assert st.Get_count(MPI.DOUBLE) == 0 and (r == 9).all()
    out("empty with displacement", st.Get_count(MPI.DOUBLE))

    r = np.zeros(1000)
    COMM.Recv(r, source=0, tag=12, status=st)
    assert np.array_equal(r, d[:1000])
    out("count prefix", st.Get_count(MPI.DOUBLE))

    swapped = pattern("int32", 10, 7).astype(">i4" if np.little_endian else "<i4")
    r = np.zeros(10, np.int32)
    COMM.Recv([r, MPI.INT], source=0, tag=21)
    out("explicit datatype keeps the bytes", r.tobytes() == swapped.tobytes())
    # A non-contiguous receive buffer is refused before the receive is posted.
    strided = np.zeros(80, np.int32)
    for what, call in (("Recv", COMM.Recv), ("Irecv", COMM.Irecv)):
        try:
            call(strided[::2], source=0, tag=25)
        except BufferError:
            out("receive refused", what)
    COMM.Recv(strided[:40], source=0, tag=25)
    assert np.array_equal(strided[:40], np.arange(40))
    out("nothing sent by a refused send", not COMM.Iprobe(source=0, tag=20))


def main() -> None:
    if SIZE >= 2:
        if RANK == 0:
            sender()
        elif RANK == 1:
            receiver()
    COMM.Barrier()
    done()


main()
