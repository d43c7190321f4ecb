"""Accumulates are atomic per element (issue #22), differential: tests/programs/rma_atomic_mix.py
(concurrent Accumulate SUM on the same int64, float64 and uint8 elements; one counter driven by
Accumulate, Fetch_and_op, Get_accumulate and a Compare_and_swap loop at once; hot and general
paths and a derived target type on the same int32 elements; misaligned int64 elements) under
mpiexec + mpi4py and under toro-mpirun: every rank prints the same final values, each of which
the program also checks against its exact expectation (a lost update prints False).

The lock-free kernels themselves are unit-tested in tests/unit/test_rma_atomic.py."""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_same_as_reference, ref_available, ref_cached, run_toro

_why_not = ref_available()
needs_ref = pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}")
pytestmark = pytest.mark.usefixtures("shm_clean")

ROUNDS = "300"


@needs_ref
@pytest.mark.timeout(240)
def test_atomic_mix_2_ranks() -> None:
    """2 ranks: the same final values as mpi4py + Open MPI, every check True."""
    ref = ref_cached("rma_atomic_mix", 2, ROUNDS, timeout=120)
    toro = run_toro("rma_atomic_mix", 2, ROUNDS, timeout=150)
    assert_same_as_reference(toro, ref, 2, sort_lines=True)
    assert " False" not in toro.out


@needs_ref
@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("launcher", [(), HOSTED], ids=["processes", "hosted"])
def test_atomic_mix_4_ranks(launcher: tuple[str, ...]) -> None:
    """4 ranks, one process each or two green-thread ranks per process."""
    ref = ref_cached("rma_atomic_mix", 4, ROUNDS, timeout=180)
    toro = run_toro("rma_atomic_mix", 4, ROUNDS, timeout=200, launcher=launcher)
    assert_same_as_reference(toro, ref, 4, sort_lines=True)
    assert " False" not in toro.out
