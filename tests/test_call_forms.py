"""Calls as mpi4py programs write them, against mpi4py + Open MPI, at 2 and 3 ranks (a process per
rank) and as green threads:
- tests/programs/typed_specs.py: buffers written `[data, MPI.INT]`, `(data, MPI.DOUBLE)` or
  `[data, data.size, MPI.INT]`, repeated so that the first form reaches the bare array's
  call-site records (buffers.plain_array), next to specs that must keep their own meaning (a
  shorter count, another name of the type, a duplicated datatype, bytes, a one-byte array under
  the other signedness, a user operator, a program's subclass) and the errors of a short or
  read-only receive buffer;
- tests/programs/objects_fast.py: the lowercase object calls, a plain pickle sent as one
  message and taken whole from the ring head (Engine.take_frame), the object collectives' slots
  and what overflows them, and everything around those paths.
And the records themselves: calls with typed specs build and hit the bare arrays' records
(tests/programs/typed_spec_records.py)."""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_same_as_reference, differential_marks, ref_cached, run_toro, toro_cached

pytestmark = differential_marks()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("prog", ["typed_specs", "objects_fast"])
@pytest.mark.parametrize(("n", "launcher"), [(2, ()), (3, ("--process-per-rank", "--oversubscribe")), (2, HOSTED)],
                         ids=["n2", "n3-processes", "n2-hosted"])
def test_same_output_as_mpi4py(prog: str, n: int, launcher: tuple[str, ...]) -> None:
    ref = ref_cached(prog, n, timeout=120)
    toro = toro_cached(prog, n, timeout=180, launcher=launcher)
    assert_same_as_reference(toro, ref, n)


@pytest.mark.timeout(120)
def test_typed_specs_reach_the_call_site_records() -> None:
    run = run_toro("typed_spec_records", 2, timeout=100)
    assert run.rc == 0, run.explain()
    want = ("{'send': True, 'recv': True, 'irecv': True} "
            "{'allreduce': [True], 'reduce': [True], 'bcast': [True]} moves 1")
    lines = sorted(line for line in run.out.splitlines() if line[:1].isdigit())
    assert lines == [f"0 {want}", f"1 {want}"], run.explain()
