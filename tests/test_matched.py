"""Matched probes (MPI.Message) beyond the differential program tests/programs/matched.py (run
by test_differential.py): green threads of one rank, and the launcher's deadlock report for
ranks that went out of step with a message left in a queue."""

from __future__ import annotations

import pytest
from helpers import assert_ok, run_toro

pytestmark = pytest.mark.usefixtures("shm_clean")


@pytest.mark.timeout(120)
def test_matched_message_is_not_taken_by_another_green_thread() -> None:
    run = run_toro("matched_green", 2, timeout=100)
    ranks = assert_ok(run, 2)
    assert "prober got tag 1 receiver got tag 2" in ranks[0], run.explain()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2])
def test_out_of_step_ranks_are_a_deadlock(n: int) -> None:
    """The launcher ends the job as a deadlock at once, naming each rank's Recv, though the
    collective queue to rank 1 still holds rank 0's Gather data."""
    run = run_toro("mismatch", n, timeout=100)
    assert run.rc == 111, run.explain()
    assert "deadlock: every rank is blocked" in run.err, run.explain()
    assert "rank 0 blocked in Recv" in run.err and "rank 1 blocked in Recv" in run.err, run.explain()
    assert "never" not in run.out, run.explain()
