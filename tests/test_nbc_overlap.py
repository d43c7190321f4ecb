"""Nonblocking collectives with work and other traffic between start and Wait
(tests/programs/nbc_overlap.py), compared line by line with mpi4py + Open MPI.

Covers the paths mpi/nonblocking.py takes to make a repeated nonblocking collective cheap and to
progress it while the program computes: remembered Iallreduce call sites (straight into the
result on two ranks, scratch and the rank-order fold on more), Ibarrier, the jitted spin at Wait
(engine.spin_posted), Test() loops, Waitall over several pending collectives completed in an order
that differs by rank, persistent restarts, other traffic on the same communicator in between.
At 1 to 4 ranks (4 on this machine's 2 cores run as green threads of shared processes), with one
process per rank, and with two ranks hosted in one process. No timing is asserted: the probe
`python -m osu.probes overlap` measures.
"""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_same_as_reference, ref_available, ref_cached, toro_cached

_why_not = ref_available()


@pytest.mark.usefixtures("shm_clean")
@pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}")
@pytest.mark.timeout(400)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_overlap_program_same_output_as_mpi4py(n: int) -> None:
    ref = ref_cached("nbc_overlap", n, timeout=180)
    toro = toro_cached("nbc_overlap", n, timeout=180)
    assert_same_as_reference(toro, ref, n)


@pytest.mark.usefixtures("shm_clean")
@pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}")
@pytest.mark.timeout(400)
@pytest.mark.parametrize("n, launcher", [(4, ("--process-per-rank",)), (2, HOSTED)])
def test_overlap_program_other_placements(n: int, launcher: tuple[str, ...]) -> None:
    """One OS process per rank (4 ranks on 2 cores: the jitted spin at Wait must yield the core
    in time), and two ranks as green threads of one process (the spin must not run there)."""
    ref = ref_cached("nbc_overlap", n, timeout=180)
    toro = toro_cached("nbc_overlap", n, timeout=180, launcher=launcher)
    assert_same_as_reference(toro, ref, n)
