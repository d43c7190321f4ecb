"""The paths issue #20's performance work changed, checked against numpy computed here.

- Reduce (not in place: the root combines its send buffer and a received segment into its
  receive buffer, elementwise._apart) and Allreduce, for every predefined arithmetic, logical
  and bitwise operator over the dtypes it applies to, at sizes below one segment, of a few
  segments and not a multiple of the segment (coll.segment_bytes);
- with `hide`: numba hidden before MPI is imported (as mpi4py's test runner does), then Barriers
  with a late rank, so that the hot Barrier's objmode stop is warmed and then taken with numba
  hidden (coll.engine.barrier_entry warms it at first use, no longer at start-up).

Every rank contributes values that depend on its rank; each rank computes the expected result
itself with numpy and prints one line per case: `R CASE good` or what differed.
Usage: perf_paths.py [hide]
"""

import sys
import time

import numpy as np

if "hide" in sys.argv[1:]:
    sys.modules["numba"] = None
    sys.modules["llvmlite"] = None

from _mpi import COMM, MPI, RANK, SIZE  # noqa: E402


def contribution(rank: int, n: int, dtype: np.dtype) -> np.ndarray:
    """Rank's operand: small values (products and sums stay exact), both signs for signed types."""
    k = np.arange(n, dtype=np.int64)
    vals = (k * 7 + rank * 13) % 5 + 1
    if dtype.kind == "b":
        return ((k + rank) % 3 != 0)
    if dtype.kind in "if":
        vals = np.where((k + rank) % 4 == 0, -vals, vals) if dtype.kind != "u" else vals
    return vals.astype(dtype)


NUMPY = {"SUM": np.add, "PROD": np.multiply, "MIN": np.minimum, "MAX": np.maximum,
         "LAND": np.logical_and, "LOR": np.logical_or, "LXOR": np.logical_xor,
         "BAND": np.bitwise_and, "BOR": np.bitwise_or, "BXOR": np.bitwise_xor}
ARITH = ("int8", "uint8", "int16", "int32", "int64", "uint64", "float32", "float64")
CASES = [(op, dt) for op in ("SUM", "PROD", "MIN", "MAX") for dt in ARITH]
CASES += [(op, dt) for op in ("LAND", "LOR", "LXOR") for dt in ("int8", "int32", "bool")]
CASES += [(op, dt) for op in ("BAND", "BOR", "BXOR") for dt in ("uint8", "int32", "int64")]
CASES += [("SUM", "complex128"), ("PROD", "complex64")]


def expected(op: str, n: int, dtype: np.dtype) -> np.ndarray:
    acc = contribution(0, n, dtype)
    for r in range(1, SIZE):
        acc = NUMPY[op](acc, contribution(r, n, dtype))
    return acc.astype(dtype)


def check(label: str, got: np.ndarray, want: np.ndarray) -> None:
    if np.array_equal(got, want):
        print(f"{RANK} {label} good", flush=True)
    else:
        bad = np.flatnonzero(got != want)
        print(f"{RANK} {label} differs at {bad.size} places, first {int(bad[0])}: "
              f"{got[bad[0]]!r} != {want[bad[0]]!r}", flush=True)


def reductions() -> None:
    for op, name in CASES:
        dtype = np.dtype(name)
        for nbytes in (24, 65536, 300001):
            n = max(1, nbytes // dtype.itemsize)
            mine = contribution(RANK, n, dtype)
            want = expected(op, n, dtype)
            for root in range(SIZE):
                out = np.zeros(n, dtype)
                COMM.Reduce(mine, out, op=getattr(MPI, op), root=root)
                if RANK == root:
                    check(f"reduce {op} {name} {n} root {root}", out, want)
            out = np.zeros(n, dtype)
            COMM.Allreduce(mine, out, op=getattr(MPI, op))
            check(f"allreduce {op} {name} {n}", out, want)


def barriers() -> None:
    for i in range(6):
        if RANK == i % SIZE:
            time.sleep(0.05)  # a late rank: the others' hot Barrier stops and waits
        COMM.Barrier()
    print(f"{RANK} barriers good numba hidden {sys.modules.get('numba') is None}", flush=True)


if "hide" in sys.argv[1:]:
    barriers()
    n = 100000
    out = np.zeros(n, np.uint8)
    COMM.Reduce(contribution(RANK, n, np.dtype(np.uint8)), out, op=MPI.SUM, root=0)
    if RANK == 0:
        check("hidden reduce", out, expected("SUM", n, np.dtype(np.uint8)))
else:
    reductions()
print(f"{RANK} ok", flush=True)
