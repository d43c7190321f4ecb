"""The collectives' hot paths (a repeated call site runs its remembered plan; a Barrier becomes
the jitted call itself): results equal the reference's through every way a hot call can stop
for Python, and a rank failing between hot barriers still ends the job."""

from __future__ import annotations

import re

import pytest
from helpers import assert_ok, ref_available, run_ref, run_toro

pytestmark = pytest.mark.usefixtures("shm_clean")

PER_RANK = ("--process-per-rank",)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("n, args, launcher", [
    (2, ("foreign", "expect-hot"), ()),           # one process per rank: the jitted Barrier
    (3, ("foreign", "expect-hot"), PER_RANK),     # more ranks than cores, still one process each
    (4, (), ()),                                  # green-thread ranks, 2 per process
    (8, (), ()),                                  # 4 per process: their local groups' hot records
])
def test_hot_paths_match_reference(n: int, args: tuple[str, ...], launcher: tuple[str, ...]) -> None:
    """Repeated calls, a late peer, another communicator's message first in the queue, a dtype
    reassigned in place, a kept Barrier and a hot Bcast of a freed communicator (ERR_COMM): the same lines as
    mpi4py + Open MPI."""
    got = assert_ok(run_toro("hot_paths", n, *args, timeout=120, launcher=launcher), n)
    assert all("repeated wrong 0" in lines for lines in got.values()), got
    why_not = ref_available()
    if why_not is not None:
        pytest.skip(f"toro_mpi ran; no reference MPI to compare with: {why_not}")
    want = assert_ok(run_ref("hot_paths", n, *(a for a in args if a != "expect-hot"), timeout=60), n)
    for rank in range(n):
        assert sorted(got[rank]) == sorted(want[rank]), f"rank {rank}: toro {got[rank]} vs reference {want[rank]}"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("n, launcher", [(2, ()), (3, ()), (3, PER_RANK)])
def test_rank_failing_between_hot_barriers_ends_the_job(n: int, launcher: tuple[str, ...]) -> None:
    """Rank 1 raises after 300 hot barriers; the others are blocked in (or about to call) a hot
    Barrier: the job ends with rank 1's status and traceback, none reaches the end of its loop."""
    run = run_toro("hot_paths", n, "fault", timeout=45, launcher=launcher)
    assert run.rc == 1, run.explain()
    assert re.search(r"\brank 1\b", run.err) and "rank 1 fails between hot barriers" in run.err, run.explain()
    assert "must not" not in run.out, run.explain()


@pytest.mark.timeout(60)
def test_barrier_against_another_collective_is_an_error() -> None:
    """A barrier's signals name no call: rank 0 in Barrier while rank 1 is in Bcast (its message
    already queued) must still be told of the mismatch instead of waiting forever."""
    run = run_toro("hot_paths", 2, "mismatch", timeout=45)
    lines = assert_ok(run, 2)[0]
    want = ("mismatch MPI_ERR_OTHER: collective mismatch on this communicator: "
            "rank 1 called Bcast while this rank called Barrier")
    assert want in lines, run.explain()
