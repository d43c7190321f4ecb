"""Buffers written as mpi4py's tutorials write them, `[data, MPI.INT]`, `(data, MPI.DOUBLE)` and
`[data, data.size, MPI.INT]`, in loops long enough for their calls to reach the hot paths of the
bare array (buffers.plain_array), mixed with bare calls on the same arrays, and next to specs
that must not take those paths (another datatype, a shorter count, a duplicated datatype).
Prints the received data, statuses and errors; every value is a small integer, exact in any
reduction order.

Run: python tests/programs/typed_specs.py (under toro-mpirun or mpiexec).
"""

from __future__ import annotations

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, out

ROUNDS = 6
RIGHT, LEFT = (RANK + 1) % SIZE, (RANK - 1) % SIZE


def spec(arr: np.ndarray, datatype: MPI.Datatype, form: str) -> object:
    """arr written in one of the spec forms (or bare)."""
    if form == "list":
        return [arr, datatype]
    if form == "tuple":
        return (arr, datatype)
    if form == "counted":
        return [arr, arr.size, datatype]
    return arr


def point_to_point(form: str) -> None:
    """A ring of Send/Recv, Isend/Irecv and Sendrecv, each repeated with the same arrays."""
    send = np.zeros(5, np.int32)
    recv = np.zeros(5, np.int32)
    st = MPI.Status()
    got = []
    for step in range(ROUNDS):
        send[:] = np.arange(5) * (RANK + 1) + step
        recv[:] = -1
        if RANK % 2 == 0:
            COMM.Send(spec(send, MPI.INT, form), RIGHT, 3)
            COMM.Recv(spec(recv, MPI.INT, form), LEFT, 3, st)
        else:
            COMM.Recv(spec(recv, MPI.INT, form), LEFT, 3, st)
            COMM.Send(spec(send, MPI.INT, form), RIGHT, 3)
        got.append((recv.tolist(), st.Get_source(), st.Get_tag(), st.Get_count(MPI.INT)))
    out(f"{form} send/recv {got}")
    got = []
    for step in range(ROUNDS):
        send[:] = np.arange(5) + 10 * step + RANK
        recv[:] = -1
        rreq = COMM.Irecv(spec(recv, MPI.INT, form), MPI.ANY_SOURCE, MPI.ANY_TAG)
        sreq = COMM.Isend(spec(send, MPI.INT, form), RIGHT, step)
        sreq.Wait()
        rreq.Wait(st)
        got.append((recv.tolist(), st.Get_source(), st.Get_tag(), st.Get_count(MPI.INT)))
    out(f"{form} isend/irecv {got}")
    dsend = np.zeros(3, np.float64)
    drecv = np.zeros(3, np.float64)
    got = []
    for step in range(ROUNDS):
        dsend[:] = [RANK, step, 0.5]
        COMM.Sendrecv(spec(dsend, MPI.DOUBLE, form), RIGHT, 7, spec(drecv, MPI.DOUBLE, form), LEFT, 7, st)
        got.append((drecv.tolist(), st.Get_count(MPI.DOUBLE)))
    out(f"{form} sendrecv {got}")


def sendrecv_shapes() -> None:
    """Sendrecv's array path: ANY_SOURCE and ANY_TAG, to itself, a large message in a ring (a
    rendezvous request at 2 ranks, whose send completes after the peer's read), and PROC_NULL."""
    st = MPI.Status()
    a = np.arange(4, dtype=np.int64) + 10 * RANK
    b = np.zeros(4, np.int64)
    COMM.Sendrecv(a, RIGHT, 8, b, MPI.ANY_SOURCE, MPI.ANY_TAG, st)
    out(f"sendrecv any {b.tolist()} {st.Get_source()} {st.Get_tag()} {st.Get_count(MPI.INT64_T)}")
    COMM.Sendrecv(a, RANK, 9, b, RANK, 9, st)
    out(f"sendrecv self {b.tolist()} {st.Get_source()}")
    big = np.arange(200_000, dtype=np.float64) * (RANK + 1)
    into = np.zeros_like(big)
    for _ in range(3):
        COMM.Sendrecv(big, RIGHT, 10, into, LEFT, 10, st)
    out(f"sendrecv large {into[:3].tolist()} {into[-1]} {st.Get_count(MPI.DOUBLE)}")
    b[:] = 7
    COMM.Sendrecv(a, MPI.PROC_NULL, 11, b, MPI.PROC_NULL, 11, st)
    out(f"sendrecv proc_null {b.tolist()} {st.Get_source()} {st.Get_count(MPI.INT64_T)}")


