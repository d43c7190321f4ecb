"""Send / Recv / Isend / Irecv through their call-site records' blocks and windows of identical
posted receives sharing one table row (issue #20, small messages), under toro-mpirun and under
mpiexec + mpi4py: every rank prints the same lines (tests/programs/p2p_smallmsg.py).

The program interrupts each path every way it can end: ANY_TAG statuses, truncation, fragments,
a full ring, a buffer retyped in place, another tag's or a cancelled receive inside a window, a
window completed in parts and one longer than the table; and osu_bibw's two-way windows.
"""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_same_as_reference, differential_marks, ref_cached, toro_cached

pytestmark = differential_marks()

CASES = [
    pytest.param(2, (), id="n2"),
    pytest.param(3, HOSTED, id="n3-hosted", marks=pytest.mark.slow),
]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("n, launcher", CASES)
def test_small_message_paths_same_output_as_mpi4py(n: int, launcher: tuple) -> None:
    """Every scenario prints what mpi4py + Open MPI prints."""
    ref = ref_cached("p2p_smallmsg", n, timeout=90)
    toro = toro_cached("p2p_smallmsg", n, timeout=90, launcher=launcher)
    assert_same_as_reference(toro, ref, n)
