"""The MPI surface's pure-Python objects without a job: Info, added error codes, Status, groups,
the handle model and keyval attributes. Whole runs against mpi4py: tests/programs/surface.py."""

from __future__ import annotations

import pickle

import pytest

from toro_mpi import errors as E
from toro_mpi.mpi import errcodes
from toro_mpi.mpi.attributes import KEYVAL_INVALID, AttributesMixin
from toro_mpi.mpi.datatypes import PREDEFINED
from toro_mpi.mpi.groups import GROUP_EMPTY, GROUP_NULL, IDENT, PROC_NULL, SIMILAR, UNDEFINED, Group
from toro_mpi.mpi.info import INFO_NULL, Info
from toro_mpi.mpi.status import Status

pytestmark = pytest.mark.timeout(30)


def test_info_mapping_and_calls() -> None:
    info = Info.Create([("b", "2"), ("a", "1")])
    info.update({"c": "3"}, d="4")
    assert info.keys() == ["b", "a", "c", "d"] and info.Get_nthkey(1) == "a"
    assert info.popitem() == ("d", "4") and info.pop("zz", "x") == "x"
    with pytest.raises(E.MPIException) as exc:
        info.Delete("zz")
    assert exc.value.Get_error_class() == E.ERR_INFO_NOKEY
    with pytest.raises(E.MPIException) as exc:
        info.Set("k" * 37, "v")
    assert exc.value.Get_error_class() == E.ERR_INFO_KEY
    copy = pickle.loads(pickle.dumps(info))
    assert copy.items() == info.items() and copy != info
    info.Free()
    assert info == INFO_NULL and not info and len(info) == 0
    with pytest.raises(KeyError):
        info["k"] = "v"
    with pytest.raises(TypeError):
        Info.Create(123)


def test_added_error_classes_codes_strings() -> None:
    cls = errcodes.Add_error_class()
    code = errcodes.Add_error_code(cls)
    assert cls > E.ERR_LASTCODE and errcodes.last_used() == code
    assert E.Get_error_class(code) == cls and E.Get_error_string(code) == ""
    errcodes.Add_error_string(code, "mine")
    assert E.Get_error_string(code) == "mine" and E.MPIException(code).Get_error_class() == cls
    with pytest.raises(E.MPIException):
        errcodes.Remove_error_class(cls)  # still has a code
    with pytest.raises(E.MPIException):
        errcodes.Remove_error_code(code)  # still has a string
    errcodes.Remove_error_string(code)
    errcodes.Remove_error_code(code)
    errcodes.Remove_error_class(cls)
    with pytest.raises(E.MPIException):
        errcodes.Remove_error_class(cls)
    with pytest.raises(E.MPIException):
        errcodes.Remove_error_class(E.ERR_RANK)  # predefined classes cannot be removed


def test_exception_compares_as_its_code() -> None:
    exc = E.MPIException(E.ERR_RANK)
    assert exc == E.ERR_RANK and E.ERR_ARG > exc > E.SUCCESS and hash(exc) == hash(E.ERR_RANK)
    assert repr(exc) == f"MPI.Exception({E.ERR_RANK})" and not E.MPIException(E.SUCCESS)
    assert E.MPIException(-5) == E.ERR_UNKNOWN


def test_status_fields_memory_fortran_pickle() -> None:
    st = Status()
    st.source, st.tag, st.error = 1, 2, 3
    st.Set_elements(PREDEFINED["INT"], 5)
    mem = st.tomemory()
    mem[0] = 11
    assert st.source == 11 and st.Get_count(PREDEFINED["BYTE"]) == 20 and st.Get_count(PREDEFINED["INT"]) == 5
    assert Status.f2py(st.py2f()) == st and pickle.loads(pickle.dumps(st)) == st and Status(st) == st
    with pytest.raises(TypeError):
        Status(123)
    with pytest.raises(TypeError):
        hash(st)


def test_groups_ranges_translation_empty() -> None:
    world = Group(range(6), 2)
    evens = world.Range_incl([(0, 5, 2)])
    assert evens._ranks == [0, 2, 4] and evens.rank == 1
    assert world.Range_excl([(5, 0, -2)])._ranks == [0, 2, 4]
    assert world.Translate_ranks([PROC_NULL, 1, 2], evens) == [PROC_NULL, UNDEFINED, 1]
    assert world.Incl([]) == GROUP_EMPTY and Group.Difference(evens, world) == GROUP_EMPTY
    assert world.Incl([1, 0]).Compare(world.Incl([0, 1])) == SIMILAR and world.Dup().Compare(world) == IDENT
    assert Group(world) == world and world.Dup() != world and Group() == GROUP_NULL and not GROUP_NULL
    with pytest.raises(E.MPIException) as exc:
        world.Incl([6])
    assert exc.value.Get_error_class() == E.ERR_RANK
    with pytest.raises(ValueError):
        pickle.dumps(world)
    with pytest.raises(TypeError):
        Group("abc")


class _Thing(AttributesMixin):
    _attr_kind = "Thing"


def test_keyval_callbacks() -> None:
    seen = []
    kv = _Thing.Create_keyval(lambda o, k, v: v * 2, lambda o, k, v: seen.append(v))
    a, b = _Thing(), _Thing()
    assert a._get_user_attr(kv) is None
    a.Set_attr(kv, 3)
    a._copy_attrs(b)
    assert b._get_user_attr(kv) == 6
    a.Set_attr(kv, 4)  # the replaced value is deleted
    b._delete_attrs()
    assert seen == [3, 6]
    assert _Thing.Free_keyval(kv) == KEYVAL_INVALID
    assert a._get_user_attr(kv) == 4  # attributes outlive their freed keyval
    a.Delete_attr(kv)
    with pytest.raises(E.MPIException) as exc:
        a.Set_attr(kv, 1)
    assert exc.value.Get_error_class() == E.ERR_OTHER  # freed: Open MPI's class
    failing = _Thing.Create_keyval(None, lambda o, k, v: 1 / 0)
    a.Set_attr(failing, 1)
    with pytest.raises(E.MPIException) as exc:
        a.Delete_attr(failing)
    assert exc.value.Get_error_class() == E.ERR_OTHER
