"""One-sided communication (MPI.Win, issue #22): the programs of tests/programs/win_rma.py print
the same lines under toro_mpi as under mpi4py + Open MPI, with one process per rank and with
ranks hosted as green threads; a rank dying while the others wait in Fence ends the job with an
error instead of a hang; and no window memory is left in /dev/shm (run_toro checks every job for
leftovers carrying the launcher's pid, which window names carry).
"""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_same_as_reference, ref_available, ref_cached, run_toro, toro_cached

pytestmark = pytest.mark.usefixtures("shm_clean")

MODES = ["counter", "accumulate", "halo", "locking", "shared", "pscw", "errors", "dynamic"]




@pytest.mark.timeout(240)
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("mode", MODES)
def test_same_output_as_mpi4py(mode: str, n: int) -> None:
    """Fetch_and_op work counter (each task once), concurrent Accumulate to the same elements,
    Put + Fence halo, exclusive-lock read-modify-write, Allocate_shared array, post/start/
    complete/wait, bounds errors, dynamic windows: as mpi4py + Open MPI print them."""
    why = ref_available()
    if why:
        pytest.skip(why)
    ref = ref_cached("win_rma", n, mode, timeout=120)
    toro = toro_cached("win_rma", n, mode, timeout=150)
    assert_same_as_reference(toro, ref, n)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", MODES)
def test_hosted_same_output_as_mpi4py(mode: str) -> None:
    """The same with two ranks per process as green threads (waits yield to the scheduler)."""
    why = ref_available()
    if why:
        pytest.skip(why)
    ref = ref_cached("win_rma", 4, mode, timeout=120)
    toro = toro_cached("win_rma", 4, mode, timeout=150, launcher=HOSTED)
    assert_same_as_reference(toro, ref, 4)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("launcher", [(), HOSTED])
@pytest.mark.parametrize("mode", ["fence_fault", "create_fault"])
def test_rank_dying_is_an_error(mode: str, launcher: tuple[str, ...]) -> None:
    """Rank 1 exits while the others wait in Fence, or create a window: the job ends with its
    exit status, no rank gets past the call, and run_toro fails on a hang or on anything left
    in /dev/shm (the window's name carries the launcher's pid)."""
    run = run_toro("win_rma", 3, mode, timeout=90, launcher=launcher)
    assert run.rc == 7, run.explain()
    assert "fence passed a dead rank" not in run.out, run.explain()
    assert "without rank 1" not in run.out, run.explain()
