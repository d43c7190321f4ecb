"""Process topologies: the pure logic (Cartesian grids, graphs, distributed graphs) and the
constructors every intracommunicator has (Create_cart, Create_graph, Create_dist_graph*, Cart_map,
Graph_map, Get_topology).

A topology is a small immutable record kept on its communicator (`comm._topo`); the classes
mpi4py exposes for such communicators (Cartcomm, Graphcomm, Distgraphcomm) are in topocomm.py,
and the neighbourhood collectives that run over them in neighbor.py. Arguments are read and
checked as mpi4py + Open MPI do: a sequence of the wrong length is a ValueError, an item that is
not an integer a TypeError, and values MPI rejects an MPI.Exception (ERR_DIMS, ERR_ARG, ERR_RANK).
`reorder` is accepted and never reorders: keeping the ranks is a valid mapping.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from ..errors import ERR_ARG, ERR_DIMS, ERR_RANK, ERR_TOPOLOGY, MPIException, MPITypeError, MPIValueError
from .p2p import PROC_NULL
from .request import UNDEFINED

# Topology kinds, with mpi4py's values under Open MPI (Get_topology / Topo_test).
CART = 1
GRAPH = 2
DIST_GRAPH = 3


class _WeightsConstant(int):
    """MPI.UNWEIGHTED / MPI.WEIGHTS_EMPTY: special weight arguments (mpi4py gives them as ints)."""

    def __new__(cls, value: int, name: str) -> _WeightsConstant:
        self = super().__new__(cls, value)
        self._name = name
        return self

    # repr and str stay int's: mpi4py's constants print as their values.


UNWEIGHTED = _WeightsConstant(2, "UNWEIGHTED")
WEIGHTS_EMPTY = _WeightsConstant(3, "WEIGHTS_EMPTY")


# -- argument reading (mpi4py's getarray/chkarray) ---------------------------------------------
def int_items(values: Any, what: str) -> list[int]:
    """A sequence of integers as mpi4py reads it (len(), then operator.index on each item)."""
    try:
        n = len(values)
    except TypeError:
        raise MPITypeError(ERR_ARG, f"object of type '{type(values).__name__}' has no len() ({what})") from None
    out = []
    for i in range(n):
        try:
            out.append(operator.index(values[i]))
        except TypeError:
            raise MPITypeError(ERR_ARG, f"'{type(values[i]).__name__}' object cannot be interpreted as an "
                                        f"integer ({what})") from None
    return out


def int_items_n(values: Any, n: int, what: str) -> list[int]:
    """Exactly n integers (mpi4py's chkarray: ValueError 'expecting n items, got m')."""
    out = int_items(values, what)
    if len(out) != n:
        raise MPIValueError(ERR_ARG, f"expecting {n} items, got {len(out)} ({what})")
    return out


def periods_arg(periods: Any, ndims: int) -> list[int]:
    """Create_cart's periods: None (none periodic), one bool for every dimension, or one per dimension."""
    if periods is None:
        periods = False
    if isinstance(periods, bool):
        periods = [periods] * ndims
    return int_items_n(periods, ndims, "periods")


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


# -- Cartesian grids ---------------------------------------------------------------------------
def compute_dims(nnodes: int, dims: list[int]) -> list[int]:
    """MPI_Dims_create: fill the zero entries of dims so that their product with the fixed ones
    is nnodes, as balanced as possible and non-increasing (Open MPI's rule: the prime factors,
    largest first, each go to the currently smallest free dimension)."""
    if nnodes < 1:
        raise MPIException(ERR_DIMS, f"Compute_dims: nnodes must be >= 1, got {nnodes}")
    if any(d < 0 for d in dims):
        raise MPIException(ERR_DIMS, f"Compute_dims: dimensions must be >= 0, got {dims}")
    fixed = _prod([d for d in dims if d > 0])
    free = dims.count(0)
    if nnodes % fixed:
        raise MPIException(ERR_DIMS, f"Compute_dims: the fixed dimensions {dims} do not divide {nnodes} nodes")
    left = nnodes // fixed
    if free == 0:
        if left != 1:
            raise MPIException(ERR_DIMS, f"Compute_dims: the dimensions {dims} do not make {nnodes} nodes")
        return list(dims)
    factors, m, p = [], left, 2
    while p * p <= m:
        while m % p == 0:
            factors.append(p)
            m //= p
        p += 1
    if m > 1:
        factors.append(m)
    grid = [1] * free
    for f in sorted(factors, reverse=True):
        grid[grid.index(min(grid))] *= f
    grid.sort(reverse=True)
    it = iter(grid)
    return [d if d > 0 else next(it) for d in dims]


def Compute_dims(nnodes: int, dims: int | Sequence[int]) -> list[int]:  # noqa: N802 - mpi4py's name
    """MPI.Compute_dims: a balanced grid of nnodes processes over dims dimensions (an int: that
    many free ones; a list: its non-zero entries are kept)."""
    nnodes = int_arg(nnodes, "nnodes")
    if isinstance(dims, bool) or not hasattr(dims, "__len__"):
        ndims = int_arg(dims, "dims")
        dims = int_items_n([0] * max(ndims, 0), ndims, "dims")
    else:
        dims = int_items(dims, "dims")
    return compute_dims(nnodes, dims)


def int_arg(value: Any, what: str) -> int:
    """A C `int` argument as mpi4py's Cython signatures take it: an integer, or a float with an
    integral value (TypeError otherwise)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return operator.index(value)
    except TypeError:
        raise MPITypeError(ERR_ARG, f"{what} must be an integer, got {type(value).__name__}") from None


def check_cart_dims(dims: list[int], size: int, call: str) -> None:
    """Refuse a grid MPI cannot build on size ranks (ERR_DIMS for a dimension < 1, ERR_ARG for a
    grid larger than the communicator, as Open MPI)."""
    if any(d <= 0 for d in dims):
        raise MPIException(ERR_DIMS, f"{call}: dimensions must be >= 1, got {dims}")
    if _prod(dims) > size:
        raise MPIException(ERR_ARG, f"{call}: a grid of {_prod(dims)} processes does not fit {size} ranks")


class CartTopology:
    """A Cartesian grid: dims and periods per dimension, ranks in row-major order."""

    kind = CART

    def __init__(self, dims: list[int], periods: list[int]) -> None:
        self.dims = list(dims)
        self.periods = list(periods)
        self.size = _prod(dims)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.dims)

    def coords(self, rank: int) -> list[int]:
        """The grid coordinates of rank (ERR_RANK outside the grid)."""
        if not 0 <= rank < self.size:
            raise MPIException(ERR_RANK, f"rank {rank} is not in a grid of {self.size} processes")
        out = [0] * len(self.dims)
        for i in range(len(self.dims) - 1, -1, -1):
            rank, out[i] = divmod(rank, self.dims[i])
        return out

    def rank(self, coords: list[int]) -> int:
        """The rank at coords; periodic dimensions wrap, others refuse out-of-range values (ERR_ARG)."""
        r = 0
        for i, (c, d, p) in enumerate(zip(coords, self.dims, self.periods, strict=True)):
            if not 0 <= c < d:
                if not p:
                    raise MPIException(ERR_ARG, f"coordinate {c} is outside dimension {i} of size {d}, "
                                                "which is not periodic")
                c %= d
            r = r * d + c
        return r

    def shift(self, rank: int, direction: int, disp: int) -> tuple[int, int]:
        """(source, dest) of a shift by disp along direction; PROC_NULL off a non-periodic edge."""
        if not 0 <= direction < len(self.dims):
            raise MPIException(ERR_DIMS, f"direction {direction} is not a dimension of a {len(self.dims)}-D grid")
        me = self.coords(rank)
        d, periodic = self.dims[direction], self.periods[direction]

        def moved(step: int) -> int:
            c = me[direction] + step
            if not 0 <= c < d:
                if not periodic:
                    return PROC_NULL
                c %= d
            at = list(me)
            at[direction] = c
            return self.rank(at)

        return moved(-disp), moved(disp)

    def neighbours(self, rank: int) -> tuple[list[int], list[int]]:
        """(in, out) neighbours in MPI's order: per dimension, the negative then the positive one."""
        out = []
        for direction in range(len(self.dims)):
            out.extend(self.shift(rank, direction, 1))
        return out, list(out)


def cart_sub(topo: CartTopology, rank: int, remain: list[int]) -> tuple[CartTopology, int, int]:
    """The sub-grid keeping the dimensions where remain is true, and (color, key) for a Split that
    puts the processes of one slice together in grid order."""
    coords = topo.coords(rank)
    kept = [i for i, r in enumerate(remain) if r]
    dropped = [i for i, r in enumerate(remain) if not r]
    color = 0
    for i in dropped:
        color = color * topo.dims[i] + coords[i]
    key = 0
    for i in kept:
        key = key * topo.dims[i] + coords[i]
    return CartTopology([topo.dims[i] for i in kept], [topo.periods[i] for i in kept]), color, key



# -- graphs ------------------------------------------------------------------------------------
def graph_args(index: Any, edges: Any) -> tuple[list[int], list[int]]:
    """(index, edges) of Create_graph / Graph_map; mpi4py also takes the standard adjacency form
    whose index starts with 0 and has one more entry."""
    index = int_items(index, "index")
    edges = int_items(edges, "edges")
    if index and index[0] == 0 and index[-1] == len(edges):
        index = index[1:]
    return index, edges


class GraphTopology:
    """A general graph: node i's neighbours are edges[index[i-1]:index[i]]."""

    kind = GRAPH

    def __init__(self, index: list[int], edges: list[int]) -> None:
        self.index = list(index)
        self.edges = list(edges)
        self.size = len(index)

    def check(self, size: int, call: str) -> None:
        """Refuse a graph MPI cannot build on size ranks (ERR_ARG, as Open MPI)."""
        nnodes = len(self.index)
        if nnodes > size:
            raise MPIException(ERR_ARG, f"{call}: a graph of {nnodes} nodes does not fit {size} ranks")
        prev = 0
        for i in self.index:
            if i < prev:
                raise MPIException(ERR_ARG, f"{call}: index must be non-decreasing and >= 0, got {self.index}")
            prev = i
        if nnodes and self.index[-1] != len(self.edges):
            raise MPIException(ERR_ARG, f"{call}: index ends at {self.index[-1]} but there are "
                                        f"{len(self.edges)} edges")
        for e in self.edges:
            if not 0 <= e < nnodes:
                raise MPIException(ERR_ARG, f"{call}: edge to node {e} in a graph of {nnodes} nodes")

    def neighbours_of(self, rank: int) -> list[int]:
        """The neighbours of node rank, in edge order (ERR_RANK for no such node)."""
        if not 0 <= rank < len(self.index):
            raise MPIException(ERR_RANK, f"rank {rank} is not a node of a graph of {len(self.index)} nodes")
        start = self.index[rank - 1] if rank else 0
        return self.edges[start: self.index[rank]]

    def neighbours(self, rank: int) -> tuple[list[int], list[int]]:
        """(in, out) neighbours: the node's edges, both ways."""
        n = self.neighbours_of(rank)
        return n, list(n)


# -- distributed graphs ------------------------------------------------------------------------
def _is_constant(value: Any, constant: int) -> bool:
    """Whether value is that weights constant: the object itself, or a plain int of its value
    (the constant of another module defining MPI.UNWEIGHTED keeps working; weights are never a
    bare int otherwise)."""
    return value is constant or (type(value) is int and value == constant)


def weights_arg(weights: Any, n: int, what: str) -> list[int] | None | _WeightsConstant:
    """Weights as mpi4py reads them: None or UNWEIGHTED (no weights), WEIGHTS_EMPTY (weighted,
    no edges: ValueError with edges), else n non-negative integers (ERR_ARG for a negative one)."""
    if weights is None or _is_constant(weights, UNWEIGHTED):
        return None
    if _is_constant(weights, WEIGHTS_EMPTY):
        if n > 0:
            raise MPIValueError(ERR_ARG, "empty weights but nonzero degree")
        return WEIGHTS_EMPTY
    out = int_items_n(weights, n, what)
    if any(w < 0 for w in out):
        raise MPIException(ERR_ARG, f"{what} must be >= 0, got {out}")
    return out


def check_neighbour_ranks(ranks: list[int], size: int, what: str) -> None:
    """Every neighbour a rank of the communicator (or PROC_NULL, which Open MPI accepts): ERR_ARG."""
    for r in ranks:
        if not (0 <= r < size or r == PROC_NULL):
            raise MPIException(ERR_ARG, f"{what}: {r} is not a rank of a communicator of {size}")


class DistGraphTopology:
    """A distributed graph as one process sees it: its in- and out-edges (with weights or not)."""

    kind = DIST_GRAPH

    def __init__(self, sources: list[int], sourceweights: list[int] | None, destinations: list[int],
                 destweights: list[int] | None, weighted: bool) -> None:
        self.sources = list(sources)
        self.destinations = list(destinations)
        self.weighted = weighted
        self.sourceweights = list(sourceweights) if sourceweights is not None else [1] * len(sources)
        self.destweights = list(destweights) if destweights is not None else [1] * len(destinations)

    def neighbours(self, rank: int) -> tuple[list[int], list[int]]:
        """(in, out) neighbours as given (Create_dist_graph_adjacent) or gathered (Create_dist_graph)."""
        return list(self.sources), list(self.destinations)


def require_topology(topo: Any, kind: int, call: str) -> None:
    """ERR_TOPOLOGY unless topo is a topology of that kind."""
    if topo is None or topo.kind != kind:
        raise MPIException(ERR_TOPOLOGY, f"{call} needs a {('', 'Cartesian', 'graph', 'distributed graph')[kind]} "
                                         "communicator")


# -- the constructors on every intracommunicator ------------------------------------------------
class TopologyMixin:
    """Create_cart, Create_graph, Create_dist_graph(_adjacent), Cart_map, Graph_map and the
    topology queries of every communicator (mixed into Comm; the result classes are in topocomm.py)."""

    _topo: Any = None  # the topology of a topology communicator (set on its state), else None

    def Get_topology(self) -> int:
        """The kind of topology of this communicator: CART, GRAPH, DIST_GRAPH or UNDEFINED."""
        self._check_live()
        return UNDEFINED if self._topo is None else self._topo.kind

    @property
    def topology(self) -> int:
        """The kind of topology (Get_topology)."""
        return self.Get_topology()

    @property
    def is_topo(self) -> bool:
        """Whether this communicator has a topology."""
        return self.Get_topology() != UNDEFINED

    def _with_topology(self, cls_name: str, topo: Any, members: int) -> Any:
        """A new communicator of this one's first `members` ranks carrying topo (collective; the
        other ranks take part and get COMM_NULL, i.e. None)."""
        from . import topocomm

        inside = self.rank < members
        new = self.Split(0 if inside else UNDEFINED, self.rank)
        if new is None:
            return None
        new._topo = topo
        return getattr(topocomm, cls_name)(new)

    def Create_cart(self, dims: Sequence[int], periods: Sequence[bool] | bool | None = None,
                    reorder: bool = False) -> Any:
        """A Cartesian communicator over a dims grid of this communicator's first ranks (collective;
        ranks beyond the grid get COMM_NULL). reorder is accepted; ranks are kept."""
        self._check_live()
        dims = int_items(dims, "dims")
        periods = periods_arg(periods, len(dims))
        check_cart_dims(dims, self.size, "Create_cart")
        topo = CartTopology(dims, periods)
        return self._with_topology("Cartcomm", topo, topo.size)

    def Create_graph(self, index: Sequence[int], edges: Sequence[int], reorder: bool = False) -> Any:
        """A graph communicator over this communicator's first len(index) ranks (collective; the
        others get COMM_NULL). index may also be the standard adjacency form starting with 0."""
        self._check_live()
        topo = GraphTopology(*graph_args(index, edges))
        topo.check(self.size, "Create_graph")
        return self._with_topology("Graphcomm", topo, topo.size)

    def Create_dist_graph_adjacent(self, sources: Sequence[int] | None, destinations: Sequence[int] | None,
                                   sourceweights: Any = None, destweights: Any = None, info: Any = None,
                                   reorder: bool = False) -> Any:
        """A distributed graph communicator where each rank names its own in- and out-neighbours."""
        self._check_live()
        src = [] if sources is None else int_items(sources, "sources")
        sw = weights_arg(sourceweights, len(src), "sourceweights")
        dst = [] if destinations is None else int_items(destinations, "destinations")
        dw = weights_arg(destweights, len(dst), "destweights")
        check_neighbour_ranks(src, self.size, "Create_dist_graph_adjacent sources")
        check_neighbour_ranks(dst, self.size, "Create_dist_graph_adjacent destinations")
        weighted = sw is not None or dw is not None
        topo = DistGraphTopology(src, sw if isinstance(sw, list) else None, dst,
                                 dw if isinstance(dw, list) else None, weighted)
        return self._with_topology("Distgraphcomm", topo, self.size)

    def Create_dist_graph(self, sources: Sequence[int], degrees: Sequence[int], destinations: Sequence[int],
                          weights: Any = None, info: Any = None, reorder: bool = False) -> Any:
        """A distributed graph communicator from any edges any rank names: edge sources[i] ->
        destinations[...] (degrees[i] of them), weighted or not (collective: every rank learns its
        own in- and out-edges)."""
        self._check_live()
        src = int_items(sources, "sources")
        deg = int_items_n(degrees, len(src), "degrees")
        dst = int_items_n(destinations, sum(deg), "destinations")
        w = weights_arg(weights, len(dst), "weights")
        if any(d < 0 for d in deg):
            raise MPIException(ERR_ARG, f"Create_dist_graph: degrees must be >= 0, got {deg}")
        check_neighbour_ranks(src, self.size, "Create_dist_graph sources")
        check_neighbour_ranks(dst, self.size, "Create_dist_graph destinations")
        edges, k = [], 0
        for s, d in zip(src, deg, strict=True):
            for _ in range(d):
                edges.append((s, dst[k], w[k] if isinstance(w, list) else 1))
                k += 1
        # Every rank's edges, everywhere: each keeps those that start or end at itself, in the
        # order of the ranks that named them (Open MPI's order).
        everyone = self.allgather((edges, w is not None))
        me = self.rank
        ins = [(s, wt) for edges_r, _ in everyone for s, d, wt in edges_r if d == me]
        outs = [(d, wt) for edges_r, _ in everyone for s, d, wt in edges_r if s == me]
        weighted = any(flag for _, flag in everyone)
        topo = DistGraphTopology([s for s, _ in ins], [wt for _, wt in ins],
                                 [d for d, _ in outs], [wt for _, wt in outs], weighted)
        return self._with_topology("Distgraphcomm", topo, self.size)

    def Cart_map(self, dims: Sequence[int], periods: Sequence[bool] | bool | None = None) -> int:
        """The rank this process would have in Create_cart(dims, periods, reorder=True): its own
        rank inside the grid, UNDEFINED beyond it."""
        self._check_live()
        dims = int_items(dims, "dims")
        periods_arg(periods, len(dims))
        check_cart_dims(dims, self.size, "Cart_map")
        return self.rank if self.rank < _prod(dims) else UNDEFINED

    def Graph_map(self, index: Sequence[int], edges: Sequence[int]) -> int:
        """The rank this process would have in Create_graph(index, edges, reorder=True)."""
        self._check_live()
        topo = GraphTopology(*graph_args(index, edges))
        topo.check(self.size, "Graph_map")
        return self.rank if self.rank < topo.size else UNDEFINED
