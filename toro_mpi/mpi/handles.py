"""mpi4py's object model for MPI handles, shared by the handle classes (Group, Info, Errhandler,
and the null handles of the classes toro_mpi does not implement).

In mpi4py a Python object *holds* a handle: `cls(obj)` is a second object holding the same
handle, equality compares the handles (two objects are equal when they name one MPI object, or
both are null), objects are unhashable and unordered, false when null, and `free()` releases
what the object holds (a no-op on a predefined constant, and on a copy of one it only nulls the
copy). Handles have integer forms (`handle`, `toint`, `py2f`) that `fromhandle`, `fromint` and
`f2py` turn back into objects. Predefined constants pickle by name, so unpickling gives the
constant itself.

Here the handle is a `Ref`: one per MPI object, holding its state; a null handle is None.
"""

from __future__ import annotations

import itertools
import weakref
from typing import Any, ClassVar

_ids = itertools.count(1)
# Every live MPI object by its integer handle (0 is every class's null handle).
_BY_INT: weakref.WeakValueDictionary[int, Ref] = weakref.WeakValueDictionary()


class Ref:
    """One MPI object: its integer handle, whether it is predefined, and its state."""

    __slots__ = ("id", "predefined", "name", "state", "__weakref__")

    def __init__(self, state: Any = None, predefined: bool = False) -> None:
        self.id = next(_ids)
        self.predefined = predefined
        self.name = ""  # the constant's name, for a predefined object
        self.state = state
        _BY_INT[self.id] = self


class Handle:
    """Base of a handle class. Subclasses set `_kind` (the mpi4py class name) and `_null_name`,
    may override `_free` (release the MPI object) and `_pickle` (how a non-null, non-constant
    object pickles; by default it cannot be, as mpi4py refuses for groups and communicators)."""

    _kind: ClassVar[str] = "Handle"

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # Arguments are __init__'s: a subclass's __new__ may pass them on (super().__new__(cls, obj)).
        return super().__new__(cls)

    _null_name: ClassVar[str] = ""
    _ref: Ref | None
    _const: str | None = None  # the module constant this object is (MPI.INFO_ENV), if it is one

    def __init__(self, obj: Any = None) -> None:
        if obj is None:
            self._ref = None
        elif isinstance(obj, Handle) and obj._kind == self._kind:
            self._ref = obj._ref
        else:
            raise TypeError(f"expected {self._kind}, got {type(obj).__name__}")

    @classmethod
    def _new(cls, ref: Ref | None) -> Any:
        """An object of this class holding ref (None: the null handle)."""
        obj = cls.__new__(cls)
        Handle.__init__(obj)
        obj._ref = ref
        return obj

    # -- comparisons, truth ------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Handle) or other._kind != self._kind:
            return NotImplemented
        return self._ref is other._ref

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Handle) or other._kind != self._kind:
            return NotImplemented
        return self._ref is not other._ref

    __hash__ = None  # type: ignore[assignment]  # mpi4py handles are unhashable

    def __bool__(self) -> bool:
        return self._ref is not None

    # -- integer forms -----------------------------------------------------------------------
    @property
    def handle(self) -> int:
        """The MPI handle as an integer (0 for the null handle)."""
        return 0 if self._ref is None else self._ref.id

    def toint(self) -> int:
        """The handle as a C integer."""
        return self.handle

    def py2f(self) -> int:
        """The handle as a Fortran integer."""
        return self.handle

    @classmethod
    def fromhandle(cls, handle: int) -> Any:
        """The object for an integer handle (from `handle`)."""
        handle = int(handle)
        if handle == 0:
            return cls._new(None)
        ref = _BY_INT.get(handle)
        if ref is None or not isinstance(ref.state, cls._state_type()):
            raise ValueError(f"{handle} is not a live MPI.{cls._kind} handle")
        return cls._new(ref)

    fromint = fromhandle
    f2py = fromhandle

    @classmethod
    def _state_type(cls) -> type | tuple[type, ...]:
        """The type of this class's Ref.state (to refuse another class's handle)."""
        return object

    # -- freeing -----------------------------------------------------------------------------
    def _free(self, ref: Ref) -> None:
        """Release the MPI object (called once, for a non-predefined one)."""

    def free(self) -> None:
        """Release what this object holds; safe on null handles and constants (mpi4py's free)."""
        if self._const is not None or self._ref is None:
            return
        ref, self._ref = self._ref, None
        if not ref.predefined:
            self._free(ref)

    # -- pickling ----------------------------------------------------------------------------
    def _pickle(self) -> Any:
        raise ValueError(f"cannot serialize MPI.{self._kind} instance")

    def __reduce__(self) -> Any:
        if self._const is not None:
            return (constant, (self._const,))  # unpickles as the module constant itself
        if self._ref is None:
            return (type(self), ())
        if self._ref.predefined and self._ref.name:
            return (type(self), (constant(self._ref.name),))  # another handle to the constant
        return self._pickle()

    def __copy__(self) -> Any:
        return self if self._const is not None else type(self)(self)

    def __deepcopy__(self, memo: dict) -> Any:
        return self.__copy__()


