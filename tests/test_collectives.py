"""Collectives against the reference (mpi4py + Open MPI under mpiexec): tests/programs/collectives.py
at its quick level for n = 1, 2, 3, 4, 5, 8, compared rank by rank; the error classes of bad input
(tests/programs/coll_errors.py); p2p traffic and a Dup's traffic never matching collectives.
The full level (every root, every op x dtype x size on every communicator):
python tests/coll_matrix.py.

Comparison: lines of kind d (digests), o (objects) and - must be identical. Lines of kind f are a
float/complex SUM, PROD or user sum, whose rounding depends on the reduction order, which differs
between implementations (and between algorithms of one). Each result element is a sum or product
of m <= n inputs; the program makes addends positive and keeps magnitudes near 1, so in any order
the sum or real product has relative error <= (m-1)u and a complex product <= (m-1)*sqrt(5)*u
(u = eps/2 of the dtype; sqrt(5)u bounds one complex multiplication). Two implementations then
differ by <= 2*sqrt(5)*(n-1)*u < 2.3*(n-1)*eps relative per element. The statistics are float64
sums over up to 393 216 elements (numpy pairwise: <= ~27 u64 relative to the sum of |x| each,
so 32 eps64 for both sides). Hence

    rtol(dtype, n) = 4 * n * eps(dtype) + 32 * eps(float64)
    (float32 / complex64, n = 8: 3.8e-6; float64 / complex128, n = 8: 1.4e-14)

applied as |a - b| <= rtol * sum|x| for the sum and the weighted sum (weights <= 1),
|a - b| <= rtol * a for sum|x| itself, and |a - b| <= rtol * |a| for each sampled element.
Checked against the reference with another reduction order (Open MPI forced to its ring
allreduce, chain reduce and linear reduce-scatter-block): at n = 8, 279 float lines changed, the
largest difference was 4% of its bound, and nothing else changed but non-commutative user-op
results, which those forced algorithms get wrong (they ignore commutativity).
"""

from __future__ import annotations

import re

import pytest
from helpers import assert_ok, compare, ref_available, run_ref, run_toro, toro_budget

NS = (1, 2, 3, 4, 5, 8)
_why_not = ref_available()
pytestmark = pytest.mark.usefixtures("warm_reductions", "shm_clean")


@pytest.mark.timeout(250)
@pytest.mark.parametrize("n", NS)
def test_collectives_match_reference(n: int) -> None:
    toro = run_toro("collectives", n, "quick", timeout=toro_budget(n))
    got = assert_ok(toro, n)
    if _why_not is not None:
        pytest.skip(f"toro_mpi ran; no reference MPI to compare with: {_why_not}")
    ref = run_ref("collectives", n, "quick", timeout=90)
    want = assert_ok(ref, n)
    problems = compare(want, got, n)
    assert not problems, "toro_mpi differs from the reference:\n" + "\n".join(problems) + toro.explain()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", (1, 3))
def test_collectives_never_match_p2p(n: int) -> None:
    """An Isend before a Bcast received after it with ANY_SOURCE, wildcard receives pending across
    collectives, a Dup's wildcard receive pending while the parent communicates: the program
    checks every result itself (the job fails otherwise), and against the reference if present."""
    toro = run_toro("collectives", n, "quick", "mixed", timeout=45)
    got = assert_ok(toro, n)
    mixed = [line for lines in got.values() for line in lines if " mixed " in line]
    assert len(mixed) == 3 * 4 * n, f"expected 4 checks on each of 3 communicators per rank{toro.explain()}"
    if _why_not is None:
        ref = run_ref("collectives", n, "quick", "mixed", timeout=60)
        problems = compare(assert_ok(ref, n), got, n)
        assert not problems, "\n".join(problems) + toro.explain()


_CASE = re.compile(r"^(.*) = (\S+) want=(\S+) ref=(\S+)$")


def error_cases(run, n: int) -> dict[int, list[tuple[str, str, str, str]]]:
    """Rank -> its (case, got, want, ref) of coll_errors.py, after checking the job ended well."""
    ranks = assert_ok(run, n)
    cases = {r: [m.groups() for m in map(_CASE.match, lines) if m] for r, lines in ranks.items()}
    counts = {len(c) for c in cases.values()}
    # Every rank printed every case: none of them hung in, or skipped past, a collective.
    assert len(counts) == 1 and counts.pop() > 50, f"ranks printed different case lists{run.explain()}"
    first = cases[0]
    for r, c in cases.items():
        assert [x[:2] for x in c] == [x[:2] for x in first], f"rank {r} got other classes than rank 0"
    return cases


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", (1, 3))
def test_bad_input_error_classes(n: int) -> None:
    """Invalid root -> ERR_ROOT, receive buffer too small -> ERR_TRUNCATE, op not defined on the
    dtype -> ERR_OP, send/receive datatypes of a reduction differ -> ERR_TYPE; no rank hangs and
    the communicator works afterwards. The reference is held to the classes it gave when the
    program was written (the ref= column; where it differs mpi4py raises TypeError/ValueError)."""
    toro = run_toro("coll_errors", n, timeout=40)
    wrong = [f"{case}: got {got}, want {want}" for case, got, want, _ in error_cases(toro, n)[0] if got != want]
    assert not wrong, "wrong error classes under toro_mpi:\n" + "\n".join(wrong) + toro.explain()
    if _why_not is None:
        ref = run_ref("coll_errors", n, timeout=60)
        moved = [f"{case}: got {got}, recorded {rec}" for case, got, _, rec in error_cases(ref, n)[0] if got != rec]
        assert not moved, "the reference's error classes changed:\n" + "\n".join(moved)