def collectives(form: str) -> None:
    """Bcast, Reduce, Allreduce, Gather, Scatter, Allgather and Alltoall on the same arrays."""
    for step in range(ROUNDS):
        root = step % SIZE
        one = np.zeros(4, np.int64)
        if RANK == root:
            one[:] = np.arange(4) + step
        COMM.Bcast(spec(one, MPI.INT64_T, form), root)
        a = (np.arange(4, dtype=np.float64) + RANK + step)
        b = np.full(4, -1.0)
        COMM.Allreduce(spec(a, MPI.DOUBLE, form), spec(b, MPI.DOUBLE, form), MPI.SUM)
        c = np.full(4, -1.0)
        COMM.Reduce(spec(a, MPI.DOUBLE, form), spec(c, MPI.DOUBLE, form), MPI.MAX, root)
        out(f"{form} bcast/allreduce/reduce {step}: {one.tolist()} {b.tolist()} {c.tolist() if RANK == root else ''}")
    for step in range(ROUNDS):
        root = step % SIZE
        mine = np.full(2, RANK * 10 + step, np.int32)
        # Block buffers: a count in a 3-item spec would be one block's, so "counted" passes them
        # as [arr, T] (the bare array's meaning).
        block = "list" if form == "counted" else form
        gathered = np.full(2 * SIZE, -1, np.int32)
        COMM.Gather(spec(mine, MPI.INT, form), spec(gathered, MPI.INT, block), root)
        every = np.full(2 * SIZE, -1, np.int32)
        COMM.Allgather(spec(mine, MPI.INT, form), spec(every, MPI.INT, block))
        parts = np.arange(2 * SIZE, dtype=np.int32) + 100 * step
        piece = np.full(2, -1, np.int32)
        COMM.Scatter(spec(parts, MPI.INT, block), spec(piece, MPI.INT, form), root)
        mixed = np.full(2 * SIZE, -1, np.int32)
        COMM.Alltoall(spec(parts + RANK, MPI.INT, block), spec(mixed, MPI.INT, block))
        out(f"{form} gather/allgather/scatter/alltoall {step}: "
            f"{gathered.tolist() if RANK == root else ''} {every.tolist()} {piece.tolist()} {mixed.tolist()}")


def not_plain() -> None:
    """Specs whose meaning is not the bare array's: they must keep it."""
    st = MPI.Status()
    send = np.arange(6, dtype=np.int32) + RANK
    recv = np.full(6, -1, np.int32)
    # A count shorter than the array: only its first elements travel, and arrive.
    for _ in range(3):
        COMM.Sendrecv([send, 4, MPI.INT], RIGHT, 1, [recv, 4, MPI.INT], LEFT, 1, st)
    out(f"short count {recv.tolist()} {st.Get_count(MPI.INT)}")
    # Another predefined name of the same element type on the receiving side.
    for _ in range(3):
        COMM.Sendrecv([send, MPI.INT], RIGHT, 2, [recv, MPI.INT32_T], LEFT, 2, st)
    out(f"int into int32_t {recv.tolist()} {st.Get_count(MPI.INT32_T)}")
    # A duplicate of a predefined type: not the same object, the same meaning.
    dup = MPI.INT.Dup()
    for _ in range(3):
        COMM.Sendrecv([send, dup], RIGHT, 3, [recv, dup], LEFT, 3, st)
    dup.Free()
    out(f"duplicated datatype {recv.tolist()} {st.Get_count(MPI.INT)}")
    # One-byte integers under any one-byte type are their bytes (a uint8 buffer as MPI.CHAR).
    u8 = (np.arange(4, dtype=np.uint8) * 60 + RANK)
    i8 = np.zeros(4, np.int8)
    for _ in range(3):
        COMM.Sendrecv([u8, MPI.CHAR], RIGHT, 5, [i8, MPI.SIGNED_CHAR], LEFT, 5, st)
    out(f"uint8 as char into int8 {i8.tolist()} {st.Get_count(MPI.CHAR)}")
    # ... and are reduced as that type: int8 -1 is 255 as MPI.UNSIGNED_CHAR.
    mine = np.array([-1 if RANK == 0 else 1], np.int8)
    top, low = np.zeros(1, np.int8), np.zeros(1, np.int8)
    for _ in range(3):
        COMM.Allreduce([mine, MPI.UNSIGNED_CHAR], [top, MPI.UNSIGNED_CHAR], MPI.MAX)
        COMM.Reduce([mine, MPI.UINT8_T], [low, MPI.UINT8_T], MPI.MIN, 0)
    out(f"int8 reduced as unsigned {top.tolist()} {low.tolist() if RANK == 0 else ''}")
    try:
        COMM.Allreduce([mine, MPI.UINT8_T], [top, MPI.INT8_T], MPI.SUM)
        out("mixed reduction types: no error")
    except ValueError:
        out("mixed reduction types: ValueError")
    # A count: the bytes travel untyped, so float32 bits arrive in an int32 buffer.
    f4 = np.arange(4, dtype=np.float32) + RANK
    i4 = np.zeros(4, np.int32)
    for _ in range(3):
        COMM.Sendrecv([f4, 4, MPI.FLOAT], RIGHT, 6, [i4, 4, MPI.INT], LEFT, 6, st)
    out(f"counted float32 into int32 {i4.view(np.float32).tolist()} {st.Get_count(MPI.INT)}")
    # Bytes of a double array as MPI.BYTE: a count in bytes.
    d = np.arange(2, dtype=np.float64) + RANK
    raw = np.zeros(16, np.uint8)
    for _ in range(3):
        COMM.Sendrecv([d, MPI.DOUBLE], RIGHT, 4, [raw, MPI.BYTE], LEFT, 4, st)
    out(f"doubles as bytes {raw.view(np.float64).tolist()} {st.Get_count(MPI.BYTE)}")


