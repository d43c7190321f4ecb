"""The lock-free accumulate kernels of bus/rma_kernels.py (atomic_at, atomic_cas_at) on plain
arrays: every operation and element type against numpy, at every offset of an 8-byte word and
run length (runs that start, end and straddle words), the fetched old values, NO_OP reading
only, and two processes hammering the same elements through shared memory (a lost update shows
as a short total). No job is started."""

from __future__ import annotations

import mmap
import os

import numpy as np
import pytest

from toro_mpi.bus import rma_kernels as K

OPS = {
    K.ACC_SUM: lambda a, b: a + b,
    K.ACC_PROD: lambda a, b: a * b,
    K.ACC_MIN: np.minimum,
    K.ACC_MAX: np.maximum,
    K.ACC_REPLACE: lambda a, b: a,
    K.ACC_NO_OP: lambda a, b: b,
    K.ACC_LAND: lambda a, b: (a != 0) & (b != 0),
    K.ACC_LOR: lambda a, b: (a != 0) | (b != 0),
    K.ACC_LXOR: lambda a, b: (a != 0) ^ (b != 0),
    K.ACC_BAND: np.bitwise_and,
    K.ACC_BOR: np.bitwise_or,
    K.ACC_BXOR: np.bitwise_xor,
}
BITWISE = (K.ACC_BAND, K.ACC_BOR, K.ACC_BXOR)


def _run(dtype: np.dtype, target: np.ndarray, first: int, src: np.ndarray, op: int,
         res: np.ndarray | None = None) -> int:
    """atomic_at on target[first:first + src.size]."""
    block = K.block(0, 0, target.ctypes.data + first * dtype.itemsize, src.ctypes.data,
                    0 if res is None else res.ctypes.data, n=src.size, op=op)
    return K.atomic_entry(dtype)(int(block.ctypes.data))


@pytest.mark.parametrize("dtype", K.ATOMIC_DTYPES, ids=str)
def test_atomic_at_matches_numpy(dtype: np.dtype) -> None:
    """Each op on every (offset, length) within two words gives numpy's result on exactly the
    run's elements, the others untouched; the fetched values are the old ones."""
    rng = np.random.default_rng(7)
    lanes = 8 // dtype.itemsize
    for op, f in OPS.items():
        if op in BITWISE and dtype.kind == "f":
            continue
        for first in range(lanes + 1):
            for n in sorted({0, 1, lanes - 1, lanes, lanes + 1, 2 * lanes + 1}):
                base = rng.integers(-3, 9, 4 * lanes).astype(dtype)
                src = rng.integers(-3, 9, n).astype(dtype)
                target, res = base.copy(), np.full(n, 99, dtype)
                assert _run(dtype, target, first, src, op, res) == 1
                want = base.copy()
                with np.errstate(over="ignore"):
                    want[first:first + n] = f(src, base[first:first + n]).astype(dtype)
                assert want.tobytes() == target.tobytes(), (op, first, n, target, want)
                assert res.tobytes() == base[first:first + n].tobytes()


@pytest.mark.parametrize("width", [1, 2, 4, 8])
def test_atomic_cas(width: int) -> None:
    """Compare-and-swap swaps only on equal bits and always returns the old value; neighbours in
    the word are kept."""
    dtype = np.dtype(f"u{width}")
    entry = K.atomic_cas_entry(width)
    for k in range(8 // width):
        target = np.arange(1, 8 // width + 1, dtype=dtype)
        before = target.copy()
        origin, result = np.array([42], dtype), np.zeros(1, dtype)
        for compare, swapped in ((target[k] + 1, False), (target[k], True)):
            cmp = np.array([compare], dtype)
            block = K.block(0, 0, target.ctypes.data + k * width, origin.ctypes.data, result.ctypes.data,
                            cmp.ctypes.data)
            entry(int(block.ctypes.data))
            want = before.copy()
            if swapped:
                want[k] = 42
            assert result[0] == before[k] and target.tolist() == want.tolist()


def _hammer(addr: int, rounds: int, dtype: np.dtype, n: int) -> None:
    """rounds lock-free SUMs of 1 to n elements at addr, then a CAS increment of the word after."""
    src = np.ones(n, dtype)
    entry = K.atomic_entry(dtype)
    block = K.block(0, 0, addr, src.ctypes.data, n=n, op=K.ACC_SUM)
    b = int(block.ctypes.data)
    for _ in range(rounds):
        entry(b)
    cas = K.atomic_cas_entry(8)
    word = addr + 64
    old, new, seen = np.zeros(1, np.uint64), np.zeros(1, np.uint64), np.zeros(1, np.uint64)
    fetch = K.block(0, 0, word, old.ctypes.data, old.ctypes.data, n=1, op=K.ACC_NO_OP)
    swap = K.block(0, 0, word, new.ctypes.data, seen.ctypes.data, old.ctypes.data)
    K.atomic_entry(np.dtype("u8"))(int(fetch.ctypes.data))
    for _ in range(rounds):
        while True:
            new[0] = old[0] + 1
            cas(int(swap.ctypes.data))
            if seen[0] == old[0]:
                break
            old[0] = seen[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("dtype, n", [(np.dtype("u1"), 8), (np.dtype("f8"), 2), (np.dtype("i4"), 3)], ids=str)
def test_two_processes_lose_no_update(dtype: np.dtype, n: int) -> None:
    """Two processes add 1 to the same elements ROUNDS times each, as fast as they can, and
    CAS-increment a shared counter: every element ends at exactly 2 * ROUNDS (mod 256 for bytes)."""
    rounds = 20000
    mem = mmap.mmap(-1, 4096, flags=mmap.MAP_SHARED)
    view = np.frombuffer(mem, np.uint8)
    addr = int(view.ctypes.data)
    _hammer(addr, 0, dtype, n)  # compile before forking
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            _hammer(addr, rounds, dtype, n)
            code = 0
        finally:
            os._exit(code)
    _hammer(addr, rounds, dtype, n)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    got = view[:n * dtype.itemsize].view(dtype)
    assert (got == np.array(2 * rounds).astype(dtype)).all(), got
    assert view[64:72].view(np.uint64)[0] == 2 * rounds
    del view, got
    mem.close()


def test_get_accumulate_no_op_ignores_the_origin() -> None:
    """NO_OP reads the target only: an origin of another size and type is not looked at (it
    was converted to the target's type on the lock-free path, and 3 bytes are no float64)."""
    from toro_mpi import MPI

    win = MPI.Win.Allocate(64, 8, comm=MPI.COMM_SELF)
    try:
        win.Lock(0)
        np.frombuffer(win.tomemory(), np.float64)[:] = 2.5
        res = np.zeros(1)
        win.Get_accumulate(np.zeros(3, "b"), res, 0, op=MPI.NO_OP)
        win.Unlock(0)
        assert res[0] == 2.5
    finally:
        win.Free()