# The named constants (MPI.INFO_ENV, MPI.GROUP_EMPTY, ...), filled by name_constants.
CONSTANTS: dict[str, Any] = {}


def constant(name: str) -> Any:
    """The module constant MPI.<name> (what a pickled constant unpickles to)."""
    return CONSTANTS[name]


def name_constants(namespace: dict[str, Any], names: list[str]) -> None:
    """Mark module-level handle objects as the constants of those names (pickled by name, never
    freed). Their class's __module__ must be the module the names live in."""
    for name in names:
        obj = CONSTANTS[name] = namespace[name]
        obj._const = name
        if obj._ref is not None:
            obj._ref.predefined = True
            obj._ref.name = name


# Objects of the IntHandles classes whose integer handle was taken, so fromhandle finds them
# (a strong reference: these classes' objects need not support weak references, and programs
# take handles of few objects, mostly predefined ones).
_TAKEN: dict[int, Any] = {}


def _new_taking_arguments(cls: type, *args: Any, **kwargs: Any) -> Any:
    """object.__new__, ignoring the arguments (they are __init__'s)."""
    return object.__new__(cls)


class IntHandles:
    """mpi4py's integer forms and safe free() for a class whose Python object *is* the MPI object
    (Datatype, Op, Request): `handle` is the object's address, `fromhandle` gives the object
    back, and `free()` calls Free() unless the object is null or predefined.

    A class mixes this in first among its bases; `_is_null_handle` and `_is_predefined_handle`
    may be overridden (by default: null when bool(obj) is false; predefined as Is_predefined() says)."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # A program's subclass may define __new__ and pass its arguments on, as mpi4py allows
        # (super().__new__(cls, request)), which object.__new__ refuses. Giving toro_mpi's
        # classes an __new__ that takes them would cost every object (every Request of the hot
        # paths) a Python call, so they get one only once a program subclasses them.
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("toro_mpi."):
            return
        for base in cls.__mro__[1:]:
            if base.__module__.startswith("toro_mpi.") and "__new__" not in base.__dict__ and base is not IntHandles:
                base.__new__ = staticmethod(_new_taking_arguments)

    def _is_null_handle(self) -> bool:
        return not self

    def _is_predefined_handle(self) -> bool:
        is_predefined = getattr(self, "Is_predefined", None)
        return bool(is_predefined()) if is_predefined is not None else False

    @property
    def handle(self) -> int:
        """The MPI handle as an integer (the object's address)."""
        _TAKEN[id(self)] = self
        return id(self)

    def toint(self) -> int:
        """The handle as a C integer."""
        return self.handle

    def py2f(self) -> int:
        """The handle as a Fortran integer."""
        return self.handle

    @classmethod
    def fromhandle(cls, handle: int) -> Any:
        """The object of an integer handle (from `handle`)."""
        obj = _TAKEN.get(int(handle))
        if obj is None or not isinstance(obj, cls):
            raise ValueError(f"{handle} is not an MPI.{cls.__name__} handle of this process")
        return obj

    fromint = fromhandle
    f2py = fromhandle

    def free(self) -> None:
        """Free the object unless it is null or predefined (mpi4py's safe free)."""
        if not self._is_null_handle() and not self._is_predefined_handle():
            self.Free()


class InstanceAttribute:
    """A class-level name, with its docstring, for a plain attribute every instance sets itself
    (`MPI.Comm.rank`, which mpi4py's classes have as a property): reading it on an instance
    finds the instance's own value first (this is a non-data descriptor), so the hot paths that
    read `comm.rank` pay nothing for it."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        if obj is None:
            return self
        raise AttributeError(f"{type(obj).__name__} object has no attribute {self.name!r} (not initialised)")
