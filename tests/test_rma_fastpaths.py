"""The hot paths of one-sided calls (mpi/rma.py's records, the jitted accumulate-class kernels of
bus/rma_kernels.py, Flush's fast path): differential against mpi4py + Open MPI through
tests/programs/rma_fastpaths.py, with one process per rank and with ranks hosted as green
threads, and unit tests of the kernels on process-private memory.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from helpers import HOSTED, assert_ok, assert_same_as_reference, ref_available, ref_cached, toro_cached

from toro_mpi.bus import rma_kernels as K


def _differential(mode: str, n: int, launcher: tuple[str, ...] = ()) -> None:
    why = ref_available()
    if why:
        pytest.skip(why)
    ref = ref_cached("rma_fastpaths", n, mode, timeout=200)
    toro = toro_cached("rma_fastpaths", n, mode, timeout=250, launcher=launcher)
    assert_same_as_reference(toro, ref, n)


@pytest.mark.timeout(500)
@pytest.mark.parametrize("n", [1, 2, 4])
@pytest.mark.parametrize("mode", ["ops", "errors", "concurrent"])
def test_same_output_as_mpi4py(mode: str, n: int) -> None:
    """Every hot call kind, dtype, op and displacement on every kind of window, the errors after a
    call ran hot, and concurrent accumulates / tickets / a CAS lock: as mpi4py + Open MPI."""
    _differential(mode, n)


@pytest.mark.timeout(500)
@pytest.mark.parametrize("mode", ["ops", "concurrent"])
def test_hosted_same_output_as_mpi4py(mode: str) -> None:
    """The same with two ranks per process as green threads (records of peers in this process)."""
    _differential(mode, 4, HOSTED)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("n", [1, 2])
def test_bounds_on_allocate_windows(n: int) -> None:
    """On an Allocate window (Open MPI checks nothing there to compare with) every access past the
    end, at a negative displacement or to a bad rank raises after the same buffers ran hot, and
    Flush outside an epoch too; the window's memory ends as the reference's Win.Create window
    does after the same calls (nothing written past the end)."""
    why = ref_available()
    if why:
        pytest.skip(why)
    toro = assert_ok(toro_cached("rma_fastpaths", n, "bounds", timeout=250), n)
    ref = assert_ok(ref_cached("rma_fastpaths", n, "errors", timeout=200), n)
    for r in range(n):
        for what in ("put past end", "get past end", "acc past end", "get_acc past end",
                     "fop past end", "cas past end"):
            assert f"{what} out of range" in toro[r], (r, what, toro[r])
        for what in ("put negative", "get negative", "acc negative", "fop negative"):
            assert f"{what} ERR_DISP" in toro[r], (r, what, toro[r])
        flush = "ERR_RMA_SYNC" if n > 1 else "ERR_RANK"  # alone, the program flushes a bad rank
        for line in ("put bad rank ERR_RANK", "acc bad rank ERR_RANK", f"flush unlocked {flush}",
                     "put after free ERR_WIN"):
            assert line in toro[r], (r, line, toro[r])
        memory = [line for line in toro[r] if line.startswith("memory")]
        assert memory == [line for line in ref[r] if line.startswith("memory")], (memory, ref[r])


# -- kernels ------------------------------------------------------------------------------------
def _words() -> tuple[np.ndarray, int]:
    ctl = np.zeros(8, np.int64)
    return ctl, ctl.ctypes.data + 8  # the accumulate lock at word 1, its waiters at word 3


@pytest.mark.parametrize("dtype", ["u1", "i4", "i8", "f4", "f8"])
@pytest.mark.parametrize("op", [K.ACC_SUM, K.ACC_PROD, K.ACC_MIN, K.ACC_MAX, K.ACC_REPLACE, K.ACC_NO_OP])
def test_acc_and_get_acc_kernels(dtype: str, op: int) -> None:
    """acc_at / get_acc_at combine as numpy does (wrapping integers), release the lock, and
    report waiters; a busy lock leaves everything untouched."""
    ctl, lock = _words()
    rng = np.random.default_rng(1)
    src = rng.integers(0, 200, 7).astype(dtype)
    dst = rng.integers(0, 200, 7).astype(dtype)
    want = {K.ACC_SUM: src + dst, K.ACC_PROD: src * dst, K.ACC_MIN: np.minimum(src, dst),
            K.ACC_MAX: np.maximum(src, dst), K.ACC_REPLACE: src.copy(), K.ACC_NO_OP: dst.copy()}[op]
    before = dst.copy()
    acc_block = K.block(lock, 3, dst.ctypes.data, src.ctypes.data, n=dst.size, op=op, spins=10)
    acc = partial(K.acc_entry(np.dtype(dtype)), acc_block.ctypes.data)
    assert acc() == 1
    np.testing.assert_array_equal(dst, want)
    assert ctl[1] == 0
    res = np.zeros_like(dst)
    dst[:] = before
    ctl[3] = 1  # a waiter: the release says to ring
    get_block = K.block(lock, 3, dst.ctypes.data, src.ctypes.data, res.ctypes.data, n=dst.size, op=op, spins=10)
    get_acc = partial(K.get_acc_entry(np.dtype(dtype)), get_block.ctypes.data)
    assert get_acc() == 2
    np.testing.assert_array_equal(res, before)
    np.testing.assert_array_equal(dst, want)
    ctl[1] = 9  # held by someone else
    snapshot = dst.copy()
    acc_block[K.B_SPINS] = get_block[K.B_SPINS] = 4
    assert acc() == 0
    assert get_acc() == 0
    np.testing.assert_array_equal(dst, snapshot)
    assert ctl[1] == 9


@pytest.mark.parametrize("dtype", ["u1", "i4", "i8", "f4", "f8"])
def test_cas_kernel_compares_bits(dtype: str) -> None:
    """cas_at swaps only on equal bit patterns (so -0.0 is not 0.0), returning the old value."""
    ctl, lock = _words()
    dt = np.dtype(dtype)
    dst, src, cmp, res = (np.array([v], dt) for v in (5, 7, 5, 0))
    block = K.block(lock, 1, dst.ctypes.data, src.ctypes.data, res.ctypes.data, cmp.ctypes.data, spins=10)
    cas = partial(K.cas_entry(dt.itemsize), block.ctypes.data)
    assert cas() == 1
    assert dst[0] == 7 and res[0] == 5 and ctl[1] == 0
    assert cas() == 1
    assert dst[0] == 7 and res[0] == 7
    if dt.kind == "f":
        dst[0], cmp[0] = -0.0, 0.0
        cas()
        assert np.signbit(dst[0]) and dst[0] == 0


def test_acc_waiters_word_matches_the_control_block() -> None:
    """rma_kernels.ACC_WAITERS is the control block's W_ACC_WAITERS word, seen from W_ACC."""
    from toro_mpi.mpi.window import W_ACC, W_ACC_WAITERS, W_HEAD

    assert W_ACC * 8 + K.ACC_WAITERS == W_ACC_WAITERS * 8
    assert W_ACC_WAITERS < W_HEAD


def test_vm_run_copies_like_vm_copy_and_reports_failures() -> None:
    """peer_memory.VmRun (the jitted process_vm_readv/writev of the Create-window records) moves
    the bytes both ways, again on every call, and a failing call raises vm_copy's PeerMemoryError."""
    import os

    from toro_mpi.bus.peer_memory import PeerMemoryError, VmRun, vm_access_supported

    if not vm_access_supported():
        pytest.skip("process_vm_readv/writev are not permitted here")
    far = np.arange(100, dtype=np.uint8)
    near = np.zeros(37, np.uint8)
    read = VmRun(os.getpid(), far.ctypes.data + 5, near.ctypes.data, near.nbytes, False)
    read()
    np.testing.assert_array_equal(near, far[5:42])
    far[5:42] = 200
    read()
    np.testing.assert_array_equal(near, far[5:42])
    near[:] = np.arange(37)
    VmRun(os.getpid(), far.ctypes.data + 60, near.ctypes.data, near.nbytes, True)()
    np.testing.assert_array_equal(far[60:97], np.arange(37))
    assert far[59] == 59 and far[97] == 97
    with pytest.raises(PeerMemoryError):
        VmRun(os.getpid(), 8, near.ctypes.data, near.nbytes, False)()
