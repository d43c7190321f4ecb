"""The barrier's mismatch check on a private segment, in one process. The collectives' hot paths
in jobs: tests/test_hot_paths.py."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.usefixtures("shm_clean")


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
