"""Latency work between simulated nodes (issue #21): a blocking Recv from another node takes a
plain message straight from the link's buffer (mpi/net_take.py), and an idle rank's doorbell
sleep grows with its idle time (NetRoute.bind_sched).

Default run: one job of tests/programs/nodes_lat3.py (3 ranks, 2 nodes), self-checked; `slow`: the
same program against mpi4py + Open MPI, and the doze check.
"""

from __future__ import annotations

import pytest
from helpers import assert_ok, assert_same_as_reference, ref_available, ref_cached
from test_nodes import run_nodes

_why_not = ref_available()
pytestmark = [
    pytest.mark.usefixtures("shm_clean"),
    pytest.mark.skipif(_why_not is not None, reason=f"no mpiexec + mpi4py: {_why_not}"),
]


def _nodes_lat3() -> dict[int, list[str]]:
    return assert_ok(run_nodes("nodes_lat3", 3, 2), 3)


def test_nodes_direct_receive_cases() -> None:
    """Receives from another node: every dtype and size up to the largest eager item lands whole
    with the right Status; a tag that matches a later message, truncation, Ssend, a 2-D buffer
    and ANY_SOURCE order per pair behave as on the bus."""
    lines = _nodes_lat3()[2]
    assert "order 0 299 299" in lines, lines
    assert "truncate True" in lines and "after truncate [0.0, 1.0, 2.0, 3.0]" in lines, lines
    assert "tag 3 value 4.5 source 0 tag 3 count 1" in lines, lines
    assert "dtype float64 n 8191 source 0 tag 12 count 8191" in lines, lines
    assert "2d 66.0 source 0 tag 31 count 12" in lines, lines


@pytest.mark.slow
def test_nodes_direct_receive_same_as_mpi4py() -> None:
    """The same program prints the same lines under mpiexec + mpi4py (data digests included)."""
    toro = run_nodes("nodes_lat3", 3, 2)
    ref = ref_cached("nodes_lat3", 3, timeout=120)
    assert_same_as_reference(toro, ref, 3)


@pytest.mark.slow
def test_nodes_idle_doze_grows_and_resets() -> None:
    """A rank waiting 0.6 s for another node sleeps longer than the 0.5 ms floor between looks
    at the network, gets the message, and is back at the floor after it."""
    lines = assert_ok(run_nodes("nodes_lat3", 3, 2, "doze"), 3)[2]
    assert "got 1.0" in lines and "doze grew True" in lines and "doze reset True" in lines, lines
