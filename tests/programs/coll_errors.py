"""Bad input to collectives: every case is an argument error every rank detects by itself (no rank
waits for a peer that raised), so the job neither hangs nor desynchronises, and the communicator
still works afterwards.

Each case prints `<case> = <class> want=<W> ref=<R>`: the error class this implementation raised,
the class toro_mpi must raise (issue 3: invalid root -> ERR_ROOT, receive buffer too small ->
ERR_TRUNCATE, op not defined on the dtype -> ERR_OP; a reduction whose send and receive datatypes
differ -> ERR_TYPE), and what mpi4py 4.1 + Open MPI 5.0 raise, measured: mpi4py checks some
arguments itself and raises Python errors (TypeError for a root that is not an integer,
ValueError when a reduction's receive count or datatype differs from the send's) before Open MPI
sees them. tests/test_collectives.py holds each implementation to its column.
"""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, error_class, out

SELF = MPI.COMM_SELF
I64 = np.int64


def klass(exc: BaseException) -> str:
    """error_class() plus the classes of collectives (the names, not the numbers, differ)."""
    if isinstance(exc, MPI.Exception):
        for name in ("ERR_ROOT", "ERR_OP"):
            if exc.Get_error_class() == getattr(MPI, name):
                return name
    return error_class(exc)


def case(what: str, fn, want: str, ref: str) -> None:
    try:
        fn()
        got = "no-error"
    except Exception as exc:  # noqa: BLE001 - the class is what is checked
        got = klass(exc)
    out(what, "=", got, f"want={want}", f"ref={ref}")


def bad_roots() -> None:
    """-1 and SIZE are out of range on every rank; a str is no rank at all (mpi4py: TypeError).
    Not a float: mpi4py silently truncates root=1.5 to 1, a valid collective."""
    a = np.arange(4, dtype=I64)
    for root in (-1, SIZE, "0"):
        ref = "TypeError" if isinstance(root, str) else "ERR_ROOT"
        counts = [4] * SIZE
        displs = [4 * j for j in range(SIZE)]
        calls = {
            "Bcast": lambda root=root: COMM.Bcast(a, root=root),
            "Reduce": lambda root=root: COMM.Reduce(a, np.zeros(4, I64), op=MPI.SUM, root=root),
            "Gather": lambda root=root: COMM.Gather(a, np.zeros(4 * SIZE, I64), root=root),
            "Gatherv": lambda root=root, c=counts, d=displs: COMM.Gatherv(
                a, [np.zeros(4 * SIZE, I64), c, d, MPI.INT64_T], root=root),
            "Scatter": lambda root=root: COMM.Scatter(np.zeros(4 * SIZE, I64), np.zeros(4, I64), root=root),
            "Scatterv": lambda root=root, c=counts, d=displs: COMM.Scatterv(
                [np.zeros(4 * SIZE, I64), c, d, MPI.INT64_T], np.zeros(4, I64), root=root),
            "bcast": lambda root=root: COMM.bcast({"x": 1}, root=root),
            "reduce": lambda root=root: COMM.reduce(RANK, op=MPI.SUM, root=root),
            "gather": lambda root=root: COMM.gather(RANK, root=root),
            "scatter": lambda root=root: COMM.scatter(list(range(SIZE)), root=root),
        }
        for name, fn in calls.items():
            case(f"{name} root={root!r}", fn, "ERR_ROOT", ref)


def too_small() -> None:
    """Receive buffers smaller than what arrives. Rooted calls only on COMM_SELF: on a larger
    communicator only the root could tell, and the others would go on into the collective."""
    a = np.arange(4, dtype=I64)
    small = np.zeros(2, I64)
    case("SELF Gather recv 2 < 4", lambda: SELF.Gather(a, small, root=0), "ERR_TRUNCATE", "ERR_TRUNCATE")
    case("SELF Gatherv recvcount 2 < 4", lambda: SELF.Gatherv(a, [np.zeros(8, I64), [2], [0], MPI.INT64_T], root=0),
         "ERR_TRUNCATE", "ERR_TRUNCATE")
    case("SELF Scatter recv 2 < 4", lambda: SELF.Scatter(a, np.zeros(2, I64), root=0), "ERR_TRUNCATE", "ERR_TRUNCATE")
    case("SELF Reduce recv 2 < 4", lambda: SELF.Reduce(a, np.zeros(2, I64), op=MPI.SUM, root=0), "ERR_TRUNCATE",
         "ValueError")
    case("Allreduce recv 2 < 4", lambda: COMM.Allreduce(a, np.zeros(2, I64), op=MPI.SUM), "ERR_TRUNCATE",
         "ValueError")
    case("Allreduce recvcount 2 < 4",
         lambda: COMM.Allreduce([a, 4, MPI.INT64_T], [np.zeros(4, I64), 2, MPI.INT64_T], op=MPI.SUM),
         "ERR_TRUNCATE", "ValueError")
    case("Scan recv 2 < 4", lambda: COMM.Scan(a, np.zeros(2, I64), op=MPI.SUM), "ERR_TRUNCATE", "ValueError")
    # Open MPI copies a rank's own block first, so every rank truncates before any message moves.
    case("Allgather recv blocks 2 < 4", lambda: COMM.Allgather(a, np.zeros(2 * SIZE, I64)), "ERR_TRUNCATE",
         "ERR_TRUNCATE")


