"""Derived datatypes on the paths a halo exchange takes (tests/programs/halo_paths.py), against
mpi4py + Open MPI: vector, hvector, indexed, subarray, struct and resized types of one ring
fragment and of many, in Send/Recv, Isend/Irecv, Sendrecv, Sendrecv_replace, ANY_SOURCE,
collectives, zero counts, partial and truncated receives, a type on one side only. Every received
buffer is compared whole, so bytes written outside the type's elements show.

Also under hosted ranks (green threads of one process: other fast paths) and with rendezvous on
(large derived messages then leave from their packed scratch by process_vm_readv)."""

from __future__ import annotations

import pytest
from helpers import HOSTED, RENDEZVOUS_ENV, assert_same_as_reference, ref_available, ref_cached, toro_cached

pytestmark = [pytest.mark.usefixtures("shm_clean"),
              pytest.mark.skipif(ref_available() is not None, reason=str(ref_available()))]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("n", [2, 3])
def test_halo_paths_same_as_mpi4py(n: int) -> None:
    ref = ref_cached("halo_paths", n, timeout=120)
    toro = toro_cached("halo_paths", n, timeout=150)
    assert_same_as_reference(toro, ref, n)


@pytest.mark.timeout(300)
def test_halo_paths_hosted_same_as_mpi4py() -> None:
    ref = ref_cached("halo_paths", 2, timeout=120)
    toro = toro_cached("halo_paths", 2, timeout=150, launcher=HOSTED)
    assert_same_as_reference(toro, ref, 2)


@pytest.mark.timeout(300)
def test_halo_paths_rendezvous_same_as_mpi4py(rendezvous_config: tuple[str, ...]) -> None:
    ref = ref_cached("halo_paths", 2, timeout=120)
    toro = toro_cached("halo_paths", 2, timeout=150, launcher=rendezvous_config, env=RENDEZVOUS_ENV)
    assert_same_as_reference(toro, ref, 2)
