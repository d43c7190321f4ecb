"""Collectives with new arrays every call, alternating with repeated arrays, against the reference
(mpi4py + Open MPI under mpiexec): tests/programs/fresh_buffers.py prints a digest of every result.
The hot records are now built at a call site's second sighting (mpi/hot_sites.py); these runs
check that fresh, recurring and alternating buffers all give the reference's results. No timing."""

from __future__ import annotations

import pytest
from helpers import assert_ok, compare, ref_available, run_ref, run_toro

_why_not = ref_available()
pytestmark = pytest.mark.usefixtures("shm_clean")


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("n", "launcher"), [(2, ()), (3, ("--process-per-rank", "--oversubscribe"))],
                         ids=["n2", "n3-processes"])
def test_fresh_and_repeated_buffers_match_reference(n: int, launcher: tuple[str, ...]) -> None:
    toro = run_toro("fresh_buffers", n, timeout=240, launcher=launcher)
    got = assert_ok(toro, n)
    if _why_not is not None:
        pytest.skip(f"toro_mpi ran; no reference MPI to compare with: {_why_not}")
    ref = run_ref("fresh_buffers", n, timeout=120)
    want = assert_ok(ref, n)
    problems = compare(want, got, n)
    assert not problems, "toro_mpi differs from the reference:\n" + "\n".join(problems) + toro.explain()


@pytest.mark.timeout(120)
def test_records_for_repeated_buffers_only() -> None:
    """A call site gets its hot record once the same arrays come back (at every rank, the
    root's and the others' halves), never for arrays seen once."""
    toro = run_toro("fresh_records", 2, timeout=100)
    assert toro.rc == 0, toro.explain()
    want = "{'allreduce': [True], 'reduce': [True], 'bcast': [True]} moves 1"
    lines = sorted(line for line in toro.out.splitlines() if line[:1].isdigit())
    assert lines == [f"0 {want}", f"1 {want}"], toro.explain()
