"""Buffers as mpi4py takes and refuses them (issue #19), printed so that toro_mpi's output can be
compared with mpi4py + Open MPI's line by line: bad message specs and the exception each raises,
byte order, contiguity, MPI.buffer (Alloc_mem, DLPack objects, dumps_oob), Attach_buffer with
buffered sends from a user buffer, MPI.Request(prequest), and mpi4py.util.pkl5 over an
intercommunicator (its rooted and all-to-all object collectives)."""

import sys

import numpy as np
from _dlpack_producer import NumpyDL
from _mpi import COMM, MPI, RANK, SIZE, done, out

NEXT, PREV = (RANK + 1) % SIZE, (RANK - 1) % SIZE
KINDS = (BufferError, KeyError, ValueError, TypeError, NotImplementedError)


def outcome(fn) -> str:
    """'ok', or the first of the Python exception classes mpi4py uses that the error is."""
    try:
        fn()
    except KINDS as exc:
        return next(k.__name__ for k in KINDS if isinstance(exc, k))
    except MPI.Exception as exc:
        return f"MPI.Exception {MPI.Get_error_string(exc.Get_error_class()).split(':')[0]}"
    return "ok"


def sendrecv(smsg, rmsg) -> None:
    MPI.COMM_SELF.Sendrecv(smsg, 0, 0, rmsg, 0, 0)


def bad_specs() -> None:
    mem = MPI.Alloc_mem(8)
    empty = [None, 0, "B"]
    for name, spec in (("five items", [mem, 0, 0, "i", None]), ("typecode NUL", [mem, 0, "\0"]),
                       ("typecode float64", [mem, 0, "float64"]), ("negative count", [mem, -1, "i"]),
                       ("negative displ", [mem, 0, -1, "i"]), ("displ beyond", [mem, 0, 3, "i"]),
                       ("count not int", [mem, 1.5, "i"]), ("str buffer", ["abc", 3, "B"]),
                       ("dict buffer", {1: 2})):
        out("spec", name, outcome(lambda spec=spec: sendrecv(spec, empty)))
    vempty = [None, 0, [0], "B"]
    for name, spec in (("five items", [mem, 0, [0], "i", None]), ("typecode NUL", [mem, 0, [0], "\0"]),
                       ("null datatype", [mem, None, [0], MPI.DATATYPE_NULL]), ("length", [mem, None, [0], "d"]),
                       ("list buffer", [[1, 2], 0, 0, "i"])):
        out("vspec", name, outcome(lambda spec=spec: MPI.COMM_SELF.Alltoallv(spec, vempty)))
    rbuf = MPI.Alloc_mem(8)
    for name, smsg, rmsg in (
        ("one item", [mem], [rbuf]),
        ("five items", [mem, [0], [0], [MPI.BYTE], None], [rbuf, [0], [0], [MPI.BYTE]]),
        ("BOTTOM without counts", [MPI.BOTTOM, None, [0], [MPI.BYTE]], [rbuf, [0], [0], [MPI.BYTE]]),
        ("BOTTOM without displs", [MPI.BOTTOM, [0], None, [MPI.BYTE]], [rbuf, [0], [0], [MPI.BYTE]]),
    ):
        out("wspec", name, outcome(lambda s=smsg, r=rmsg: MPI.COMM_SELF.Alltoallw(s, r)))
    sbuf, rbuf2 = bytearray(b"abc"), bytearray(3)
    MPI.COMM_SELF.Alltoallw([sbuf, None, None, [MPI.CHAR]], [rbuf2, [MPI.CHAR]])
    out("wspec counts and displs None", bytes(rbuf2))
    MPI.Free_mem(mem)
    MPI.Free_mem(rbuf)


def byte_order_and_layout() -> None:
    swapped = ">" if sys.byteorder == "little" else "<"
    for order in ("=", "<" if sys.byteorder == "little" else ">", swapped):
        s = np.arange(3, dtype="i").view(np.dtype("i").newbyteorder(order))
        r = np.zeros(3, "i").view(np.dtype("i").newbyteorder(order))
        native = np.zeros(3, "i")
        out("byte order", order == swapped, "send", outcome(lambda s=s, native=native: sendrecv(s, native)),
            "recv", outcome(lambda r=r: sendrecv(np.arange(3, dtype="i"), r)),
            "typed", outcome(lambda s=s, r=r: sendrecv([s, MPI.INT], [r, MPI.INT])), r.tobytes() == s.tobytes())
    m = np.arange(6.0).reshape(3, 2)
    out("column send", outcome(lambda: sendrecv(m[:, 0], np.zeros(3))))
    out("column recv", outcome(lambda: sendrecv(np.ones(3), np.zeros((3, 2))[:, 0])))
    f = np.zeros((3, 2)).T
    out("fortran", outcome(lambda: sendrecv(np.ones((3, 2)).T, f)), f.sum())
    # Nothing is left queued by a refused call.
    out("nothing left", not MPI.COMM_SELF.Iprobe(0, MPI.ANY_TAG))
    # Across ranks too (the point-to-point shortcuts for plain arrays).
    s = np.arange(4, dtype="i").view(np.dtype("i").newbyteorder(swapped))
    out("Send swapped", outcome(lambda: COMM.Send(s, NEXT, 5)), "Isend swapped",
        outcome(lambda: COMM.Isend(s, NEXT, 5)))
    r = np.zeros(4, "i").view(np.dtype("i").newbyteorder(swapped))
    out("Recv swapped", outcome(lambda: COMM.Recv(r, PREV, 5)), "Irecv swapped",
        outcome(lambda: COMM.Irecv(r, PREV, 5)))