def user_operator() -> None:
    """A user-defined operator is given the spec's own datatype (MPI.INT64_T, not the MPI.LONG a
    bare int64 array would name)."""
    named = []

    def add(inbuf, inoutbuf, datatype):
        named.append(datatype == MPI.INT64_T)
        b = np.frombuffer(inoutbuf, np.int64)
        b += np.frombuffer(inbuf, np.int64)

    op = MPI.Op.Create(add, commute=True)
    z = np.arange(3, dtype=np.int64) + RANK
    total = np.zeros(3, np.int64)
    for _ in range(3):
        COMM.Allreduce([z, MPI.INT64_T], [total, MPI.INT64_T], op)
        COMM.Reduce([z, MPI.INT64_T], [total, MPI.INT64_T], op, 0)
    op.Free()
    out(f"user op {total.tolist() if RANK == 0 else ''} datatypes as given {all(named)}")


def subclass() -> None:
    """A program's subclass of Intracomm that adds the datatype and calls the base class: each of
    its calls reaches the base class once, and never recurses."""
    calls = []

    class Typed(MPI.Intracomm):
        def Send(self, buf, dest, tag=0):
            calls.append(dest)
            if isinstance(buf, np.ndarray):
                buf = [buf, MPI.DOUBLE]
            return super().Send(buf, dest, tag)

        def Bcast(self, buf, root=0):
            calls.append(root)
            if isinstance(buf, np.ndarray):
                buf = [buf, MPI.DOUBLE]
            return super().Bcast(buf, root)

    comm = Typed(COMM)
    a = np.full(2, float(RANK))
    for _ in range(3):
        if RANK == 0:
            comm.Send(a, 1, 12)
        elif RANK == 1:
            COMM.Recv(a, 0, 12)
        comm.Bcast(a, 0)
    out(f"subclass calls {len(calls)} {a.tolist()}")


def errors() -> None:
    """A typed spec too short for the message, and a read-only one to receive into."""
    small = np.zeros(2, np.int32)
    big = np.arange(5, dtype=np.int32)
    for _ in range(2):
        try:
            COMM.Sendrecv([big, MPI.INT], RIGHT, 5, [small, MPI.INT], LEFT, 5)
            out("truncation: no error")
        except MPI.Exception as exc:
            out(f"truncation: error class {exc.Get_error_class() == MPI.ERR_TRUNCATE}")
    frozen = np.zeros(5, np.int32)
    frozen.flags.writeable = False
    try:
        COMM.Recv([frozen, MPI.INT], LEFT, 6)
        out("read-only: no error")
    except BufferError:
        out("read-only: BufferError")
    except MPI.Exception as exc:
        out(f"read-only: MPI error {exc.Get_error_class()}")


def main() -> None:
    for form in ("bare", "list", "tuple", "counted"):
        point_to_point(form)
        collectives(form)
    sendrecv_shapes()
    not_plain()
    user_operator()
    subclass()
    errors()
    COMM.Barrier()
    out("ok")


if __name__ == "__main__":
    main()
