"""The same deterministic point-to-point programs under toro-mpirun and under mpiexec + mpi4py:
every rank must print the same lines (compared sorted per rank; interleaving across ranks and
the order of a rank's own lines never matter).

The toro_mpi runs are shared with test_p2p.py (one run per program and rank count a session).
"""

from __future__ import annotations

import difflib

import pytest
from conftest import assert_ok, ref_available, run_ref, toro_cached

_why_not = ref_available()
pytestmark = [
    pytest.mark.usefixtures("shm_clean"),
    pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}"),
]

CASES = [
    # (program, ranks, arguments)
    ("dtypes", 2, ()),  # every dtype, fragment and rendezvous boundaries, content digests
    ("dtypes", 3, ("uint8", "float32", "complex128")),
    ("matching", 1, ()),  # self sends, PROC_NULL
    ("matching", 3, ()),  # tags, ANY_TAG, ANY_SOURCE, order, Status counts, Sendrecv ring
    ("matching", 4, ()),
    ("bufspecs", 2, ()),
    ("nonblocking", 3, ()),
    ("probe", 3, ()),  # probed sizes
    ("objects", 2, ()),
    ("objects", 3, ()),
    ("errors", 2, ()),  # error classes: ERR_RANK, ERR_TAG, ERR_TRUNCATE
    ("wrap", 2, (70000,)),
    ("comms", 1, ()),  # Dup, Split (keys, UNDEFINED), Create, Free, isolation of contexts
    ("comms", 3, ()),
    ("comms", 4, ()),
]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("prog, n, args", CASES, ids=[f"{p}-n{n}{'-' + '-'.join(map(str, a)) if a else ''}"
                                                      for p, n, a in CASES])
def test_same_output_as_mpi4py(prog: str, n: int, args: tuple) -> None:
    ref = run_ref(prog, n, *args, timeout=90)
    assert ref.rc == 0, f"the reference run failed (a problem of the test program?){ref.explain()}"
    want = assert_ok(ref, n)
    toro = toro_cached(prog, n, *args, timeout=120 if prog == "dtypes" else 75)
    got = assert_ok(toro, n)
    for rank in range(n):
        if got.get(rank) != want.get(rank):
            diff = "\n".join(difflib.unified_diff(want.get(rank, []), got.get(rank, []), "mpi4py", "toro_mpi",
                                                  lineterm=""))
            pytest.fail(f"rank {rank} printed different lines under toro_mpi:\n{diff}{toro.explain()}")
    assert sorted(got) == sorted(want)
