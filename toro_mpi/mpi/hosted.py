"""Two-level collectives for ranks hosted as green threads of one process (toro_mpi.hosting).

Ranks that share a process share memory, so within a process a collective needs no bus at all:
the ranks of a communicator that live in this process meet in a `LocalGroup`. Each one arrives
(adding its contribution to the group's buffer), the last to arrive runs the collective between
the processes, on behalf of them all, with the queues of the group's *leader* (its lowest
communicator rank), and every other rank parks in the scheduler until the group's generation
changes, then takes its result from the group's buffer. Between processes the usual schedules
run over the leaders only: with 2 processes a barrier is one message each way, whatever the
number of ranks.

Every rank of a communicator decides alike whether to use this (from the job's rank -> process
map alone), so the leaders' traffic never meets the traffic of the one-level algorithms.
A program gets bit for bit what the one-level algorithms give. That holds by itself for calls
whose result does not depend on the order in which contributions are combined: Barrier, Bcast,
and Reduce/Allreduce with a predefined operator over integers and booleans, or with MIN, MAX,
MINLOC, MAXLOC or the logical and bitwise operators over any type. A float or complex SUM or PROD
rounds differently for each grouping of its operands (a + b == b + a holds exactly, but not
(a + b) + c == a + (b + c)), so it goes two-level only where the two-level grouping *is* the
one-level one (`same_tree`): a power-of-two communicator whose processes hold aligned blocks of B
consecutive ranks, B a power of two. The one-level recursive doubling (Allreduce below the ring
threshold) and binomial tree (Reduce with a root that starts a block) then sum each block as a
pairwise tree first, ((a0 + a1) + (a2 + a3)) for B = 4, and the blocks' sums in the same pattern
after: the local group combines its block in that same pairwise tree (`LocalGroup.tree_combine`,
whatever order the ranks arrive in) and the leaders run the same algorithm over the blocks.
Elsewhere (3 ranks, blocks of 3, a root inside a block, a ring-sized Allreduce) it stays one-level.

This module is the whole of the two-level dispatch: which calls go two-level (`run_two_level`,
`hosted_barrier`), the local meeting (`LocalGroup`, `TwoLevelSite`, `LocalBarrier`) and the
leaders' part between the processes (`run_leaders`). The communicator's checked paths
(mpi/collectives.py) call in here; the hot records it leaves are kept by mpi/hot_sites.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from greenlet import getcurrent

from ..coll import elementwise as E
from ..coll import interpreter as I
from ..coll import schedules as S
from ..coll.engine import local_reducer
from ..errors import ERR_COMM, ERR_COUNT, ERR_INTERN, MPIException

# The calls that ranks hosted together run in two levels (Barrier has its own shorter path,
# hosted_barrier).
TWO_LEVEL_KINDS = frozenset(("Bcast", "Reduce", "Allreduce"))
_U8 = np.dtype(np.uint8)
_EMPTY_U8 = np.empty(0, np.uint8)
_EXACT_OPS = frozenset((E.OP_MIN, E.OP_MAX, E.OP_LAND, E.OP_LOR, E.OP_LXOR, E.OP_BAND, E.OP_BOR, E.OP_BXOR,
                        E.OP_MAXLOC, E.OP_MINLOC))


def order_free(code: int, dtype: np.dtype) -> bool:
    """Whether a reduction's result is the same whatever order the contributions combine in."""
    if code in _EXACT_OPS:
        return True
    return code in (E.OP_SUM, E.OP_PROD) and dtype.kind in "biu"


def same_tree(layout: Layout, kind: str, code: int, root: int, nbytes: int, ring_min: int) -> bool:
    """Whether a SUM or PROD of any type combines in the same grouping two-level as one-level
    (see the module docstring): aligned power-of-two blocks, and an algorithm that sums them so."""
    if code not in (E.OP_SUM, E.OP_PROD) or not layout.block:
        return False
    if kind == "Allreduce":
        return nbytes < ring_min  # the ring reduce-scatter groups by blocks of the vector instead
    return kind == "Reduce" and root % layout.block == 0


