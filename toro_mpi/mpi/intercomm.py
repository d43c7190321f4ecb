"""Intercommunicators: two disjoint groups of ranks that talk across (MPI-2 Intercomm, as mpi4py
exposes it), made by `Intracomm.Create_intercomm`.

Contexts. Both groups of an intercommunicator must use the same context ids, and a context id
must be unused on every member of both groups. `Create_intercomm` agrees on them as MPI does:
each group gathers its members' next free context block at its leader, the two leaders swap
their maxima (and their groups' world ranks) over `peer_comm`, and each leader tells its group
the result. The intercommunicator takes two blocks: block b (point-to-point, collectives, object
parts) is shared by both groups; block b + 1 is the *local* intracommunicator of each group (the
two groups are disjoint, so they can share it, as Split's disjoint groups share one block).
Dup, Split, Create and Merge agree the same way over the intercommunicator itself (`_agree`).

Point-to-point. A rank argument names a rank of the REMOTE group; the status reports one.
Messages travel on block b's point-to-point context, which only the two groups use, and only
across (both groups are disjoint), so `ANY_SOURCE` matches exactly the remote ranks.

Collectives. They run on the intercommunicator's collective context (hidden from the user's
point-to-point traffic), as messages straight between the ranks concerned, plus collectives of
the local intracommunicator where a group must combine first:

- rooted calls follow MPI's root convention: in the root's group the root passes `MPI.ROOT` and
  the others `MPI.PROC_NULL`; the other group passes the root's rank in the remote group.
  Bcast and Scatter(v): the root sends each remote rank its data; Gather(v): each remote rank
  sends the root its data; Reduce: the remote group reduces at its rank 0 (local Reduce, so
  every operator, user operators and non-commutative ones included, keeps its order), which
  sends the result to the root.
- Allgather(v) and Alltoall(v): every rank exchanges with every remote rank directly.
- Allreduce, Reduce_scatter_block and Reduce_scatter: each group reduces at its rank 0 (local
  Reduce), the two leaders swap their results, and each group spreads the remote group's result
  (local Bcast, Scatter or Scatterv), so each group gets the reduction of the OTHER group's data.
- Barrier: a local barrier, the leaders swap an empty message, a local barrier.
- The object calls (bcast, gather, scatter, allgather, alltoall, reduce, allreduce) send pickled
  objects the same way; reductions fold in rank order.

Every receive is posted before the sends of the same call, so no call depends on the ring's
room. Scan and Exscan are not defined on intercommunicators (ERR_COMM, as Open MPI).
"""

from __future__ import annotations

import operator
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import (
    ERR_ARG,
    ERR_BUFFER,
    ERR_COMM,
    ERR_COUNT,
    ERR_GROUP,
    ERR_RANK,
    ERR_ROOT,
    MPIException,
    MPITypeError,
    MPIValueError,
)
from .buffers import IN_PLACE, byte_view, int_list, normalise, typed, v_bytes
from .comm import CONTEXTS_PER_COMM, Comm, Intracomm
from .constants import ROOT
from .groups import CONGRUENT, IDENT, SIMILAR, UNEQUAL, Group
from .nonblocking import piece_bytes, w_pieces
from .object_calls import _fold, _object_op
from .ops import SUM, Op
from .p2p import PROC_NULL, RecvReq
from .wide_reduce import applies

_UNDEFINED = -32766

# Tags on the collective contexts. The management ones sit with comm.py's (from 1 << 30 on, on
# the p2p plane with the collective context), above anything the collective calls use here.
_MGMT = (1 << 30) + 8  # leaders' exchange of an agreement (_agree)
_GATHER_AT = (1 << 30) + 9  # gather at a group's leader (Create_intercomm)
_BCAST_FROM = (1 << 30) + 10  # bcast from a group's leader (Create_intercomm)
_BRIDGE = (1 << 30) + 16  # leaders over peer_comm: this plus the user's tag (folded into 2**28)
_FROM_GROUPS = (1 << 30) + (1 << 29)  # Create_from_groups: this plus three 2**20 blocks of stringtag hashes
_T_BARRIER = 1
_T_DATA = 2  # every data-moving collective: calls come in the same order on every rank
_T_OBJ = 3


def _as_int(value: Any, error_class: int, what: str) -> int:
    """An integer argument (anything with __index__, an integral float as mpi4py's Cython takes it)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool):
        raise MPIException(error_class, f"{what} must be an int, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise MPIException(error_class, f"{what} must be an int, got {type(value).__name__}") from None


# -- small collectives over a list of world ranks, rooted anywhere (management traffic) --------
def _recv_obj(comm: Comm, world_src: int, tag: int, ctx: int) -> Any:
    """A pickled object from world rank world_src on context ctx (blocking); comm is the
    communicator whose object context carries its out-of-band parts."""
    e = comm._engine
    req = RecvReq(world_src, tag, ctx, None, 0)
    req.on_complete = comm._post_object_parts
    e.wait_recv(e.post(req))
    return comm._finish_object(req)


def _send_objs(comm: Comm, obj: Any, world_dests: list[int], tag: int, ctx: int) -> None:
    """Send obj to each of world_dests on context ctx and wait for the sends."""
    e = comm._engine
    reqs = [r for d in world_dests for r in comm._send_object(obj, d, tag, False, ctx)]
    for r in reqs:
        e.wait_send(r)


def _gather_ranks(via: Comm, ranks: list[int], obj: Any, root: int, ctx: int, tag: int) -> list[Any] | None:
    """Every member's obj (members: world ranks `ranks`) at ranks[root], in order; None elsewhere."""
    me = via._engine.rank
    if me != ranks[root]:
        _send_objs(via, obj, [ranks[root]], tag, ctx)
        return None
    return [obj if w == me else _recv_obj(via, w, tag, ctx) for w in ranks]


