"""The topology communicators mpi4py exposes: Topocomm (degrees, in/out edges, the neighbourhood
collectives of neighbor.py) and its kinds Cartcomm, Graphcomm and Distgraphcomm with their queries.

They are made by the constructors of topology.TopologyMixin (Create_cart, ...), and like mpi4py's
they can wrap another handle of a communicator of their kind (`MPI.Cartcomm(cart)`), while
wrapping one of another kind is a TypeError. Dup and Clone keep the topology and the class;
Split and Create give plain communicators, as MPI says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ERR_RANK, MPIException
from .comm import Comm, Intracomm
from .neighbor import NeighborMixin
from .topology import CART, DIST_GRAPH, GRAPH, cart_sub, int_arg, int_items_n, require_topology


class Topocomm(NeighborMixin, Intracomm):
    """A communicator with a process topology (mpi4py's MPI.Topocomm)."""

    _kind: int | None = None  # the topology kind a subclass wraps (None: any)

    def __new__(cls, *args: Any, **kwargs: Any) -> Topocomm:
        if args and isinstance(args[0], Comm) and args[0]:  # a null handle converts, as in mpi4py
            topo = args[0]._topo
            if topo is None:
                raise TypeError("expecting a topology communicator")
            if cls._kind is not None and topo.kind != cls._kind:
                raise TypeError(f"expecting a {cls._what} communicator")
        return super().__new__(cls, *args, **kwargs)

    _what = "topology"

    def Dup(self, *args: Any, **kwargs: Any) -> Topocomm:
        """A new communicator with the same ranks and topology, and its own contexts."""
        new = Intracomm.Dup(self, *args, **kwargs)
        new._topo = self._topo
        return type(self)(new)

    def Clone(self) -> Topocomm:
        """Dup (keeping the topology and the class)."""
        return self.Dup()

    @property
    def degrees(self) -> tuple[int, int]:
        """Number of incoming and outgoing neighbours."""
        ins, outs = self.inoutedges
        return len(ins), len(outs)

    @property
    def indegree(self) -> int:
        """Number of incoming neighbours."""
        return self.degrees[0]

    @property
    def outdegree(self) -> int:
        """Number of outgoing neighbours."""
        return self.degrees[1]

    @property
    def inoutedges(self) -> tuple[list[int], list[int]]:
        """Incoming and outgoing neighbours, in the neighbourhood collectives' block order."""
        self._check_live()
        return self._topo.neighbours(self.rank)

    @property
    def inedges(self) -> list[int]:
        """Incoming neighbours."""
        return self.inoutedges[0]

    @property
    def outedges(self) -> list[int]:
        """Outgoing neighbours."""
        return self.inoutedges[1]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name or 'unnamed'} rank {self.rank} of {self.size}>"


class Cartcomm(Topocomm):
    """A communicator with a Cartesian topology (mpi4py's MPI.Cartcomm)."""

    _kind = CART
    _what = "Cartesian"

    def _cart(self) -> Any:
        self._check_live()
        require_topology(self._topo, CART, "Cartcomm")
        return self._topo

    def Get_dim(self) -> int:
        """Number of dimensions."""
        return self._cart().ndim

    @property
    def dim(self) -> int:
        """Number of dimensions."""
        return self.Get_dim()

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.Get_dim()

    def Get_topo(self) -> tuple[list[int], list[int], list[int]]:
        """Return (dims, periods, coords of this process)."""
        t = self._cart()
        return list(t.dims), list(t.periods), t.coords(self.rank)

    @property
    def topo(self) -> tuple[list[int], list[int], list[int]]:
        """(dims, periods, coords)."""
        return self.Get_topo()

    @property
    def dims(self) -> list[int]:
        """The grid's dimensions."""
        return self.Get_topo()[0]

    @property
    def periods(self) -> list[int]:
        """Periodicity of each dimension (1 or 0)."""
        return self.Get_topo()[1]

    @property
    def coords(self) -> list[int]:
        """This process's coordinates."""
        return self.Get_topo()[2]

    def Get_cart_rank(self, coords: Sequence[int]) -> int:
        """The rank at coords (periodic dimensions wrap; ERR_ARG outside a non-periodic one)."""
        t = self._cart()
        return t.rank(int_items_n(coords, t.ndim, "coords"))

    def Get_coords(self, rank: int) -> list[int]:
        """The coordinates of rank (ERR_RANK for no such rank)."""
        rank = int_arg(rank, "rank")
        t = self._cart()
        if not 0 <= rank < self.size:
            raise MPIException(ERR_RANK, f"rank {rank} is out of range for a communicator of size {self.size}")
        return t.coords(rank)

    def Shift(self, direction: int, disp: int) -> tuple[int, int]:
        """Return (source, dest) for a shift of disp along direction: PROC_NULL beyond a non-periodic edge."""
        direction = int_arg(direction, "direction")
        disp = int_arg(disp, "disp")
        return self._cart().shift(self.rank, direction, disp)

    def Sub(self, remain_dims: Sequence[bool]) -> Cartcomm:
        """The sub-grid through this process keeping the dimensions where remain_dims is true
        (collective: every process gets the Cartcomm of its slice)."""
        t = self._cart()
        remain = int_items_n(remain_dims, t.ndim, "remain_dims")
        sub, color, key = cart_sub(t, self.rank, remain)
        new = Intracomm.Split(self, color, key)
        new._topo = sub
        return Cartcomm(new)

    def Map(self, dims: Sequence[int], periods: Any = None) -> int:
        """Cart_map on this communicator (older mpi4py's Cartcomm.Map)."""
        return self.Cart_map(dims, periods)


