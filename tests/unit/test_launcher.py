"""The launcher's pure helpers: exit statuses, the timeout report's slot descriptions, -x specs.
The launcher run as a user runs it: tests/test_launcher.py."""

from __future__ import annotations

import pytest

from toro_mpi.bus import layout as L
from toro_mpi.launcher.environ import parse_exports
from toro_mpi.launcher.report import SlotView, describe_slot, exit_status, timeout_report


# -- pure helpers ---------------------------------------------------------------------------
def test_report_words() -> None:
    """Exit statuses and slot descriptions read as in the documentation."""
    assert exit_status(-9) == 137 and exit_status(3) == 3
    blocked = SlotView(0, None, L.RANK_ATTACHED, L.CALL_CODES["Send"], 2, L.ANY)
    assert describe_slot(blocked) == "rank 0 blocked in Send(dest=2, tag=ANY_TAG)"
    wait = SlotView(1, None, L.RANK_ATTACHED, L.CALL_CODES["Wait"], -2, 7)
    assert describe_slot(wait) == "rank 1 blocked in Wait(tag=7)"
    assert describe_slot(SlotView(2, 0, L.RANK_FINISHED, 0, 0, 0)) == "rank 2 exited with code 0"
    assert describe_slot(SlotView(3, None, L.RANK_ABSENT, 0, 0, 0)).startswith("rank 3 running")
    assert timeout_report(2, [blocked]).startswith("timeout after 2.0 s; rank 0 blocked in Send")
    # The slot's call is current only while the process is idle: a busy rank may have left it.
    idle = SlotView(4, None, L.RANK_ATTACHED, L.CALL_CODES["Recv"], 0, 2, idle=True)
    assert describe_slot(idle) == "rank 4 blocked in Recv(source=0, tag=2)"
    busy = SlotView(4, None, L.RANK_ATTACHED, L.CALL_CODES["Recv"], 0, 2, idle=False)
    assert describe_slot(busy) == "rank 4 running (last blocked in Recv(source=0, tag=2))"


def test_parse_exports() -> None:
    """-x specs resolve against the launcher's environment; launcher-owned names are refused."""
    exports, unset = parse_exports(["A=1", "B", "C"], {"B": "b"})
    assert exports == {"A": "1", "B": "b"} and unset == ["C"]
    with pytest.raises(ValueError, match="TORO_MPI_RANK"):
        parse_exports(["TORO_MPI_RANK=3"], {})


def test_process_state_and_running_ranks_hold_a_deadlock_verdict() -> None:
    """A rank process that runs (state R: inside a long look, or waiting for a core) holds off
    the deadlock verdict; one that sleeps does not; a process that is gone has no state."""
    import subprocess
    import sys
    import time
    from types import SimpleNamespace

    from toro_mpi.launcher.job import Job, process_state

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        assert process_state(sleeper.pid) == "S"
        assert process_state(spinner.pid) == "R"
        job = Job.__new__(Job)
        job.ranks = [SimpleNamespace(pid=sleeper.pid)]
        assert not job._any_running()
        job.ranks.append(SimpleNamespace(pid=spinner.pid))
        assert job._any_running()
    finally:
        for proc in (sleeper, spinner):
            proc.kill()
            proc.wait()
    assert process_state(spinner.pid) is None
