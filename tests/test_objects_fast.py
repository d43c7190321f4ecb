"""Object send/recv against mpi4py + Open MPI (tests/programs/objects_fast.py): a plain pickle is
sent as one message and received whole from its source's ring head (Engine.take_frame), and
everything around that path (out-of-band buffers, a head of another tag, wildcards, ssend,
pickles as buffers, PROC_NULL, bad arguments) gives mpi4py's results, at 2 and 3 ranks, with a
process per rank and as green threads."""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_same_as_reference, differential_marks, ref_cached, toro_cached

pytestmark = differential_marks()


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("n", "launcher"), [(2, ()), (3, ("--process-per-rank", "--oversubscribe")), (2, HOSTED)],
                         ids=["n2", "n3-processes", "n2-hosted"])
def test_object_calls_same_output_as_mpi4py(n: int, launcher: tuple[str, ...]) -> None:
    ref = ref_cached("objects_fast", n, timeout=120)
    toro = toro_cached("objects_fast", n, timeout=180, launcher=launcher)
    assert_same_as_reference(toro, ref, n)
