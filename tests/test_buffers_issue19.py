"""Buffers and pickles as mpi4py handles them (issue #19), differential against mpi4py + Open MPI:
tests/programs/buffers_issue19.py prints what each call does (the exception class mpi4py raises for
a bad message spec, non-native byte order, a non-contiguous array, Alltoallv/Alltoallw specs;
MPI.buffer from Alloc_mem, DLPack objects and Pickle.dumps_oob; Attach_buffer with Bsend/Ibsend
from a user buffer; MPI.Request(prequest); mpi4py.util.pkl5 over an intercommunicator), and
every rank must print the same lines under both."""

from __future__ import annotations

import difflib

import pytest
from helpers import assert_ok, ref_available, run_ref, run_toro

from toro_mpi.mpi.buffers import normalise

pytestmark = pytest.mark.skipif(ref_available() is not None, reason=str(ref_available()))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("n", [1, 3])
def test_same_as_mpi4py(n: int) -> None:
    """Every line of every rank as under mpi4py (pkl5 over an intercommunicator from 2 ranks on)."""
    ref = run_ref("buffers_issue19", n, timeout=120)
    assert ref.rc == 0, f"the reference run failed{ref.explain()}"
    want = assert_ok(ref, n)
    got = assert_ok(run_toro("buffers_issue19", n, timeout=150), n)
    for rank in range(n):
        mine, theirs = sorted(got.get(rank, [])), sorted(want.get(rank, []))
        if mine != theirs:
            diff = "\n".join(difflib.unified_diff(theirs, mine, "mpi4py", "toro_mpi", lineterm=""))
            pytest.fail(f"rank {rank} printed different lines under toro_mpi:\n{diff}")
    if n >= 2:  # the program got to the intercommunicator part
        assert any(line.startswith("pkl5 alltoall ") for line in got[0])


def test_program_lines_are_not_vacuous() -> None:
    """The spec checks the program prints are the refusals they claim (in process, no job)."""
    import numpy as np

    with pytest.raises(BufferError):
        normalise(np.zeros(3, ">i4" if np.little_endian else "<i4"), False)
    with pytest.raises(BufferError):
        normalise(np.zeros((3, 2))[:, 0], True)
    with pytest.raises(KeyError):
        normalise([bytearray(8), 0, "float64"], False)
