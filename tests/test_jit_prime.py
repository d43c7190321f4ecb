"""toro_mpi.jit: the first fallback that waits compiles and loads nothing (tests/programs/jit_prime.py).

Before the fix, a handle's first fallback of an element type compiled numba's objmode block and
loaded the engine's kernels there, inside the caller's loop: 0.05-0.5 s that the peer waited out
too (the jitted Jacobi's "slow mode", issue #20)."""

from __future__ import annotations

from helpers import assert_ok, run_toro


def test_first_waiting_fallback_compiles_nothing() -> None:
    lines = assert_ok(run_toro("jit_prime", 2, timeout=180), 2)
    assert "send primed True" in lines[0], lines[0]
    assert "first [0.0, 1.0, 2.0] fallbacks 0" in lines[1], lines[1]  # the prime is no fallback
    assert "receive primed True kernels True" in lines[1], lines[1]
    assert "second [1.0, 2.0, 3.0] fallbacks 1 compiled or loaded 0" in lines[1], lines[1]
