"""Two-level collectives across nodes (a job of several nodes, `toro-mpirun --nodes K`).

A communicator whose ranks live on more than one node runs Barrier, Bcast, Reduce and
Allreduce (and Allgather, Gather, Scatter, below) in three phases (as MPICH's SMP collectives,
Open MPI's HAN, MVAPICH's two-level):

1. node-local, on the bus: the ranks of each node reduce to (or, for Barrier, meet at) their
   node's *representative*, with the usual plans (coll/schedules.py) over that node's ranks;
2. the representatives, one per node, over the network: point-to-point mpi4py nonblocking
   calls on a communicator of their own (net/leaders.py), each step waited for through the
   rank's scheduler, so the rank keeps moving its bus and network traffic, and a dead peer,
   an abort or `--timeout` end the wait as for any other blocking call;
3. node-local again: the representative broadcasts the result (Bcast, Allreduce) or
   releases its node's ranks (Barrier).

The representative of a node is its lowest rank in the communicator, except on the root's
node of a Bcast or Reduce, where it is the root itself (no extra hop to the root).
Allgather (`NetAllgather`) gathers the node's blocks at its lowest rank, the representatives
exchange them in one round and put them in rank order, and the node broadcasts the whole;
Gather and Scatter (`gather`, `scatter`) meet at the representatives, which exchange each
node's part with the root in one message.

Which calls go two-level (every rank decides alike, from the node map, the call's shape and
its operator alone, so both levels never mix): Barrier and Bcast always; Reduce and Allreduce
when the result cannot depend on the grouping of the contributions: a predefined operator
over integers and booleans, or MIN, MAX, MINLOC, MAXLOC, the logical and bitwise operators
over any type. A float or complex SUM or PROD goes two-level only where its grouping *is* the
one-node algorithm's (mpi/hosted.py's `same_tree`: a power-of-two communicator whose nodes hold
aligned blocks of B consecutive ranks, B a power of two, an Allreduce below the ring size or a
Reduce whose root starts a block): the node's binomial reduction then sums its block as a
pairwise tree, and the leaders' recursive doubling or binomial tree combines the blocks as the
one-node algorithm does, so the bits are the same as on one node. Elsewhere (user operators,
commutative or not; float sums on 2+1 nodes, a root inside a block, an Allreduce of ring size)
the call runs the one-node algorithm over the bus and the network route: the same answer as one
node, bit for bit, at the cost of more network messages.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..coll import elementwise as E
from ..coll import schedules as S
from ..coll.engine import local_reduce
from ..errors import ERR_COMM, ERR_INTERN, MPIException
from ..net import leaders as LN
from .hosted import order_free

KINDS = frozenset(("Bcast", "Reduce", "Allreduce"))
_EMPTY_U8 = np.empty(0, np.uint8)
# Testall calls before a leaders' step waits through the scheduler (see _waiter).
_SPIN_TESTS = 400


class NodeLayout:
    """Where a communicator's ranks live: its ranks by node, this rank's node and place."""

    __slots__ = ("groups", "node", "local", "li", "local_world", "ranks", "block", "node_of_rank", "tag")

    def __init__(self, node_of: list[int], ranks: list[int], me: int, tag: int) -> None:
        nodes = [node_of[w] for w in ranks]
        members: dict[int, list[int]] = {}
        for i, nd in enumerate(nodes):
            members.setdefault(nd, []).append(i)
        self.groups = list(members.values())  # comm ranks of each node; nodes by their lowest rank
        index = {nd: g for g, nd in enumerate(members)}
        self.node_of_rank = [index[nd] for nd in nodes]
        self.node = self.node_of_rank[me]
        self.local = self.groups[self.node]
        self.li = self.local.index(me)
        self.local_world = [ranks[i] for i in self.local]
        self.ranks = ranks
        self.tag = tag
        # B when the size and every node's share are powers of two and each node holds the
        # aligned block of B consecutive ranks; else 0 (see the module docstring).
        n, b = len(ranks), len(self.local)
        aligned = (n & (n - 1) == 0 and b & (b - 1) == 0 and len(self.groups) * b == n
                   and all(g == list(range(g[0], g[0] + b)) and g[0] % b == 0 for g in self.groups))
        self.block = b if aligned else 0

    def reps(self, root: int) -> list[int]:
        """Each node's representative (comm ranks): its lowest rank, the root on root's node
        (root < 0: no root)."""
        out = [g[0] for g in self.groups]
        if root >= 0:
            out[self.node_of_rank[root]] = root
        return out


def layout_of(comm: Any) -> NodeLayout | None:
    """The communicator's two-level layout, or None where one level is the right algorithm
    (one node, no leaders' network, ranks hosted as green threads); kept in the communicator."""
    try:
        return comm.__dict__["_net_layout"]
    except KeyError:
        pass
    engine = comm._engine
    net = LN.current()
    layout = None
    if engine.net is not None and net is not None and engine.host_of is None and comm.size > 1:
        node_of = net.link.node_of
        if len({node_of[w] for w in comm._ranks}) > 1:
            layout = NodeLayout(node_of, list(comm._ranks), comm.rank, net.tag(comm._coll_ctx))
    comm.__dict__["_net_layout"] = layout
    return layout


def _waiter(comm: Any, kind: str) -> Any:
    """wait(requests): block this rank in the scheduler until every request is complete."""
    engine = comm._engine
    testall = LN.current().MPI.Request.Testall
    what = (kind, -2, 0)  # -2: no one peer (as a hosted group waits)

    def wait(reqs: list[Any]) -> None:
        # First a short spell of the MPI's progress alone: a pass of the scheduler also pumps
        # the network route (a matched probe, several times a Testall's cost), and its back-off
        # soon dozes on a doorbell that no network arrival rings. Then the scheduler's wait.
        for i in range(_SPIN_TESTS):
            if testall(reqs):
                return
            if i & 7 == 7:
                os.sched_yield()  # the peer (or its TCP delivery) may need this core
        engine.sched.wait(lambda: testall(reqs), what)

    return wait


def _leaders_failed(comm: Any, exc: BaseException) -> MPIException:
    """The network to another node failed (a rank there died): abort the job here, as the route does."""
    return comm._engine.net._link_failed(exc)


class NetSite:
    """One two-level Bcast, Reduce or Allreduce call, its arguments resolved; kept as the call
    site's hot record (interface of a coll.engine.HotRun: `call(addr)` returns 0) so a repeated
    call skips argument parsing."""

    __slots__ = ("comm", "layout", "kind", "root", "op", "code", "send", "recv", "dtype", "recv_dtype", "count",
                 "freed", "addr", "call", "rep_li", "peers", "me", "root_node", "acc", "tmp", "wait", "seg",
                 "combine")

    def __init__(self, comm: Any, layout: NodeLayout, kind: str, root: int, send: np.ndarray, recv: np.ndarray,
                 op: Any) -> None:
        self.comm, self.layout, self.kind, self.root, self.op = comm, layout, kind, root, op
        self.code = 0 if op is None else op.code
        self.send, self.recv = send, recv
        self.dtype, self.recv_dtype = send.dtype, recv.dtype
        self.count = send.size
        self.freed = False
        self.addr, self.call = self, NetSite.run
        reps = layout.reps(root if kind != "Allreduce" else -1)
        self.rep_li = layout.local.index(reps[layout.node])
        self.peers = [layout.ranks[r] for r in reps]
        self.me = layout.node
        self.root_node = layout.node_of_rank[root] if kind != "Allreduce" else 0
        self.seg = max(1, comm._seg_bytes // max(1, send.itemsize))
        is_rep = layout.li == self.rep_li
        # The representative's accumulator: the caller's recv where that is where the result
        # goes (Allreduce; Reduce at the root), else an array of the site's own.
        if kind == "Reduce" and is_rep and comm.rank != root:
            self.acc = np.empty(self.count, send.dtype)
        else:
            self.acc = recv
        self.tmp = np.empty(self.count if kind != "Bcast" and is_rep else 0, send.dtype)
        self.wait = _waiter(comm, kind)
        code = self.code
        self.combine = lambda incoming, acc: local_reduce(code, incoming, acc)

    def free(self) -> None:
        """The communicator is freed: a record kept from before raises ERR_COMM."""
        self.freed = True

    def stop(self, st: int) -> None:
        """Never needed (run returns 0); part of the hot record's interface."""
        raise MPIException(ERR_INTERN, f"a two-level call stopped with code {st}")

    def _local(self, what: str, key: tuple, build: Any, send: np.ndarray, recv: np.ndarray) -> None:
        """Run a plan over this node's ranks of the communicator (on the bus)."""
        comm = self.comm
        plan = comm._plan(("net", what, *key), what, build, self.code if what == "Reduce" else 0,
                          self.layout.local_world)
        tmp = comm._scratch(plan.tmp_count, send.dtype)
        comm._coll.execute(plan, send, recv, tmp)

    def run(self) -> int:
        """The three phases (module docstring); 0 (done)."""
        if self.freed:
            raise MPIException(ERR_COMM, "the communicator has been freed")
        lay, kind, count, seg, rl = self.layout, self.kind, self.count, self.seg, self.rep_li
        b, li = len(lay.local), lay.li
        is_rep = li == rl
        net = LN.current()
        try:
            if kind == "Bcast":
                data = self.recv
                if is_rep and len(self.peers) > 1:
                    net.bcast(self.peers, self.me, self.root_node, data.reshape(-1).view(np.uint8), lay.tag,
                              self.wait)
                if b > 1:
                    self._local("Bcast", (rl, count, data.dtype), lambda: S.bcast(b, li, rl, count, seg), data, data)
                return 0
            acc = self.acc
            if b > 1:
                self._local("Reduce", (rl, count, self.dtype, self.code),
                            lambda: S.reduce(b, li, rl, count, seg, True), self.send,
                            acc if is_rep else acc[:0])
            elif acc is not self.send:
                acc[...] = self.send
            if is_rep and len(self.peers) > 1:
                if kind == "Allreduce":
                    net.allreduce(self.peers, self.me, acc, self.tmp, lay.tag, self.combine, self.wait)
                else:
                    net.reduce(self.peers, self.me, self.root_node, acc, self.tmp, lay.tag, self.combine, self.wait)
            if kind == "Allreduce" and b > 1:
                self._local("Bcast", (rl, count, self.dtype), lambda: S.bcast(b, li, rl, count, seg), acc, acc)
        except net.Error as exc:
            raise _leaders_failed(self.comm, exc) from None
        return 0


class NetAllgather:
    """A two-level Allgather: the node's blocks gathered at its lowest rank, the nodes' blocks
    exchanged by those over the network and put in rank order, the whole broadcast on the node."""

    def __init__(self, comm: Any, layout: NodeLayout, count: int) -> None:
        self.comm, self.layout, self.count = comm, layout, count
        self.parts = [np.empty(len(g) * count, np.uint8) for g in layout.groups]  # the nodes' blocks
        self.peers = [layout.ranks[r] for r in layout.reps(-1)]
        self.wait = _waiter(comm, "Allgather")

    def run(self, send: np.ndarray, recv: np.ndarray) -> None:
        """send: this rank's block (bytes); recv: the whole result (bytes, rank order)."""
        comm, lay, count = self.comm, self.layout, self.count
        b, li, total = len(lay.local), lay.li, count * comm.size
        mine = self.parts[lay.node]
        if b > 1:
            plan = comm._plan(("net", "Gather", b, count), "Gather", lambda: S.gather(b, li, 0, count), 0,
                              lay.local_world)
            comm._coll.execute(plan, send, mine if li == 0 else _EMPTY_U8, comm._scratch(plan.tmp_count, np.uint8))
        else:
            mine[...] = send
        if li == 0:
            net = LN.current()
            try:
                net.allgather(self.peers, lay.node, self.parts, lay.tag, self.wait)
            except net.Error as exc:
                raise _leaders_failed(comm, exc) from None
            for g, part in zip(lay.groups, self.parts, strict=True):
                for j, r in enumerate(g):
                    recv[r * count:(r + 1) * count] = part[j * count:(j + 1) * count]
        if b > 1:
            seg = comm._seg_bytes
            plan = comm._plan(("net", "Bcast", 0, total, np.dtype(np.uint8)), "Bcast",
                              lambda: S.bcast(b, li, 0, total, seg), 0, lay.local_world)
            comm._coll.execute(plan, recv, recv, comm._scratch(plan.tmp_count, np.uint8))


def allgather(comm: Any, count: int, send: np.ndarray, recv: np.ndarray) -> bool:
    """Run an Allgather of count bytes per rank two-level when the communicator spans nodes;
    False: run the one-node algorithm. In place, send is this rank's block of recv."""
    layout = layout_of(comm)
    if layout is None or count == 0:
        return False
    sites = comm.__dict__.setdefault("_net_allgather", {})
    site = sites.get(count)
    if site is None:
        site = sites[count] = NetAllgather(comm, layout, count)
    site.run(send, recv)
    return True


def _rooted(comm: Any, count: int, root: int, kind: str) -> tuple[Any, ...] | None:
    """What a Gather or Scatter (kind) of count bytes per rank that goes two-level needs, else
    None: (layout, representatives, each node's part (bytes, its ranks in comm order), wait,
    ranks on this node, this rank's index there, its representative's index there, this node's
    part)."""
    layout = layout_of(comm)
    if layout is None or count == 0:
        return None
    reps = layout.reps(root)
    parts = [np.empty(len(g) * count, np.uint8) for g in layout.groups]
    rl = layout.local.index(reps[layout.node])
    return (layout, reps, parts, _waiter(comm, kind), len(layout.local), layout.li, rl,
            parts[layout.node])


def gather(comm: Any, root: int, count: int, send: np.ndarray, recv: np.ndarray) -> bool:
    """A Gather two-level when the communicator spans nodes (each node gathers at its
    representative, which sends its part to the root); False: the one-node algorithm."""
    got = _rooted(comm, count, root, "Gather")
    if got is None:
        return False
    lay, reps, parts, wait, b, li, rl, mine = got
    if b > 1:
        plan = comm._plan(("net", "Gather", b, rl, count), "Gather", lambda: S.gather(b, li, rl, count), 0,
                          lay.local_world)
        comm._coll.execute(plan, send, mine if li == rl else _EMPTY_U8, comm._scratch(plan.tmp_count, np.uint8))
    else:
        mine[...] = send
    if li != rl:
        return True
    net = LN.current()
    root_node = lay.node_of_rank[root]
    world = lay.ranks
    try:
        if comm.rank == root:
            net.exchange([], [(parts[g], world[reps[g]]) for g in range(len(parts)) if g != root_node], lay.tag, wait)
        else:
            net.exchange([(mine, world[root])], [], lay.tag, wait)
    except net.Error as exc:
        raise _leaders_failed(comm, exc) from None
    if comm.rank == root:
        for g, part in zip(lay.groups, parts, strict=True):
            for j, r in enumerate(g):
                recv[r * count:(r + 1) * count] = part[j * count:(j + 1) * count]
    return True


def scatter(comm: Any, root: int, count: int, send: np.ndarray, recv: np.ndarray, inplace: bool) -> bool:
    """A Scatter two-level when the communicator spans nodes (the root sends each node its part,
    whose representative scatters it on the node); False: the one-node algorithm."""
    got = _rooted(comm, count, root, "Scatter")
    if got is None:
        return False
    lay, reps, parts, wait, b, li, rl, mine = got
    if li == rl:
        net = LN.current()
        root_node = lay.node_of_rank[root]
        world = lay.ranks
        try:
            if comm.rank == root:
                for g, part in zip(lay.groups, parts, strict=True):
                    for j, r in enumerate(g):
                        part[j * count:(j + 1) * count] = send[r * count:(r + 1) * count]
                net.exchange([(parts[g], world[reps[g]]) for g in range(len(parts)) if g != root_node], [],
                             lay.tag, wait)
            else:
                net.exchange([], [(mine, world[root])], lay.tag, wait)
        except net.Error as exc:
            raise _leaders_failed(comm, exc) from None
    if b > 1:
        keep = inplace and comm.rank == root  # the root's own block stays where it is
        plan = comm._plan(("net", "Scatter", b, rl, count, keep), "Scatter",
                          lambda: S.scatter(b, li, rl, count, keep), 0, lay.local_world)
        comm._coll.execute(plan, mine if li == rl else _EMPTY_U8, recv, comm._scratch(plan.tmp_count, np.uint8))
    elif not inplace:
        recv[:count] = mine
    return True


def run(comm: Any, kind: str, key: tuple, send: np.ndarray, recv: np.ndarray, op: Any) -> NetSite | None:
    """Run a Bcast, Reduce or Allreduce two-level when it goes so (module docstring) and return
    its site (the hot record of a repeated call); None: run the one-node algorithm. `key` is the
    call's plan key (key[1]: the root of a Bcast or Reduce)."""
    layout = layout_of(comm)
    if layout is None or send.size == 0:
        return None
    root = key[1] if kind in ("Bcast", "Reduce") else -1
    if kind != "Bcast":
        code = op.code
        if code == E.OP_USER or not op.commutative:
            return None
        if not order_free(code, send.dtype) and not _same_tree(comm, layout, kind, code, root, send):
            return None
    site = NetSite(comm, layout, kind, root, send, recv, op)
    site.run()
    return site


def _same_tree(comm: Any, layout: NodeLayout, kind: str, code: int, root: int, send: np.ndarray) -> bool:
    """Whether a SUM or PROD of any type combines in the one-node algorithm's grouping two-level."""
    if code not in (E.OP_SUM, E.OP_PROD) or not layout.block:
        return False
    if kind == "Allreduce":
        # One node's Allreduce rings from allreduce_ring_min_bytes on (when count >= n).
        return not (comm._large(send.nbytes, "allreduce_ring_min_bytes") and send.size >= comm.size)
    return root % layout.block == 0


class NetBarrier:
    """A communicator's Barrier across nodes once it has run (installed as its attribute): the
    node's ranks meet, the nodes' lowest ranks meet over the network, the node's ranks meet again."""

    __slots__ = ("comm", "layout", "wait", "peers")

    def __init__(self, comm: Any, layout: NodeLayout) -> None:
        self.comm, self.layout = comm, layout
        self.wait = _waiter(comm, "Barrier")
        self.peers = [layout.ranks[r] for r in layout.reps(-1)]

    def __call__(self) -> None:
        """Block until every rank of the communicator has called Barrier."""
        comm, lay = self.comm, self.layout
        if comm._freed:
            raise MPIException(ERR_COMM, "the communicator has been freed")
        b, li = len(lay.local), lay.li
        if b > 1:
            self._local()
        if li == 0:
            net = LN.current()
            try:
                net.barrier(self.peers, lay.node, lay.tag, self.wait)
            except net.Error as exc:
                raise _leaders_failed(comm, exc) from None
        if b > 1:
            self._local()

    def _local(self) -> None:
        comm, lay = self.comm, self.layout
        b, li = len(lay.local), lay.li
        plan = comm._plan(("net", "Barrier", b), "Barrier", lambda: S.barrier(b, li), 0, lay.local_world)
        comm._coll.execute(plan, _EMPTY_U8, _EMPTY_U8, comm._scratch(plan.tmp_count, _EMPTY_U8.dtype))


def barrier(comm: Any) -> bool:
    """Run comm's Barrier two-level when its ranks span nodes (and make that its Barrier); False:
    run the one-node algorithm."""
    layout = layout_of(comm)
    if layout is None:
        return False
    call = NetBarrier(comm, layout)
    comm._install_barrier(call)
    call()
    return True
