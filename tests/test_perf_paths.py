"""Correctness of the paths issue #20's performance work changed (never their timings).

- elementwise.reduce_into with three distinct arrays (the reduce root's fused pass, _apart),
  every operator and dtype, against numpy, in process;
- loading a cached kernel the light way (bus.compiling.load_cached: no numba target refresh),
  in a fresh interpreter: the kernel works and numba's full lowering registry was not loaded;
- Reduce / Allreduce over 2 ranks for every operator and dtype at sizes below, at and across
  segments, against numpy; and the hot Barrier with numba hidden (its objmode stop is now
  warmed at first use), through the launcher.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import TORO_ENV, assert_ok, run_toro

from toro_mpi.coll import elementwise as E

OPS = {E.OP_SUM: np.add, E.OP_PROD: np.multiply, E.OP_MIN: np.minimum, E.OP_MAX: np.maximum,
       E.OP_LAND: np.logical_and, E.OP_LOR: np.logical_or, E.OP_LXOR: np.logical_xor,
       E.OP_BAND: np.bitwise_and, E.OP_BOR: np.bitwise_or, E.OP_BXOR: np.bitwise_xor}
NUMERIC = ("i1", "u1", "i2", "i4", "i8", "u8", "f4", "f8", "c8", "c16")


def _operands(dtype: np.dtype, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20)
    if dtype.kind == "b":
        return rng.integers(0, 2, n).astype(bool), rng.integers(0, 2, n).astype(bool)
    a = rng.integers(-50 if dtype.kind != "u" else 0, 50, n)
    b = rng.integers(-50 if dtype.kind != "u" else 0, 50, n)
    if dtype.kind == "c":
        return (a + 1j * b).astype(dtype), (b - 2j * a).astype(dtype)
    return a.astype(dtype), b.astype(dtype)


def _applies(code: int, dtype: np.dtype) -> bool:
    if code in (E.OP_SUM, E.OP_PROD):
        return dtype.kind != "b"
    if code in (E.OP_MIN, E.OP_MAX):
        return dtype.kind in "iuf"
    if code in (E.OP_BAND, E.OP_BOR, E.OP_BXOR):
        return dtype.kind in "iub"
    return dtype.kind in "iub"  # logical


@pytest.mark.parametrize("code", sorted(OPS))
@pytest.mark.parametrize("n", [1, 33, 32736, 100003])
def test_reduce_into_three_arrays_matches_numpy(code: int, n: int) -> None:
    """out = a op b with out apart from a and b (and in place, both ways) equals numpy's."""
    for name in (*NUMERIC, "?"):
        dtype = np.dtype(name)
        if not _applies(code, dtype):
            continue
        a, b = _operands(dtype, n)
        want = OPS[code](a, b).astype(dtype)
        out = np.zeros(n, dtype)
        E.reduce_into(code, a, b, out)
        assert np.array_equal(out, want), (code, name, n)
        b2 = b.copy()
        E.reduce_into(code, a, b2, b2)
        assert np.array_equal(b2, want), (code, name, n, "in place b")
        a2 = a.copy()
        E.reduce_into(code, a2, b, a2)
        assert np.array_equal(a2, want), (code, name, n, "in place a")


@pytest.mark.timeout(120)
def test_light_cache_load_gives_working_kernels() -> None:
    """A fresh process loads warmed kernels without numba's full target refresh (no
    numba.np.linalg), and they run: a ring kernel, the collective interpreter (a local SUM)."""
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from toro_mpi import warm
        warm.warm_cache()
        from toro_mpi.bus import ring
        from toro_mpi.coll import engine
        from toro_mpi.coll.elementwise import OP_SUM
        fn = ring.entry_point(ring.rx_match, np.dtype(np.uint8))
        a = np.arange(10, dtype=np.int64)
        b = np.ones(10, dtype=np.int64)
        engine.local_reduce(OP_SUM, a, b)
        print("reduced", b.tolist())
        print("linalg", "numba.np.linalg" in sys.modules)
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=TORO_ENV, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr
    assert f"reduced {list(range(1, 11))}" in proc.stdout, proc.stdout
    assert "linalg False" in proc.stdout, proc.stdout


@pytest.mark.timeout(300)
def test_reductions_every_op_and_dtype_two_ranks() -> None:
    """Reduce at each root and Allreduce, 2 ranks, every operator/dtype pair, three sizes."""
    got = assert_ok(run_toro("perf_paths", 2, timeout=280), 2)
    for rank, lines in got.items():
        bad = [line for line in lines if not line.endswith(" good") and line != "ok"]
        assert not bad, f"rank {rank}: {bad[:5]}"
        # 52 operator/dtype cases (perf_paths.CASES) at 3 sizes each.
        assert sum(line.startswith("allreduce") for line in lines) == 52 * 3, lines[:3]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_hot_barrier_warms_with_numba_hidden(n: int) -> None:
    """Barriers with a late rank after numba was hidden: the hot Barrier's objmode stop, warmed
    at its first use, still works; then a reduction."""
    got = assert_ok(run_toro("perf_paths", n, "hide", timeout=110), n)
    for rank, lines in got.items():
        assert "barriers good numba hidden True" in lines, lines
        if rank == 0:
            assert "hidden reduce good" in lines, lines
