"""Communicator handles and the management calls beyond Dup/Split/Create (mixed into Comm).

Handles as mpi4py has them: MPI.Comm() is COMM_NULL, a freed communicator equals COMM_NULL and
is false, communicators compare equal when they are one communicator (MPI.Comm(comm) == comm),
are unhashable, and have integer forms (handle/toint/py2f, back with fromhandle/fromint/f2py).
Then info hints (Set_info/Get_info/Dup_with_info), Create_group (collective over the group only),
Create_from_group (MPI-4: no parent communicator) and Split_type (one machine: every rank shares
memory with every other).
"""

from __future__ import annotations

import itertools
import weakref
import zlib
from typing import Any

from ..errors import ERR_ARG, ERR_COMM, ERR_GROUP, MPIException, MPITypeError
from .constants import COMM_TYPE_HW_GUIDED, COMM_TYPE_HW_UNGUIDED, COMM_TYPE_RESOURCE_GUIDED, COMM_TYPE_SHARED
from .errhandler import Errhandler, call_errhandler, create_errhandler
from .groups import Group
from .info import INFO_NULL, Info, as_info
from .p2p import RecvReq

_UNDEFINED = -32766
_GROUP_TAG = (1 << 30) + 16  # management tags of Create_group (the user's tag is added)
_FROM_GROUP_BLOCK = 1 << 26  # a context block no communicator gets: Create_from_group's agreement
_SHARED_RESOURCES = ("mpi_shared_memory",)  # hw resource types all of this machine's ranks share
_ids = itertools.count(16)
_BY_INT: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_CONSTANTS: dict[int, str] = {}  # id() of COMM_NULL/COMM_SELF/COMM_WORLD -> the name


def name_comm_constants(namespace: dict[str, Any]) -> None:
    """Mark the module's COMM_NULL, COMM_SELF and COMM_WORLD as constants (pickled by name, never
    freed by free()) and give them the integer handles 0, 1 and 2."""
    for number, name in enumerate(("COMM_WORLD", "COMM_SELF")):
        comm = namespace[name]
        _CONSTANTS[id(comm)] = name
        comm.__dict__["_handle_id"] = number
        _BY_INT[number] = comm
    null = namespace["COMM_NULL"]
    _CONSTANTS[id(null)] = "COMM_NULL"
    _NAMESPACE[0] = namespace  # the module's own globals: hosted ranks swap COMM_WORLD in it


_NAMESPACE: list[dict[str, Any]] = [{}]


def _constant(name: str) -> Any:
    """The communicator constant of that name (what a pickled constant unpickles to)."""
    return _NAMESPACE[0][name]


def _null_call(name: str) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        raise MPIException(ERR_COMM, f"{name}: invalid communicator (MPI.COMM_NULL)")
    return call


