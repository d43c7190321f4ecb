"""Buffers written `[data, MPI.INT]`, `(data, MPI.DOUBLE)` or `[data, data.size, MPI.INT]`, as
mpi4py's tutorials write them, take the bare array's paths (buffers.plain_array): the same
results as mpi4py + Open MPI for point-to-point calls and collectives, repeated (so that they
reach the call-site records), mixed with specs that must keep their own meaning (a shorter
count, another name of the type, a duplicated datatype, bytes), and the errors of a short or
read-only receive buffer (tests/programs/typed_specs.py). And the records themselves: calls with
such specs build and hit the bare arrays' records (tests/programs/typed_spec_records.py)."""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_same_as_reference, differential_marks, ref_cached, run_toro, toro_cached

pytestmark = differential_marks()


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("n", "launcher"), [(2, ()), (3, ("--process-per-rank", "--oversubscribe")), (2, HOSTED)],
                         ids=["n2", "n3-processes", "n2-hosted"])
def test_typed_specs_same_output_as_mpi4py(n: int, launcher: tuple[str, ...]) -> None:
    ref = ref_cached("typed_specs", n, timeout=120)
    toro = toro_cached("typed_specs", n, timeout=180, launcher=launcher)
    assert_same_as_reference(toro, ref, n)


@pytest.mark.timeout(120)
def test_typed_specs_reach_the_call_site_records() -> None:
    run = run_toro("typed_spec_records", 2, timeout=100)
    assert run.rc == 0, run.explain()
    want = ("{'send': True, 'recv': True, 'irecv': True} "
            "{'allreduce': [True], 'reduce': [True], 'bcast': [True]} moves 1")
    lines = sorted(line for line in run.out.splitlines() if line[:1].isdigit())
    assert lines == [f"0 {want}", f"1 {want}"], run.explain()
