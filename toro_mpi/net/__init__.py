"""The network route between nodes: toro_mpi's own messages carried over a real MPI (mpi4py).

A sibling of bus/ in the layers: it imports neither bus nor anything above it, only numpy and
the real `mpi4py.MPI` module handed to it at start-up (see `link.install`). The mpi layer
(mpi/netroute.py) moves messages between a node's virtqueues and this link.
"""
