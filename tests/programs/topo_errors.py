"""Compute_dims results and the errors of bad topology arguments, as mpi4py + Open MPI give them:
each case prints its result or the class of what it raised (Python's TypeError / ValueError
first, as mpi4py raises those, else the MPI error class)."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

NAMES = ("ERR_ARG", "ERR_DIMS", "ERR_RANK", "ERR_TOPOLOGY", "ERR_COMM", "ERR_OTHER")


def outcome(fn) -> str:
    try:
        result = fn()
    except BufferError:
        return "BufferError"
    except TypeError:
        return "TypeError"
    except ValueError:
        return "ValueError"
    except MPI.Exception as exc:
        code = exc.Get_error_class()
        return next((n for n in NAMES if getattr(MPI, n) == code), f"ERR_{code}")
    if isinstance(result, MPI.Comm):
        result = (type(result).__name__, result.Get_topology() == MPI.CART)
        return str(result)
    return str(result)


def main() -> None:
    for nnodes, dims in [(1, 0), (1, 3), (6, 2), (6, [0, 0]), (6, [3, 0]), (6, [0, 3]), (6, [3, 2]),
                         (7, 2), (12, 3), (16, 3), (24, 4), (36, 3), (64, 4), (72, 2), (97, 2), (120, 5),
                         (0, 2), (-1, 1), (6, [4, 0]), (6, [3, 3]), (6, [-1, 0]), (7, [3, 0]), (1, -1),
                         (2.0, 1), (4, "ab")]:
        out("Compute_dims", nnodes, dims, outcome(lambda n=nnodes, d=dims: MPI.Compute_dims(n, d)))
    c = COMM
    cases = {
        "cart larger than comm": lambda: c.Create_cart([SIZE + 1]),
        "cart dims not a list": lambda: c.Create_cart(2),
        "cart dims float": lambda: c.Create_cart([1.0]),
        "cart periods too long": lambda: c.Create_cart([SIZE], [1, 1]),
        "cart periods str": lambda: c.Create_cart([1], "a"),
        "graph larger than comm": lambda: c.Create_graph(list(range(1, SIZE + 2)), list(range(SIZE + 1))),
        "dist adjacent source out of range": lambda: c.Create_dist_graph_adjacent([SIZE + 1], [0]),
        "dist adjacent negative source": lambda: c.Create_dist_graph_adjacent([-5], [0]),
        "dist adjacent weights length": lambda: c.Create_dist_graph_adjacent([0], [0], [1, 2], None),
        "dist adjacent negative weight": lambda: c.Create_dist_graph_adjacent([0], [0], [-1], [1]),
        "dist adjacent empty weights with edges": lambda: c.Create_dist_graph_adjacent(
            [0], [0], MPI.WEIGHTS_EMPTY, MPI.WEIGHTS_EMPTY),
        "dist degrees length": lambda: c.Create_dist_graph([0], [1, 1], [0]),
        "dist destination out of range": lambda: c.Create_dist_graph([0], [1], [SIZE + 1]),
        "dist source out of range": lambda: c.Create_dist_graph([SIZE + 1], [1], [0]),
        "Topocomm of a plain comm": lambda: MPI.Topocomm(c),
    }
    for name, fn in cases.items():
        out(name, outcome(fn))
    cart = c.Create_cart([SIZE], [False])
    pcart = c.Create_cart([SIZE], [True])
    graph = c.Create_graph([1] * SIZE if SIZE == 1 else list(range(1, SIZE + 1)), list(range(SIZE)))
    cases = {
        "coords of -1": lambda: cart.Get_coords(-1),
        "cart rank beyond open edge": lambda: cart.Get_cart_rank([SIZE]),
        "cart rank below open edge": lambda: cart.Get_cart_rank([-1]),
        "cart rank wrong length": lambda: cart.Get_cart_rank([0, 0]),
        "cart rank periodic wrap": lambda: pcart.Get_cart_rank([SIZE + 3]),
        "cart rank periodic negative": lambda: pcart.Get_cart_rank([-1]),
        "shift negative direction": lambda: cart.Shift(-1, 1),
        "shift beyond open edge": lambda: cart.Shift(0, SIZE + 1),
        "shift periodic wrap": lambda: pcart.Shift(0, SIZE + 1),
        "sub wrong length": lambda: cart.Sub([1, 1]),
        "Graphcomm of a cart": lambda: MPI.Graphcomm(cart),
        "Distgraphcomm of a cart": lambda: MPI.Distgraphcomm(cart),
        "Cartcomm of a graph": lambda: MPI.Cartcomm(graph),
        "graph neighbours of rank 0": lambda: graph.Get_neighbors(0),
        "plain comm topology": lambda: c.Get_topology() == MPI.UNDEFINED,
        "cart is_topo": lambda: (cart.is_topo, c.is_topo),
        "Cart_map": lambda: c.Cart_map([SIZE]),
        "Graph_map": lambda: c.Graph_map(list(range(1, SIZE + 1)), list(range(SIZE))),
    }
    for name, fn in cases.items():
        out(name, outcome(fn))
    # Bad arguments of the neighbourhood collectives (checked before anything moves).
    deg = 2 * pcart.Get_dim()
    cases = {
        "alltoallv counts length": lambda: pcart.Neighbor_alltoallv(
            [np.zeros(4), ([1] * (deg + 1), list(range(deg + 1)))], [np.zeros(4), ([1] * deg, list(range(deg)))]),
        "alltoallw datatypes length": lambda: pcart.Neighbor_alltoallw(
            [np.zeros(4), ([1] * deg, [0, 8]), [MPI.DOUBLE]], [np.zeros(4), ([1] * deg, [0, 8]), [MPI.DOUBLE] * deg]),
        "alltoall read-only receive buffer": lambda: pcart.Neighbor_alltoall(np.zeros(2), b"\0" * 16),
        "allgather not a buffer": lambda: pcart.Neighbor_allgather(object(), np.zeros(2)),
        "object alltoall length": lambda: pcart.neighbor_alltoall([1, 2, 3]),
        "object alltoall None": lambda: pcart.neighbor_alltoall(None),
        "object allgather": lambda: pcart.neighbor_allgather(RANK),
    }
    for name, fn in cases.items():
        out(name, outcome(fn))
    for comm in (cart, pcart, graph):
        comm.Free()
    out("rank", RANK)
    done()


main()
