"""MPI groups: ordered sets of world ranks, as Comm.Get_group returns them, with mpi4py's handle
model (handles.py): MPI.Group() is GROUP_NULL, MPI.Group(g) another handle to g's group, and
every operation whose result is empty gives GROUP_EMPTY itself, as MPI specifies."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from ..errors import ERR_ARG, ERR_GROUP, ERR_RANK, MPIException
from .handles import Handle, Ref

UNDEFINED = -32766
PROC_NULL = -2  # as p2p.PROC_NULL: Translate_ranks maps it to itself
IDENT = 0
CONGRUENT = 1
SIMILAR = 2
UNEQUAL = 3


class _Members:
    """A group's state: its members as world ranks and the caller's world rank."""

    __slots__ = ("ranks", "me", "index")

    def __init__(self, ranks: list[int], me: int) -> None:
        self.ranks = ranks
        self.me = me
        self.index = {w: i for i, w in enumerate(ranks)}


def _ints(values: Any, what: str) -> list[int]:
    try:
        return [operator.index(v) for v in values]
    except TypeError:
        raise MPIException(ERR_ARG, f"{what} must be a sequence of ints, got {values!r}") from None


class Group(Handle):
    """An ordered set of processes (held as world ranks); `rank` is the caller's place or UNDEFINED.

    Group() is the null group; Group(group) another handle to a group. toro_mpi's own layers
    build groups with Group(world_ranks, me)."""

    _kind = "Group"

    def __init__(self, world_ranks: Any = None, me: int | None = None) -> None:
        if me is None:
            Handle.__init__(self, world_ranks)  # MPI.Group() or MPI.Group(group)
            return
        if isinstance(world_ranks, (str, bytes)) or not isinstance(world_ranks, (Sequence, range)):
            raise TypeError(f"expected Group, got {type(world_ranks).__name__}")
        ranks = [int(r) for r in world_ranks]
        if len(set(ranks)) != len(ranks):
            raise MPIException(ERR_GROUP, f"a group cannot hold a rank twice: {ranks}")
        self._ref = Ref(_Members(ranks, int(me))) if ranks or _EMPTY is None else _EMPTY

    @classmethod
    def _state_type(cls) -> type:
        return _Members

    def _members(self) -> _Members:
        if self._ref is None:
            raise MPIException(ERR_GROUP, "invalid group (MPI.GROUP_NULL)")
        return self._ref.state

    @property
    def _ranks(self) -> list[int]:
        return self._members().ranks

    @property
    def _me(self) -> int:
        return self._members().me

    def _make(self, ranks: list[int]) -> Group:
        """A new group of these world ranks (GROUP_EMPTY if none), seen from the same process."""
        return Group(ranks, self._members().me)

    @property
    def size(self) -> int:
        """Number of processes in the group."""
        return len(self._members().ranks)

    @property
    def rank(self) -> int:
        """The caller's rank in the group, or UNDEFINED."""
        m = self._members()
        return m.index.get(m.me, UNDEFINED)

    def Get_size(self) -> int:
        """Number of processes in the group."""
        return self.size

    def Get_rank(self) -> int:
        """The caller's rank in the group, or UNDEFINED."""
        return self.rank

    def _check(self, ranks: Sequence[int]) -> list[int]:
        out = _ints(ranks, "ranks")
        for r in out:
            if not 0 <= r < self.size:
                raise MPIException(ERR_RANK, f"rank {r} is not in a group of size {self.size}")
        if len(set(out)) != len(out):
            raise MPIException(ERR_RANK, f"ranks repeat: {out}")
        return out

    def _range_ranks(self, ranks: Sequence[Sequence[int]]) -> list[int]:
        """The ranks (first, last, stride) triplets name, in order (Range_incl/Range_excl)."""
        out: list[int] = []
        for triplet in ranks:
            first, last, stride = _ints(triplet, "a (first, last, stride) range")
            if stride == 0:
                raise MPIException(ERR_ARG, f"range {triplet!r}: the stride cannot be 0")
            if (last - first) * stride < 0:
                continue  # MPI: an empty range
            out.extend(range(first, last + (1 if stride > 0 else -1), stride))
        return self._check(out)

    @classmethod
    def Create_from_session_pset(cls, session: Any, pset_name: str) -> Group:
        """The group of a session's process set (MPI-4: "mpi://WORLD" or "mpi://SELF")."""
        from .session import group_from_session_pset  # session.py builds on this module

        return group_from_session_pset(session, pset_name)

    def Dup(self) -> Group:
        """A new handle to a group with the same members, in the same order."""
        return self._make(list(self._ranks))

    def Incl(self, ranks: Sequence[int]) -> Group:
        """The group of these members, in this order."""
        return self._make([self._ranks[r] for r in self._check(ranks)])

    def Excl(self, ranks: Sequence[int]) -> Group:
        """The group without these members."""
        drop = set(self._check(ranks))
        return self._make([w for i, w in enumerate(self._ranks) if i not in drop])

    def Range_incl(self, ranks: Sequence[Sequence[int]]) -> Group:
        """The group of the members named by (first, last, stride) ranges, in that order."""
        return self._make([self._ranks[r] for r in self._range_ranks(ranks)])

    def Range_excl(self, ranks: Sequence[Sequence[int]]) -> Group:
        """The group without the members named by (first, last, stride) ranges."""
        drop = set(self._range_ranks(ranks))
        return self._make([w for i, w in enumerate(self._ranks) if i not in drop])

    def Translate_ranks(self, ranks: Sequence[int] | None = None, group: Group | None = None) -> list[int]:
        """Ranks in `group` of the given members of this group (UNDEFINED where absent, PROC_NULL
        stays PROC_NULL); without `group`, their ranks in COMM_WORLD."""
        m = self._members()
        if ranks is None:
            ranks = list(range(len(m.ranks)))
        else:
            ranks = _ints(ranks, "ranks")
            for r in ranks:
                if r != PROC_NULL and not 0 <= r < len(m.ranks):
                    raise MPIException(ERR_RANK, f"rank {r} is not in a group of size {len(m.ranks)}")
        if group is None:
            return [r if r == PROC_NULL else m.ranks[r] for r in ranks]
        other = group._members().index
        return [r if r == PROC_NULL else other.get(m.ranks[r], UNDEFINED) for r in ranks]

    def Union(self, other: Group) -> Group:
        """Members of self, then the members of other not in self."""
        mine = self._members().index
        ranks = self._ranks + [w for w in other._ranks if w not in mine]
        # GROUP_EMPTY is shared by every rank and knows no caller: take it from the other group.
        me = self._members().me if self._ranks else other._members().me
        return Group(ranks, me)

    def Intersection(self, other: Group) -> Group:
        """Members of self that are also in other, in self's order."""
        theirs = other._members().index
        return self._make([w for w in self._ranks if w in theirs])

    Intersect = Intersection  # mpi4py's older name

    def Difference(self, other: Group) -> Group:
        """Members of self that are not in other."""
        theirs = other._members().index
        return self._make([w for w in self._ranks if w not in theirs])

    def Compare(self, other: Group) -> int:
        """IDENT (same members, same order), SIMILAR (same members) or UNEQUAL."""
        if self._ranks == other._ranks:
            return IDENT
        return SIMILAR if set(self._ranks) == set(other._ranks) else UNEQUAL

    def Free(self) -> None:
        """Release this handle (it becomes GROUP_NULL); GROUP_EMPTY itself cannot be freed."""
        if self._ref is None:
            raise MPIException(ERR_GROUP, "Free: invalid group (MPI.GROUP_NULL)")
        if self._const is not None:
            raise MPIException(ERR_GROUP, f"Free: cannot free MPI.{self._const}")
        self._ref = None

    def __repr__(self) -> str:
        if self._ref is None:
            return "<Group MPI_GROUP_NULL>"
        return f"<Group {self._ranks}>"


_EMPTY: Ref | None = None
GROUP_NULL = Group()
GROUP_EMPTY = Group([], -1)
_EMPTY = GROUP_EMPTY._ref
