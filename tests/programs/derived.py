"""Derived datatypes under both MPIs: every constructor's sizes, bounds and decoding, each type
in a point-to-point exchange and a collective, Pack/Unpack (and external32) byte for byte,
MPI.BOTTOM with Get_address, Status counts, and bad input (negative counts, uncommitted and
freed types, bad subarrays)."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, done, out

D, IT = MPI.DOUBLE, MPI.INT
other = (RANK + 1) % SIZE
prev = (RANK - 1) % SIZE


def describe(name, t):
    base, comb, params = t.decode()
    params = {k: (v if k != "datatypes" else [x.Get_name() for x in v]) for k, v in params.items()}
    out(name, t.size, t.Get_extent(), t.Get_true_extent(), comb, sorted(params.items()), t.typechar, t.typestr,
        t.Get_envelope())


TYPES = {
    "contiguous": D.Create_contiguous(3),
    "vector": D.Create_vector(3, 2, 5),
    "vector_dense": D.Create_vector(4, 2, 2),
    "hvector": IT.Create_hvector(3, 2, 20),
    "indexed": IT.Create_indexed([2, 1, 3], [0, 4, 9]),
    "hindexed": D.Create_hindexed([1, 2], [8, 40]),
    "indexed_block": IT.Create_indexed_block(2, [7, 1, 4]),
    "hindexed_block": D.Create_hindexed_block(2, [0, 48]),
    "struct": MPI.Datatype.Create_struct([1, 2, 1], [0, 8, 24], [IT, D, MPI.SHORT]),
    "subarray_c": IT.Create_subarray([4, 6], [2, 3], [1, 2]),
    "subarray_f": IT.Create_subarray([4, 6], [2, 3], [1, 2], MPI.ORDER_F),
    "darray_block": D.Create_darray(4, 3, [8, 6], [MPI.DISTRIBUTE_BLOCK] * 2, [MPI.DISTRIBUTE_DFLT_DARG] * 2,
                                    [2, 2]),
    "darray_cyclic": IT.Create_darray(2, 1, [9], [MPI.DISTRIBUTE_CYCLIC], [2], [2], MPI.ORDER_F),
    "resized": IT.Create_vector(2, 1, 3).Create_resized(-4, 40),
    "dup": D.Create_vector(2, 1, 2).Dup(),
}
for name, t in TYPES.items():
    describe(name, t)
    t.Commit()

# Each type round the ring of ranks: 3 elements from a patterned buffer into a zeroed one.
for name, t in TYPES.items():
    span = 3 * t.extent + max(t.true_ub, 0) + 64
    src = (np.arange(span, dtype=np.uint8) * (RANK + 3)).astype(np.uint8)
    dst = np.zeros(span, np.uint8)
    st = MPI.Status()
    lo = max(-t.lb, -t.true_lb, 0)
    COMM.Sendrecv([src[lo:], 3, t], other, 1, [dst[lo:], 3, t], prev, 1, st)
    out("p2p", name, digest(dst), st.Get_count(t), st.Get_elements(t), st.Get_count(MPI.BYTE))

# A receive of fewer elements than the type's count unpacks only what arrived.
v = TYPES["vector"]
a = np.arange(40.0) + RANK
b = np.full(40, -1.0)
st = MPI.Status()
COMM.Sendrecv([a, 4, D], other, 2, [b, 2, v], prev, 2, st)
out("partial", b.tolist(), st.Get_count(v), st.Get_elements(v), st.Get_count(D))

# Column exchange of a 2-D array with a vector type.
m = np.arange(48.0).reshape(8, 6) + 100 * RANK
col = D.Create_vector(8, 1, 6).Commit()
COMM.Sendrecv([m.reshape(-1)[5:], 1, col], other, 3, [m, 1, col], prev, 3)
out("column", m[:, 0].tolist())

# Scatterv / Gatherv of 2-D blocks with a resized subarray (each block 3 x 2 of a 3 x 2*SIZE grid).
block = IT.Create_subarray([3, 2 * SIZE], [3, 2], [0, 0]).Create_resized(0, 2 * IT.extent).Commit()
grid = np.arange(6 * SIZE, dtype="i").reshape(3, 2 * SIZE) if RANK == 0 else None
mine = np.zeros((3, 2), "i")
COMM.Scatterv([grid, [1] * SIZE, list(range(SIZE)), block] if RANK == 0 else None, mine, root=0)
out("scatterv", mine.tolist())
back = np.zeros((3, 2 * SIZE), "i") if RANK == 0 else None
COMM.Gatherv(mine * 2, [back, [1] * SIZE, list(range(SIZE)), block] if RANK == 0 else None, root=0)
if RANK == 0:
    out("gatherv", back.tolist())
# Bcast through a vector type. (Reductions over derived types: Open MPI refuses them with
# ERR_OP, toro_mpi applies the operator to a homogeneous type: tests/test_derived.py checks it.)
bb = np.arange(16.0) * (RANK + 1)
COMM.Bcast([bb, 2, TYPES["vector_dense"]], root=0)
out("bcast", bb.tolist())

# Long double reductions (numba has no long double: numpy combines them, wide_reduce.py).
for op in (MPI.SUM, MPI.PROD, MPI.MAX):
    lx = np.arange(1, 6, dtype="g") / 3 + RANK
    ly = np.zeros(5, "g")
    COMM.Allreduce(lx, ly, op)
    out("long double", [float(v) for v in ly])

# A struct at MPI.BOTTOM with absolute addresses.
ia = np.array([7, 8, 9], "i") * (RANK + 1)
da = np.array([0.5, 1.5]) * (RANK + 1)
st_t = MPI.Datatype.Create_struct([3, 2], [MPI.Get_address(ia), MPI.Get_address(da)], [IT, D]).Commit()
ib, db = np.zeros(3, "i"), np.zeros(2)
rt = MPI.Datatype.Create_struct([3, 2], [MPI.Get_address(ib), MPI.Get_address(db)], [IT, D]).Commit()
COMM.Sendrecv([MPI.BOTTOM, 1, st_t], other, 4, [MPI.BOTTOM, 1, rt], prev, 4)
out("bottom", ib.tolist(), db.tolist(), repr(MPI.BOTTOM), MPI.BOTTOM == 0)

# Pack / Unpack and external32, byte for byte.
for name in ("vector", "indexed", "struct", "subarray_c"):
    t = TYPES[name]
    src = (np.arange(2 * t.extent + 16, dtype=np.uint8) * 7).astype(np.uint8)
    size = t.Pack_size(2, COMM)
    buf = np.zeros(size, np.uint8)
    pos = t.Pack(src[: 2 * t.extent], buf, 0, COMM)
    back = np.zeros(2 * t.extent, np.uint8)
    pos2 = t.Unpack(buf, 0, back, COMM)
    ext = np.zeros(t.Pack_external_size("external32", 2), np.uint8)
    epos = t.Pack_external("external32", src[: 2 * t.extent], ext, 0)
    eback = np.zeros(2 * t.extent, np.uint8)
    t.Unpack_external("external32", ext, 0, eback)
    out("pack", name, size, pos, pos2, digest(buf), digest(back), epos, digest(ext[:epos]), digest(eback))

# Bad input: the error class each raises.
def err(what, fn):
    try:
        fn()
        out("bad", what, "no error")
    except (TypeError, ValueError) as e:  # mpi4py's argument checks (toro_mpi's are MPI.Exception too)
        out("bad", what, [c.__name__ for c in (TypeError, ValueError) if isinstance(e, c)])
    except MPI.Exception as e:
        out("bad", what, "MPI", e.Get_error_class())


err("contiguous -1", lambda: IT.Create_contiguous(-1))
err("vector bl -1", lambda: IT.Create_vector(2, -1, 1))
err("indexed lengths", lambda: IT.Create_indexed([1, 2], [0]))
err("struct types", lambda: MPI.Datatype.Create_struct([1], [0], [IT, D]))
err("subarray big", lambda: IT.Create_subarray([4], [5], [0]))
err("subarray start", lambda: IT.Create_subarray([4], [2], [3]))
err("free named", lambda: IT.Free())
err("null size", lambda: MPI.DATATYPE_NULL.Get_size())
unc = IT.Create_vector(2, 1, 2)
err("uncommitted", lambda: COMM.Sendrecv([np.zeros(4, "i"), 1, unc], RANK, 5, [np.zeros(4, "i"), 1, unc], RANK, 5))
freed = IT.Create_contiguous(2).Commit()
freed.Free()
out("freed is null", freed == MPI.DATATYPE_NULL)
err("freed use", lambda: freed.Get_size())
out("value_index", MPI.Datatype.Get_value_index(D, IT) == MPI.DOUBLE_INT,
    MPI.Datatype.Get_value_index(D, MPI.FLOAT) == MPI.DATATYPE_NULL)
out("match", MPI.Datatype.Match_size(MPI.TYPECLASS_INTEGER, 8).Get_name(),
    MPI.Datatype.Match_size(MPI.TYPECLASS_REAL, 4).Get_name())
out("codes", MPI.Datatype.fromcode("d") == D, IT.tocode(), MPI.INT64_T.tocode(), TYPES["vector"].typestr)
done()
