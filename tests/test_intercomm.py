"""Intercommunicators (toro_mpi/mpi/intercomm.py) against mpi4py + Open MPI: tests/programs/
intercomm.py splits COMM_WORLD in two halves, joins them with Create_intercomm (leaders first and
last of each half), and prints what point-to-point both ways, every collective with the root on
each side, the object collectives, Merge, Dup, Split, Create and bad arguments give; every rank
must print the same lines under both (sorted per rank). Also run with ranks hosted as green
threads (two ranks per process), and Create_from_groups, which the reference's mpi4py test
suite only runs at two ranks under Open MPI."""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_ok, assert_same_as_reference, ref_available, ref_cached, run_toro

_why_not = ref_available()
pytestmark = [
    pytest.mark.usefixtures("shm_clean"),
    pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}"),
]




@pytest.mark.timeout(300)
@pytest.mark.parametrize("n", [2, 3, 4])
def test_intercomm_same_as_mpi4py(n: int) -> None:
    """Every intercommunicator call prints what it prints under mpi4py + Open MPI."""
    ref = ref_cached("intercomm", n, timeout=120)
    toro = run_toro("intercomm", n, timeout=120)
    assert_same_as_reference(toro, ref, n)


@pytest.mark.timeout(300)
def test_intercomm_hosted_ranks() -> None:
    """The same with ranks hosted as green threads, two to a process (3 ranks: 1 + 2 across)."""
    ref = ref_cached("intercomm", 3, timeout=120)
    toro = run_toro("intercomm", 3, timeout=120, launcher=HOSTED)
    assert_same_as_reference(toro, ref, 3)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n, launcher", [(2, ()), (4, ()), (4, HOSTED)], ids=["n2", "n4", "n4-hosted"])
def test_create_from_groups(n: int, launcher: tuple[str, ...]) -> None:
    """Intercomm.Create_from_groups joins two halves without a parent communicator (also with
    ranks hosted as green threads, each with its own COMM_WORLD); its result is congruent with
    Create_intercomm's, and traffic across works."""
    run = run_toro("intercomm_groups", n, timeout=90, launcher=launcher)
    lines = assert_ok(run, n)
    half = n // 2
    for rank in range(n):
        remote = list(range(half, n)) if rank < half else list(range(half))
        mine = list(range(half)) if rank < half else list(range(half, n))
        for tag in ("first", "second"):
            assert f"{tag} congruent True" in lines[rank], run.explain()
            assert f"allgather {tag} {remote} {mine.index(rank)} {len(mine)} {len(remote)}" in lines[rank], \
                run.explain()
        assert "bad leader True" in lines[rank], run.explain()
