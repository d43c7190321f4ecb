"""Receives posted in windows and matched in runs by address (mpi/posted_run.py), and Waitall's
inline completion (mpi/request.py), under toro-mpirun and under mpiexec + mpi4py: every rank
prints the same lines (tests/programs/p2p_engine.py).

The program interrupts a run every way it can end: a message the general path must finish
(synchronous, beyond one ring buffer, truncated), another tag at the queue head, an ANY_SOURCE
receive and a cancelled one among the posted, receives posted after part of the window came;
both ranks sending and receiving at once (osu_bibw); windows from several sources; Waitall,
Waitany, Waitsome and Testall over born-complete, posted, persistent, copied and collective
requests. Once with one process per rank, once with ranks hosted as green threads.
"""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_same_as_reference, differential_marks, ref_cached, toro_cached

pytestmark = differential_marks()

CASES = [
    pytest.param(2, (), id="n2"),
    pytest.param(4, HOSTED, id="n4-hosted", marks=pytest.mark.slow),
    pytest.param(4, (), id="n4", marks=pytest.mark.slow),
]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("n, launcher", CASES)
def test_posted_runs_same_output_as_mpi4py(n: int, launcher: tuple) -> None:
    """Every posted-window scenario prints what mpi4py + Open MPI prints."""
    ref = ref_cached("p2p_engine", n, timeout=90)
    toro = toro_cached("p2p_engine", n, timeout=90, launcher=launcher)
    assert_same_as_reference(toro, ref, n)
