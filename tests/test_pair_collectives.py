"""Large Bcast, Scatter, Allgather and Alltoall calls between the two processes of a 2-rank
communicator go as rendezvous (toro_mpi/mpi/pair_collectives.py): the program
tests/programs/pair_collectives.py prints what mpi4py + Open MPI prints, at 2 ranks (routed from
32 KiB, or 64 KiB for Allgather and Alltoall, up to 2 MiB), 3 ranks (never routed) and 2
green-thread ranks (never routed), and at 2 ranks the payloads were read by rendezvous."""

from __future__ import annotations

import re

import pytest
from helpers import (
    HOSTED,
    RENDEZVOUS_ENV,
    assert_ok,
    assert_same_as_reference,
    differential_marks,
    ref_cached,
    run_toro,
    toro_cached,
)

pytestmark = differential_marks()

_READS = re.compile(r"^(\d+) rendezvous reads (\d+) threshold (\d+)$", re.M)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("n", "launcher"), [(2, ()), (3, ("--process-per-rank", "--oversubscribe")), (2, HOSTED)],
                         ids=["n2", "n3-processes", "n2-hosted"])
def test_same_output_as_mpi4py(n: int, launcher: tuple[str, ...]) -> None:
    ref = ref_cached("pair_collectives", n, timeout=120)
    toro = toro_cached("pair_collectives", n, timeout=180, launcher=launcher, env=RENDEZVOUS_ENV)
    assert_same_as_reference(toro, ref, n)
    reads = {int(rank): int(count) for rank, count, _ in _READS.findall(toro.err)}
    assert sorted(reads) == list(range(n)), f"not every rank reported its rendezvous reads{toro.explain()}"
    if n == 2 and not launcher:
        # Each rank reads at least: Bcast, from the other root, 3 repetitions of the 2 routed sizes
        # (32 KiB, 800 KB; not 8 KB or 32 KiB - 8 below the threshold, nor 2 MiB: PAIR_MAX_BYTES),
        # 6; Scatter from the other root, plain and in place, at 32 KiB, 64 KiB - 8, 64 KiB and
        # 800 KB, 8; Allgather and Alltoall, plain and in place, at 64 KiB and 800 KB, 8; the 20
        # repetitions of Allgather and Alltoall, 40; the split communicator's Alltoall, 1.
        # Gather reads nothing (it stays on the ring).
        assert min(reads.values()) >= 63, f"the calls were not read by rendezvous: {reads}{toro.explain()}"
    else:
        assert set(reads.values()) == {0}, f"a Bcast that must not be routed was: {reads}{toro.explain()}"


@pytest.mark.timeout(120)
def test_allgather_beside_green_thread_sends() -> None:
    """A routed Allgather's send completes while a green thread of its rank sends by rendezvous
    to the same peer behind an older unread send (tests/programs/pair_green_send.py): its
    acknowledgement must be seen whichever request is read first. It waited forever in about
    half the runs when the request was noted after the newer one."""
    assert_ok(run_toro("pair_green_send", 2, timeout=90), 2)