class Layout:
    """Where a communicator's ranks live: this process's members, the leaders of all processes."""

    __slots__ = ("local", "leaders", "leader", "index", "key", "block", "_first", "_hosts")

    def __init__(self, host_of: list[int], ranks: list[int], me: int, ctx: int) -> None:
        hosts = [host_of[w] for w in ranks]
        mine = hosts[me]
        self.local = [i for i, h in enumerate(hosts) if h == mine]
        first: dict[int, int] = {}
        for i, h in enumerate(hosts):
            first.setdefault(h, i)
        self.leaders = sorted(first.values())  # comm ranks, one per process, in comm order
        self.leader = self.local[0]
        self.index = self.leaders.index(self.leader)  # this process's place among the leaders
        self.key = (ctx, tuple(ranks))
        self._first = first
        self._hosts = hosts
        # B when the communicator's size and every process's share are powers of two and each
        # process holds the aligned block of B consecutive ranks; else 0 (see same_tree).
        n, b = len(ranks), len(self.local)
        aligned = (n & (n - 1) == 0 and b & (b - 1) == 0 and len(first) * b == n
                   and all(hosts[i] == hosts[i - i % b] for i in range(n)))
        self.block = b if aligned else 0

    def leader_index(self, rank: int) -> int:
        """Place among the leaders of the process that holds communicator rank `rank`."""
        return self.leaders.index(self._first[self._hosts[rank]])


def layout_for(engine: Any, ranks: list[int], me: int, ctx: int) -> Layout | None:
    """The two-level layout of a communicator, or None where one level is the right algorithm
    (not hosted, or no process holds two of its ranks)."""
    host_of = getattr(engine, "host_of", None)
    if host_of is None or len(ranks) < 2:
        return None
    hosts = [host_of[w] for w in ranks]
    if len(set(hosts)) == len(hosts):
        return None
    return Layout(host_of, ranks, me, ctx)


class LocalGroup:
    """The meeting point of one communicator's ranks in this process (shared by their Comms)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.arrived = 0
        self.generation = 0
        self.leader: Any = None  # the leader rank's Comm: its queues carry the leaders' collective
        self.error: BaseException | None = None
        self.parked: list[Any] = []  # green threads of the ranks waiting for the release
        self.barrier: Any = None  # the leaders' barrier (a coll.engine.HotRun), built once
        self.acc: np.ndarray | None = None  # contributions combined so far (Bcast: the data)
        self.out: np.ndarray | None = None  # the processes' part writes the result here
        # (acc, out) of the last released call: the parked ranks copy their result from these.
        self.result: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        # Two sets of (acc, out), used by alternate generations: the rank that ran the processes'
        # part may start the next call (and fill its acc) before the parked ranks have copied
        # their result, but the next one cannot be released before they arrive again.
        # The third of a set: an empty view of its out, where a non-root process of a Reduce
        # receives nothing (the same object every time, so its hot record is found again).
        self._sets: list[list[np.ndarray | None]] = [[None, None, None], [None, None, None]]
        self.nothing: np.ndarray | None = None  # this generation's empty view of out
        # One row per member for tree_combine: filled before the last arrival, used up by it, so
        # one set serves every generation.
        self._rows: np.ndarray | None = None

    def buffer(self, like: np.ndarray) -> np.ndarray:
        """This generation's accumulator, sized and typed like `like` (reused between calls)."""
        pair = self._sets[self.generation & 1]
        acc = pair[0]
        if acc is None or acc.dtype != like.dtype or acc.size != like.size:
            acc = pair[0] = np.empty(like.size, like.dtype)
            out = pair[1] = np.empty(like.size, like.dtype)
            pair[2] = out[:0]
        self.acc, self.out, self.nothing = acc, pair[1], pair[2]
        return acc

    def stage(self, slot: int, like: np.ndarray) -> np.ndarray:
        """Row `slot` of the block's contributions, for tree_combine (rows reused between calls)."""
        rows = self._rows
        if rows is None or rows.dtype != like.dtype or rows.shape != (self.size, like.size):
            rows = self._rows = np.empty((self.size, like.size), like.dtype)
        return rows[slot]

    def tree_combine(self, code: int) -> None:
        """acc = the staged rows combined as a pairwise tree in row order: ((r0 op r1) op (r2 op r3))
        for 4, the grouping the one-level algorithms give a block (see same_tree)."""
        rows, acc = self._rows, self.acc
        assert rows is not None and acc is not None
        words, fn = local_reducer(code, acc.size, acc.dtype)
        step = 1
        while step < self.size:
            for i in range(0, self.size, 2 * step):
                # rows[i] = rows[i + step] op rows[i]: SUM and PROD commute exactly, so only the
                # grouping matters, not the operand order.
                st = fn(words, rows[i + step], rows[i], rows[i][:0])
                if st != I.DONE:
                    raise MPIException(ERR_INTERN, f"local reduction stopped with code {st}")
            step *= 2
        np.copyto(acc, rows[0])


