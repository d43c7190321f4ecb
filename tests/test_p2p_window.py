"""Windows of Isend / Irecv (osu_bw's pattern) under toro-mpirun and under mpiexec + mpi4py: every
rank prints the same lines (tests/programs/p2p_window.py).

The program reaches each way a small receive can complete: taken from the queue head by Irecv
itself (messages in before the receive is posted: a request complete from birth), matched later
by progress (posted first), matched ahead of an Irecv by what has arrived for the receives
posted before it, reordered tags (no match at the head), ANY_TAG and ANY_SOURCE, synchronous,
fragmented and truncated messages, Cancel, Get_status, request copies, Waitall with and without
statuses, Waitany and Testall; once with one process per rank, once with ranks hosted as green
threads.
"""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_same_as_reference, differential_marks, ref_cached, toro_cached

pytestmark = differential_marks()

CASES = [
    pytest.param(2, (), id="n2"),
    pytest.param(4, HOSTED, id="n4-hosted"),
    pytest.param(3, (), id="n3", marks=pytest.mark.slow),
]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("n, launcher", CASES)
def test_windows_same_output_as_mpi4py(n: int, launcher: tuple) -> None:
    """Every window scenario prints what mpi4py + Open MPI prints."""
    ref = ref_cached("p2p_window", n, timeout=90)
    toro = toro_cached("p2p_window", n, timeout=90, launcher=launcher)
    assert_same_as_reference(toro, ref, n)
