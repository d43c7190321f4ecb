"""Shared by the test programs: pick the MPI implementation and print rank-prefixed lines.

Under toro-mpirun (TORO_MPI_SEGMENT / TORO_MPI_RANK set) the programs use toro_mpi.MPI, under
mpiexec mpi4py.MPI, so one program runs under both and its output can be compared line by line.
A program runs as `python tests/programs/NAME.py`, so this directory is on sys.path already.
"""

from __future__ import annotations

import hashlib
import os
import sys

import numpy as np

if os.environ.get("TORO_MPI_SEGMENT") or os.environ.get("TORO_MPI_RANK"):
    from toro_mpi import MPI

    IMPL = "toro"
else:
    from mpi4py import MPI

    IMPL = "mpi4py"

COMM = MPI.COMM_WORLD
RANK = COMM.Get_rank()
SIZE = COMM.Get_size()


def _count_rendezvous() -> list:
    """Count this rank's rendezvous reads (payloads copied with process_vm_readv): wrap its
    transport's read_remote, the call the engine makes for a KIND_RNDV message, and add what the
    receive kernels read themselves (their per-queue count, layout.H_RNDV_READS). Returns
    [Python reads, threshold, kernel count reader]; done() reports the sum on stderr as
    "R rendezvous reads N threshold T" (T: the engine's rendezvous limit, so a run with
    rendezvous off shows). Test-only hook, enabled by TORO_TEST_COUNT_RENDEZVOUS under toro_mpi;
    stdout stays comparable with mpi4py."""
    from toro_mpi import runtime
    from toro_mpi.bus import layout

    engine = runtime.world().engine
    read_remote = engine.t.read_remote
    segment = engine.t.segment

    def kernel_reads() -> int:
        return sum(int(segment.handle_words(p, RANK)[layout.H_RNDV_READS // 8]) for p in range(SIZE) if p != RANK)

    counter = [0, engine.rndv_limit, kernel_reads]

    def counting(*args, **kwargs):
        counter[0] += 1
        return read_remote(*args, **kwargs)

    engine.t.read_remote = counting
    return counter


_RNDV = _count_rendezvous() if IMPL == "toro" and os.environ.get("TORO_TEST_COUNT_RENDEZVOUS") else None

# numpy dtype name -> the MPI datatype both implementations name the same way.
DTYPES = {
    "int8": "INT8_T", "int16": "INT16_T", "int32": "INT32_T", "int64": "INT64_T",
    "uint8": "UINT8_T", "uint16": "UINT16_T", "uint32": "UINT32_T", "uint64": "UINT64_T",
    "float32": "FLOAT", "float64": "DOUBLE", "complex64": "C_FLOAT_COMPLEX",
    "complex128": "C_DOUBLE_COMPLEX", "bool": "C_BOOL",
}


def mpi_type(dtype: str):
    """The MPI datatype of a numpy dtype name."""
    return getattr(MPI, DTYPES[np.dtype(dtype).name])


def tag_ub() -> int:
    """The largest valid tag: the TAG_UB attribute of COMM_WORLD (same call on both)."""
    return COMM.Get_attr(MPI.TAG_UB)


def out(*words: object) -> None:
    """Print one line prefixed with this rank (one write, so lines never interleave)."""
    sys.stdout.write(" ".join([str(RANK), *map(str, words)]) + "\n")
    sys.stdout.flush()


def digest(arr) -> str:
    """A short content hash of a buffer, the same under both implementations."""
    return hashlib.sha1(np.ascontiguousarray(arr).tobytes()).hexdigest()[:12]


def pattern(dtype: str, count: int, salt: int = 0) -> np.ndarray:
    """Deterministic content for (dtype, count): every byte matters, no two messages alike."""
    rng = np.random.default_rng([count, salt, sum(map(ord, dtype))])
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, count).astype(bool)
    if dt.kind == "c":
        part = np.float32 if dt.itemsize == 8 else np.float64
        return (rng.standard_normal(count).astype(part) + 1j * rng.standard_normal(count).astype(part)).astype(dt)
    if dt.kind == "f":
        return rng.standard_normal(count).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, count, dtype=dt, endpoint=True)


def error_class(exc: BaseException) -> str:
    """The MPI error class name of an exception (ERR_TRUNCATE, ...), or its Python type."""
    if isinstance(exc, MPI.Exception):
        code = exc.Get_error_class()
        for name in ("ERR_RANK", "ERR_TAG", "ERR_TRUNCATE", "ERR_COUNT", "ERR_TYPE", "ERR_BUFFER",
                     "ERR_ARG", "ERR_OTHER", "ERR_COMM", "ERR_REQUEST"):
            if code == getattr(MPI, name):
                return name
        return f"ERR_{code}"
    return type(exc).__name__


def done() -> None:
    """Last line of every program: the checks of this rank passed."""
    if _RNDV is not None:
        sys.stderr.write(f"{RANK} rendezvous reads {_RNDV[0] + _RNDV[2]()} threshold {_RNDV[1]}\n")
        sys.stderr.flush()
    out("ok")
