"""Derived datatypes on every path a halo exchange takes, under both MPIs: columns (vector),
hvector, indexed, subarray, struct and resized types of one fragment and of many, in Send/Recv,
Isend/Irecv, Sendrecv, Sendrecv_replace, ANY_SOURCE receives, collectives, zero counts, partial
and truncated receives, and a type on one side only (matching by type signature).

Every received buffer is printed whole (a digest), so a byte written where the type has no
element shows; so are the Status counts and error classes."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, done, out

D = MPI.DOUBLE
right = (RANK + 1) % SIZE
left = (RANK - 1) % SIZE


def grid(n, m, seed):
    """An n x m float64 array whose values say where they come from (rank and seed)."""
    return np.arange(n * m, dtype=np.float64).reshape(n, m) + 1e6 * RANK + 1e4 * seed


def commit(t):
    t.Commit()
    return t


# (name, rows, cols, builder of (send spec, receive spec) on arrays a (sent) and b (received into))
def column(n, m):
    t = commit(D.Create_vector(n, 1, m))
    return t, (lambda a: [a.reshape(-1)[m - 1:], 1, t]), (lambda b: [b, 1, t])


def hvector_pairs(n, m):
    t = commit(D.Create_hvector(n, 2, 8 * m))  # two doubles from every row
    return t, (lambda a: [a.reshape(-1)[1:], 1, t]), (lambda b: [b.reshape(-1)[m - 2:], 1, t])


def indexed_rows(n, m):
    rows = list(range(0, n, 3))
    t = commit(D.Create_indexed([1 + (r % m) for r in rows], [r * m for r in rows]))
    return t, (lambda a: [a, 1, t]), (lambda b: [b, 1, t])


def subarray_block(n, m):
    w = min(3, m - 1)
    ts = commit(D.Create_subarray([n, m], [n - 2, w], [1, m - w]))
    tr = commit(D.Create_subarray([n, m], [n - 2, w], [1, 0]))
    return (ts, tr), (lambda a: [a, 1, ts]), (lambda b: [b, 1, tr])


def struct_column(n, m):
    rec = MPI.Datatype.Create_struct([1, 1], [0, 16], [MPI.INT32_T, D])
    row = rec.Create_resized(0, 8 * m)
    t = commit(row.Create_contiguous(n))
    rec.Free()
    row.Free()
    return t, (lambda a: [a, 1, t]), (lambda b: [b, 1, t])


def resized_column(n, m):
    # One double per row as an element of extent one row: count n of them is the column.
    t = commit(D.Create_resized(0, 8 * m))
    return t, (lambda a: [a.reshape(-1)[m - 1:], n, t]), (lambda b: [b, n, t])


SHAPES = {"column": column, "hvector": hvector_pairs, "indexed": indexed_rows, "subarray": subarray_block,
          "struct": struct_column, "resized": resized_column}
# Small (one fragment), 32 KiB (the 4096-row column: two fragments), 80 000 B (many).
SIZES = [(6, 5), (4096, 8), (10000, 3)]


def free(ts):
    for t in ts if isinstance(ts, tuple) else (ts,):
        t.Free()


def point_to_point(name, n, m):
    ts, snd, rcv = SHAPES[name](n, m)
    a = grid(n, m, 1)
    # Blocking Send/Recv around the ring (even ranks send first).
    b = np.zeros((n, m))
    st = MPI.Status()
    if RANK % 2 == 0:
        COMM.Send(snd(a), right, 3)
        COMM.Recv(rcv(b), left, 3, st)
    else:  # odd ranks receive first
        COMM.Recv(rcv(b), left, 3, st)
        COMM.Send(snd(a), right, 3)
    out(name, n, m, "send/recv", digest(b), st.Get_source(), st.Get_count(MPI.BYTE))
    # Isend/Irecv: one receive posted before the sends, one after the first arrived.
    b1, b2 = np.zeros((n, m)), np.zeros((n, m))
    r1 = COMM.Irecv(rcv(b1), left, 4)
    s1 = COMM.Isend(snd(a), right, 4)
    s2 = COMM.Isend(snd(a + 0.5), right, 5)
    r1.Wait()
    r2 = COMM.Irecv(rcv(b2), MPI.ANY_SOURCE, 5)
    st2 = MPI.Status()
    r2.Wait(st2)
    MPI.Request.Waitall([s1, s2])
    out(name, n, m, "isend/irecv", digest(b1), digest(b2), st2.Get_source(), st2.Get_tag())
    # Sendrecv, as a halo exchange does, and Sendrecv_replace.
    b3 = np.zeros((n, m))
    COMM.Sendrecv(snd(a), right, 6, rcv(b3), left, 6)
    c = a.copy()
    COMM.Sendrecv_replace(snd(c), right, 7, left, 7)
    out(name, n, m, "sendrecv", digest(b3), digest(c))
    free(ts)


def one_side_types():
    """A type on one side, contiguous on the other: the type signatures match."""
    n, m = 4096, 8
    col = commit(D.Create_vector(n, 1, m))
    a = grid(n, m, 2)
    flat = np.zeros(n)
    COMM.Sendrecv([a.reshape(-1)[m - 1:], 1, col], right, 8, [flat, n, D], left, 8)
    b = np.zeros((n, m))
    COMM.Sendrecv([flat, n, D], right, 9, [b, 1, col], left, 9)
    out("one side", digest(flat), digest(b))
    # A struct of (int32, double) records sent, received as plain bytes and as an int32/double pair.
    rec = commit(MPI.Datatype.Create_struct([1, 1], [0, 8], [MPI.INT32_T, D]))
    recs = np.zeros(10, dtype=[("i", np.int32), ("pad", np.int32), ("d", np.float64)])
    recs["i"] = np.arange(10) + 100 * RANK
    recs["d"] = np.arange(10) / 4 + RANK
    raw = np.zeros(12 * 10, np.uint8)
    COMM.Sendrecv([recs, 10, rec], right, 10, [raw, MPI.BYTE], left, 10)
    back = np.zeros_like(recs)
    COMM.Sendrecv([raw, MPI.BYTE], right, 11, [back, 10, rec], left, 11)
    out("struct bytes", digest(raw), digest(back))
    col.Free()
    rec.Free()


def partial_and_errors():
    n, m = 4096, 8
    col = commit(D.Create_vector(n, 1, m))
    half = commit(D.Create_vector(n // 2, 1, m))
    a = grid(n, m, 3)
    # Partial: half a column arrives in a whole column's type; the rest stays as it was.
    b = np.full((n, m), -1.0)
    st = MPI.Status()
    COMM.Sendrecv([a, 1, half], right, 12, [b, 1, col], left, 12, st)
    out("partial", digest(b), st.Get_count(MPI.BYTE), st.Get_count(col), st.Get_elements(col), st.Get_count(D))
    # Truncated: a column does not fit half a column's type (rank 0 to rank 1).
    if RANK == 0:
        COMM.Send([a, 1, col], 1, 13)
    elif RANK == 1:
        b = np.zeros((n, m))
        try:
            COMM.Recv([b, 1, half], 0, 13)
            out("truncate", "no error")
        except MPI.Exception as exc:
            out("truncate", exc.Get_error_class() == MPI.ERR_TRUNCATE)
    COMM.Barrier()
    # Zero counts of a derived type, blocking and nonblocking.
    b = np.full((n, m), -2.0)
    st = MPI.Status()
    COMM.Sendrecv([a, 0, col], right, 14, [b, 0, col], left, 14, st)
    r = COMM.Irecv([b, 0, col], left, 15)
    COMM.Send([a, 0, col], right, 15)
    st2 = MPI.Status()
    r.Wait(st2)
    out("zero", digest(b), st.Get_count(col), st2.Get_count(col), st2.Get_elements(D))
    col.Free()
    half.Free()


def collectives():
    n, m = 2048, 8
    col = commit(D.Create_vector(n, 1, m))
    a = grid(n, m, 4)
    b = np.zeros((n, m))
    if RANK == 0:
        b[:] = a
    COMM.Bcast([b.reshape(-1)[3:], 1, col], root=0)
    out("bcast", digest(b))
    # Gather columns into the root's columns: one column per rank, resized to one double's extent.
    colr = commit(col.Create_resized(0, 8))
    g = np.zeros((n, m)) if RANK == 0 else None
    COMM.Gather([a.reshape(-1)[RANK:], 1, col], [g, 1, colr] if RANK == 0 else None, root=0)
    if RANK == 0:
        out("gather", digest(g))
    s = np.zeros((n, m))
    COMM.Scatter([a, 1, colr] if RANK == 0 else None, [s.reshape(-1)[m - 1:], 1, col], root=0)
    out("scatter", digest(s))
    ag = np.zeros((n, m))
    COMM.Allgather([a.reshape(-1)[m - 1:], 1, col], [ag, 1, colr])
    out("allgather", digest(ag))
    aa = np.zeros((n, m))
    COMM.Alltoall([a, 1, colr], [aa, 1, colr])
    out("alltoall", digest(aa))
    colr.Free()
    col.Free()


assert SIZE >= 2, "run with 2 ranks or more"
for name in SHAPES:
    for n, m in SIZES:
        point_to_point(name, n, m)
one_side_types()
partial_and_errors()
if SIZE <= 8:
    collectives()
done()
