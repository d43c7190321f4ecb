"""Intercomm's pure logic in one process (a world of one, no job): null handles, remote-rank
and root arguments, Compare, and the calls an intercommunicator refuses. The traffic itself is
tests/test_intercomm.py's (under the launcher, against mpi4py + Open MPI)."""

from __future__ import annotations

import pytest

from toro_mpi import MPI
from toro_mpi.mpi.intercomm import Intercomm


def _fake(local: list[int], remote: list[int]) -> Intercomm:
    """An intercommunicator object over made-up groups (never used to communicate here)."""
    return Intercomm._make(MPI.COMM_WORLD._engine, local, remote, 1000)


def test_null_handle_equals_comm_null() -> None:
    null = MPI.Intercomm()
    assert null == MPI.COMM_NULL and MPI.COMM_NULL == null
    assert null is not MPI.COMM_NULL and not null
    assert MPI.Comm.Get_parent() == MPI.COMM_NULL
    assert isinstance(MPI.Comm.Get_parent(), MPI.Intercomm)
    with pytest.raises(MPI.Exception) as info:
        null.Free()
    assert info.value.Get_error_class() == MPI.ERR_COMM


def test_constructors_refuse_the_other_kind() -> None:
    ic = _fake([0], [1])
    with pytest.raises(TypeError):
        MPI.Intercomm(MPI.COMM_WORLD)
    with pytest.raises(TypeError):
        MPI.Intracomm(ic)
    assert MPI.Intracomm(MPI.COMM_WORLD).Get_size() == MPI.COMM_WORLD.Get_size()  # copies still work
    assert MPI.Intercomm(ic) == ic  # another handle to the same intercommunicator
    assert ic != MPI.COMM_NULL and ic.Is_inter() and not ic.Is_intra()
    assert ic != _fake([0], [1]) and ic != MPI.COMM_WORLD and ic != MPI.Intercomm()
    with pytest.raises(TypeError):
        hash(ic)  # as mpi4py's communicators


def test_ranks_are_remote_ranks() -> None:
    ic = _fake([0], [5, 3, 7])
    assert ic.Get_remote_size() == 3 and ic.Get_size() == 1 and ic.Get_rank() == 0
    assert [ic._dest(r) for r in range(3)] == [5, 3, 7]
    assert ic._source(MPI.ANY_SOURCE) == MPI.ANY_SOURCE and ic._dest(MPI.PROC_NULL) == MPI.PROC_NULL
    assert [ic._comm_rank(w) for w in (5, 3, 7)] == [0, 1, 2]
    for bad in (3, -5):
        with pytest.raises(MPI.Exception) as info:
            ic._dest(bad)
        assert info.value.Get_error_class() == MPI.ERR_RANK
    assert ic.Get_remote_group().Translate_ranks([0, 1, 2]) == [5, 3, 7]


def test_roots() -> None:
    ic = _fake([0], [1, 2])
    assert MPI.ROOT == -4
    assert [ic._root_arg(r) for r in (MPI.ROOT, MPI.PROC_NULL, 0, 1)] == [MPI.ROOT, MPI.PROC_NULL, 0, 1]
    for bad in (-3, -1, 2, 1.5, "0"):
        with pytest.raises(MPI.Exception) as info:
            ic._root_arg(bad)
        assert info.value.Get_error_class() == MPI.ERR_ROOT


def test_compare() -> None:
    a, b = _fake([0], [1, 2]), _fake([0], [1, 2])
    assert MPI.Comm.Compare(a, a) == MPI.IDENT
    assert MPI.Comm.Compare(a, b) == MPI.CONGRUENT
    assert MPI.Comm.Compare(a, _fake([0], [2, 1])) == MPI.SIMILAR
    assert MPI.Comm.Compare(a, _fake([0], [1, 3])) == MPI.UNEQUAL
    assert MPI.Comm.Compare(a, MPI.COMM_WORLD) == MPI.UNEQUAL
    assert MPI.Comm.Compare(MPI.COMM_WORLD, a) == MPI.UNEQUAL


def test_refused_calls() -> None:
    ic = _fake([0], [1])
    for call in (ic.Scan, ic.Exscan):
        with pytest.raises(MPI.Exception) as info:
            call(None, None)
        assert info.value.Get_error_class() == MPI.ERR_COMM
    with pytest.raises(NotImplementedError, match="Ibarrier"):
        ic.Ibarrier()
    with pytest.raises(NotImplementedError, match="Ialltoallw"):
        ic.Ialltoallw(None, None)
    with pytest.raises(MPI.Exception) as info:
        ic.Allgather(MPI.IN_PLACE, None)
    assert info.value.Get_error_class() == MPI.ERR_BUFFER