def group_for(engine: Any, layout: Layout) -> LocalGroup:
    """The process's LocalGroup of a communicator (created by whichever member comes first)."""
    groups = engine.local_groups
    group = groups.get(layout.key)
    if group is None:
        group = groups[layout.key] = LocalGroup(len(layout.local))
    return group


def arrive(comm: Any, group: LocalGroup, is_leader: bool, what: tuple) -> bool:
    """Count this rank in; True if it is the last of its process's ranks to arrive (it must then
    run the processes' part and call `release`), else park until the group is released.

    `is_leader`: comm is the group leader's (its queues carry the processes' part); `what`: the
    call, as the deadlock report names it. The rank notes that itself and parks quietly: the
    scheduler's on_block hook, twice per park, cost a tenth of a hosted rank step."""
    if is_leader:
        group.leader = comm
    arrived = group.arrived + 1
    if arrived < group.size:
        group.arrived = arrived
        group.parked.append(getcurrent())
        engine = comm._engine
        engine.blocked_what = what
        try:
            engine.sched.park_quietly()
        finally:
            engine.blocked_what = None
        if group.error is not None:
            raise group.error
        return False
    group.arrived = 0
    group.error = None
    return True


def release(group: LocalGroup, error: BaseException | None = None) -> None:
    """Let the parked ranks of the group go (with the error of the processes' part, if any)."""
    group.error = error
    group.result = (group.acc, group.out)
    group.generation += 1
    parked, group.parked = group.parked, []
    group.leader._engine.sched.unpark(parked)


def lead(group: LocalGroup, work: Any) -> None:
    """The last rank in runs work() (the processes' part), then releases the group, passing any
    error of work() on to the parked ranks as well."""
    error = None
    try:
        work()
    except BaseException as exc:
        error = exc
        raise
    finally:
        release(group, error)


BARRIER_WAIT = ("Barrier", -2, 0)  # what a rank parked in a local barrier is blocked in


class LocalBarrier:
    """A hosted rank's `comm.Barrier` after its first call (installed as the instance's attribute):
    arrive, and as the last rank in run the leaders' barrier and release the others."""

    __slots__ = ("comm", "group", "between", "is_leader")

    def __init__(self, comm: Any, layout: Layout, group: LocalGroup, between: Any) -> None:
        self.comm = comm
        self.group = group
        self.between = between  # the leaders' barrier (None: the communicator is in one process)
        self.is_leader = comm.rank == layout.leader

    def __call__(self) -> None:
        """Block until every rank of the communicator has called Barrier."""
        comm = self.comm
        if comm._freed:
            raise MPIException(ERR_COMM, "the communicator has been freed")
        group = self.group
        if not arrive(comm, group, self.is_leader, BARRIER_WAIT):
            return
        if self.between is None:
            release(group)
        else:
            lead(group, self.between)


