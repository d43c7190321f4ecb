"""Derived datatypes beyond the differential program (tests/programs/derived.py runs in
test_differential.py): reductions over homogeneous derived types, which Open MPI refuses, and a
partial Irecv into a derived type, checked by value under toro-mpirun."""

from __future__ import annotations

import pytest
from helpers import assert_ok, run_toro

pytestmark = pytest.mark.usefixtures("shm_clean")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_derived_reductions_and_partial_receive(n):
    ranks = assert_ok(run_toro("derived_toro", n, timeout=90), n)
    assert all("struct reduction refused" in ranks[r] for r in range(n))
