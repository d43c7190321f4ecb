"""The comparison of collective results with the reference's (helpers.compare; the tolerance is
derived in tests/test_collectives.py's docstring), on made-up lines."""

from __future__ import annotations

import pytest
from helpers import compare


@pytest.mark.timeout(10)
def test_comparison_tolerates_reduction_order_only() -> None:
    """The comparison itself: a float result rounded differently passes, one off by more than the
    tolerance, a changed digest or a missing line fails."""
    n = 8
    a = "f 7 7.5 7.5 3.25 1.0 1.25 1.5"
    close = "f 7 7.500000000000001 7.5 3.25 1.0 1.25 1.5"
    far = "f 7 7.5001 7.5 3.25 1.0 1.25 1.5"
    want = {0: [f"world Allreduce SUM float64 n=7 = {a}", "world Bcast int8 n=7 root=0 = d 7 0123456789ab", "ok"]}
    assert compare(want, {0: [want[0][0].replace(a, close), *want[0][1:]]}, n) == []
    assert compare(want, {0: [want[0][0].replace(a, far), *want[0][1:]]}, n)
    assert compare(want, {0: [want[0][0], want[0][1].replace("0123", "3210"), "ok"]}, n)
    assert compare(want, {0: want[0][1:]}, n)
    # float32 allows about 2**-23 * 4n relative
    f32 = "world Allreduce SUM float32 n=7 = f 7 7.5 7.5 3.25 1.0 1.25 1.5"
    assert compare({0: [f32]}, {0: [f32.replace("7.5 7.5", "7.500015 7.5")]}, n) == []
    assert compare({0: [f32]}, {0: [f32.replace("7.5 7.5", "7.5002 7.5")]}, n)