def memory() -> None:
    mem = MPI.Alloc_mem(16)
    out("Alloc_mem", type(mem) is MPI.buffer, mem.address != 0, mem.nbytes, mem.readonly, len(mem))
    mem[:] = bytes(range(16))
    back = bytearray(16)
    COMM.Sendrecv([mem, MPI.BYTE], NEXT, 8, [back, MPI.BYTE], PREV, 8)
    out("Alloc_mem sendrecv", list(back) == list(range(16)))
    MPI.Free_mem(mem)
    out("Free_mem", mem.address, mem.nbytes, mem.readonly)
    arr = np.arange(5, dtype="i")
    buf = MPI.buffer(NumpyDL(arr))
    out("DLPack buffer", buf.nbytes, buf.readonly, bytes(buf.cast("B")) == arr.tobytes(),
        list(MPI.buffer.frombuffer(NumpyDL(arr)).cast("i")))
    del buf
    out("DLPack readonly frombuffer", outcome(lambda: MPI.buffer.frombuffer(NumpyDL(np.zeros(2)), readonly=True)))
    out("frombuffer None", outcome(lambda: MPI.buffer.frombuffer(None)))
    # Pickle instances: dumps_oob gives MPI.buffer objects; an instance's settings are its own.
    p = MPI.Pickle()
    before = MPI.pickle.THRESHOLD
    p.THRESHOLD = 0
    p.PROTOCOL = -2
    data, bufs = p.dumps_oob(np.arange(4))
    out("dumps_oob", type(data).__name__, len(bufs), [type(b) is MPI.buffer for b in bufs],
        list(p.loads_oob(data, bufs)), MPI.pickle.THRESHOLD == before)


def buffered_sends() -> None:
    size = 1 << 16
    buf = MPI.Alloc_mem(size + MPI.BSEND_OVERHEAD)
    MPI.Attach_buffer(buf)
    data = np.full(1000, RANK, dtype="i")
    req = COMM.Ibsend(data, NEXT, 11)
    COMM.Bsend([data, 10, MPI.INT], NEXT, 12)
    got, first = np.zeros(1000, "i"), np.zeros(10, "i")
    COMM.Recv(got, PREV, 11)
    COMM.Recv(first, PREV, 12)
    req.Wait()
    old = MPI.Detach_buffer()
    out("bsend", (got == PREV).all(), (first == PREV).all(), old.address == buf.address, old.nbytes == buf.nbytes)
    MPI.Free_mem(buf)
    out("attach read-only", outcome(lambda: MPI.Attach_buffer(MPI.buffer(b"abc"))))
    preq = COMM.Send_init(b"", MPI.PROC_NULL, 0)
    dupe = MPI.Request(preq)
    out("Request(prequest)", type(dupe) is MPI.Request, dupe == preq, bool(dupe))
    preq.Start()
    preq.Wait()
    preq.Free()


def pkl5_inter() -> None:
    from mpi4py.util import pkl5

    color = int(RANK >= SIZE // 2)
    local = COMM.Split(color, RANK)
    inter = local.Create_intercomm(0, COMM, SIZE // 2 if color == 0 else 0, 7)
    comm = pkl5.Intercomm(inter)
    rsize = comm.Get_remote_size()
    big = np.arange(100000, dtype="i") + RANK  # out of band at pkl5's threshold
    for root_side in (0, 1):
        if color == root_side:
            root = MPI.ROOT if local.Get_rank() == 0 else MPI.PROC_NULL
        else:
            root = 0
        got = comm.bcast({"from": root_side, "big": big} if root == MPI.ROOT else None, root=root)
        out("pkl5 bcast", root_side, None if got is None else (got["from"], int(got["big"][0])))
        got = comm.gather((RANK, big[:3].tolist()), root=root)
        out("pkl5 gather", root_side, got)
        got = comm.scatter([i * 10 for i in range(rsize)] if root == MPI.ROOT else None, root=root)
        out("pkl5 scatter", root_side, got)
    out("pkl5 allgather", comm.allgather(RANK))
    out("pkl5 alltoall", comm.alltoall([(RANK, j) for j in range(rsize)]), comm.alltoall(None))
    out("pkl5 alltoall length", outcome(lambda: comm.alltoall([None] * (rsize + 1))))
    comm.Free()
    local.Free()


def main() -> None:
    bad_specs()
    byte_order_and_layout()
    memory()
    buffered_sends()
    if SIZE >= 2:
        pkl5_inter()
    COMM.Barrier()
    done()


main()
