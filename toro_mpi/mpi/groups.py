"""MPI groups: ordered sets of world ranks, as Comm.Get_group returns them."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ERR_GROUP, ERR_RANK, MPIException

UNDEFINED = -32766
IDENT = 0
CONGRUENT = 1
SIMILAR = 2
UNEQUAL = 3


class Group:
    """An ordered set of processes (held as world ranks); `rank` is the caller's place or UNDEFINED."""

    def __init__(self, world_ranks: Sequence[int], me: int) -> None:
        self._ranks = list(world_ranks)
        if len(set(self._ranks)) != len(self._ranks):
            raise MPIException(ERR_GROUP, f"a group cannot hold a rank twice: {self._ranks}")
        self._me = me

    @property
    def size(self) -> int:
        """Number of processes in the group."""
        return len(self._ranks)

    @property
    def rank(self) -> int:
        """The caller's rank in the group, or UNDEFINED."""
        return self._ranks.index(self._me) if self._me in self._ranks else UNDEFINED

    def Get_size(self) -> int:
        """Number of processes in the group."""
        return self.size

    def Get_rank(self) -> int:
        """The caller's rank in the group, or UNDEFINED."""
        return self.rank

    def _check(self, ranks: Sequence[int]) -> list[int]:
        out = [int(r) for r in ranks]
        for r in out:
            if not 0 <= r < self.size:
                raise MPIException(ERR_RANK, f"rank {r} is not in a group of size {self.size}")
        if len(set(out)) != len(out):
            raise MPIException(ERR_RANK, f"ranks repeat: {out}")
        return out

    def Incl(self, ranks: Sequence[int]) -> Group:
        """The group of these members, in this order."""
        return Group([self._ranks[r] for r in self._check(ranks)], self._me)

    def Excl(self, ranks: Sequence[int]) -> Group:
        """The group without these members."""
        drop = set(self._check(ranks))
        return Group([w for i, w in enumerate(self._ranks) if i not in drop], self._me)

    def Translate_ranks(self, ranks: Sequence[int] | None = None, group: Group | None = None) -> list[int]:
        """Ranks in `group` of the given members of this group (UNDEFINED where absent)."""
        ranks = list(range(self.size)) if ranks is None else self._check(ranks)
        if group is None:
            return [self._ranks[r] for r in ranks]
        return [group._ranks.index(self._ranks[r]) if self._ranks[r] in group._ranks else UNDEFINED
                for r in ranks]

    def Union(self, other: Group) -> Group:
        """Members of self, then the members of other not in self."""
        return Group(self._ranks + [w for w in other._ranks if w not in self._ranks], self._me)

    def Intersection(self, other: Group) -> Group:
        """Members of self that are also in other, in self's order."""
        return Group([w for w in self._ranks if w in other._ranks], self._me)

    def Difference(self, other: Group) -> Group:
        """Members of self that are not in other."""
        return Group([w for w in self._ranks if w not in other._ranks], self._me)

    def Compare(self, other: Group) -> int:
        """IDENT (same members, same order), SIMILAR (same members) or UNEQUAL."""
        if self._ranks == other._ranks:
            return IDENT
        return SIMILAR if set(self._ranks) == set(other._ranks) else UNEQUAL

    def Free(self) -> None:
        """Groups hold no resources here."""

    def __repr__(self) -> str:
        return f"<Group {self._ranks}>"
