"""MPI reduction operators: the predefined ones, user operators, and which dtypes each applies to.

Buffer reductions of predefined operators run in jitted code (coll/elementwise.py); here is what
the MPI layer needs around them: `Op` objects as mpi4py has them (callable on Python objects,
`Op.Create`, `Reduce_local`), and the check that refuses an operator on a dtype it does not
apply to with ERR_OP, on every rank, before anything is sent.

It depends on the buffer layer (mpi/buffers.py, for Reduce_local) and the collective engine's
local reduction only: the collectives import it, never the other way round.
"""

from __future__ import annotations

import gc
import itertools
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from ..coll import elementwise as E
from ..coll.engine import local_reduce
from ..errors import ERR_COUNT, ERR_OP, ERR_TYPE, MPIException, MPIValueError
from .buffers import normalise, typed
from .handles import IntHandles

# Reduce_local on the float types without a jitted kernel (long double, its complex): numpy.
_NUMPY_LOCAL: dict[int, Any] = {E.OP_SUM: np.add, E.OP_PROD: np.multiply, E.OP_MIN: np.minimum,
                                E.OP_MAX: np.maximum}

class Op(IntHandles):
    """A reduction operator: predefined (jitted for buffers) or user-defined (a Python function)."""

    __slots__ = ("name", "code", "commutative", "_fn", "_obj", "_uid", "_const", "_owner", "__weakref__")

    def __init__(self, name: Any = None, code: int | None = None, commutative: bool = True,
                 fn: Callable[..., Any] | None = None, obj: Callable[[Any, Any], Any] | None = None) -> None:
        if code is None:
            # mpi4py's constructors: MPI.Op() is OP_NULL's equal, MPI.Op(op) another handle to op.
            if name is not None and not isinstance(name, Op):
                raise TypeError(f"expected Op, got {type(name).__name__}")
            other = name if name is not None else OP_NULL
            self.name, self.code, self.commutative = other.name, other.code, other.commutative
            self._fn, self._obj, self._uid, self._const = other._fn, other._obj, other._uid, None
            self._owner = other._owner
            return
        self.name = name
        self.code = code
        self.commutative = commutative
        self._fn = fn  # user function fn(inbuf, inoutbuf, datatype)
        self._obj = obj  # predefined: how two Python objects combine
        self._uid = next(_uids) if code == E.OP_USER else code  # what equal handles share
        self._const: str | None = None  # the module constant this object is (pickled by name)
        self._owner: Any = None  # the rank whose limit a user operator counts against

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Op):
            return NotImplemented
        return self._uid == other._uid

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Op):
            return NotImplemented
        return self._uid != other._uid

    __hash__ = None  # type: ignore[assignment]  # mpi4py's handles are unhashable

    @classmethod
    def fromhandle(cls, handle: int) -> Op:
        """The operator of an integer handle. A user operator comes back as another handle to it
        that, as in mpi4py, works but cannot be pickled (it is not the object holding the function)."""
        op = super().fromhandle(handle)
        if op.code != E.OP_USER:
            return op
        clone = Op(op)
        clone._const = ""  # "" : made from a handle, not picklable
        return clone

    fromint = fromhandle
    f2py = fromhandle

    def __reduce__(self) -> Any:
        if self._const == "":
            raise ValueError("cannot pickle a user operator obtained from an integer handle")
        if self._const is not None:
            return self._const  # the module constant itself
        if self.code == E.OP_USER:
            if self._fn is None:
                raise ValueError("cannot pickle a freed user operator")
            return (type(self).Create, (self._fn, self.commutative))
        return (_copy_of, (self._uid, type(self)))

    @classmethod
    def Create(cls, function: Callable[..., Any], commute: bool = False) -> Op:
        """A user operator: function(invec, inoutvec, datatype) leaves invec op inoutvec in inoutvec."""
        if not callable(function):
            raise MPIException(ERR_OP, f"Op.Create needs a callable, got {type(function).__name__}")
        if _live_count() >= MAX_USER_OPS and (gc.collect() or True) and _live_count() >= MAX_USER_OPS:
            # mpi4py keeps its user operators in a table of this size, and says so this way.
            raise RuntimeError(f"cannot create more than {MAX_USER_OPS} user-defined reduction operations")
        op = cls(getattr(function, "__name__", "user"), E.OP_USER, bool(commute), fn=function)
        op._owner = _rank_key()
        _live_user_ops[id(op)] = op  # until freed or no longer referenced
        return op

    @classmethod
    def internal(cls, function: Callable[..., Any], commute: bool) -> Op:
        """A user-style operator toro_mpi makes for itself (numpy combining a type without a
        jitted kernel): it does not count against the program's MAX_USER_OPS."""
        return cls(getattr(function, "__name__", "internal"), E.OP_USER, bool(commute), fn=function)

    def Free(self) -> None:
        """Free a user operator (predefined ones cannot be freed)."""
        if self.code != E.OP_USER or self._fn is None:
            raise MPIException(ERR_OP, f"cannot free the predefined (or freed) operator {self.name}")
        self._fn = None

    def free(self) -> None:
        """Call `Free` if not null or predefined.

        As mpi4py's: the module constants (MPI.SUM) stay as they are; another handle to a
        predefined operator (MPI.Op(MPI.SUM)) only becomes null; a user operator is freed.
        """
        if self._const or not self:  # a constant, OP_NULL, or already freed
            return
        if self.code != E.OP_USER:
            Op.__init__(self)  # this handle becomes OP_NULL's equal
            return
        self.Free()

    def Is_commutative(self) -> bool:
        """Whether the operator is commutative."""
        return self.commutative

    @property
    def is_commutative(self) -> bool:
        """Whether the operator is commutative."""
        return self.commutative

    def Is_predefined(self) -> bool:
        """Whether this is one of MPI's predefined operators."""
        return self.code != E.OP_USER

    @property
    def is_predefined(self) -> bool:
        """Whether this is one of MPI's predefined operators."""
        return self.Is_predefined()

    def __call__(self, x: Any, y: Any) -> Any:
        """Combine two Python objects (x from the lower rank), as the object collectives do."""
        if self.code == E.OP_NONE:
            raise ValueError("MPI.OP_NULL cannot combine values")
        if self.code == E.OP_USER:
            if self._fn is None:
                raise MPIException(ERR_OP, f"user operator {self.name} has been freed")
            return self._fn(x, y, None)
        assert self._obj is not None
        return self._obj(x, y)

    def apply_buffers(self, inbuf: np.ndarray, inoutbuf: np.ndarray, datatype: Any) -> None:
        """Compute inoutbuf = inbuf op inoutbuf for a user operator (the collectives' Python step)."""
        if self._fn is None:
            raise MPIException(ERR_OP, f"user operator {self.name} has been freed")
        self._fn(inbuf, inoutbuf, datatype)

    def Reduce_local(self, inbuf: Any, inoutbuf: Any) -> None:
        """Compute inoutbuf = inbuf op inoutbuf, locally."""
        a = normalise(inbuf, False)
        b = normalise(inoutbuf, True)
        x, y = typed(a), typed(b)
        if x.dtype != y.dtype:
            raise MPIValueError(ERR_TYPE, f"Reduce_local: datatypes differ ({x.dtype} vs {y.dtype})")
        if x.shape != y.shape:  # mpi4py: ValueError for counts that differ
            raise MPIValueError(ERR_COUNT, f"Reduce_local: counts differ ({x.size} vs {y.size})")
        if self.code == E.OP_USER:
            self.apply_buffers(x, y, b.datatype)
        else:
            numpy_op = _NUMPY_LOCAL.get(self.code)
            if numpy_op is not None and y.dtype.kind in "fc" and y.dtype not in _JITTED:
                # long double and its complex: no jitted kernel; numpy combines them exactly as wide
                if self.code in (E.OP_MIN, E.OP_MAX) and y.dtype.kind == "c":
                    check_applies(self, y.dtype)  # MIN/MAX of complex: ERR_OP, as everywhere
                numpy_op(x, y, out=y)
            else:
                check_applies(self, y.dtype)
                local_reduce(self.code, x, y)
        b.finish()

    def __bool__(self) -> bool:
        # False for OP_NULL and for a user operator once freed (mpi4py's handle truth).
        return self.code != E.OP_NONE and not (self.code == E.OP_USER and self._fn is None)

    def __repr__(self) -> str:
        return f"<Op {self.name}>"