class CommManagementMixin:
    """Handle behaviour and the management calls of communicators (see the module doc)."""

    # -- the null communicator ---------------------------------------------------------------
    def _init_null(self) -> None:
        """State of MPI.Comm(): COMM_NULL. Every call but the handle ones raises ERR_COMM."""
        self._engine = None
        self._ranks = []
        self._identity = False
        self.size = 0
        self.rank = -1
        self._name = "MPI_COMM_NULL"
        self._freed = True
        self._fast_size = 0
        self._null = True
        # The plain accessors read attributes, so on COMM_NULL they are replaced by ERR_COMM.
        for name in ("Get_size", "Get_rank", "Is_inter", "Is_intra"):
            self.__dict__[name] = _null_call(name)

    def _is_null(self) -> bool:
        return self.__dict__.get("_null", False) or self._freed

    def _check_comm_arg(self, args: tuple) -> None:
        """Refuse a constructor argument that is not a communicator (None: COMM_NULL), as mpi4py does."""
        if args[0] is None:
            return
        raise MPITypeError(ERR_COMM, f"{type(self).__name__}() takes a communicator, got {type(args[0]).__name__}")

    def _as_my_type(self, comm: Any) -> Any:
        """comm as an object of this communicator's class (Dup and Clone keep a subclass), made the
        way mpi4py makes it: the class's own __new__ without arguments, then given the handle."""
        cls = type(self)
        if type(comm) is cls:
            return comm
        new = cls.__new__(cls)
        new.__dict__ = comm.__dict__
        return new

    # -- handle behaviour --------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CommManagementMixin):
            return NotImplemented
        if self._is_null() or other._is_null():
            return self._is_null() and other._is_null()
        return self.__dict__ is other.__dict__

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]  # mpi4py communicators are unhashable

    def __bool__(self) -> bool:
        return not self._is_null()

    @property
    def handle(self) -> int:
        """The communicator handle as an integer (COMM_NULL: -1... here 3, as no live one has it)."""
        if self._is_null():
            return 3
        number = self.__dict__.get("_handle_id")
        if number is None:
            number = self.__dict__["_handle_id"] = next(_ids)
            _BY_INT[number] = self
        return number

    def toint(self) -> int:
        """The handle as a C integer."""
        return self.handle

    def py2f(self) -> int:
        """The handle as a Fortran integer."""
        return self.handle

    @classmethod
    def fromhandle(cls, handle: int) -> Any:
        """The communicator of an integer handle (from `handle`), as an object of this class."""
        handle = int(handle)
        if handle == 3:
            return cls()
        comm = _BY_INT.get(handle)
        if comm is None or comm._is_null():
            raise ValueError(f"{handle} is not a live communicator handle")
        # As mpi4py: the communicator's own kind (MPI.Comm.fromint of a Cartcomm is a Cartcomm).
        kind = type(comm) if issubclass(type(comm), cls) else cls
        return kind(comm)

    fromint = fromhandle
    f2py = fromhandle

    def free(self) -> None:
        """Free the communicator unless it is null or a predefined one (mpi4py's safe free)."""
        if self._is_null() or id(self) in _CONSTANTS:
            return
        name = self._predefined_name()
        if name is not None:
            if _NAMESPACE[0].get(name) is not self:
                # Another handle to COMM_WORLD/COMM_SELF (MPI.Intracomm(MPI.COMM_WORLD)) becomes
                # null, as in mpi4py; it gets a state of its own, the constant keeps the shared one.
                self.__dict__ = {}
                self._init_null()
            return
        self.Free()

    def _predefined_name(self) -> str | None:
        """"COMM_WORLD" or "COMM_SELF" if this is (a handle to) one of them, else None. Looked up
        in the module's globals, which a hosting process swaps per rank (toro_mpi.hosting)."""
        ns = _NAMESPACE[0]
        for name in ("COMM_WORLD", "COMM_SELF"):
            comm = ns.get(name)
            if comm is not None and comm.__dict__ is self.__dict__:
                return name
        return None

    def __reduce__(self) -> Any:
        name = _CONSTANTS.get(id(self))
        if name is None and self._predefined_name() is not None and self is _NAMESPACE[0][self._predefined_name()]:
            name = self._predefined_name()
        if name is not None:
            return (_constant, (name,))
        if self._is_null():
            return (type(self), ())
        name = self._predefined_name()
        if name is not None:  # another handle to COMM_WORLD or COMM_SELF
            return (type(self), (_constant(name),))
        raise ValueError(f"cannot serialize {type(self).__name__} instance")

    def __copy__(self) -> Any:
        return self if id(self) in _CONSTANTS else type(self)(self)

    def __deepcopy__(self, memo: dict) -> Any:
        return self.__copy__()

    # -- error handlers ----------------------------------------------------------------------
    @classmethod
    def Create_errhandler(cls, errhandler_fn: Any) -> Errhandler:
        """A user error handler for communicators: errhandler_fn(comm, errorcode)."""
        return create_errhandler("Comm", errhandler_fn)

    def Call_errhandler(self, errorcode: int) -> None:
        """Invoke the communicator's error handler on errorcode: a user handler is called, the job
        aborts for ERRORS_ARE_FATAL and ERRORS_ABORT, ERRORS_RETURN does nothing."""
        self._check_live()
        call_errhandler(self, errorcode)

    # -- properties --------------------------------------------------------------------------
    @property
    def is_inter(self) -> bool:
        """Whether this is an intercommunicator."""
        return self.Is_inter()

    @property
    def is_intra(self) -> bool:
        """Whether this is an intracommunicator."""
        return self.Is_intra()

    # -- info hints --------------------------------------------------------------------------
    def Set_info(self, info: Info) -> None:
        """Set the communicator's hints (kept, returned by Get_info; toro_mpi acts on none)."""
        self._check_live()
        info = as_info(info, "Set_info")
        self.__dict__["_hints"] = dict(info.items())

    def Get_info(self) -> Info:
        """A new info object with the hints set on the communicator."""
        self._check_live()
        return Info.Create(self.__dict__.get("_hints", {}))

    @property
    def info(self) -> Info:
        """The communicator's hints (Get_info)."""
        return self.Get_info()

    @info.setter
    def info(self, info: Info) -> None:
        self.Set_info(info)

    def Dup_with_info(self, info: Info) -> Any:
        """Dup, with these hints on the new communicator instead of this one's."""
        info = as_info(info, "Dup_with_info")
        comm = self.Dup()
        comm.__dict__["_hints"] = dict(info.items())
        return comm

    # -- groups ------------------------------------------------------------------------------
    def _agree_block(self, members: list[int], tag: int, coll_ctx: int) -> int:
        """A fresh context block agreed by the world ranks `members` (the caller among them),
        over messages tagged `tag` on context coll_ctx: the leader gathers proposals and sends
        back the largest."""
        e = self._engine
        me = e.rank
        leader = members[0]
        if me != leader:
            for r in self._send_object(e.next_context_block, leader, tag, False, coll_ctx):
                e.wait_send(r)
            req = RecvReq(leader, tag + 1, coll_ctx, None, 0)
            req.on_complete = self._post_object_parts
            e.wait_recv(e.post(req))
            block = self._finish_object(req)
        else:
            block = e.next_context_block
            for src in members[1:]:
                req = RecvReq(src, tag, coll_ctx, None, 0)
                req.on_complete = self._post_object_parts
                e.wait_recv(e.post(req))
                block = max(block, self._finish_object(req))
            sends = [r for dest in members[1:] for r in self._send_object(block, dest, tag + 1, False, coll_ctx)]
            for r in sends:
                e.wait_send(r)
        e.next_context_block = block + 1
        return block

    def _from_group(self, group: Group, block: int) -> Any:
        from .comm import CONTEXTS_PER_COMM, Intracomm  # noqa: PLC0415 - comm.py mixes this class in

        return Intracomm(self._engine, list(group._ranks), CONTEXTS_PER_COMM * block, "")

    def Create_group(self, group: Group, tag: int = 0) -> Any:
        """A communicator of `group`, collective over the group's members only (MPI-3)."""
        self._check_live()
        if not isinstance(group, Group):
            raise TypeError(f"Create_group: expected Group, got {type(group).__name__}")
        members = list(group._ranks)
        if not set(members) <= set(self._ranks):
            raise MPIException(ERR_GROUP, "Create_group: the group is not a subset of the communicator")
        if self._engine.rank not in members:
            raise MPIException(ERR_GROUP, "Create_group: the caller is not a member of the group")
        if not isinstance(tag, int) or tag < 0:
            raise MPIException(ERR_ARG, f"Create_group: tag must be an int >= 0, got {tag!r}")
        block = self._agree_block(members, _GROUP_TAG + 2 * (tag % (1 << 20)), self._coll_ctx)
        return self._from_group(group, block)

    @classmethod
    def Create_from_group(cls, group: Group, stringtag: str = "org.mpi4py", info: Info = INFO_NULL,
                          errhandler: Any = None) -> Any:
        """A communicator of `group` without a parent communicator (MPI-4), collective over the
        group's members, who pass the same stringtag."""
        if not isinstance(group, Group):
            raise TypeError(f"Create_from_group: expected Group, got {type(group).__name__}")
        as_info(info, "Create_from_group")
        engine = _NAMESPACE[0]["COMM_WORLD"]._engine
        members = list(group._ranks)
        if engine.rank not in members:
            raise MPIException(ERR_GROUP, "Create_from_group: the caller is not a member of the group")
        from .comm import CONTEXTS_PER_COMM, Intracomm  # noqa: PLC0415

        helper = Intracomm(engine, members, CONTEXTS_PER_COMM * _FROM_GROUP_BLOCK, "")
        tag = _GROUP_TAG + 2 * (zlib.crc32(str(stringtag).encode()) % (1 << 20))
        block = helper._agree_block(members, tag, helper._coll_ctx)
        comm = helper._from_group(group, block)
        if errhandler is not None:
            comm.Set_errhandler(errhandler)
        return comm if cls is Intracomm else cls(comm)

    # -- Split_type --------------------------------------------------------------------------
    def Split_type(self, split_type: int, key: int = 0, info: Info = INFO_NULL) -> Any:
        """Split by shared resources. One machine: COMM_TYPE_SHARED (and HW_GUIDED with the
        "mpi_hw_resource_type" hint "mpi_shared_memory") keep every rank together;
        HW_UNGUIDED gives each rank its own core's communicator (COMM_NULL when that is not a
        strict subset) and records "mpi_hw_resource_type" in `info`; UNDEFINED, or a resource
        type this machine lacks, COMM_NULL."""
        self._check_live()
        info = as_info(info, "Split_type")
        if split_type == _UNDEFINED or split_type == COMM_TYPE_RESOURCE_GUIDED:
            color = _UNDEFINED
        elif split_type == COMM_TYPE_SHARED:
            color = 0
        elif split_type == COMM_TYPE_HW_GUIDED:
            resource = info.get("mpi_hw_resource_type")
            color = 0 if resource in _SHARED_RESOURCES else _UNDEFINED
        elif split_type == COMM_TYPE_HW_UNGUIDED:
            color = self.rank if self.size > 1 else _UNDEFINED
        else:
            raise MPIException(ERR_ARG, f"Split_type: unknown split type {split_type!r}")
        comm = self.Split(color, key)
        if split_type == COMM_TYPE_HW_UNGUIDED and comm and info and not info._ref.predefined:
            info.Set("mpi_hw_resource_type", "hwloc://core")  # MPI: tell which level was split at
        return type(self)() if comm is None else comm