def _bcast_ranks(via: Comm, ranks: list[int], obj: Any, root: int, ctx: int, tag: int) -> Any:
    """ranks[root]'s obj on every member (world ranks `ranks`)."""
    me = via._engine.rank
    if me == ranks[root]:
        _send_objs(via, obj, [w for w in ranks if w != me], tag, ctx)
        return obj
    return _recv_obj(via, ranks[root], tag, ctx)


def _gather_at(comm: Comm, obj: Any, root: int) -> list[Any] | None:
    """Every member's obj at comm rank root (a list in rank order), None elsewhere."""
    return _gather_ranks(comm, comm._ranks, obj, root, comm._coll_ctx, _GATHER_AT)


def _bcast_from(comm: Comm, obj: Any, root: int) -> Any:
    """comm rank root's obj on every member."""
    return _bcast_ranks(comm, comm._ranks, obj, root, comm._coll_ctx, _BCAST_FROM)


# -- creation --------------------------------------------------------------------------------
def create_intercomm(local: Comm, local_leader: Any, peer_comm: Any, remote_leader: Any, tag: Any = 0) -> Intercomm:
    """MPI_Intercomm_create: the intercommunicator between local's group and the group whose
    leader is rank remote_leader of peer_comm (collective over local; the two leaders talk over
    peer_comm). peer_comm, remote_leader and tag matter at local_leader only."""
    local._check_live()
    if local.Is_inter():
        raise MPIException(ERR_COMM, "Create_intercomm: the local communicator must be an intracommunicator")
    local_leader = _as_int(local_leader, ERR_ARG, "local_leader")
    if not 0 <= local_leader < local.size:
        raise MPIException(ERR_ARG, f"Create_intercomm: local_leader {local_leader} is out of range for a "
                           f"communicator of {local.size} ranks")
    engine = local._engine
    blocks = _gather_at(local, engine.next_context_block, local_leader)
    result: tuple | None = None
    error: MPIException | None = None
    if local.rank == local_leader:
        try:
            result = ("ok", *_bridge(local, max(blocks), peer_comm, remote_leader, tag))
        except MPIException as exc:  # tell the group, which waits for the leader, then raise
            error = exc
            result = ("error", exc.error_class, str(exc))
    result = _bcast_from(local, result, local_leader)
    if error is not None:
        raise error
    if result[0] == "error":
        raise MPIException(result[1], f"Create_intercomm failed at the local leader: {result[2]}")
    _, block, remote = result
    engine.next_context_block = block + 2
    return Intercomm._make(engine, list(local._ranks), remote, block)


def _bridge(local: Comm, block: int, peer_comm: Any, remote_leader: Any, tag: Any) -> tuple[int, list[int]]:
    """At the local leader: swap (context block, group) with the remote leader over peer_comm;
    the agreed block and the remote group's world ranks."""
    if not isinstance(peer_comm, Comm) or peer_comm.Is_inter():
        raise MPIException(ERR_COMM, "Create_intercomm: peer_comm must be an intracommunicator")
    peer_comm._check_live()
    remote_leader = _as_int(remote_leader, ERR_ARG, "remote_leader")
    if not 0 <= remote_leader < peer_comm.size:
        raise MPIException(ERR_ARG, f"Create_intercomm: remote_leader {remote_leader} is out of range for a "
                           f"peer communicator of {peer_comm.size} ranks")
    if remote_leader == peer_comm.rank:
        raise MPIException(ERR_ARG, "Create_intercomm: the remote leader is this process")
    tag = _as_int(tag, ERR_ARG, "tag")
    if tag < 0:
        raise MPIException(ERR_ARG, f"Create_intercomm: tag {tag} is invalid")
    peer = peer_comm._ranks[remote_leader]
    mine = (block, list(local._ranks))
    ctag = _BRIDGE + (tag & ((1 << 28) - 1))
    e = local._engine
    reqs = peer_comm._send_object(mine, peer, ctag, False, peer_comm._coll_ctx)
    theirs = _recv_obj(peer_comm, peer, ctag, peer_comm._coll_ctx)
    for r in reqs:
        e.wait_send(r)
    remote_block, remote = theirs
    if set(remote) & set(local._ranks):
        raise MPIException(ERR_COMM, "Create_intercomm: the local and remote groups overlap")
    return max(block, remote_block), list(remote)


# How Create_from_groups reaches this rank's COMM_WORLD (MPI.py sets it: the mpi layer cannot
# import the surface, and ranks hosted in one process each have their own).
_world_comm: Callable[[], Comm] | None = None


def set_world_lookup(lookup: Callable[[], Comm]) -> None:
    """Tell Create_from_groups how to find the calling rank's COMM_WORLD."""
    global _world_comm
    _world_comm = lookup