def _max(x: Any, y: Any) -> Any:
    return y if y > x else x


def _min(x: Any, y: Any) -> Any:
    return y if y < x else x


def _maxloc(x: Any, y: Any) -> Any:
    (u, i), (v, j) = x, y
    if u > v:
        return u, i
    if v > u:
        return v, j
    return (v, j) if j < i else (u, i)


def _minloc(x: Any, y: Any) -> Any:
    (u, i), (v, j) = x, y
    if u < v:
        return u, i
    if v < u:
        return v, j
    return (v, j) if j < i else (u, i)


MAX_USER_OPS = 32  # live user operators at once (mpi4py's limit)
# By id (operators are unhashable, as mpi4py's): an entry goes when its operator is garbage.
_live_user_ops: weakref.WeakValueDictionary[int, Op] = weakref.WeakValueDictionary()


# The calling rank (MPI.py installs it: green-thread ranks hosted in one process each have their
# own limit, as separate MPI processes do).
_rank_key: Callable[[], Any] = lambda: None  # noqa: E731


def set_rank_key(lookup: Callable[[], Any]) -> None:
    """Install the function naming the calling rank (for the per-rank operator limit)."""
    global _rank_key
    _rank_key = lookup


def _live_count() -> int:
    """The calling rank's user operators neither freed nor garbage."""
    me = _rank_key()
    return sum(1 for op in list(_live_user_ops.values()) if op._fn is not None and op._owner is me)
