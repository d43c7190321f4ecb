"""Process topologies and neighbourhood collectives, as jobs: the same programs under toro-mpirun
and under mpiexec + mpi4py must print the same lines (per rank, sorted): a 2-D Cartesian halo
exchange (tests/programs/halo2d.py), the neighbourhood collectives in every form on Cartesian,
graph and distributed graph layouts (neighbors.py), and Compute_dims results with the errors of
bad topology and neighbourhood arguments (topo_errors.py). A neighbour that dies ends the job
instead of leaving the others waiting (neighbor_dies.py), and a nonblocking neighbourhood
collective moves its data while a rank stays outside MPI (neighbor_progress.py). The pure logic has its unit tests in
tests/unit/test_topology.py.
"""

from __future__ import annotations

import pytest
from helpers import assert_ok, assert_same_as_reference, ref_available, ref_cached, run_toro, toro_cached

_why_not = ref_available()



CASES = [
    ("halo2d", 1, ()), ("halo2d", 2, ()), ("halo2d", 3, ()), ("halo2d", 4, ()),
    ("neighbors", 1, ()), ("neighbors", 2, ()), ("neighbors", 3, ()), ("neighbors", 4, ()),
    ("topo_errors", 1, ()), ("topo_errors", 2, ()), ("topo_errors", 3, ()),
]


@pytest.mark.usefixtures("shm_clean")
@pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}")
@pytest.mark.timeout(240)
@pytest.mark.parametrize("prog, n, args", CASES, ids=[f"{p}-n{n}" for p, n, _ in CASES])
def test_same_output_as_mpi4py(prog: str, n: int, args: tuple) -> None:
    ref = ref_cached(prog, n, *args, timeout=90)
    toro = toro_cached(prog, n, *args, timeout=120)
    assert_same_as_reference(toro, ref, n, sort_lines=True)


@pytest.mark.usefixtures("shm_clean")
@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["blocking", "nonblocking"])
def test_dead_neighbour_ends_the_job(mode: str) -> None:
    run = run_toro("neighbor_dies", 3, mode, timeout=90)
    assert run.rc != 0, f"the job succeeded without rank 1{run.explain()}"
    assert "rank 1" in run.err and "exited with code 3" in run.err, f"the failure is not rank 1's exit{run.explain()}"
    assert "not reached" not in run.out
    assert "timeout" not in run.err.lower(), f"the job ran into its timeout{run.explain()}"


@pytest.mark.usefixtures("shm_clean")
@pytest.mark.timeout(120)
@pytest.mark.parametrize("n, nbytes", [(2, 8), (3, 24576)])
def test_nonblocking_progress_without_a_rank_in_mpi(tmp_path, n: int, nbytes: int) -> None:
    """Blocks that fit the rings reach the neighbours while the sender stays out of MPI."""
    run = run_toro("neighbor_progress", n, str(tmp_path), str(nbytes), timeout=90,
                   launcher=("--process-per-rank",))
    ranks = assert_ok(run, n)
    assert "confirmed" in ranks[0], f"the others did not complete while rank 0 was outside MPI{run.explain()}"
    for r in range(n):
        assert "received True" in ranks[r], run.explain()
