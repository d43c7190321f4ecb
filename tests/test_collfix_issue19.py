"""Issue #19, mpi4py's collective tests at 4 ranks on 2 cores and on intercommunicators.

- tests/programs/collfix_bcast_derived.py: test_cco_buf.py's testBcastTypeIndexed, where the
  root broadcasts packed typed elements and the others receive raw bytes. With ranks hosted as
  green threads two per process, the ranks of one process used to meet on buffers of different
  dtypes (int32[5] against uint8[20]): garbage results, a failed test, and the root left in its
  Bcast while the others went on to the next test (the deadlock the suite reported). Run hosted
  and one process per rank, against mpi4py + Open MPI.
- tests/programs/collfix_inter_reduce.py: intercommunicator Allreduce / Reduce /
  Reduce_scatter_block over long double and long double complex (they raised ERR_OP: numba has
  no such kernel, but the intracommunicator calls combine them with numpy), and Alltoallw across
  an intercommunicator (it raised NotImplementedError, so mpi4py's testAlltoallw2 skipped).
"""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_same_as_reference, ref_available, ref_cached, run_toro

_why_not = ref_available()
pytestmark = [
    pytest.mark.usefixtures("shm_clean"),
    pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}"),
]




@pytest.mark.timeout(300)
@pytest.mark.parametrize("n, launcher", [(4, HOSTED), (3, HOSTED), (4, ())], ids=["n4-hosted", "n3-hosted", "n4"])
def test_bcast_derived_type(n: int, launcher: tuple[str, ...]) -> None:
    """Bcast of an indexed-block type from every root gives what Open MPI gives, hosted too."""
    ref = ref_cached("collfix_bcast_derived", n, timeout=120)
    toro = run_toro("collfix_bcast_derived", n, timeout=120, launcher=launcher)
    assert_same_as_reference(toro, ref, n)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("n, launcher", [(2, ()), (3, ()), (4, ()), (4, HOSTED)],
                         ids=["n2", "n3", "n4", "n4-hosted"])
def test_intercomm_long_double_and_alltoallw(n: int, launcher: tuple[str, ...]) -> None:
    """Intercommunicator reductions of long double (complex) and Alltoallw give what Open MPI gives."""
    ref = ref_cached("collfix_inter_reduce", n, timeout=120)
    toro = run_toro("collfix_inter_reduce", n, timeout=120, launcher=launcher)
    assert_same_as_reference(toro, ref, n)
