"""Buffers from DLPack-only arrays, and the Python exceptions bad buffer arguments raise.

In-process (no job): tests/unit/test_buffer_errors.py.

Here, against the reference (2 ranks under toro-mpirun and under mpiexec + mpi4py, same lines):
tests/programs/dlpack_buffers.py (DLPack arrays under every buffer call) and
tests/programs/buffer_errors.py (the exception classes of each bad argument).
"""

from __future__ import annotations

import difflib
import sys

import pytest
from helpers import PROGRAMS, assert_ok, ref_available, run_ref, run_toro

sys.path.insert(0, str(PROGRAMS))

_why_not = ref_available()


def _same_as_reference(prog: str, n: int) -> None:
    ref = run_ref(prog, n, timeout=90)
    assert ref.rc == 0, f"the reference run failed (a problem of the test program?){ref.explain()}"
    want = assert_ok(ref, n)
    got = assert_ok(run_toro(prog, n, timeout=120), n)
    for rank in range(n):
        if got.get(rank) != want.get(rank):
            diff = "\n".join(difflib.unified_diff(want.get(rank, []), got.get(rank, []), "mpi4py", "toro_mpi",
                                                  lineterm=""))
            pytest.fail(f"rank {rank} printed different lines under toro_mpi:\n{diff}")


@pytest.mark.timeout(240)
@pytest.mark.usefixtures("shm_clean")
@pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}")
def test_dlpack_buffers_same_as_mpi4py() -> None:
    """DLPack-only arrays (ctypes capsules owning their tensors, versioned and not; numpy's) under
    every buffer call: same results as mpi4py, every deleter run once, no rank crashes."""
    _same_as_reference("dlpack_buffers", 2)


@pytest.mark.timeout(240)
@pytest.mark.usefixtures("shm_clean")
@pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}")
def test_buffer_error_classes_same_as_mpi4py() -> None:
    """Each bad buffer argument (p2p, collectives, v-collective counts and displacements,
    read-only receive buffers, non-buffers, wrong spec tuples) raises the Python exception
    mpi4py raises."""
    _same_as_reference("buffer_errors", 2)
