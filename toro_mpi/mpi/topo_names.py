"""Topology constants: the kinds Comm.Get_topology reports and the weight markers of
distributed graphs. In a module of their own so that the topology code imports them from here
(and MPI re-exports them); values as mpi4py 4.1.2 over Open MPI."""

from __future__ import annotations

CART = 1
GRAPH = 2
DIST_GRAPH = 3
UNWEIGHTED = 2  # Create_dist_graph(..., weights=UNWEIGHTED): edges carry no weights
WEIGHTS_EMPTY = 3  # weights of a process with no edges