class TwoLevelSite:
    """One two-level Bcast, Reduce or Allreduce call of a hosted rank, its arguments resolved:
    the checked path builds one per call, and keeps it as the call site's hot record when the
    caller passed plain arrays, so a repeated call skips argument parsing (the MPI layer's hot
    tables look it up like a coll.engine.HotRun: `call(addr)` returns 0, never a stop).

    `tree`: combine the block in the one-level algorithms' pairwise grouping (same_tree), else
    in arrival order (an order-free reduction). `between(site)` runs the processes' part."""

    __slots__ = ("comm", "group", "layout", "kind", "root", "op", "code", "tree", "send", "recv", "dtype",
                 "recv_dtype", "between", "is_leader", "what", "freed", "addr", "call", "slot", "reducer",
                 "empty", "data")

    def __init__(self, comm: Any, layout: Layout, group: LocalGroup, kind: str, root: int, send: np.ndarray,
                 recv: np.ndarray, op: Any, tree: bool, between: Any) -> None:
        self.comm, self.group, self.layout = comm, group, layout
        self.kind, self.root, self.op, self.tree = kind, root, op, tree
        self.code = 0 if op is None else op.code
        self.send, self.recv = send, recv
        self.dtype, self.recv_dtype = send.dtype, recv.dtype
        self.between = between
        self.is_leader = comm.rank == layout.leader
        self.what = (kind, -2, 0)
        self.freed = False
        self.slot = comm.rank - layout.leader  # this rank's row of the block (tree)
        self.reducer = local_reducer(self.code, send.size, send.dtype) if op is not None else None
        self.empty = send[:0]
        # A Bcast meets in bytes: ranks may describe the same bytes differently (a root's
        # derived type packs into int32 elements while the others receive into raw bytes), and
        # the group buffer and the leaders' plan must be the same on every rank of the process.
        self.data = send.reshape(-1).view(_U8) if kind == "Bcast" else send
        # The hot tables' calling convention: call(addr).
        self.addr, self.call = self, TwoLevelSite.run

    def free(self) -> None:
        """The communicator is freed: a record kept from before raises ERR_COMM."""
        self.freed = True

    def stop(self, st: int) -> None:
        """Never needed (run returns 0); part of the hot record's interface."""
        raise MPIException(ERR_INTERN, f"a two-level call stopped with code {st}")

    def run(self) -> int:
        """Contribute, meet the process's other ranks, and take the result; 0 (done)."""
        if self.freed:
            raise MPIException(ERR_COMM, "the communicator has been freed")
        group, send, kind = self.group, self.send, self.kind
        if kind != "Bcast":
            if group.arrived == 0:
                acc = group.buffer(send)
                if not self.tree:
                    acc[...] = send
            else:
                acc = group.acc
                if acc is None or acc.size != send.size or acc.dtype != send.dtype:
                    raise MPIException(ERR_COUNT, f"{kind}: ranks of this communicator passed different "
                                       "counts or datatypes")
                if not self.tree:
                    words, fn = self.reducer
                    if fn(words, send, acc, self.empty) != I.DONE:
                        raise MPIException(ERR_INTERN, f"{kind}: the local reduction stopped")
            if self.tree:
                group.stage(self.slot, send)[...] = send
        elif self.comm.rank == self.root:
            group.buffer(self.data)[...] = self.data
        if arrive(self.comm, group, self.is_leader, self.what):
            lead(group, self._processes_part)
        acc, out = group.result
        if kind == "Allreduce" or (kind == "Reduce" and self.comm.rank == self.root):
            self.recv[...] = out
        elif kind == "Bcast" and self.comm.rank != self.root:
            self.data[...] = acc
        return 0

    def _processes_part(self) -> None:
        if self.tree:
            self.group.tree_combine(self.code)
        self.between(self)


# -- the dispatch: what a hosted rank's communicator calls -----------------------------------------
def hier_of(comm: Any) -> tuple[Layout, LocalGroup] | None:
    """(layout, local group) when this communicator runs two-level collectives (hosted ranks),
    else None; decided on first use and kept in the communicator."""
    try:
        return comm.__dict__["_hier_state"]
    except KeyError:
        layout = layout_for(comm._engine, comm._ranks, comm.rank, comm._coll_ctx)
        state = None if layout is None else (layout, group_for(comm._engine, layout))
        comm.__dict__["_hier_state"] = state
        return state


