"""Two-level collectives across (simulated) nodes: Barrier, Bcast, Reduce and Allreduce run a
node-local phase on the bus, the node leaders' phase over Open MPI, and a node-local phase again
(toro_mpi/mpi/net_collectives.py, toro_mpi/net/leaders.py).

Two checks per layout: integer results identical to `mpiexec --mca btl tcp,self` + mpi4py, and
float sums and products bit-identical to the same program on one node of toro_mpi (the two-level
path runs them only where its grouping is the one-node algorithm's, else falls back to it).
The program reports on stderr how many calls went two-level, so a silent fallback everywhere
fails the test. The default run keeps to 2x2 with fewer sizes; the rest is `slow`.
"""

from __future__ import annotations

import re

import pytest
from helpers import assert_ok, assert_same_as_reference, ref_available, ref_cached, run_toro
from test_nodes import run_nodes

_why_not = ref_available()
pytestmark = [
    pytest.mark.usefixtures("shm_clean"),
    pytest.mark.skipif(_why_not is not None, reason=f"no mpiexec + mpi4py: {_why_not}"),
]
PROG = "nodes_twolevel"
_TWO = re.compile(r"^(\d+) twolevel (\d+)$", re.M)
_BARRIER = re.compile(r"^(\d+) barrier twolevel (\d+)$", re.M)


def _two_level_calls(stderr: str, n: int) -> dict[int, int]:
    """Calls that went two-level on each rank (the program's stderr), every rank present."""
    counts = {int(r): int(c) for r, c in _TWO.findall(stderr)}
    assert sorted(counts) == list(range(n)), f"two-level counts missing: {counts}\n{stderr[-3000:]}"
    barriers = {int(r): int(c) for r, c in _BARRIER.findall(stderr)}
    assert barriers == {r: 1 for r in range(n)}, f"Barrier did not go two-level: {barriers}"
    return counts


def _exact(n: int, k: int, node_map: str | None, *args: str) -> None:
    ref = ref_cached(PROG, n, "exact", *args, timeout=300)
    extra = ("--node-map", node_map) if node_map else ()
    toro = run_nodes(PROG, n, k, "exact", *args, timeout=300, launcher=extra)
    assert_same_as_reference(toro, ref, n, sort_lines=True)
    counts = _two_level_calls(toro.err, n)
    assert all(c > 0 for c in counts.values()), counts


def _floats(n: int, k: int, node_map: str | None, *args: str) -> dict[int, int]:
    one = run_toro(PROG, n, "floats", *args, timeout=120)
    extra = ("--node-map", node_map) if node_map else ()
    several = run_nodes(PROG, n, k, "floats", *args, timeout=300, launcher=extra)
    want, got = assert_ok(one, n), assert_ok(several, n)
    for rank in range(n):
        assert sorted(got[rank]) == sorted(want[rank]), f"rank {rank}: bits differ from one node{several.explain()}"
    return _two_level_calls(several.err, n)


@pytest.mark.timeout(400)
def test_two_level_2x2_same_as_mpi4py() -> None:
    _exact(4, 2, None, "quick")


@pytest.mark.timeout(400)
def test_two_level_2x2_floats_bit_identical_to_one_node() -> None:
    counts = _floats(4, 2, None, "quick")
    # On 2x2 (aligned blocks of 2) small float sums go two-level on every rank.
    assert all(c > 0 for c in counts.values()), counts


LAYOUTS = [(4, 2, None), (3, 2, None), (4, 2, "0,1,1,0"), (4, 4, None)]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("n, k, node_map", LAYOUTS, ids=["2x2", "2+1", "map0110", "4x1"])
def test_two_level_all_sizes_same_as_mpi4py(n: int, k: int, node_map: str | None) -> None:
    _exact(n, k, node_map)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("n, k, node_map", LAYOUTS, ids=["2x2", "2+1", "map0110", "4x1"])
def test_two_level_floats_all_sizes_bit_identical_to_one_node(n: int, k: int, node_map: str | None) -> None:
    _floats(n, k, node_map)
