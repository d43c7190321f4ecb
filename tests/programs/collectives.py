"""Every collective, buffer and object, on COMM_WORLD, on a Split and on a Dup: every op on every
dtype MPI defines it for, sizes 0 / 1 / odd / over one ring buffer / several MiB, every root, with
and without MPI.IN_PLACE, and p2p traffic mixed in to show collectives never match it.

    python collectives.py LEVEL [SECTION ...]

LEVEL is `full` (tests/coll_matrix.py): every call x op x dtype x size 0, 1, 7, 1001 x every root
x in place or not, on all three communicators, plus 9 000 and 3 MiB elements on a subset. Or
`quick` (the suite), sized to a budget of collective calls because ranks beyond the cores are
slow: on COMM_WORLD every op on every dtype (Allreduce, 7 elements, and 1 in place) and every
data-movement call on every dtype (these two with up to 3 ranks only, see EVERY_DTYPE), every
call on a sample of ops / dtypes at sizes 0 and 7; a smaller sample on the Split and the Dup;
roots 0 and size-1; the big sizes on COMM_WORLD only.
SECTIONS: move reduce objects big mixed (default all).

One line per (case, rank): `<label> = <kind> <result>`. Kinds:
  d <count> <digest>   exact result (integers, bool, MIN/MAX/MAXLOC, every data-movement call):
                       compared byte for byte;
  f <count> <sum> <sum|x|> <weighted sum> <3 elements>
                       a float/complex SUM or PROD (or user sum): the reduction order differs
                       between implementations, so tests/test_collectives.py compares these
                       within a tolerance (see there);
  o <repr>             an object call's result;
  -                    nothing defined at this rank (non-root of a rooted call, Exscan at rank 0).
Inputs depend only on (label, rank), never on timing.
"""

from __future__ import annotations

import os
import sys
import zlib

import numpy as np

# The reference's own bug: Open MPI's AVX op component saturates instead of wrapping on its vector
# path for SUM of 8- and 16-bit integers (open-mpi/ompi#8045, closed "wontfix"; here SUM of
# uint8 x 1001 came out saturated in its first 992 elements). Its plain C loops wrap, as MPI and C
# have it. Set before _mpi imports mpi4py, whose MPI_Init reads it; toro_mpi ignores it.
os.environ.setdefault("OMPI_MCA_op", "^avx")

from _mpi import COMM, MPI, RANK, SIZE, digest, done, mpi_type, out, tag_ub  # noqa: E402

LEVEL = sys.argv[1] if len(sys.argv) > 1 else "quick"
assert LEVEL in ("quick", "full"), f"level must be quick or full, not {LEVEL!r}"
SECTIONS = tuple(sys.argv[2:]) or ("move", "reduce", "objects", "big", "mixed", "counts", "repeat")
FULL = LEVEL == "full"

INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOATS = ("float32", "float64")
COMPLEX = ("complex64", "complex128")
ALL = (*INTS, *FLOATS, *COMPLEX, "bool")
# The MPI pair types and their C layouts (numpy aligns fields as C does: DOUBLE_INT and LONG_INT
# are 16 bytes with 4 of padding, SHORT_INT 8 with 2, the extents mpi4py reports for OpenMPI).
PAIRS = {
    "FLOAT_INT": np.dtype([("v", "f4"), ("i", "i4")], align=True),
    "DOUBLE_INT": np.dtype([("v", "f8"), ("i", "i4")], align=True),
    "LONG_INT": np.dtype([("v", "i8"), ("i", "i4")], align=True),
    "TWOINT": np.dtype([("v", "i4"), ("i", "i4")], align=True),
    "SHORT_INT": np.dtype([("v", "i2"), ("i", "i4")], align=True),
}
# Which dtypes each op is defined on, as MPI and OpenMPI have it: C_BOOL is a "logical" type, so
# OpenMPI refuses SUM/PROD/MIN/MAX and the bitwise ops on it (ERR_OP, see coll_errors.py); MIN/MAX
# do not apply to complex; MAXLOC/MINLOC only to the pair types.
OP_DTYPES = {
    "SUM": (*INTS, *FLOATS, *COMPLEX), "PROD": (*INTS, *FLOATS, *COMPLEX),
    "MIN": (*INTS, *FLOATS), "MAX": (*INTS, *FLOATS),
    "LAND": (*INTS, "bool"), "LOR": (*INTS, "bool"), "LXOR": (*INTS, "bool"),
    "BAND": INTS, "BOR": INTS, "BXOR": INTS,
    "MAXLOC": tuple(PAIRS), "MINLOC": tuple(PAIRS),
    "USER_SUM": ("int32", "float64"),  # Op.Create(commute=True)
    "USER_AFFINE": ("uint64",),  # Op.Create(commute=False): composition of affine maps
}
# The samples of the quick level: every call runs these on COMM_WORLD, the Split and the Dup.
MOVE_SAMPLE = ("int8", "float64", "complex64", "bool")
REDUCE_SAMPLE = (("SUM", "int32"), ("SUM", "float32"), ("PROD", "complex128"), ("MAX", "uint16"),
                 ("MIN", "float64"), ("LXOR", "bool"), ("LAND", "int64"), ("BXOR", "uint64"),
                 ("MINLOC", "DOUBLE_INT"), ("MAXLOC", "SHORT_INT"), ("USER_AFFINE", "uint64"),
                 ("USER_SUM", "float64"))
