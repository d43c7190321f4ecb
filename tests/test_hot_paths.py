"""The collectives' hot paths (a repeated call site runs its remembered plan; a Barrier becomes
the jitted call itself): results equal the reference's through every way a hot call can stop
for Python, and a rank failing between hot barriers still ends the job."""

from __future__ import annotations

import re

import pytest
from conftest import assert_ok, ref_available, run_ref, run_toro

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


def test_a_signal_that_came_with_the_next_call_is_no_mismatch() -> None:
    """The barrier's mismatch check peeks at the peer's queue: a message of another collective
    there means the peer is in another call, unless the signal this barrier waits for came in
    too (the peer finished this barrier and went on since the last poll). In one process, on a
    private segment: rank 0 queues a Bcast message with and without its signal before it."""
    from types import SimpleNamespace

    import numpy as np

    from toro_mpi.bus import layout as L
    from toro_mpi.bus import ring
    from toro_mpi.bus.segment import Segment
    from toro_mpi.coll import interpreter as I
    from toro_mpi.coll import schedules as S
    from toro_mpi.coll.engine import KIND_TAG, CollEngine
    from toro_mpi.errors import MPIException

    seg = Segment.create(2, 8, 256)
    try:
        to_1 = seg.handle(0, 1, L.COLL_PLANE)
        t1 = SimpleNamespace(coll_tx_handles=[seg.handle(1, 0, L.COLL_PLANE), 0], coll_rx_handles=[to_1, 0])
        engine = CollEngine(t1, 1, None, 1)
        ctx = 5
        plan = engine.make_plan("Barrier", S.barrier(2, 1), [0, 1], ctx, 0)
        plan.itemsize = 1
        empty = np.zeros(0, np.uint8)
        # Rank 1 enters the barrier: posts its signal, waits for rank 0's.
        assert engine.entry(empty.dtype)(plan.words, empty, empty, empty) == I.BLOCKED
        assert ring.tx_send(to_1, KIND_TAG["Bcast"], ctx, np.zeros(4, np.uint8)) == 4
        with pytest.raises(MPIException, match="rank 0 called Bcast while this rank called Barrier"):
            engine._check_signal_peers(plan)
        ring.tx_signal(to_1)
        engine._check_signal_peers(plan)  # the signal is in: the barrier completes at its next poll
        assert ring.rx_signal(to_1) == 1
        with pytest.raises(MPIException, match="called Bcast"):
            engine._check_signal_peers(plan)
    finally:
        seg.unlink()
        seg.close()
