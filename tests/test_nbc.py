"""Nonblocking and persistent collectives, Alltoallw, Isendrecv, Idup, partitioned p2p
(toro_mpi/mpi/nonblocking.py, nonblocking_p2p.py, partitioned.py).

The differential program (tests/programs/nbc.py) must print under toro_mpi exactly what it
prints under mpi4py + Open MPI, at 1 to 4 ranks (4 ranks on this machine's cores run hosted as
green threads), and once more with one process per rank. The progress test is causal, not
timed: the root makes no MPI call until the others confirm (outside MPI) that they have the data.
"""

from __future__ import annotations

import pytest
from helpers import assert_ok, assert_same_as_reference, ref_available, ref_cached, run_toro, toro_cached

_why_not = ref_available()

CASES = [1, 2, 3, 4]


@pytest.mark.usefixtures("shm_clean")
@pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}")
@pytest.mark.timeout(300)
@pytest.mark.parametrize("n", CASES)
def test_nbc_same_output_as_mpi4py(n: int) -> None:
    ref = ref_cached("nbc", n, timeout=120)
    toro = toro_cached("nbc", n, timeout=120)
    assert_same_as_reference(toro, ref, n)


@pytest.mark.usefixtures("shm_clean")
@pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}")
@pytest.mark.timeout(300)
def test_nbc_process_per_rank_same_output() -> None:
    ref = ref_cached("nbc", 4, timeout=120)
    toro = toro_cached("nbc", 4, timeout=120, launcher=("--process-per-rank",))
    assert_same_as_reference(toro, ref, 4)


@pytest.mark.usefixtures("shm_clean")
@pytest.mark.timeout(120)
@pytest.mark.parametrize("n, nbytes", [(2, 8), (2, 1 << 20), (3, 4096)])
def test_progress_without_the_root_in_mpi(tmp_path, n: int, nbytes: int) -> None:
    """Data that fits the rings reaches every rank while the root stays out of MPI."""
    run = run_toro("nbc_progress", n, str(tmp_path), str(nbytes), timeout=90, launcher=("--process-per-rank",))
    ranks = assert_ok(run, n)
    assert "confirmed" in ranks[0], f"the others did not get the data while rank 0 was outside MPI{run.explain()}"
    for r in range(1, n):
        assert "received True" in ranks[r], run.explain()
    for r in range(n):
        assert f"sum {n * (n + 1) // 2}" in ranks[r], run.explain()


@pytest.mark.usefixtures("shm_clean")
@pytest.mark.timeout(120)
def test_dead_peer_ends_a_pending_collective() -> None:
    """A rank that exits while the others wait in an Iallreduce ends the job with its status:
    the launcher's abort reaches the waiting ranks' Wait (no hang, no --timeout)."""
    run = run_toro("nbc_dead_peer", 3, timeout=90)
    assert run.rc == 3, f"expected rank 1's exit status 3{run.explain()}"