SMALL = (0, 1, 7, 1001) if FULL else (0, 1, 7)
# What does not depend on the number of ranks (each op's kernel on each dtype, each dtype through
# the data-movement calls) the quick level covers with up to 3 ranks only: with more ranks than
# cores every call costs far more, and n = 4, 5, 8 are there for the algorithms (tree shapes,
# non-powers of two, roots, segments), which the samples exercise.
EVERY_DTYPE = FULL or SIZE <= 3
MIB3 = 3 << 20
BIG = (9000, MIB3 // 8)  # elements of 8 bytes: 72 000 B (over a 32 KiB ring buffer) and 3 MiB

_seen: set[str] = set()


def emit(label: str, *words: object) -> None:
    """One result line; a label never repeats within a rank (the test keys on it)."""
    assert label not in _seen, f"duplicate case label {label!r}"
    _seen.add(label)
    out(label, "=", *words)


def rng(*key: object) -> np.random.Generator:
    """A generator seeded by the case label and a rank: same inputs under both implementations.
    Callers seed with the world rank, not the communicator's: the two halves of the Split run the
    same labels, and must not have the same data (else traffic crossing between them would pass)."""
    return np.random.default_rng(zlib.crc32(" ".join(map(str, key)).encode()))


def roots(size: int) -> list[int]:
    return list(range(size)) if FULL else sorted({0, size - 1})


# -- inputs ------------------------------------------------------------------------------------
def fill(dtype: str, count: int, op: str, g: np.random.Generator) -> np.ndarray:
    """count elements of dtype for op: values that keep the result meaningful (no float overflow,
    zeros for the logical ops, ties for MAXLOC/MINLOC, positive addends so no cancellation)."""
    if dtype in PAIRS:
        a = np.zeros(count, PAIRS[dtype])  # zeroed padding
        a["v"] = g.integers(-2, 3, count)  # few values: ties, broken by the lower index
        a["i"] = g.integers(0, 6, count)
        return a
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return g.random(count) > (0.25 if op in ("LAND", "LOR", "LXOR") else 0.5)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if op == "PROD":  # small factors, no zeros: products stay interesting (int8 wraps)
            vals = [1, 2, 3] if dt.kind == "u" else [-3, -2, -1, 1, 2, 3]
            return g.choice(np.array(vals, dt), count)
        if op in ("LAND", "LOR", "LXOR"):
            v = g.integers(1, 4, count) * (1 if dt.kind == "u" else g.choice([-1, 1], count))
            return np.where(g.random(count) < 0.25, 0, v).astype(dt)
        if op == "SUM" and dt.kind == "i":
            # Signed overflow is undefined behaviour in C: keep sums of up to 32 ranks in range.
            # (USER_SUM on int32 wraps on purpose: numpy's addition, the same on both sides.)
            return g.integers(info.min // 32, info.max // 32, count, dtype=dt, endpoint=True)
        return g.integers(info.min, info.max, count, dtype=dt, endpoint=True)
    part = np.float32 if dtype in ("float32", "complex64") else np.float64
    if op in ("SUM", "USER_SUM"):  # positive: the relative rounding error is bounded
        re = g.uniform(0.5, 2.0, count)
        im = g.uniform(0.5, 2.0, count) if dt.kind == "c" else 0
    elif op == "PROD":  # magnitudes near 1: no overflow over any number of ranks we run
        mag = g.uniform(0.5, 2.0, count)
        if dt.kind == "c":
            phase = g.uniform(0, 2 * np.pi, count)
            re, im = mag * np.cos(phase), mag * np.sin(phase)
        else:
            re, im = mag * g.choice([-1.0, 1.0], count), 0
    else:
        re = g.standard_normal(count)
        im = g.standard_normal(count) if dt.kind == "c" else 0
    if dt.kind == "c":
        return (re.astype(part) + 1j * np.asarray(im).astype(part)).astype(dt)
    return np.asarray(re).astype(dt)


def exact(dtype: str, op: str) -> bool:
    """Whether the result is bit-exact by MPI's semantics (else reduction order rounds it)."""
    return not (dtype in (*FLOATS, *COMPLEX) and op in ("SUM", "PROD", "USER_SUM"))


# -- output ------------------------------------------------------------------------------------
def show(label: str, arr: np.ndarray | None, is_exact: bool = True) -> None:
    """Print a buffer result: a digest if exact, else float statistics (see the docstring)."""
    if arr is None:
        emit(label, "-")
    elif is_exact:
        if arr.dtype.names:  # pair types: hash the fields, never the padding bytes
            emit(label, "d", arr.size, digest(np.ascontiguousarray(arr["v"])) + digest(np.ascontiguousarray(arr["i"])))
        else:
            emit(label, "d", arr.size, digest(arr))
    else:
        # Statistics in float64 / complex128 (numpy's pairwise sums: the test's tolerance allows
        # for their own rounding), then three elements as they are.
        cplx = arr.dtype.kind == "c"
        x = arr.astype(np.complex128 if cplx else np.float64)
        w = 1.0 / (1.0 + np.arange(x.size) % 7)  # fixed positive weights <= 1
        picks = [x[i] for i in sorted({0, x.size // 2, x.size - 1})] if x.size else []
        num = complex if cplx else float
        emit(label, "f", arr.size, repr(num(x.sum())), repr(float(np.abs(x).sum())), repr(num((x * w).sum())),
             *(repr(num(v)) for v in picks))


def spec(arr: np.ndarray, dtype: str, i: int):
    """Rotate buffer specs: bare array or [array, datatype] (pair types always need the type). Both
    buffers of a call get the same form: a bare int32 array is MPI.INT to mpi4py, not INT32_T, and
    mpi4py refuses a reduction whose two datatypes differ."""
    if dtype in PAIRS:
        return [arr, getattr(MPI, dtype)]
    return arr if i % 2 == 0 else [arr, mpi_type(dtype)]


def mtype(dtype: str):
    return getattr(MPI, dtype) if dtype in PAIRS else mpi_type(dtype)


def vspec(arr: np.ndarray, counts: list[int], displs: list[int], dtype: str, i: int):
    """The two mpi4py forms of a vector buffer spec."""
    if i % 2 == 0:
        return [arr, counts, displs, mtype(dtype)]
    return [arr, (counts, displs), mtype(dtype)]


def layout(counts: list[int]) -> tuple[list[int], int]:
    """Displacements placing the blocks in reverse rank order with a one-element gap after each
    (so an implementation assuming contiguous rank-ordered blocks is caught, and the gaps must
    stay untouched), and the buffer length."""
    displs = [0] * len(counts)
    at = 0
    for j in reversed(range(len(counts))):
        displs[j] = at
        at += counts[j] + 1
    return displs, at


def vcount(count: int, j: int) -> int:
    """Per-rank counts of the v calls: uneven, some zero, all zero when count is 0."""
    return (count * (j + 1)) % (count + 3)


def a2a(count: int, i: int, j: int, symmetric: bool) -> int:
    """Elements rank i sends to rank j in Alltoallv (in place needs the same count both ways)."""
    return (count * (1 + i + (j if symmetric else 2 * j))) % (count + 2)


# -- user ops ----------------------------------------------------------------------------------
def _sum(a, b):
    return a + b


def _affine(a, b):
    """(a_mul, a_add) o (b_mul, b_add) mod 2**32, packed in a uint64: associative, not commutative."""
    m32 = np.uint64(0xFFFFFFFF)
    s = np.uint64(32)
    am, aa, bm, ba = a >> s, a & m32, b >> s, b & m32
    return (((am * bm) & m32) << s) | ((am * ba + aa) & m32)


def _concat(a, b):
    return a + b


def _union(a, b):
    return tuple(sorted(set(a) | set(b)))


def make_op(combine, dtype: str | None, commute: bool):
    """A user op: on buffers inoutbuf = inbuf op inoutbuf (inbuf from the lower ranks); on objects
    mpi4py calls fn(x, y, None) and takes the return value."""

    def fn(inbuf, inoutbuf, datatype=None):
        if datatype is None and dtype is None:
            return combine(inbuf, inoutbuf)
        a = np.frombuffer(inbuf, dtype)
        b = np.frombuffer(inoutbuf, dtype)
        b[...] = combine(a, b)
        return None

    return MPI.Op.Create(fn, commute=commute)


USER_OPS = {}


def mpi_op(name: str, dtype: str):
    if name.startswith("USER_"):
        return USER_OPS[name, dtype]
    return getattr(MPI, name)


# -- data movement -----------------------------------------------------------------------------
ROOTED = ("Bcast", "Gather", "Gatherv", "Scatter", "Scatterv")
MOVE_CALLS = (*ROOTED, "Allgather", "Allgatherv", "Alltoall", "Alltoallv")


def move_case(comm, label: str, call: str, dtype: str, count: int, inplace: bool, root: int | None):
    """Run one data-movement call; return what this rank has to show (None: nothing defined)."""
    r, s = comm.Get_rank(), comm.Get_size()
    i = count + len(dtype) + len(call)
    ip = MPI.IN_PLACE

    def data(what: str, n: int) -> np.ndarray:
        return fill(dtype, n, "move", rng(label, what, RANK))

    def sp(arr: np.ndarray):
        return spec(arr, dtype, i)

    counts = [vcount(count, j) for j in range(s)]
    displs, total = layout(counts)
    if call == "Bcast":
        buf = data("bcast" if r == root else "junk", count)
        comm.Bcast(sp(buf), root=root)
        return buf
    if call == "Gather":
        mine = data("in", count)
        if r != root:
            comm.Gather(sp(mine), None, root=root)
            return None
        recv = data("junk", s * count)
        if inplace:
            recv[r * count:(r + 1) * count] = mine
        comm.Gather(ip if inplace else sp(mine), sp(recv), root=root)
        return recv
    if call == "Gatherv":
        mine = data("in", counts[r])
        if r != root:
            comm.Gatherv(sp(mine), None, root=root)
            return None
        recv = data("junk", total)
        if inplace:
            recv[displs[r]:displs[r] + counts[r]] = mine
        comm.Gatherv(ip if inplace else sp(mine), vspec(recv, counts, displs, dtype, i), root=root)
        return recv
    if call == "Scatter":
        recv = data("junk", count)
        if r != root:
            comm.Scatter(None, sp(recv), root=root)
            return recv
        send = data("in", s * count)
        comm.Scatter(sp(send), ip if inplace else sp(recv), root=root)
        return send[r * count:(r + 1) * count] if inplace else recv  # in place: the root's block stays
    if call == "Scatterv":
        recv = data("junk", counts[r])
        if r != root:
            comm.Scatterv(None, sp(recv), root=root)
            return recv
        send = data("in", total)
        comm.Scatterv(vspec(send, counts, displs, dtype, i), ip if inplace else sp(recv), root=root)
        return send[displs[r]:displs[r] + counts[r]] if inplace else recv
    if call == "Allgather":
        mine = data("in", count)
        recv = data("junk", s * count)
        if inplace:
            recv[r * count:(r + 1) * count] = mine
        comm.Allgather(ip if inplace else sp(mine), sp(recv))
        return recv
    if call == "Allgatherv":
        mine = data("in", counts[r])
        recv = data("junk", total)
        if inplace:
            recv[displs[r]:displs[r] + counts[r]] = mine
        comm.Allgatherv(ip if inplace else sp(mine), vspec(recv, counts, displs, dtype, i))
        return recv
    if call == "Alltoall":
        send = data("in", s * count)
        if inplace:
            comm.Alltoall(ip, sp(send))
            return send
        recv = data("junk", s * count)
        comm.Alltoall(sp(send), sp(recv))
        return recv
    assert call == "Alltoallv"
    scounts = [a2a(count, r, j, inplace) for j in range(s)]
    rcounts = [a2a(count, j, r, inplace) for j in range(s)]
    sdispls, stotal = layout(scounts)
    rdispls, rtotal = layout(rcounts)
    if inplace:
        recv = data("in", rtotal)
        comm.Alltoallv(ip, vspec(recv, rcounts, rdispls, dtype, i))
        return recv
    recv = data("junk", rtotal)
    comm.Alltoallv(vspec(data("in", stotal), scounts, sdispls, dtype, i), vspec(recv, rcounts, rdispls, dtype, i))
    return recv


def move_grid(cname: str) -> list[tuple[str, int]]:
    """(dtype, count) pairs of the data-movement calls."""
    if FULL:
        return [(d, c) for d in ALL for c in SMALL]
    if cname == "world":
        return [(d, 7) for d in (ALL if EVERY_DTYPE else MOVE_SAMPLE)] + [(d, c) for d in ("int8", "float64")
                                                                          for c in (0, 1)]
    return [(d, 7) for d in MOVE_SAMPLE] + [("int32", 0)]


def run_move(cname: str, comm) -> None:
    s = comm.Get_size()
    for dtype, count in move_grid(cname):
        for call in MOVE_CALLS:
            for inplace in (False,) if call == "Bcast" else (False, True):
                for root in roots(s) if call in ROOTED else (None,):
                    label = (f"{cname} {call} {dtype} n={count}" + ("" if root is None else f" root={root}")
                             + (" inplace" if inplace else ""))
                    show(label, move_case(comm, label, call, dtype, count, inplace, root))


# -- reductions --------------------------------------------------------------------------------
RED_CALLS = ("Reduce", "Allreduce", "Scan", "Exscan", "Reduce_scatter_block")


def reduce_case(comm, label: str, call: str, op: str, dtype: str, count: int, inplace: bool, root: int | None):
    """Run one reduction; return what this rank has to show."""
    r, s = comm.Get_rank(), comm.Get_size()
    mop = mpi_op(op, dtype)
    i = count + len(dtype) + len(op)
    ip = MPI.IN_PLACE

    def sp(arr: np.ndarray):
        return spec(arr, dtype, i)

    junk = fill(dtype, count, "move", rng(label, "junk", RANK))
    if call == "Reduce_scatter_block":
        mine = fill(dtype, s * count, op, rng(label, "in", RANK))
        if inplace:  # the input is the whole buffer, the result its first block
            comm.Reduce_scatter_block(ip, sp(mine), op=mop)
            return mine[:count]
        comm.Reduce_scatter_block(sp(mine), sp(junk), op=mop)
        return junk
    mine = fill(dtype, count, op, rng(label, "in", RANK))
    recv = mine.copy() if inplace else junk
    send = ip if inplace else sp(mine)
    if call == "Reduce":
        if r != root:
            comm.Reduce(sp(mine), None, op=mop, root=root)
            return None
        comm.Reduce(send, sp(recv), op=mop, root=root)
        return recv
    getattr(comm, call)(send, sp(recv), op=mop)
    return None if call == "Exscan" and r == 0 else recv  # Exscan leaves rank 0's buffer undefined


def reduce_grid(cname: str) -> list[tuple[str, str, int, str, bool]]:
    """(op, dtype, count, call, in place) of the reductions, without repeats."""
    every = [(c, ip) for c in RED_CALLS for ip in (False, True)]
    if FULL:
        cases = [(op, d, n, c, ip) for op, d in all_combos() for n in SMALL for c, ip in every]
        cases += [(op, d, 9000, c, False) for op, d in EXTRA for c in RED_CALLS]
    elif cname == "world":
        # Every op on every dtype (Allreduce), every call on a sample of them.
        combos = all_combos() if EVERY_DTYPE else []
        cases = [(op, d, 7, "Allreduce", False) for op, d in combos]
        cases += [(op, d, 1, "Allreduce", True) for op, d in combos]
        cases += [(op, d, n, c, ip) for op, d in REDUCE_SAMPLE for n in (0, 7) for c, ip in every]
        cases += [(op, d, 1001, c, False) for op, d in EXTRA for c in RED_CALLS]
    else:
        cases = [(op, d, 7, c, ip) for op, d in REDUCE_SAMPLE for c, ip in every]
        cases += [(op, d, 0, c, False) for op, d in REDUCE_SAMPLE[:3] for c in RED_CALLS]
    return list(dict.fromkeys(cases))


# Odd sizes past the smallest for the pair types, the user ops (which run Python per chunk), and
# wrapping uint8 sums long enough for vectorised kernels (see OMPI_MCA_op above).
EXTRA = (("MAXLOC", "FLOAT_INT"), ("USER_AFFINE", "uint64"), ("SUM", "float32"), ("SUM", "uint8"))


def run_reduce(cname: str, comm) -> None:
    s = comm.Get_size()
    for op, dtype, count, call, inplace in reduce_grid(cname):
        for root in roots(s) if call == "Reduce" else (None,):
            label = (f"{cname} {call} {op} {dtype} n={count}" + ("" if root is None else f" root={root}")
                     + (" inplace" if inplace else ""))
            show(label, reduce_case(comm, label, call, op, dtype, count, inplace, root), exact(dtype, op))


def all_combos() -> list[tuple[str, str]]:
    return [(op, dtype) for op, dtypes in OP_DTYPES.items() for dtype in dtypes]


# -- objects -----------------------------------------------------------------------------------
def obj_repr(x) -> str:
    """A deterministic short text of an object result (arrays and long bytes by digest)."""
    if isinstance(x, np.ndarray):
        return f"array({x.dtype},{x.shape},{digest(x)})"
    if isinstance(x, (bytes, bytearray)) and len(x) > 32:
        return f"bytes({len(x)},{digest(np.frombuffer(x, np.uint8))})"
    if isinstance(x, list):
        return "[" + ", ".join(map(obj_repr, x)) + "]"
    if isinstance(x, tuple):
        return "(" + ", ".join(map(obj_repr, x)) + ("," if len(x) == 1 else "") + ")"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k!r}: {obj_repr(v)}" for k, v in x.items()) + "}"
    return repr(x)


def payload(kind: int, who: int, salt: str):
    """Object payloads of several shapes and sizes, a function of (kind, who, salt)."""
    g = rng(salt, kind, who)
    if kind == 0:
        return None
    if kind == 1:
        return int(g.integers(-10**6, 10**6)) * 10**20 + who  # a big Python int
    if kind == 2:
        return f"rank {who} " + "x" * int(g.integers(0, 50))
    if kind == 3:
        return {"who": who, "vals": [float(v) for v in g.integers(-8, 8, 3) / 8], "t": (who, "t")}
    if kind == 4:
        return g.integers(-100, 100, int(g.integers(0, 20)))  # a numpy array
    return bytes(g.integers(0, 256, 100_000 if not FULL else 1_200_000, dtype=np.uint8))  # over one ring buffer


N_PAYLOADS = 6


def obj_values(op: str, r: int, salt: str):
    """Comm rank r's contribution for an object reduction with op; exact under any reduction order."""
    g = rng(salt, op, RANK)
    if op in ("SUM", "MIN", "MAX"):
        return int(g.integers(-10**12, 10**12)) * 10**12 + RANK
    if op == "PROD":
        return int(g.choice([-3, -2, 2, 3, 10**9 + 7]))
    if op in ("FSUM", "FMIN", "FMAX"):  # dyadic floats: every partial sum is exact
        return float(g.integers(-64, 64)) / 8
    if op == "FPROD":
        return float(g.choice([-2.0, -0.75, 0.5, 1.25, 3.0]))
    if op == "ASUM":
        return g.integers(-1000, 1000, 5)
    if op in ("MAXLOC", "MINLOC"):
        return (int(g.integers(0, 3)), r)  # (value, index): ties broken by the lower index
    if op in ("FMAXLOC", "FMINLOC"):
        return (float(g.integers(-2, 2)) / 2, int(g.integers(0, 4)))
    if op in ("REPLACE", "NO_OP"):
        return (r, int(g.integers(0, 100)))
    if op == "CONCAT":
        return [RANK, int(g.integers(0, 100))]
    if op == "UNION":
        return tuple(int(v) for v in g.integers(0, 12, 3))
    raise AssertionError(op)


OBJ_OPS = {  # label -> MPI op name
    "SUM": "SUM", "PROD": "PROD", "MIN": "MIN", "MAX": "MAX", "FSUM": "SUM", "FPROD": "PROD", "FMIN": "MIN",
    "FMAX": "MAX", "ASUM": "SUM", "MAXLOC": "MAXLOC", "MINLOC": "MINLOC", "FMAXLOC": "MAXLOC",
    "FMINLOC": "MINLOC", "REPLACE": "REPLACE", "NO_OP": "NO_OP", "CONCAT": "USER_CONCAT", "UNION": "USER_UNION",
}


def objects(cname: str, comm) -> None:
    r, s = comm.Get_rank(), comm.Get_size()
    sample = not FULL and cname != "world"
    # The largest payload (bytes over a ring buffer) goes through gather / scatter / allgather /
    # alltoall at the full level only: with n ranks it is n times the traffic.
    kinds = (1, 3, 4) if sample else range(1, N_PAYLOADS - (0 if FULL else 1))
    ops = ("SUM", "FSUM", "MAXLOC", "REPLACE", "CONCAT") if sample else tuple(OBJ_OPS)
    comm.barrier()
    emit(f"{cname} obj barrier", "o", "done")
    for root in roots(s):
        for k in range(N_PAYLOADS):
            label = f"{cname} obj bcast root={root} kind={k}"
            got = comm.bcast(payload(k, RANK, label) if r == root else None, root=root)
            emit(label, "o", obj_repr(got))
        for k in kinds:
            label = f"{cname} obj gather root={root} kind={k}"
            emit(label, "o", obj_repr(comm.gather(payload(k, RANK, label), root=root)))
            label = f"{cname} obj scatter root={root} kind={k}"
            send = [payload(k, 100 * RANK + j, label) for j in range(s)] if r == root else None
            emit(label, "o", obj_repr(comm.scatter(send, root=root)))
    for k in kinds:
        label = f"{cname} obj allgather kind={k}"
        emit(label, "o", obj_repr(comm.allgather(payload(k, RANK, label))))
        label = f"{cname} obj alltoall kind={k}"
        emit(label, "o", obj_repr(comm.alltoall([payload(k, 100 * RANK + j, label) for j in range(s)])))
    for name in ops:
        opname = OBJ_OPS[name]
        op = USER_OPS[opname, None] if opname.startswith("USER_") else getattr(MPI, opname)
        base = f"{cname} obj {name}"
        for root in roots(s):
            emit(f"{base} reduce root={root}", "o", obj_repr(comm.reduce(obj_values(name, r, f"{base} {root}"), op=op,
                                                                         root=root)))
        emit(f"{base} allreduce", "o", obj_repr(comm.allreduce(obj_values(name, r, f"{base} all"), op=op)))
        emit(f"{base} scan", "o", obj_repr(comm.scan(obj_values(name, r, f"{base} scan"), op=op)))
        # mpi4py returns None at rank 0 of exscan (MPI leaves it undefined): mpi4py programs rely on it.
        emit(f"{base} exscan", "o", obj_repr(comm.exscan(obj_values(name, r, f"{base} exscan"), op=op)))


# -- big messages ------------------------------------------------------------------------------
def big(cname: str, comm) -> None:
    r, s = comm.Get_rank(), comm.Get_size()
    for count in BIG:
        block = count // s
        for dtype in ("int64", "float64"):
            base = f"{cname} big {dtype} n={count}"
            for root in roots(s):
                buf = fill(dtype, count, "move", rng(base, "bcast", RANK if r == root else f"junk {RANK}"))
                comm.Bcast(buf, root=root)
                show(f"{base} Bcast root={root}", buf)
            mine = fill(dtype, block, "move", rng(base, "allgather", RANK))
            recv = np.zeros(s * block, dtype)
            comm.Allgather(mine, recv)
            show(f"{base} Allgather block={block}", recv)
            send = fill(dtype, s * block, "move", rng(base, "alltoall", RANK))
            recv = np.zeros(s * block, dtype)
            comm.Alltoall(send, recv)
            show(f"{base} Alltoall block={block}", recv)
        combos = [("SUM", "int64"), ("SUM", "float64"), ("MAX", "int64"), ("MAX", "float64")]
        if not FULL and count == BIG[-1]:
            combos = [("SUM", "int64"), ("SUM", "float64")]
        for op, dtype in combos:
            base = f"{cname} big {op} {dtype} n={count}"
            ex = exact(dtype, op)
            mop = getattr(MPI, op)
            for root in roots(s):
                mine = fill(dtype, count, op, rng(base, "reduce", root, RANK))
                recv = np.zeros(count, dtype) if r == root else None
                comm.Reduce(mine, recv, op=mop, root=root)
                show(f"{base} Reduce root={root}", recv, ex)
            mine = fill(dtype, count, op, rng(base, "allreduce", RANK))
            recv = np.zeros(count, dtype)
            comm.Allreduce(mine, recv, op=mop)
            show(f"{base} Allreduce", recv, ex)
            comm.Allreduce(MPI.IN_PLACE, mine, op=mop)
            show(f"{base} Allreduce inplace", mine, ex)
            mine = fill(dtype, s * block, op, rng(base, "rsb", RANK))
            recv = np.zeros(block, dtype)
            comm.Reduce_scatter_block(mine, recv, op=mop)
            show(f"{base} Reduce_scatter_block block={block}", recv, ex)
            mine = fill(dtype, count, op, rng(base, "scan", RANK))
            recv = np.zeros(count, dtype)
            comm.Scan(mine, recv, op=mop)
            show(f"{base} Scan", recv, ex)


# -- p2p mixed with collectives ----------------------------------------------------------------
def expect(base: str, what: str, got, want) -> None:
    """Fail the job (not just the comparison) when a mixed-traffic result is wrong."""
    assert got == want, f"rank {RANK}: {base} {what}: got {got}, expected {want}"


def mixed(cname: str, comm, other) -> None:
    """p2p messages in flight (and wildcard receives posted) across collectives: the collectives'
    own traffic must never match them, nor theirs the collectives'. `other` is a second
    communicator over the same ranks (a Dup, or the parent of a Dup) whose traffic must not match.
    Every result is also checked here, so a mismatch fails the job even without the reference."""
    r, s = comm.Get_rank(), comm.Get_size()
    right, left = (r + 1) % s, (r - 1) % s
    base = f"{cname} mixed"
    # Payloads carry world ranks: a message from the other half of the Split would show.
    world = comm.allgather(RANK)
    me, wl, wr = RANK, world[left], world[right]
    st = MPI.Status()
    # 1. An Isend posted before a Bcast, received after it with ANY_SOURCE / ANY_TAG.
    msg = np.arange(5, dtype=np.int64) + 1000 * me
    req = comm.Isend(msg, dest=right, tag=0)
    b = np.arange(9, dtype=np.int64) * 3 if r == 0 else np.zeros(9, np.int64)
    comm.Bcast(b, root=0)
    got = np.zeros(5, np.int64)
    comm.Recv(got, source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
    req.Wait()
    expect(base, "isend-bcast-recv", (st.Get_source(), st.Get_tag(), got.tolist(), b.tolist()),
           (left, 0, list(range(1000 * wl, 1000 * wl + 5)), list(range(0, 27, 3))))
    emit(f"{base} isend-bcast-recv", "o", st.Get_source(), st.Get_tag(), got.tolist(), digest(b))
    # 2. Wildcard receives posted before a run of collectives, satisfied by sends after them.
    got = np.zeros(3, np.float64)
    req = comm.Irecv(got, source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG)
    oreq = comm.irecv(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG)
    red = np.zeros(4, np.int64)
    comm.Allreduce(np.arange(4, dtype=np.int64) * (r + 1), red, op=MPI.SUM)
    gat = np.zeros(2 * s, np.int32) if r == s - 1 else None
    comm.Gather(np.array([r, -r], np.int32), gat, root=s - 1)
    a2a_out = np.zeros(s, np.int16)
    comm.Alltoall(np.arange(s, dtype=np.int16) + 100 * r, a2a_out)
    comm.Barrier()
    objs = comm.allgather(("o", r))
    total = comm.allreduce(r, op=MPI.SUM)
    sc = comm.scan(r + 1, op=MPI.PROD)
    bo = comm.bcast({"from": "root"} if r == 0 else None, root=0)
    sreq = comm.Isend(np.array([me, 0.5, -me], np.float64), dest=right, tag=tag_ub())
    oreq2 = comm.isend({"obj from": me}, dest=right, tag=1)
    req.Wait(st)
    src1, tag1 = st.Get_source(), st.Get_tag()
    obj = oreq.wait(st)
    sreq.Wait()
    oreq2.wait()
    gat = None if gat is None else gat.tolist()
    expect(base, "wildcard-across-collectives",
           (src1, tag1, got.tolist(), obj, st.Get_source(), st.Get_tag(), red.tolist(), gat, a2a_out.tolist(),
            objs, total, sc, bo),
           (left, tag_ub(), [wl, 0.5, -wl], {"obj from": wl}, left, 1, [k * s * (s + 1) // 2 for k in range(4)],
            None if r != s - 1 else [v for j in range(s) for v in (j, -j)], [r + 100 * j for j in range(s)],
            [("o", j) for j in range(s)], s * (s - 1) // 2, int(np.prod(np.arange(1, r + 2))), {"from": "root"}))
    emit(f"{base} wildcard-across-collectives", "o", src1, tag1, got.tolist(), obj, st.Get_source(), st.Get_tag(),
         red.tolist(), gat, a2a_out.tolist(), objs, total, sc, bo)
    # 3. Traffic on `other` never matches this communicator's and the reverse: a wildcard receive
    # pending on `other` while this one does p2p and collectives with the same tags.
    oget = np.zeros(2, np.int64)
    oreq = other.Irecv(oget, source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG)
    mreq = comm.Isend(np.array([me, 7], np.int64), dest=right, tag=5)
    mget = np.zeros(2, np.int64)
    comm.Recv(mget, source=left, tag=5)
    mreq.Wait()
    bb = np.array([r], np.int64)
    comm.Bcast(bb, root=s - 1)
    ar = comm.allreduce(r * r, op=MPI.MAX)
    other.Barrier()  # every rank's `comm` traffic above is done before `other` sends
    sreq = other.Isend(np.array([me, 9], np.int64), dest=right, tag=5)
    oreq.Wait(st)
    sreq.Wait()
    expect(base, "other-communicator", (mget.tolist(), oget.tolist(), st.Get_source(), st.Get_tag(), int(bb[0]), ar),
           ([wl, 7], [wl, 9], left, 5, s - 1, (s - 1) ** 2))
    emit(f"{base} other-communicator", "o", mget.tolist(), oget.tolist(), st.Get_source(), st.Get_tag(), int(bb[0]),
         ar)
    # Nobody sends the next messages before every wildcard receive above is matched (else a fast
    # rank's next message could rightly match a slow rank's still-pending wildcard receive).
    other.Barrier()
    # 4. Collectives of two communicators interleaved, with a p2p message on each in flight.
    r1 = comm.Isend(np.array([1, me], np.int64), dest=left, tag=3)
    r2 = other.Isend(np.array([2, me], np.int64), dest=left, tag=3)
    x = np.zeros(3, np.int64)
    y = np.zeros(3, np.int64)
    other.Allreduce(np.array([r, 1, 2], np.int64), y, op=MPI.SUM)
    comm.Allreduce(np.array([1, r, 3], np.int64), x, op=MPI.MAX)
    g1, g2 = np.zeros(2, np.int64), np.zeros(2, np.int64)
    other.Recv(g2, source=MPI.ANY_SOURCE, tag=3)
    comm.Recv(g1, source=MPI.ANY_SOURCE, tag=3)
    r1.Wait()
    r2.Wait()
    expect(base, "interleaved", (x.tolist(), y.tolist(), g1.tolist(), g2.tolist()),
           ([1, s - 1, 3], [s * (s - 1) // 2, s, 2 * s], [1, wr], [2, wr]))
    emit(f"{base} interleaved", "o", x.tolist(), y.tolist(), g1.tolist(), g2.tolist())


def counts(cname: str, comm) -> None:
    """Explicit counts in (buf, count, datatype) specs: for a buffer of one block per rank
    (Gather/Allgather receive, Scatter send, Alltoall both, Reduce_scatter_block send) the count
    is one block's, as in mpi4py; a displacement skips whole elements before the first block."""
    n, me = comm.Get_size(), comm.Get_rank()
    base = f"counts {cname}"
    k = 3
    mine = np.arange(k, dtype=np.int32) + 10 * me
    # One spare element in front (the displacement) and two behind (must stay untouched).
    big = np.full(1 + n * k + 2, -1, np.int32)
    comm.Gather([mine, k, MPI.INT], [big, (k, 1), MPI.INT] if me == 0 else None, root=0)
    show(f"{base} Gather", big if me == 0 else None)
    big[:] = -1
    comm.Allgather([mine, MPI.INT], [big, (k, 1), MPI.INT])
    show(f"{base} Allgather", big)
    src = np.arange(n * k + 2, dtype=np.int32) * 3
    part = np.full(k, -1, np.int32)
    comm.Scatter([src, k, MPI.INT] if me == n - 1 else None, [part, k, MPI.INT], root=n - 1)
    show(f"{base} Scatter", part)
    big[:] = -1
    send = np.arange(n * k + 1, dtype=np.int32) + 100 * me
    comm.Alltoall([send, (k, 1), MPI.INT], [big, (k, 1), MPI.INT])
    show(f"{base} Alltoall", big)
    res = np.full(k + 1, -1, np.int64)
    comm.Reduce_scatter_block([send.astype(np.int64), k, MPI.INT64_T], [res, k, MPI.INT64_T], op=MPI.SUM)
    show(f"{base} Reduce_scatter_block", res)


def repeat(cname: str, comm) -> None:
    """The same buffer objects passed again and again with new contents (what toro_mpi's
    data-movement hot paths remember): every call must see the current data. Fresh views of one
    array and roots that change in between are mixed in."""
    n, me = comm.Get_size(), comm.Get_rank()
    base = f"repeat {cname}"
    send = np.zeros(5, np.int64)
    wide = np.zeros(2 * 5 * n, np.int64)
    gathered = np.zeros(5 * n, np.int64)
    block = np.zeros(5, np.int64)
    for step in range(3):
        send[:] = np.arange(5) + 10 * me + 1000 * step
        wide[:] = np.arange(wide.size) * (step + 1) + me
        for k, root in enumerate((0, n - 1, 0)):
            comm.Gather(send, gathered if me == root else None, root=root)
            show(f"{base} Gather {step} {k}", gathered if me == root else None)
            comm.Scatter(gathered if me == root else None, block, root=root)
            show(f"{base} Scatter {step} {k}", block)
        comm.Allgather(send, gathered)
        show(f"{base} Allgather {step}", gathered)
        comm.Alltoall(wide[: 5 * n], gathered)  # a new view object every call
        show(f"{base} Alltoall view {step}", gathered)
        out_blocks = np.zeros(5 * n, np.int64)
        comm.Alltoall(gathered, out_blocks)
        show(f"{base} Alltoall {step}", out_blocks)


# -- driver ------------------------------------------------------------------------------------
def main() -> None:
    for dtype in OP_DTYPES["USER_SUM"]:
        USER_OPS["USER_SUM", dtype] = make_op(_sum, dtype, commute=True)
    USER_OPS["USER_AFFINE", "uint64"] = make_op(_affine, "uint64", commute=False)
    USER_OPS["USER_CONCAT", None] = make_op(_concat, None, commute=False)
    USER_OPS["USER_UNION", None] = make_op(_union, None, commute=True)

    # A Split with the ranks in reverse order (key = -rank), so sub-ranks differ from world ranks;
    # with more than one rank, two sub-communicators run the same cases at the same time.
    split = COMM.Split(color=RANK % 2, key=-RANK)
    dup = COMM.Dup()
    # For the mixed section: a second communicator over the same ranks as each of the three.
    others = {"world": dup, "split": split.Dup(), "dup": COMM}
    comms = [("world", COMM), ("split", split), ("dup", dup)]
    emit("split", "o", split.Get_rank(), split.Get_size())
    for cname, comm in comms:
        if "move" in SECTIONS:
            run_move(cname, comm)
        if "reduce" in SECTIONS:
            run_reduce(cname, comm)
        if "objects" in SECTIONS:
            objects(cname, comm)
        if "big" in SECTIONS and (FULL or cname == "world"):
            big(cname, comm)
        if "mixed" in SECTIONS:
            mixed(cname, comm, others[cname])
        if "counts" in SECTIONS:
            counts(cname, comm)
        if "repeat" in SECTIONS:
            repeat(cname, comm)
    for op in USER_OPS.values():
        op.Free()
    others["split"].Free()
    dup.Free()
    split.Free()
    COMM.Barrier()
    done()


main()