def run_two_level(comm: Any, kind: str, key: tuple, send: np.ndarray, recv: np.ndarray,
                  op: Any) -> TwoLevelSite | None:
    """Run a Bcast, Reduce or Allreduce (kind in TWO_LEVEL_KINDS) through this process's group
    when it goes two-level and return its site (the hot record of a repeated call); None when
    the call must run one-level (not hosted, or an order-sensitive reduction whose grouping
    would differ: see same_tree). `key` is the call's plan key (key[1]: the root of a Bcast or
    Reduce)."""
    hier = hier_of(comm)
    if hier is None:
        return None
    code = 0 if op is None else op.code
    if op is None or order_free(code, send.dtype):
        tree = False
    else:
        root = key[1] if kind == "Reduce" else 0
        ring_min = comm._engine.coll_settings["allreduce_ring_min_bytes"]
        if not same_tree(hier[0], kind, code, root, send.nbytes, ring_min):
            return None
        tree = True
    layout, group = hier
    root = key[1] if kind in ("Bcast", "Reduce") else 0
    site = TwoLevelSite(comm, layout, group, kind, root, send, recv, op, tree, _between_processes)
    site.run()
    return site


def _between_processes(site: TwoLevelSite) -> None:
    """The leaders' part of a two-level collective (run by the last of the process's ranks to
    arrive), on the group leader's queues."""
    comm, layout, group, kind, root, like, op = (site.comm, site.layout, site.group, site.kind, site.root,
                                                 site.data, site.op)
    m, me = len(layout.leaders), layout.index
    leader = group.leader
    seg = max(1, comm._seg_bytes // max(1, like.itemsize))
    code = 0 if op is None else op.code
    acc = group.buffer(like)
    out = group.out
    assert out is not None
    count = acc.size
    if kind == "Bcast":
        r = layout.leader_index(root)
        if m > 1:
            run_leaders(leader, layout, ("Bcast", r, count, acc.dtype), kind,
                        lambda: S.bcast(m, me, r, count, seg), acc, acc, 0)
        return
    if m == 1:
        np.copyto(out, acc)
        return
    if kind == "Allreduce":
        large = comm._large(acc.nbytes, "allreduce_ring_min_bytes")
        run_leaders(leader, layout, ("Allreduce", count, acc.dtype, code, large), kind,
                    lambda: S.allreduce(m, me, count, True, large, seg, False), acc, out, code)
        return
    r = layout.leader_index(root)
    run_leaders(leader, layout, ("Reduce", r, count, acc.dtype, code), kind,
                lambda: S.reduce(m, me, r, count, seg, True), acc, out if me == r else group.nothing, code)


def run_leaders(leader: Any, layout: Layout, key: tuple, kind: str, build: Any, send: np.ndarray,
                recv: np.ndarray, code: int) -> None:
    """Run a plan among the leaders of the processes (`leader`: this process's leader's Comm);
    a run over the same group buffers as before goes through its hot record (no unboxing)."""
    hot = leader._leader_runs.get((key, id(send)))  # a hit holds send itself (keyed by its id)
    if hot is not None and hot.recv is recv:
        leader._coll.run_lone(hot)
        return
    plan = leader._plan(("leaders", *key), kind, build, code, [leader._ranks[i] for i in layout.leaders])
    tmp = leader._scratch(plan.tmp_count, send.dtype)
    leader._coll.execute(plan, send, recv, tmp)
    leader._remember_leader_run(key, plan, send, recv, tmp, code)


def hosted_barrier(comm: Any, hier: tuple[Layout, LocalGroup]) -> None:
    """Barrier of hosted ranks (first call): the local group, then the leaders' barrier run by
    the last rank in; from then on the comm's Barrier attribute is the LocalBarrier."""
    layout, group = hier
    between = (lambda: _leaders_barrier(layout, group)) if len(layout.leaders) > 1 else None
    # The next calls go straight to the local barrier (dropped again when the hot records are).
    barrier = LocalBarrier(comm, layout, group, between)
    comm._install_barrier(barrier)
    barrier()


def _leaders_barrier(layout: Layout, group: LocalGroup) -> None:
    """The barrier between the processes, on the leader's queues, its hot record kept in the group."""
    hot = group.barrier
    if hot is None:
        leader = group.leader
        m, me = len(layout.leaders), layout.index
        ranks = [leader._ranks[i] for i in layout.leaders]
        plan = leader._coll.make_plan("Barrier", S.barrier(m, me), ranks, leader._coll_ctx, 0)
        hot = group.barrier = leader._coll.hot(plan, _EMPTY_U8, _EMPTY_U8, leader._scratch(plan.tmp_count, _U8))
    group.leader._coll.run_lone(hot)