_uids = itertools.count(1000)  # user operators' identities (predefined ones use their code)

OP_NULL = Op("MPI_OP_NULL", E.OP_NONE)
SUM = Op("MPI_SUM", E.OP_SUM, obj=lambda x, y: x + y)
PROD = Op("MPI_PROD", E.OP_PROD, obj=lambda x, y: x * y)
MAX = Op("MPI_MAX", E.OP_MAX, obj=_max)
MIN = Op("MPI_MIN", E.OP_MIN, obj=_min)
LAND = Op("MPI_LAND", E.OP_LAND, obj=lambda x, y: x and y)
LOR = Op("MPI_LOR", E.OP_LOR, obj=lambda x, y: x or y)
LXOR = Op("MPI_LXOR", E.OP_LXOR, obj=lambda x, y: bool(x) != bool(y))
BAND = Op("MPI_BAND", E.OP_BAND, obj=lambda x, y: x & y)
BOR = Op("MPI_BOR", E.OP_BOR, obj=lambda x, y: x | y)
BXOR = Op("MPI_BXOR", E.OP_BXOR, obj=lambda x, y: x ^ y)
MAXLOC = Op("MPI_MAXLOC", E.OP_MAXLOC, obj=_maxloc)
MINLOC = Op("MPI_MINLOC", E.OP_MINLOC, obj=_minloc)
REPLACE = Op("MPI_REPLACE", E.OP_REPLACE, commutative=False, obj=lambda x, y: y)
NO_OP = Op("MPI_NO_OP", E.OP_NO_OP, commutative=False, obj=lambda x, y: x)

for _name, _op in list(globals().items()):
    if isinstance(_op, Op) and _op.code != E.OP_USER:
        _op._const = _name  # pickled by name: unpickles to this very object
_PREDEFINED_BY_UID = {op._uid: op for op in globals().values() if isinstance(op, Op)}


def _copy_of(uid: int, cls: type[Op] = Op) -> Op:
    """A new handle of class cls (Op or a program's subclass) to a predefined operator (what a
    pickled copy of one unpickles to)."""
    return cls(_PREDEFINED_BY_UID[uid])


# Which numpy kinds each predefined operator applies to (MPI 4.1, section 6.9.2): arithmetic on
# integers, floats and complex (MIN/MAX not complex), logical on integers and bool (C_BOOL is
# "logical" only: OpenMPI refuses BAND/BOR/BXOR on it too), bitwise on integers.
# The dtypes the reduction kernels are compiled for (numba has no float16 or long double).
_JITTED = frozenset(np.dtype(c) for c in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8", "c8", "c16", "?"))
_KINDS = {
    E.OP_SUM: "iufc", E.OP_PROD: "iufc", E.OP_MIN: "iuf", E.OP_MAX: "iuf",
    E.OP_LAND: "iub", E.OP_LOR: "iub", E.OP_LXOR: "iub",
    E.OP_BAND: "iu", E.OP_BOR: "iu", E.OP_BXOR: "iu",
}


def is_pair(dtype: np.dtype) -> bool:
    """Whether dtype is one of MPI's {value, int} pair types (MAXLOC/MINLOC)."""
    return dtype.names == ("v", "i") and dtype.fields["i"][0] == np.dtype("i4") \
        and dtype.fields["v"][0].kind in "iuf"


def check_applies(op: Any, dtype: np.dtype) -> Op:
    """The Op, after checking it may reduce buffers of dtype; ERR_OP otherwise."""
    if not isinstance(op, Op) or op.code == E.OP_NONE:
        raise MPIException(ERR_OP, f"expected an MPI.Op, got {op!r}")
    code = op.code
    if code == E.OP_USER:
        if op._fn is None:
            raise MPIException(ERR_OP, f"user operator {op.name} has been freed")
        return op
    if code in (E.OP_MAXLOC, E.OP_MINLOC):
        if not is_pair(dtype):
            raise MPIException(ERR_OP, f"{op.name} needs a pair datatype (e.g. MPI.DOUBLE_INT), got {dtype}")
        return op
    kinds = _KINDS.get(code)
    if kinds is None:
        raise MPIException(ERR_OP, f"{op.name} is not a reduction operator for buffers")
    if dtype.kind not in kinds or dtype.names is not None or dtype not in _JITTED:
        raise MPIException(ERR_OP, f"{op.name} does not apply to {dtype}")
    return op