def create_from_groups(local_group: Group, local_leader: Any, remote_group: Group, remote_leader: Any,
                       stringtag: str = "org.mpi4py", info: Any = None, errhandler: Any = None) -> Intercomm:
    """MPI_Intercomm_create_from_groups (MPI-4): the intercommunicator between two disjoint
    groups, without a parent communicator. The members of local_group call it together; the
    leaders talk directly (on COMM_WORLD's collective context, under a tag made from stringtag,
    which must tell concurrent calls apart, as MPI requires)."""
    if _world_comm is None:
        raise NotImplementedError("toro_mpi: Intercomm.Create_from_groups needs toro_mpi.MPI imported")
    world = _world_comm()
    world._check_live()
    for g in (local_group, remote_group):
        if not isinstance(g, Group):
            raise MPIException(ERR_GROUP, f"Create_from_groups: expecting a Group, got {type(g).__name__}")
    local, remote = list(local_group._ranks), list(remote_group._ranks)
    engine = world._engine
    if engine.rank not in local:
        raise MPIException(ERR_GROUP, "Create_from_groups: the calling process is not in local_group")
    local_leader = _as_int(local_leader, ERR_ARG, "local_leader")
    remote_leader = _as_int(remote_leader, ERR_ARG, "remote_leader")
    if not 0 <= local_leader < len(local):
        raise MPIException(ERR_ARG, f"Create_from_groups: local_leader {local_leader} is out of range for a "
                           f"group of {len(local)}")
    if not 0 <= remote_leader < len(remote):
        raise MPIException(ERR_ARG, f"Create_from_groups: remote_leader {remote_leader} is out of range for a "
                           f"group of {len(remote)}")
    if set(local) & set(remote):
        raise MPIException(ERR_GROUP, "Create_from_groups: the local and remote groups overlap")
    if not isinstance(stringtag, str):
        raise MPITypeError(ERR_ARG, f"Create_from_groups: stringtag must be a str, got {type(stringtag).__name__}")
    tag = _FROM_GROUPS + (zlib.crc32(stringtag.encode()) & ((1 << 20) - 1))
    ctx = world._coll_ctx
    blocks = _gather_ranks(world, local, engine.next_context_block, local_leader, ctx, tag)
    if blocks is not None:
        peer = remote[remote_leader]
        reqs = world._send_object((max(blocks), local), peer, tag + (1 << 20), False, ctx)
        remote_block, theirs = _recv_obj(world, peer, tag + (1 << 20), ctx)
        for r in reqs:
            engine.wait_send(r)
        agreed = ("ok", max(max(blocks), remote_block)) if theirs == remote else \
            ("error", "the remote leader's group differs from remote_group")
    else:
        agreed = None
    agreed = _bcast_ranks(world, local, agreed, local_leader, ctx, tag + (2 << 20))
    if agreed[0] == "error":
        raise MPIException(ERR_GROUP, f"Create_from_groups: {agreed[1]}")
    block = agreed[1]
    engine.next_context_block = block + 2
    return Intercomm._make(engine, local, remote, block)


def get_parent() -> Intercomm:
    """Comm.Get_parent: no process is spawned here, so always the null intercommunicator."""
    return Intercomm()


