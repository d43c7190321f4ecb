"""The doorbell: an idle process sleeps on a futex in its slot, and a peer that publishes a queue
index to it rings it (layout: SLOT_BELL, SLOT_SLEEPING): idle ranks through the launcher in both
modes. Unit tests on a private segment: tests/unit/test_doorbell.py."""

from __future__ import annotations

import pytest
from helpers import assert_ok, run_toro

from toro_mpi.bus.futex import SYS_FUTEX

pytestmark = pytest.mark.skipif(not SYS_FUTEX, reason="not Linux on x86-64 or aarch64: no doorbells")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n, mode", [(2, ()), (4, ()), (3, ("--process-per-rank",))],
                         ids=["per-rank-2", "green-4", "per-rank-3"])
def test_an_idle_receiver_sleeps_and_is_rung(n: int, mode: tuple[str, ...]) -> None:
    """Rank 0 sends after 0.6 s: the receiver (one process per rank, or green threads sharing a
    process) spins about 3 ms, then sleeps on its doorbell until the send rings it.

    The check is causal: the doorbell word moved, which a sender does only for a process whose
    sleeping flag is set, so the receiver was asleep when the message came. The share of a core it
    used meanwhile is printed, not asserted (it depends on the machine's load)."""
    run = run_toro("idle_wake", n, "0.6", timeout=90, launcher=mode)
    ranks = assert_ok(run, n)
    lines = ranks[n - 1]
    share = float(next(line for line in lines if line.startswith("cpu-share")).split()[1])
    rung = int(next(line for line in lines if line.startswith("rung")).split()[1])
    print(f"receiver's cpu share while idle: {share:.3f} (spinning all along would be ~1.0)")
    assert rung >= 1, f"the receiver's doorbell was never rung: it never slept{run.explain()}"
