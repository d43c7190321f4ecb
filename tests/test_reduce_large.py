"""Reduce from 4 KiB up, where the root combines its children's segments in their ring buffers
(bus/held.py), against the reference (mpi4py + Open MPI under mpiexec), and its fallbacks.

tests/programs/reduce_large.py prints a digest of every result: every predefined operator on
every dtype it applies to, MAXLOC/MINLOC on the pair types, sizes around the hold threshold and
over several segments, two roots, IN_PLACE, recvbuf None away from the root, a repeated call
site. The data are small integers, so every result is exact in any order: the lines must be
identical. The toro_mpi-only cases: segments that arrive while the root runs another
communicator's reduce (set aside, then combined from scratch, not held), and counts that differ
between ranks (ERR_TRUNCATE at the root, no hang). No timing is asserted.
"""

from __future__ import annotations

import pytest
from helpers import assert_ok, compare, ref_available, run_ref, run_toro

_why_not = ref_available()
pytestmark = pytest.mark.usefixtures("warm_reductions", "shm_clean")

# (ranks, launcher flags): 2 processes; 4 ranks as green threads two to a process (the default
# with more ranks than cores here); 4 processes (slow tier).
CASES = [pytest.param(2, (), id="n2"), pytest.param(4, (), id="n4-hosted"),
         pytest.param(4, ("--process-per-rank",), id="n4-processes", marks=pytest.mark.slow)]


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("n", "launcher"), CASES)
def test_reduce_large_matches_reference(n: int, launcher: tuple[str, ...]) -> None:
    toro = run_toro("reduce_large", n, timeout=420, launcher=launcher)
    got = assert_ok(toro, n)
    if _why_not is not None:
        pytest.skip(f"toro_mpi ran; no reference MPI to compare with: {_why_not}")
    ref = run_ref("reduce_large", n, timeout=180)
    want = assert_ok(ref, n)
    problems = compare(want, got, n)
    assert not problems, "toro_mpi differs from the reference:\n" + "\n".join(problems) + toro.explain()


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("n", "launcher"), [pytest.param(2, (), id="n2"), pytest.param(
    4, ("--process-per-rank",), id="n4-processes", marks=pytest.mark.slow)])
def test_reduce_large_fallbacks(n: int, launcher: tuple[str, ...]) -> None:
    """Segments set aside for another communicator's reduce, then combined from scratch; a count
    mismatch between ranks raises ERR_TRUNCATE at the root and lets the others finish. (Ranks
    hosted together reduce in two levels, hosted.py, which holds nothing: not run here.)"""
    run = run_toro("reduce_large", n, "interleaved", "mismatch", timeout=240, launcher=launcher)
    ranks = assert_ok(run, n)
    assert "interleaved a True b True" in ranks[0], run.explain()
    assert all("interleaved sent" in ranks[r] for r in range(1, n)), run.explain()
    assert "mismatch ERR_TRUNCATE" in ranks[0], run.explain()
    assert all("mismatch no error" in ranks[r] for r in range(1, n)), run.explain()


@pytest.mark.timeout(300)
def test_a_failed_reduce_hands_back_what_it_held() -> None:
    """The root holds rank 1's segment in its ring when rank 2's (longer) raises ERR_TRUNCATE:
    the failed Reduce must release it, or the next Reduce on that communicator combines rank 1's
    old segment (found in review: 204 instead of 6)."""
    run = run_toro("reduce_large", 3, "held_error", timeout=240, launcher=("--oversubscribe", "--process-per-rank"))
    ranks = assert_ok(run, 3)
    assert "held error ERR_TRUNCATE" in ranks[0] and "held error then right" in ranks[0], run.explain()
    assert all("held error no error" in ranks[r] for r in (1, 2)), run.explain()
