"""Issue #20's collective paths against the reference (mpi4py + Open MPI under mpiexec).

tests/programs/perf_issue20.py prints a digest of every result: Reduce with every predefined
operator on integer, float and bool dtypes, a non-commutative and a commutative user operator,
IN_PLACE, every root, 0 and 8 bytes and 64 KiB +- one element; 1 MiB and 4 MiB Reduce, Allreduce
and Reduce_scatter_block (the collective plane's larger ring); Gatherv/Scatterv with uneven,
empty and gapped pieces; the data-movement hot paths (Gather, Scatter, Allgather, Alltoall called
again on the same buffers with new data, two call sites alternating, a changing root). The data
are small integers, so every result is exact in any reduction order: the lines must be identical.
No timing is asserted.
"""

from __future__ import annotations

import pytest
from helpers import assert_ok, compare, ref_available, run_ref, run_toro

_why_not = ref_available()
pytestmark = pytest.mark.usefixtures("warm_reductions", "shm_clean")

# (ranks, launcher flags): 2 processes; 4 ranks as green threads two to a process (the default
# with more ranks than cores here); 4 processes.
CASES = [(2, ()), (4, ()), (4, ("--process-per-rank",))]


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("n", "launcher"), CASES, ids=["n2", "n4-hosted", "n4-processes"])
def test_issue20_paths_match_reference(n: int, launcher: tuple[str, ...]) -> None:
    toro = run_toro("perf_issue20", n, timeout=420, launcher=launcher)
    got = assert_ok(toro, n)
    if _why_not is not None:
        pytest.skip(f"toro_mpi ran; no reference MPI to compare with: {_why_not}")
    ref = run_ref("perf_issue20", n, timeout=120)
    want = assert_ok(ref, n)
    problems = compare(want, got, n)
    assert not problems, "toro_mpi differs from the reference:\n" + "\n".join(problems) + toro.explain()
