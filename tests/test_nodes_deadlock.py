"""The deadlock report across simulated nodes (`toro-mpirun --nodes K`, exit 111).

A deadlock needs every node quiet and the network's sent and received counts equal: ranks of
both nodes blocked on each other are reported, with what each waits for; a job whose rank
computes for seconds while the others wait on it is not.
"""

from __future__ import annotations

import pytest
from helpers import assert_ok
from test_nodes import run_nodes

from toro_mpi.launcher import netwatch
from toro_mpi.net import board

_EXIT_DEADLOCK = 111


def test_board_layouts_agree() -> None:
    """The launcher keeps its own copy of the board's row layout (it may not import net/)."""
    names = ("WORDS", "STATE", "IDLE", "CALL", "PEER", "TAG", "SENT", "RECEIVED", "PID", "FLIGHT", "ATTACHED",
             "FINISHED", "ENV")
    assert {n: getattr(netwatch, n) for n in names} == {n: getattr(board, n) for n in names}


def test_cross_node_deadlock_reported() -> None:
    """Rank 0 (node 0) and rank 2 (node 1) Recv from each other, ranks 1 and 3 wait in Barrier."""
    run = run_nodes("nodes_deadlock.py", 4, 2, "dead", timeout=90)
    assert run.rc == _EXIT_DEADLOCK, run.explain()
    report = [line for line in run.err.splitlines() if "deadlock:" in line]
    assert report, run.explain()
    for part in ("rank 0 blocked in Recv(source=2, tag=3)", "rank 2 blocked in Recv(source=0, tag=3)",
                 "rank 1 blocked in Barrier", "rank 3 blocked in Barrier"):
        assert part in report[0], run.explain()
    assert "timeout" not in run.err, run.explain()


@pytest.mark.parametrize("seconds", [3])
def test_slow_live_job_not_reported(seconds: int) -> None:
    """Rank 0 computes without calling MPI while the others (both nodes) wait in Recv on it."""
    run = run_nodes("nodes_deadlock.py", 4, 2, "slow", seconds, timeout=90)
    assert "deadlock" not in run.err, run.explain()
    assert_ok(run, 4)
