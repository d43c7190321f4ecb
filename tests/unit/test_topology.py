"""The pure logic of process topologies, in-process (no job): Compute_dims (MPI_Dims_create as
Open MPI computes it), coordinates <-> ranks with periodic wrap and the errors of the others,
Shift and the neighbour order of the neighbourhood collectives (negative then positive per
dimension, PROC_NULL at open edges), Cartesian sub-grids, graphs and their checks, weights, and
the tags that tell apart the two blocks a rank sends to one neighbour. Against the reference, with
jobs: tests/test_topology.py.
"""

from __future__ import annotations

import pytest

from toro_mpi import MPI
from toro_mpi.mpi import topology as T
from toro_mpi.mpi.neighbor import NEIGHBOR_TAG, NeighborMixin

PROC_NULL = MPI.PROC_NULL

# (nnodes, ndims) -> what Open MPI 5.0.11's MPI_Dims_create gives (mpi4py's Compute_dims).
OPEN_MPI_DIMS = {
    (1, 0): [], (1, 2): [1, 1], (6, 2): [3, 2], (7, 2): [7, 1], (12, 2): [4, 3], (12, 3): [3, 2, 2],
    (16, 3): [4, 2, 2], (20, 4): [5, 2, 2, 1], (24, 4): [3, 2, 2, 2], (30, 3): [5, 3, 2],
    (36, 3): [4, 3, 3], (64, 4): [4, 4, 2, 2], (72, 2): [12, 6], (180, 2): [18, 10], (240, 2): [20, 12],
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("nnodes, ndims", sorted(OPEN_MPI_DIMS))
def test_compute_dims_as_open_mpi(nnodes: int, ndims: int) -> None:
    assert MPI.Compute_dims(nnodes, ndims) == OPEN_MPI_DIMS[nnodes, ndims]
    assert MPI.Compute_dims(nnodes, [0] * ndims) == OPEN_MPI_DIMS[nnodes, ndims]


@pytest.mark.timeout(10)
def test_compute_dims_balanced_and_non_increasing() -> None:
    for nnodes in range(1, 130):
        for ndims in range(1, 5):
            dims = MPI.Compute_dims(nnodes, ndims)
            product = 1
            for d in dims:
                product *= d
            assert product == nnodes and dims == sorted(dims, reverse=True), (nnodes, ndims, dims)


@pytest.mark.timeout(10)
def test_compute_dims_keeps_fixed_entries() -> None:
    assert MPI.Compute_dims(6, [3, 0]) == [3, 2]
    assert MPI.Compute_dims(6, [0, 3]) == [2, 3]
    assert MPI.Compute_dims(24, [0, 2, 0]) == [4, 2, 3]
    assert MPI.Compute_dims(6, [3, 2]) == [3, 2]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("nnodes, dims, error", [
    (0, 2, MPI.ERR_DIMS), (-1, 1, MPI.ERR_DIMS), (6, [4, 0], MPI.ERR_DIMS), (6, [3, 3], MPI.ERR_DIMS),
    (6, [-1, 0], MPI.ERR_DIMS), (7, [3, 0], MPI.ERR_DIMS), (1, -1, ValueError), (4, "ab", TypeError),
])
def test_compute_dims_errors(nnodes, dims, error) -> None:
    if isinstance(error, type):
        with pytest.raises(error):
            MPI.Compute_dims(nnodes, dims)
    else:
        with pytest.raises(MPI.Exception) as info:
            MPI.Compute_dims(nnodes, dims)
        assert info.value.Get_error_class() == error


@pytest.mark.timeout(10)
def test_coords_and_ranks_row_major() -> None:
    grid = T.CartTopology([2, 3, 4], [0, 1, 0])
    for rank in range(24):
        coords = grid.coords(rank)
        assert grid.rank(coords) == rank
    assert grid.coords(0) == [0, 0, 0] and grid.coords(1) == [0, 0, 1] and grid.coords(4) == [0, 1, 0]
    assert grid.coords(23) == [1, 2, 3]
    assert grid.rank([0, -1, 0]) == grid.rank([0, 2, 0])  # the periodic dimension wraps
    assert grid.rank([0, 7, 0]) == grid.rank([0, 1, 0])
    for bad in ([2, 0, 0], [-1, 0, 0], [0, 0, 4]):
        with pytest.raises(MPI.Exception) as info:
            grid.rank(bad)
        assert info.value.Get_error_class() == MPI.ERR_ARG
    with pytest.raises(MPI.Exception) as info:
        grid.coords(24)
    assert info.value.Get_error_class() == MPI.ERR_RANK


@pytest.mark.timeout(10)
def test_shift_and_neighbour_order() -> None:
    grid = T.CartTopology([3, 2], [0, 1])
    # rank 0 at (0, 0): no upper neighbour (open), rank 2 below; 1 left and right (periodic, size 2)
    assert grid.shift(0, 0, 1) == (PROC_NULL, 2)
    assert grid.shift(0, 1, 1) == (1, 1)
    assert grid.shift(0, 0, 5) == (PROC_NULL, PROC_NULL)
    assert grid.shift(0, 1, 3) == (1, 1)
    assert grid.shift(2, 0, -1) == (4, 0)
    ins, outs = grid.neighbours(0)
    assert ins == outs == [PROC_NULL, 2, 1, 1]
    with pytest.raises(MPI.Exception) as info:
        grid.shift(0, 2, 1)
    assert info.value.Get_error_class() == MPI.ERR_DIMS
    assert T.CartTopology([], []).neighbours(0) == ([], [])


@pytest.mark.timeout(10)
def test_cart_sub_slices() -> None:
    grid = T.CartTopology([2, 3], [1, 0])
    seen = {}
    for rank in range(6):
        sub, color, key = T.cart_sub(grid, rank, [0, 1])
        assert (sub.dims, sub.periods) == ([3], [0])
        seen.setdefault(color, []).append((key, rank))
    assert {c: sorted(m) for c, m in seen.items()} == {0: [(0, 0), (1, 1), (2, 2)], 1: [(0, 3), (1, 4), (2, 5)]}
    sub, color, key = T.cart_sub(grid, 4, [0, 0])
    assert (sub.dims, color, key) == ([], 4, 0)


@pytest.mark.timeout(10)
def test_create_cart_checks() -> None:
    with pytest.raises(MPI.Exception) as info:
        T.check_cart_dims([0], 4, "Create_cart")
    assert info.value.Get_error_class() == MPI.ERR_DIMS
    with pytest.raises(MPI.Exception) as info:
        T.check_cart_dims([5], 4, "Create_cart")
    assert info.value.Get_error_class() == MPI.ERR_ARG
    assert T.periods_arg(None, 2) == [0, 0] and T.periods_arg(True, 3) == [1, 1, 1]
    with pytest.raises(ValueError):
        T.periods_arg([1], 2)
    with pytest.raises(TypeError):
        T.int_items([1.5], "dims")


@pytest.mark.timeout(10)
def test_graph_neighbours_and_checks() -> None:
    index, edges = T.graph_args([0, 2, 3, 4], [1, 2, 0, 0])  # the standard form, with a leading 0
    assert (index, edges) == ([2, 3, 4], [1, 2, 0, 0])
    g = T.GraphTopology(index, edges)
    g.check(3, "Create_graph")
    assert g.neighbours_of(0) == [1, 2] and g.neighbours_of(2) == [0]
    with pytest.raises(MPI.Exception) as info:
        g.neighbours_of(3)
    assert info.value.Get_error_class() == MPI.ERR_RANK
    for index, edges in (([2], [0]), ([1, 0], [0]), ([1], [5]), ([1], [-1])):
        with pytest.raises(MPI.Exception) as info:
            T.GraphTopology(index, edges).check(4, "Create_graph")
        assert info.value.Get_error_class() == MPI.ERR_ARG
    with pytest.raises(MPI.Exception):
        T.GraphTopology([1, 2, 3], [0, 1, 2]).check(2, "Create_graph")


@pytest.mark.timeout(10)
def test_weights() -> None:
    assert T.weights_arg(None, 2, "w") is None and T.weights_arg(MPI.UNWEIGHTED, 2, "w") is None
    assert T.weights_arg(MPI.WEIGHTS_EMPTY, 0, "w") is MPI.WEIGHTS_EMPTY
    with pytest.raises(ValueError):
        T.weights_arg(MPI.WEIGHTS_EMPTY, 1, "w")
    with pytest.raises(ValueError):
        T.weights_arg([1], 2, "w")
    with pytest.raises(MPI.Exception) as info:
        T.weights_arg([1, -1], 2, "w")
    assert info.value.Get_error_class() == MPI.ERR_ARG


class _FakeComm(NeighborMixin):
    """Just what NeighborMixin._neighbour_pattern reads."""

    def __init__(self, topo, rank: int, ranks: list[int]) -> None:
        self._topo, self.rank, self._ranks = topo, rank, ranks

    def _check_live(self) -> None:
        pass


@pytest.mark.timeout(10)
def test_cartesian_tags_pair_blocks_s_with_s_xor_1() -> None:
    # A periodic dimension of size 2: rank 0's negative and positive neighbours are both rank 1.
    # Block s a rank sends must land in block s ^ 1 of the receiver (MPI-4.1 section 8.6).
    grid = T.CartTopology([2], [1])
    recv0, send0 = _FakeComm(grid, 0, [10, 11])._neighbour_pattern()
    recv1, send1 = _FakeComm(grid, 1, [10, 11])._neighbour_pattern()
    assert [d for d, _ in send0] == [11, 11] and [s for s, _ in recv1] == [10, 10]
    for s, (_, tag) in enumerate(send0):
        assert recv1[s ^ 1][1] == tag
    assert {t for _, t in send1} == {NEIGHBOR_TAG, NEIGHBOR_TAG + 1}
    # A graph's repeated edges share one tag: they match in order.
    g = T.GraphTopology([2, 4], [1, 1, 0, 0])
    recv, send = _FakeComm(g, 0, [0, 1])._neighbour_pattern()
    assert recv == send == [(1, NEIGHBOR_TAG), (1, NEIGHBOR_TAG)]


@pytest.mark.timeout(10)
def test_weights_constants_by_value() -> None:
    # Another module's MPI.UNWEIGHTED / WEIGHTS_EMPTY (plain ints of mpi4py's values) work too.
    assert T.weights_arg(int(MPI.UNWEIGHTED), 3, "w") is None
    assert T.weights_arg(int(MPI.WEIGHTS_EMPTY), 0, "w") is MPI.WEIGHTS_EMPTY
    with pytest.raises(TypeError):
        T.weights_arg(True, 1, "w")


class _Part:
    def __init__(self, done: bool, error=None) -> None:
        self.done, self.error = done, error


@pytest.mark.timeout(10)
def test_exchange_done_when_every_part_is() -> None:
    from toro_mpi.mpi.neighbor import _Exchange

    parts = [_Part(True), _Part(False)]
    ex = _Exchange(parts, None)
    assert not ex.done and ex.error is None
    failed = MPI.Exception(MPI.ERR_TRUNCATE)
    parts[1].done, parts[1].error = True, failed
    assert ex.done and ex.error is failed
    assert _Exchange([], None).done  # no neighbours: complete at once