# -- the intercommunicator -----------------------------------------------------------------------
class Intercomm(Comm):
    """An intercommunicator: a local group (Get_rank, Get_size, Get_group) and a remote group
    (Get_remote_size, Get_remote_group) that every point-to-point rank and collective root
    names. `MPI.Intercomm()` is a null handle, equal to MPI.COMM_NULL."""

    _null = False  # True only for the null handle MPI.Intercomm() makes

    def __new__(cls, *args: Any, **kwargs: Any) -> Intercomm:
        if len(args) == 1 and isinstance(args[0], Comm) and not isinstance(args[0], Intercomm):
            raise MPITypeError(ERR_COMM, f"Intercomm() takes an intercommunicator, got {type(args[0]).__name__}")
        if not args:
            self = object.__new__(cls)
            self._null = True
            return self
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not args:
            return  # the null handle (see __new__)
        super().__init__(*args, **kwargs)

    @classmethod
    def _make(cls, engine: Any, local: list[int], remote: list[int], block: int) -> Intercomm:
        """The intercommunicator of local and remote on context blocks block (shared) and
        block + 1 (the local intracommunicator)."""
        self = cls(engine, local, CONTEXTS_PER_COMM * block, "")
        self._null = False
        self._remote = list(remote)
        self._remote_index = {w: i for i, w in enumerate(remote)}
        self.remote_size = len(remote)
        # Ranks are remote ranks: the hot paths of Comm, which take comm ranks for world ranks,
        # must never apply.
        self._identity = False
        self._fast_size = 0
        self._local = Intracomm(engine, list(local), CONTEXTS_PER_COMM * (block + 1), "")
        # Which group comes first when Merge is given the same `high` on both sides: as Open
        # MPI orders them, the one whose rank 0 has the higher world rank.
        self._low_first = local[0] > remote[0]
        return self

    Create_from_groups = staticmethod(create_from_groups)

    # -- null handles and comparisons ----------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        # Null handles are equal to each other and to MPI.COMM_NULL, whether that is None or a
        # null Comm object; live handles are equal when they share one communicator's state.
        if other is None:
            return self._null
        if isinstance(other, Comm):
            other_null = other.__dict__.get("_null", False)
            if self._null or other_null:
                return self._null and other_null
            return self.__dict__ is other.__dict__
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # as mpi4py's communicators: unhashable (they compare by value)

    def __bool__(self) -> bool:
        return not self._null

    def __repr__(self) -> str:
        if self._null:
            return "<Intercomm MPI_COMM_NULL>"
        return f"<Intercomm rank {self.rank} of {self.size}, remote size {self.remote_size}>"

    def _check_live(self) -> None:
        if self._null:
            raise MPIException(ERR_COMM, "the intercommunicator is MPI_COMM_NULL")
        super()._check_live()

    # -- basics ----------------------------------------------------------------------------------
    def Is_inter(self) -> bool:
        """Always True."""
        return True

    def Is_intra(self) -> bool:
        """Always False."""
        return False

    @property
    def is_inter(self) -> bool:
        """Always True."""
        return True

    @property
    def is_intra(self) -> bool:
        """Always False."""
        return False

    def Get_remote_size(self) -> int:
        """Number of ranks in the remote group."""
        self._check_live()
        return self.remote_size

    def Get_remote_group(self) -> Group:
        """The remote group."""
        self._check_live()
        return Group(self._remote, self._engine.rank)

    @property
    def remote_group(self) -> Group:
        """The remote group."""
        return self.Get_remote_group()

    def Compare(self, other: Comm) -> int:
        """IDENT (same handle), CONGRUENT (same local and remote groups, in order), SIMILAR
        (same members) or UNEQUAL (also against an intracommunicator)."""
        if other is self or (isinstance(other, Intercomm) and other.__dict__ is self.__dict__):
            return IDENT
        if not isinstance(other, Intercomm) or other._null:
            return UNEQUAL
        results = (Group(self._ranks, 0).Compare(Group(other._ranks, 0)),
                   Group(self._remote, 0).Compare(Group(other._remote, 0)))
        if results == (IDENT, IDENT):
            return CONGRUENT
        return SIMILAR if UNEQUAL not in results else UNEQUAL

    def Free(self) -> None:
        """Free the intercommunicator (and its local intracommunicator)."""
        self._check_live()
        self._local.Free()
        super().Free()

    # -- point-to-point ranks are remote ranks ------------------------------------------------
    def _rank(self, value: Any, what: str, wildcards: tuple[int, ...]) -> int:
        """A remote rank argument as a world rank (wildcards pass through); MPI errors otherwise."""
        self._check_live()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            value = int(value)
            if 0 <= value < self.remote_size:
                return self._remote[value]
            if value in wildcards:
                return value
            raise MPIException(ERR_RANK, f"{what} {value} is out of range for a remote group of "
                               f"{self.remote_size} ranks")
        raise MPIException(ERR_ARG, f"{what} must be an int, got {type(value).__name__}")

    def _comm_rank(self, world: int) -> int:
        return world if world < 0 else self._remote_index[world]

    # -- agreement over both groups (management) --------------------------------------------------
    def _agree(self, item: Any) -> tuple[list[Any], list[Any]]:
        """Return (every local member's item, every remote member's item), each in rank order, on
        every member of both groups."""
        self._check_live()
        local = self._local
        mine = _gather_at(local, item, 0)
        if local.rank == 0:
            e = self._engine
            reqs = self._send_object(mine, self._remote[0], _MGMT, False, self._coll_ctx)
            theirs = _recv_obj(self, self._remote[0], _MGMT, self._coll_ctx)
            for r in reqs:
                e.wait_send(r)
            both = (mine, theirs)
        else:
            both = None
        return _bcast_from(local, both, 0)

    def _new_block(self, items: tuple[list[Any], list[Any]]) -> int:
        """The first context block free on both groups (items[i][j][0] are the proposals), now taken."""
        block = max(p[0] for side in items for p in side)
        self._engine.next_context_block = block + 2
        return block

    # -- management ---------------------------------------------------------------------------------
    def Dup(self, info: Any = None) -> Intercomm:
        """A new intercommunicator of the same groups with its own contexts."""
        self._check_live()
        block = self._new_block(self._agree((self._engine.next_context_block,)))
        return Intercomm._make(self._engine, self._ranks, self._remote, block)

    Clone = Dup

    def Merge(self, high: bool = False) -> Intracomm:
        """The intracommunicator of both groups: the group that passed high=False first; if both
        passed the same value, the group whose rank 0 has the higher world rank first (as Open
        MPI orders them; MPI leaves it to the implementation)."""
        self._check_live()
        local_items, remote_items = self._agree((self._engine.next_context_block, bool(high)))
        block = self._new_block((local_items, remote_items))
        mine, theirs = local_items[0][1], remote_items[0][1]
        local_first = (not mine) if mine != theirs else self._low_first
        ranks = self._ranks + self._remote if local_first else self._remote + self._ranks
        return Intracomm(self._engine, ranks, CONTEXTS_PER_COMM * block, "")

    def Split(self, color: int = 0, key: int = 0) -> Intercomm:
        """MPI_Comm_split on an intercommunicator: the local members of each color (ordered by
        key, then rank) with the remote members of the same color; MPI.COMM_NULL for
        UNDEFINED or a color the other group lacks (a null Intercomm, equal to it)."""
        self._check_live()
        color = _as_int(color, ERR_ARG, "color")
        key = _as_int(key, ERR_ARG, "key")
        if color < 0 and color != _UNDEFINED:
            raise MPIException(ERR_ARG, f"color must be >= 0 or UNDEFINED, got {color}")
        items = self._agree((self._engine.next_context_block, color, key))
        block = self._new_block(items)
        if color == _UNDEFINED:
            return Intercomm()

        def members(side: list[Any], ranks: list[int]) -> list[int]:
            chosen = sorted((k, r) for r, (_, c, k) in enumerate(side) if c == color)
            return [ranks[r] for _, r in chosen]

        local, remote = members(items[0], self._ranks), members(items[1], self._remote)
        if not remote:
            return Intercomm()
        return Intercomm._make(self._engine, local, remote, block)

    def Create(self, group: Group) -> Intercomm:
        """MPI_Comm_create on an intercommunicator: group is a subgroup of the local group (the
        same on every local member); the result joins it with the subgroup the remote group
        chose. MPI.COMM_NULL (a null Intercomm) outside the group or when either subgroup is empty."""
        self._check_live()
        if not isinstance(group, Group):
            raise MPIException(ERR_GROUP, f"Create: expecting a Group, got {type(group).__name__}")
        if not set(group._ranks) <= set(self._ranks):
            raise MPIException(ERR_GROUP, "Create: the group is not a subset of the local group")
        local_items, remote_items = self._agree((self._engine.next_context_block, list(group._ranks)))
        block = self._new_block((local_items, remote_items))
        local, remote = local_items[0][1], remote_items[0][1]
        if self._engine.rank not in local or not local or not remote:
            return Intercomm()
        return Intercomm._make(self._engine, local, remote, block)

    # -- roots ---------------------------------------------------------------------------------------
    def _root_arg(self, root: Any) -> int:
        """ROOT, PROC_NULL or a remote rank; ERR_ROOT otherwise."""
        self._check_live()
        if type(root) is not int:
            if not isinstance(root, (int, np.integer)) or isinstance(root, bool):
                raise MPIException(ERR_ROOT, f"root must be an int, got {type(root).__name__}")
            root = int(root)
        if root in (ROOT, PROC_NULL) or 0 <= root < self.remote_size:
            return root
        raise MPIException(ERR_ROOT, f"root {root} is invalid on an intercommunicator: MPI.ROOT, MPI.PROC_NULL "
                           f"or a rank of the remote group of {self.remote_size}")

    # -- p2p plumbing of the collectives ----------------------------------------------------------
    def _post_recv(self, arr: np.ndarray, world_src: int, tag: int = _T_DATA) -> Any:
        return self._engine.irecv(arr, arr.nbytes, world_src, tag, self._coll_ctx)

    def _post_send(self, arr: np.ndarray, world_dest: int, tag: int = _T_DATA) -> Any:
        return self._engine.isend(arr, arr.nbytes, world_dest, tag, self._coll_ctx)

    def _wait(self, recvs: list[Any], sends: list[Any], call: str) -> None:
        e = self._engine
        for r in recvs:
            e.wait_recv(r, call)
        for s in sends:
            e.wait_send(s, call)

    @staticmethod
    def _no_in_place(*bufs: Any, call: str) -> None:
        if any(b is IN_PLACE for b in bufs):
            raise MPIException(ERR_BUFFER, f"{call}: MPI.IN_PLACE is not valid on an intercommunicator")

    # -- buffer collectives --------------------------------------------------------------------------
    def Barrier(self) -> None:
        """Returns once every rank of both groups has entered."""
        self._check_live()
        self._local.Barrier()
        if self.rank == 0:
            empty = np.empty(0, np.uint8)
            other = self._remote[0]
            recv = self._post_recv(empty, other, _T_BARRIER)
            self._wait([recv], [self._post_send(empty, other, _T_BARRIER)], "Barrier")
        self._local.Barrier()

    def Bcast(self, buf: Any, root: int = 0) -> None:
        """The root (MPI.ROOT) sends buf to every rank of the remote group, which passes the
        root's rank; the root's other members pass MPI.PROC_NULL."""
        root = self._root_arg(root)
        if root == PROC_NULL:
            return
        if root == ROOT:
            data = byte_view(normalise(buf, False).array)
            self._wait([], [self._post_send(data, w) for w in self._remote], "Bcast")
            return
        b = normalise(buf, True)
        self._wait([self._post_recv(byte_view(b.array), self._remote[root])], [], "Bcast")
        b.finish()

    def Gather(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """The root's recvbuf gets the remote ranks' sendbufs, in remote rank order."""
        root = self._root_arg(root)
        if root == PROC_NULL:
            return
        n = self.remote_size
        if root == ROOT:
            rb = normalise(recvbuf, True, n)
            recv = byte_view(rb.array)
            count = rb.nbytes // n
            self._wait([self._post_recv(recv[j * count:(j + 1) * count], w) for j, w in enumerate(self._remote)],
                       [], "Gather")
            rb.finish()
            return
        self._no_in_place(sendbuf, call="Gather")
        send = byte_view(normalise(sendbuf, False).array)
        self._wait([], [self._post_send(send, self._remote[root])], "Gather")

    def Gatherv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """Gather with per-rank counts and displacements (of the remote ranks) at the root."""
        root = self._root_arg(root)
        if root == PROC_NULL:
            return
        if root == ROOT:
            recv, bc, bd, rb = v_bytes(recvbuf, self.remote_size, True)
            self._wait([self._post_recv(recv[bd[j]: bd[j] + bc[j]], w) for j, w in enumerate(self._remote)],
                       [], "Gatherv")
            rb.finish()
            return
        self._no_in_place(sendbuf, call="Gatherv")
        send = byte_view(normalise(sendbuf, False).array)
        self._wait([], [self._post_send(send, self._remote[root])], "Gatherv")

    def Scatter(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """The root sends block j of sendbuf to remote rank j."""
        root = self._root_arg(root)
        if root == PROC_NULL:
            return
        n = self.remote_size
        if root == ROOT:
            sb = normalise(sendbuf, False, n)
            send = byte_view(sb.array)
            count = sb.nbytes // n
            self._wait([], [self._post_send(send[j * count:(j + 1) * count], w)
                            for j, w in enumerate(self._remote)], "Scatter")
            return
        self._no_in_place(recvbuf, call="Scatter")
        rb = normalise(recvbuf, True)
        self._wait([self._post_recv(byte_view(rb.array), self._remote[root])], [], "Scatter")
        rb.finish()

    def Scatterv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        """Scatter with per-rank counts and displacements (of the remote ranks) from the root."""
        root = self._root_arg(root)
        if root == PROC_NULL:
            return
        if root == ROOT:
            send, bc, bd, _ = v_bytes(sendbuf, self.remote_size, False)
            self._wait([], [self._post_send(send[bd[j]: bd[j] + bc[j]], w) for j, w in enumerate(self._remote)],
                       "Scatterv")
            return
        self._no_in_place(recvbuf, call="Scatterv")
        rb = normalise(recvbuf, True)
        self._wait([self._post_recv(byte_view(rb.array), self._remote[root])], [], "Scatterv")
        rb.finish()

    def Allgather(self, sendbuf: Any, recvbuf: Any) -> None:
        """Every rank's recvbuf gets the remote ranks' sendbufs, in remote rank order."""
        self._check_live()
        self._no_in_place(sendbuf, recvbuf, call="Allgather")
        n = self.remote_size
        send = byte_view(normalise(sendbuf, False).array)
        rb = normalise(recvbuf, True, n)
        recv = byte_view(rb.array)
        count = rb.nbytes // n
        recvs = [self._post_recv(recv[j * count:(j + 1) * count], w) for j, w in enumerate(self._remote)]
        self._wait(recvs, [self._post_send(send, w) for w in self._remote], "Allgather")
        rb.finish()

    def Allgatherv(self, sendbuf: Any, recvbuf: Any) -> None:
        """Allgather with per-rank counts and displacements (of the remote ranks)."""
        self._check_live()
        self._no_in_place(sendbuf, recvbuf, call="Allgatherv")
        send = byte_view(normalise(sendbuf, False).array)
        recv, bc, bd, rb = v_bytes(recvbuf, self.remote_size, True)
        recvs = [self._post_recv(recv[bd[j]: bd[j] + bc[j]], w) for j, w in enumerate(self._remote)]
        self._wait(recvs, [self._post_send(send, w) for w in self._remote], "Allgatherv")
        rb.finish()

    def Alltoall(self, sendbuf: Any, recvbuf: Any) -> None:
        """Block j of sendbuf goes to remote rank j; block j of recvbuf comes from it."""
        self._check_live()
        self._no_in_place(sendbuf, recvbuf, call="Alltoall")
        n = self.remote_size
        sb = normalise(sendbuf, False, n)
        rb = normalise(recvbuf, True, n)
        send, recv = byte_view(sb.array), byte_view(rb.array)
        sc, rc = sb.nbytes // n, rb.nbytes // n
        recvs = [self._post_recv(recv[j * rc:(j + 1) * rc], w) for j, w in enumerate(self._remote)]
        sends = [self._post_send(send[j * sc:(j + 1) * sc], w) for j, w in enumerate(self._remote)]
        self._wait(recvs, sends, "Alltoall")
        rb.finish()

    def Alltoallv(self, sendbuf: Any, recvbuf: Any) -> None:
        """Alltoall with per-rank counts and displacements on both sides (remote ranks)."""
        self._check_live()
        self._no_in_place(sendbuf, recvbuf, call="Alltoallv")
        n = self.remote_size
        send, sc, sd, _ = v_bytes(sendbuf, n, False)
        recv, rc, rd, rb = v_bytes(recvbuf, n, True)
        recvs = [self._post_recv(recv[rd[j]: rd[j] + rc[j]], w) for j, w in enumerate(self._remote)]
        sends = [self._post_send(send[sd[j]: sd[j] + sc[j]], w) for j, w in enumerate(self._remote)]
        self._wait(recvs, sends, "Alltoallv")
        rb.finish()

    def Alltoallw(self, sendbuf: Any, recvbuf: Any) -> None:
        """Alltoallv with a datatype per block: block j of sendbuf (counts, byte displacements and
        datatype j) goes to remote rank j, block j of recvbuf comes from it."""
        self._check_live()
        self._no_in_place(sendbuf, recvbuf, call="Alltoallw")
        n = self.remote_size
        send = w_pieces(sendbuf, n, False)
        recv = w_pieces(recvbuf, n, True)
        recvs = [self._post_recv(piece_bytes(b), w) for b, w in zip(recv, self._remote, strict=True)]
        sends = [self._post_send(piece_bytes(b), w) for b, w in zip(send, self._remote, strict=True)]
        self._wait(recvs, sends, "Alltoallw")
        for b, r in zip(recv, recvs, strict=True):
            b.finish(r.nbytes)

    # -- reductions --------------------------------------------------------------------------------
    def _reduce_local(self, sendbuf: Any, op: Any, call: str) -> tuple[np.ndarray | None, np.ndarray, Op]:
        """This group's sendbufs reduced with op at local rank 0: (result there else None, this
        rank's typed send array, the checked op)."""
        self._no_in_place(sendbuf, call=call)
        sb = normalise(sendbuf, False)
        send = typed(sb)
        op = SUM if op is None else op
        applies(op, send.dtype)  # long double (complex) too: the local Reduce combines with numpy
        acc = np.empty(send.size, send.dtype) if self.rank == 0 else None
        self._local.Reduce([send, sb.datatype], None if acc is None else [acc, sb.datatype], op, 0)
        return acc, send, op

    def _swap_leaders(self, acc: np.ndarray | None, into: np.ndarray | None, call: str) -> None:
        """At local rank 0: send acc to the remote leader and receive its result into `into`."""
        if self.rank == 0:
            other = self._remote[0]
            recv = self._post_recv(byte_view(into), other)
            self._wait([recv], [self._post_send(byte_view(acc), other)], call)

    def Reduce(self, sendbuf: Any, recvbuf: Any, op: Op = SUM, root: int = 0) -> None:
        """The root's recvbuf gets the remote group's sendbufs reduced with op."""
        root = self._root_arg(root)
        if root == PROC_NULL:
            return
        if root == ROOT:
            rb = normalise(recvbuf, True)
            recv = typed(rb)
            applies(SUM if op is None else op, recv.dtype)
            self._wait([self._post_recv(byte_view(recv), self._remote[0])], [], "Reduce")
            rb.finish()
            return
        acc, _, _ = self._reduce_local(sendbuf, op, "Reduce")
        if acc is not None:
            self._wait([], [self._post_send(byte_view(acc), self._remote[root])], "Reduce")

    def Allreduce(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        """Every rank's recvbuf gets the REMOTE group's sendbufs reduced with op."""
        self._check_live()
        self._no_in_place(sendbuf, recvbuf, call="Allreduce")
        rb = normalise(recvbuf, True)
        recv = typed(rb)
        acc, send, _ = self._reduce_local(sendbuf, op, "Allreduce")
        if recv.size != send.size:
            raise MPIValueError(ERR_COUNT, f"Allreduce: receive buffer holds {recv.size} elements, "
                                f"the send buffer {send.size}")
        self._swap_leaders(acc, recv, "Allreduce")
        self._local.Bcast([recv, rb.datatype], 0)
        rb.finish()

    def Reduce_scatter_block(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        """The remote group's sendbufs reduced with op, block r to local rank r. Each sendbuf
        holds local-size blocks of recvbuf's size (as mpi4py checks), so the two groups' vectors
        have the same length only if size x recvcount agrees across: MPI requires it."""
        self._check_live()
        self._no_in_place(sendbuf, recvbuf, call="Reduce_scatter_block")
        rb = normalise(recvbuf, True)
        recv = typed(rb)
        acc, send, _ = self._reduce_local(sendbuf, op, "Reduce_scatter_block")
        if send.size != recv.size * self.size:
            raise MPIValueError(ERR_COUNT, f"Reduce_scatter_block: the send buffer holds {send.size} elements, "
                                f"{self.size} blocks of {recv.size} are needed")
        total = recv.size * self.size
        full = np.empty(total, send.dtype) if self.rank == 0 else None
        self._swap_leaders(acc, full, "Reduce_scatter_block")
        self._local.Scatter(None if full is None else [full, rb.datatype], [recv, rb.datatype], 0)
        rb.finish()

    def Reduce_scatter(self, sendbuf: Any, recvbuf: Any, recvcounts: Any = None, op: Op = SUM) -> None:
        """The remote group's sendbufs reduced with op, recvcounts[r] elements to local rank r
        (recvcounts has one count per local rank; by default each rank's recvbuf size)."""
        self._check_live()
        self._no_in_place(sendbuf, recvbuf, call="Reduce_scatter")
        rb = normalise(recvbuf, True)
        recv = typed(rb)
        if recvcounts is None:
            counts = [int(c) for c in self._local.allgather(recv.size)]
        else:
            counts = int_list(recvcounts, self.size, "recvcounts")
        if recv.size < counts[self.rank]:
            raise MPIValueError(ERR_COUNT, f"Reduce_scatter: receive buffer holds {recv.size} elements, this "
                                f"rank's piece has {counts[self.rank]}")
        acc, send, _ = self._reduce_local(sendbuf, op, "Reduce_scatter")
        full = np.empty(sum(counts), send.dtype) if self.rank == 0 else None
        self._swap_leaders(acc, full, "Reduce_scatter")
        displs = [sum(counts[:r]) for r in range(self.size)]
        self._local.Scatterv(None if full is None else [full, (counts, displs), rb.datatype],
                             [recv[: counts[self.rank]], rb.datatype], 0)
        rb.finish()

    def Scan(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        """Not defined on intercommunicators (MPI): ERR_COMM."""
        raise MPIException(ERR_COMM, "Scan is not defined on an intercommunicator")

    def Exscan(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        """Not defined on intercommunicators (MPI): ERR_COMM."""
        raise MPIException(ERR_COMM, "Exscan is not defined on an intercommunicator")

    # -- object collectives -----------------------------------------------------------------------
    def _send_obj_to(self, obj: Any, ranks: list[int]) -> list[Any]:
        return [r for w in ranks for r in self._send_object(obj, w, _T_OBJ, False, self._coll_ctx)]

    def _post_obj_recv(self, world_src: int) -> RecvReq:
        req = RecvReq(world_src, _T_OBJ, self._coll_ctx, None, 0)
        req.on_complete = self._post_object_parts
        return self._engine.post(req)

    def _finish_objs(self, recvs: list[RecvReq], sends: list[Any], call: str) -> list[Any]:
        e = self._engine
        for r in recvs:
            e.wait_recv(r, call)
        out = [self._finish_object(r) for r in recvs]
        for s in sends:
            e.wait_send(s, call)
        return out

    def barrier(self) -> None:
        """Object-API barrier (same as Barrier)."""
        self.Barrier()

    def bcast(self, obj: Any = None, root: int = 0) -> Any:
        """The root's obj on every rank of the remote group; None in the root's group."""
        root = self._root_arg(root)
        if root == ROOT:
            self._finish_objs([], self._send_obj_to(obj, self._remote), "bcast")
            return None
        if root == PROC_NULL:
            return None
        return self._finish_objs([self._post_obj_recv(self._remote[root])], [], "bcast")[0]

    def gather(self, sendobj: Any, root: int = 0) -> list[Any] | None:
        """At the root, the remote ranks' objects in rank order; None elsewhere."""
        root = self._root_arg(root)
        if root == ROOT:
            return self._finish_objs([self._post_obj_recv(w) for w in self._remote], [], "gather")
        if root != PROC_NULL:
            self._finish_objs([], self._send_obj_to(sendobj, [self._remote[root]]), "gather")
        return None

    def scatter(self, sendobj: Any = None, root: int = 0) -> Any:
        """Item j of the root's sequence to remote rank j; None in the root's group."""
        root = self._root_arg(root)
        if root == ROOT:
            items = list(sendobj) if sendobj is not None else None
            if items is None or len(items) != self.remote_size:
                raise MPIException(ERR_ARG, f"scatter: the root needs a sequence of {self.remote_size} objects, "
                                   f"got {None if items is None else len(items)}")
            sends = [r for x, w in zip(items, self._remote, strict=True)
                     for r in self._send_object(x, w, _T_OBJ, False, self._coll_ctx)]
            self._finish_objs([], sends, "scatter")
            return None
        if root == PROC_NULL:
            return None
        return self._finish_objs([self._post_obj_recv(self._remote[root])], [], "scatter")[0]

    def allgather(self, sendobj: Any) -> list[Any]:
        """The remote ranks' objects, in remote rank order, on every rank."""
        self._check_live()
        recvs = [self._post_obj_recv(w) for w in self._remote]
        return self._finish_objs(recvs, self._send_obj_to(sendobj, self._remote), "allgather")

    def alltoall(self, sendobj: Any) -> list[Any]:
        """Item j of the sequence to remote rank j; what each remote rank sent this one."""
        self._check_live()
        items = list(sendobj) if sendobj is not None else [None] * self.remote_size  # None: as mpi4py
        if len(items) != self.remote_size:
            raise MPIValueError(ERR_ARG, f"alltoall needs a sequence of {self.remote_size} objects, got {len(items)}")
        recvs = [self._post_obj_recv(w) for w in self._remote]
        sends = [r for x, w in zip(items, self._remote, strict=True)
                 for r in self._send_object(x, w, _T_OBJ, False, self._coll_ctx)]
        return self._finish_objs(recvs, sends, "alltoall")

    def reduce(self, sendobj: Any, op: Any = SUM, root: int = 0) -> Any:
        """At the root, the remote ranks' objects combined with op in rank order; None elsewhere."""
        root = self._root_arg(root)
        fn = _object_op(op)
        items = self.gather(sendobj, root)
        return None if items is None else _fold(fn, items)

    def allreduce(self, sendobj: Any, op: Any = SUM) -> Any:
        """The remote ranks' objects combined with op in rank order, on every rank."""
        self._check_live()
        fn = _object_op(op)
        return _fold(fn, self.allgather(sendobj))

    def scan(self, sendobj: Any, op: Any = SUM) -> Any:
        """Not defined on intercommunicators (MPI): ERR_COMM."""
        raise MPIException(ERR_COMM, "scan is not defined on an intercommunicator")

    def exscan(self, sendobj: Any, op: Any = SUM) -> Any:
        """Not defined on intercommunicators (MPI): ERR_COMM."""
        raise MPIException(ERR_COMM, "exscan is not defined on an intercommunicator")


# Collectives that Comm may define for intracommunicators only (nonblocking and persistent
# collectives, Idup): on an intercommunicator they would run over the local group as
# if it were the whole communicator, so they say they are missing instead.
_INTRA_ONLY = (
    "Ibarrier Ibcast Igather Igatherv Iscatter Iscatterv Iallgather Iallgatherv Ialltoall Ialltoallv "
    "Ialltoallw Ireduce Iallreduce Ireduce_scatter Ireduce_scatter_block Iscan Iexscan Idup "
    "Idup_with_info Barrier_init Bcast_init Reduce_init Allreduce_init Gather_init Gatherv_init "
    "Scatter_init Scatterv_init Allgather_init Allgatherv_init Alltoall_init Alltoallv_init "
    "Alltoallw_init Scan_init Exscan_init Reduce_scatter_block_init Reduce_scatter_init Create_group"
).split()


def _missing_on_intercomm(name: str) -> Any:
    def missing(self: Intercomm, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"toro_mpi: Intercomm.{name} is not implemented on intercommunicators")

    missing.__name__ = missing.__qualname__ = name
    missing.__doc__ = f"Not implemented on intercommunicators: raises NotImplementedError naming {name}."
    return missing


for _name in _INTRA_ONLY:
    setattr(Intercomm, _name, _missing_on_intercomm(_name))
del _name

__all__ = ["ROOT", "Intercomm", "create_intercomm", "create_from_groups", "get_parent", "set_world_lookup"]
