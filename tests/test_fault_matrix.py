"""A sample of the fault matrix in the suite (the whole matrix: python tests/fault_matrix.py)."""

from __future__ import annotations

import pytest
from fault_matrix import POINTS, run_case

SAMPLE = [(2, "exception", p) for p in POINTS] + [(2, "sigkill", p) for p in POINTS] + [
    (2, "sigsegv", "midsend"), (2, "exit3", "collective"), (2, "sigint", "recv"), (2, "sigterm", "midsend"),
    (4, "sigkill", "recv"), (4, "exception", "collective"),
]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("n, fault, point", SAMPLE, ids=[f"n{n}-{f}-{p}" for n, f, p in SAMPLE])
def test_fault_ends_the_job_cleanly(n: int, fault: str, point: str) -> None:
    outcome = run_case(n, fault, point)
    assert not outcome.problems, outcome