class Graphcomm(Topocomm):
    """A communicator with a general graph topology (mpi4py's MPI.Graphcomm)."""

    _kind = GRAPH
    _what = "general graph"

    def _graph(self) -> Any:
        self._check_live()
        require_topology(self._topo, GRAPH, "Graphcomm")
        return self._topo

    def Get_dims(self) -> tuple[int, int]:
        """Return (number of nodes, number of edges)."""
        t = self._graph()
        return len(t.index), len(t.edges)

    @property
    def dims(self) -> tuple[int, int]:
        """Return (number of nodes, number of edges)."""
        return self.Get_dims()

    @property
    def nnodes(self) -> int:
        """Number of nodes."""
        return self.Get_dims()[0]

    @property
    def nedges(self) -> int:
        """Number of edges."""
        return self.Get_dims()[1]

    def Get_topo(self) -> tuple[list[int], list[int]]:
        """Return (index, edges) as given to Create_graph (index without a leading 0)."""
        t = self._graph()
        return list(t.index), list(t.edges)

    @property
    def topo(self) -> tuple[list[int], list[int]]:
        """(index, edges)."""
        return self.Get_topo()

    @property
    def index(self) -> list[int]:
        """The cumulative neighbour counts."""
        return self.Get_topo()[0]

    @property
    def edges(self) -> list[int]:
        """The flattened neighbour lists."""
        return self.Get_topo()[1]

    def Get_neighbors_count(self, rank: int) -> int:
        """Number of neighbours of rank."""
        return len(self.Get_neighbors(rank))

    @property
    def nneighbors(self) -> int:
        """Number of neighbours of this process."""
        return self.Get_neighbors_count(self.rank)

    def Get_neighbors(self, rank: int) -> list[int]:
        """The neighbours of rank, in edge order (ERR_RANK for no such rank)."""
        rank = int_arg(rank, "rank")
        return self._graph().neighbours_of(rank)

    @property
    def neighbors(self) -> list[int]:
        """The neighbours of this process."""
        return self.Get_neighbors(self.rank)

    def Map(self, index: Sequence[int], edges: Sequence[int]) -> int:
        """Graph_map on this communicator (older mpi4py's Graphcomm.Map)."""
        return self.Graph_map(index, edges)


class Distgraphcomm(Topocomm):
    """A communicator with a distributed graph topology (mpi4py's MPI.Distgraphcomm)."""

    _kind = DIST_GRAPH
    _what = "distributed graph"

    def _dist(self) -> Any:
        self._check_live()
        require_topology(self._topo, DIST_GRAPH, "Distgraphcomm")
        return self._topo

    def Get_dist_neighbors_count(self) -> tuple[int, int, bool]:
        """Return (indegree, outdegree, weighted)."""
        t = self._dist()
        return len(t.sources), len(t.destinations), t.weighted

    def Get_dist_neighbors(self) -> tuple[list[int], list[int], tuple[list[int], list[int]] | None]:
        """Return (sources, destinations, (sourceweights, destweights) or None when unweighted)."""
        t = self._dist()
        weights = (list(t.sourceweights), list(t.destweights)) if t.weighted else None
        return list(t.sources), list(t.destinations), weights