def bad_ops() -> None:
    """Ops MPI does not define on the dtype: Open MPI checks each call's (op, datatype) locally."""
    pair = np.zeros(3, np.dtype([("v", "f8"), ("i", "i4")], align=True))
    bufs = {
        "float64": (np.ones(3), np.zeros(3)),
        "float32": (np.ones(3, np.float32), np.zeros(3, np.float32)),
        "complex128": (np.ones(3, np.complex128), np.zeros(3, np.complex128)),
        "complex64": (np.ones(3, np.complex64), np.zeros(3, np.complex64)),
        "int32": (np.ones(3, np.int32), np.zeros(3, np.int32)),
        "bool": (np.ones(3, bool), np.zeros(3, bool)),
        "DOUBLE_INT": ([pair, MPI.DOUBLE_INT], [pair.copy(), MPI.DOUBLE_INT]),
    }
    combos = [
        ("BAND", "float64"), ("BOR", "float64"), ("BXOR", "float32"),  # bitwise: integers only
        ("LAND", "complex128"), ("LOR", "complex64"), ("LXOR", "float64"),  # logical: integers, bool
        ("MIN", "complex128"), ("MAX", "complex64"),  # no order on complex
        ("MAXLOC", "float64"), ("MINLOC", "int32"),  # pair types only
        ("SUM", "DOUBLE_INT"), ("BAND", "DOUBLE_INT"),
        # C_BOOL is a logical type: Open MPI refuses arithmetic, order and bitwise ops on it.
        ("SUM", "bool"), ("PROD", "bool"), ("MAX", "bool"), ("BAND", "bool"), ("BXOR", "bool"),
    ]
    for op, dtype in combos:
        send, recv = bufs[dtype]
        case(f"Allreduce {op} {dtype}", lambda s=send, r=recv, op=op: COMM.Allreduce(s, r, op=getattr(MPI, op)),
             "ERR_OP", "ERR_OP")
    s, r = bufs["float64"]
    band = MPI.BAND
    case("Reduce BAND float64", lambda: COMM.Reduce(s, r, op=band, root=0), "ERR_OP", "ERR_OP")
    case("Scan BAND float64", lambda: COMM.Scan(s, r, op=band), "ERR_OP", "ERR_OP")
    case("Exscan BAND float64", lambda: COMM.Exscan(s, r, op=band), "ERR_OP", "ERR_OP")
    case("Reduce_scatter_block BAND float64",
         lambda: COMM.Reduce_scatter_block(np.ones(3 * SIZE), np.zeros(3), op=band), "ERR_OP", "ERR_OP")


def mismatched_types() -> None:
    """A reduction's send and receive datatypes must be the same (MPI: one datatype argument)."""
    case("Allreduce float64 -> int64", lambda: COMM.Allreduce(np.ones(3), np.zeros(3, I64), op=MPI.SUM), "ERR_TYPE",
         "ValueError")
    case("Allreduce float64 -> float32",
         lambda: COMM.Allreduce([np.ones(3), MPI.DOUBLE], [np.zeros(3, np.float32), MPI.FLOAT], op=MPI.SUM),
         "ERR_TYPE", "ValueError")
    case("Scan int32 -> int64", lambda: COMM.Scan(np.ones(3, np.int32), np.zeros(3, I64), op=MPI.SUM), "ERR_TYPE",
         "ValueError")
    case("SELF Reduce int64 -> float64", lambda: SELF.Reduce(np.ones(3, I64), np.zeros(3), op=MPI.SUM, root=0),
         "ERR_TYPE", "ValueError")


def main() -> None:
    bad_roots()
    too_small()
    bad_ops()
    mismatched_types()
    # Nothing is stuck or out of step: the same collectives still give the right answers.
    got = np.zeros(3, I64)
    COMM.Allreduce(np.array([RANK, 1, -RANK], I64), got, op=MPI.SUM)
    total = SIZE * (SIZE - 1) // 2
    assert got.tolist() == [total, SIZE, -total], got
    b = COMM.bcast(("after", SIZE - 1) if RANK == SIZE - 1 else None, root=SIZE - 1)
    g = COMM.gather(RANK, root=0)
    out("after the errors", got.tolist(), b, g)
    COMM.Barrier()
    done()


main()
