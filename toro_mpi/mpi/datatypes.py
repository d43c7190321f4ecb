"""MPI datatypes as mpi4py exposes them: the predefined names and the derived constructors.

A `Datatype` is a handle (as in mpi4py, several Python objects may name one MPI type and
compare equal; `Free` nulls the handle it is called on). The type itself is a `_Type`: its
constructor and arguments (for Get_envelope/Get_contents/decode), size, bounds and, built on
first use, its flat typemap (mpi/typemap.py) that packing and unpacking run on
(bus/typemap_copy.py). A derived type made of one predefined type (a vector of doubles) keeps
that type's numpy dtype in `dtype`, so its packed bytes travel, match and reduce as that type;
a mixed one (a struct) travels as bytes.

The predefined names, their sizes, names and type codes are Open MPI's (named_types.py).
Pair types (DOUBLE_INT, ...) move with their C padding: `size` reports MPI's size (12 for
DOUBLE_INT), the packed form holds the whole 16-byte struct.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ERR_ARG, ERR_COUNT, ERR_INTERN, ERR_TYPE, MPIException, MPITypeError, MPIValueError
from . import typemap as TM
from .attributes import AttributesMixin
from .mpi4py_names import add_missing_methods
from .named_types import CONSTANTS, ROWS, TYPECODES

UNDEFINED = -32766
_INT_MAX = 2**31 - 1  # the largest count an MPI 3.1 (int) argument holds
globals().update(CONSTANTS)  # COMBINER_*, ORDER_*, DISTRIBUTE_*, TYPECLASS_*
COMBINER_NAMED: int = CONSTANTS["COMBINER_NAMED"]
ORDER_C: int = CONSTANTS["ORDER_C"]
ORDER_FORTRAN: int = CONSTANTS["ORDER_FORTRAN"]
DISTRIBUTE_BLOCK: int = CONSTANTS["DISTRIBUTE_BLOCK"]
DISTRIBUTE_CYCLIC: int = CONSTANTS["DISTRIBUTE_CYCLIC"]
DISTRIBUTE_NONE: int = CONSTANTS["DISTRIBUTE_NONE"]
DISTRIBUTE_DFLT_DARG: int = CONSTANTS["DISTRIBUTE_DFLT_DARG"]

_COMBINER_NAMES = {CONSTANTS[k]: k[len("COMBINER_"):] for k in sorted(CONSTANTS, reverse=True)
                   if k.startswith("COMBINER_") and k != "COMBINER_VALUE_INDEX"}
_F90 = {"F90_INTEGER", "F90_REAL", "F90_COMPLEX"}


class _Type:
    """One MPI type (what a handle points to)."""

    __slots__ = ("name", "combiner", "ints", "addrs", "types", "size", "psize", "lb", "ub", "tlb", "tub",
                 "dtype", "nbasic", "align", "committed", "named", "fhandle", "char", "tstr", "code",
                 "_flat", "_build", "_regular", "attrs", "__weakref__")

    def __init__(self) -> None:
        self.name = ""
        self.combiner = "NAMED"
        self.ints: list[int] = []
        self.addrs: list[int] = []
        self.types: list[_Type] = []
        self.size = self.psize = self.lb = self.ub = self.tlb = self.tub = 0
        self.dtype: np.dtype | None = None
        self.nbasic = 0
        self.align = 1
        self.committed = False
        self.named = False
        self.fhandle = 0
        self.char = self.tstr = ""
        self.code: str | None = None
        self._flat: TM.Flat | None = None
        self._build: Any = None
        self._regular: Any = False  # typemap.regular() of the flat typemap, once asked
        self.attrs: dict[int, Any] | None = None  # keyval attributes (attributes.py)

    def flat(self) -> TM.Flat:
        """The flat typemap of one element (built once)."""
        if self._flat is None:
            self._flat = self._build()
            self._build = None
        return self._flat

    def regular(self) -> tuple[int, int, int] | None:
        """(first, stride, segment length) of an element of equally spaced equal segments (see
        typemap.regular), else None; computed once."""
        if self._regular is False:
            self._regular = TM.regular(self.flat())
        return self._regular


_NULL_T = _Type()
_NULL_T.name = "MPI_DATATYPE_NULL"
_NULL_T.named = True
_handles = itertools.count(100)  # Fortran handles of derived types (predefined ones are Open MPI's)
_BY_FHANDLE: dict[int, _Type] = {0: _NULL_T}


def _type_error(what: str) -> MPIException:
    return MPIException(ERR_TYPE, what)


class Datatype(AttributesMixin):
    """An MPI datatype handle, as mpi4py's `MPI.Datatype`."""

    __slots__ = ("_t", "__weakref__")  # weak references, as mpi4py's handles take them
    _attr_kind = "Datatype"  # keyval attributes (attributes.py): Create_keyval, Set_attr, ...

    def _existing_attrs(self) -> dict[int, Any] | None:
        return self._t.attrs

    def _attr_table(self) -> dict[int, Any]:
        # The attributes belong to the type, not to this handle: copies of a handle share them.
        t = self._live()
        if t.attrs is None:
            t.attrs = {}
        return t.attrs
    __hash__ = None  # type: ignore[assignment]  # mpi4py's handles are unhashable too

    def __init__(self, datatype: Datatype | None = None) -> None:
        if datatype is None:
            self._t = _NULL_T
        elif isinstance(datatype, Datatype):
            self._t = datatype._t
        else:
            raise TypeError(f"expecting a Datatype, got {type(datatype).__name__}")

    @classmethod
    def _of(cls, t: _Type) -> Datatype:
        obj = cls.__new__(cls)
        obj._t = t
        return obj

    def _live(self) -> _Type:
        t = self._t
        if t is _NULL_T:
            raise _type_error("invalid datatype (MPI_DATATYPE_NULL)")
        return t

    # -- comparisons, truth, pickling ----------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Datatype):
            return NotImplemented
        return self._t is other._t

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Datatype):
            return NotImplemented
        return self._t is not other._t

    def __bool__(self) -> bool:
        return self._t is not _NULL_T

    def __reduce__(self) -> str | tuple[Any, ...]:
        t = self._t
        if t.named:
            key = _NAME_OF.get(id(self))
            if key is not None:
                return key  # the module attribute itself: unpickles to the same object
            return (_copy_of, (t.fhandle, type(self)))  # a handle of the program's (sub)class
        base, combiner, params = self.decode()
        return (_create, (base, combiner, params))

    def __repr__(self) -> str:
        return f"<Datatype {self._t.name or 'derived'}>"

    # -- what existing callers read --------------------------------------------------------
    @property
    def dtype(self) -> np.dtype | None:
        """The numpy dtype this type's packed elements are made of, or None (mixed or null)."""
        return self._t.dtype

    @property
    def handle(self) -> int:
        """An integer naming this handle (its Fortran handle)."""
        return self._t.fhandle

    # -- sizes and bounds -------------------------------------------------------------------
    def Get_size(self) -> int:
        """Number of bytes of data in one element."""
        return self._live().size

    @property
    def size(self) -> int:
        """Number of bytes of data in one element."""
        return self._live().size

    def Get_extent(self) -> tuple[int, int]:
        """Return (lower bound, extent) in bytes."""
        t = self._live()
        return (t.lb, t.ub - t.lb)

    @property
    def extent(self) -> int:
        """Extent in bytes."""
        t = self._live()
        return t.ub - t.lb

    @property
    def lb(self) -> int:
        """Lower bound in bytes."""
        return self._live().lb

    @property
    def ub(self) -> int:
        """Upper bound in bytes."""
        return self._live().ub

    def Get_true_extent(self) -> tuple[int, int]:
        """Return (true lower bound, true extent): the bytes the data really spans."""
        t = self._live()
        return (t.tlb, t.tub - t.tlb)

    @property
    def true_lb(self) -> int:
        """True lower bound in bytes."""
        return self._live().tlb

    @property
    def true_ub(self) -> int:
        """True upper bound in bytes."""
        return self._live().tub

    @property
    def true_extent(self) -> int:
        """True extent in bytes."""
        t = self._live()
        return t.tub - t.tlb

    # -- names ------------------------------------------------------------------------------
    def Get_name(self) -> str:
        """The print name of this type ("" for an unnamed derived type)."""
        return self._t.name

    def Set_name(self, name: str) -> None:
        """Set the print name."""
        if not isinstance(name, str):
            raise TypeError(f"expecting a str name, got {type(name).__name__}")
        self._live().name = name

    @property
    def name(self) -> str:
        """The print name."""
        return self.Get_name()

    @name.setter
    def name(self, value: str) -> None:
        self.Set_name(value)

    # -- life cycle -------------------------------------------------------------------------
    def Commit(self) -> Datatype:
        """Commit the type (needed before it is used in communication)."""
        t = self._live()
        t.committed = True
        if t.size > 0:
            t.flat()
        return self

    def Free(self) -> None:
        """Free the type: this handle becomes MPI_DATATYPE_NULL (types built from it stay valid)."""
        t = self._live()
        if t.named or t.combiner in _F90:
            raise _type_error(f"cannot free the predefined datatype {t.name}")
        if t.attrs:
            self._delete_attrs()
        self._t = _NULL_T

    def free(self) -> None:
        """Call `Free` if not null or predefined.

        As mpi4py's: the module constants (MPI.INT) stay as they are; another handle to a
        predefined type (MPI.Datatype(MPI.INT)) only becomes null; any other type is freed.
        """
        if self._t is _NULL_T or id(self) in _NAME_OF:
            return
        if self.is_predefined:
            self._t = _NULL_T
            return
        self.Free()

    def Dup(self) -> Datatype:
        """A new type with the same typemap (combiner DUP)."""
        old = self._live()
        t = _derived(old, "DUP", [], [], [old])
        t.name = "Dup " + old.name
        t.committed = old.committed
        _copy_layout(t, old)
        t._build = old.flat
        new = Datatype._of(t)
        if old.attrs:
            self._copy_attrs(new)
        return new

    Create_dup = Dup

    # -- constructors ---------------------------------------------------------------------
    def Create_contiguous(self, count: int) -> Datatype:
        """Return `count` copies of this type, one after the other."""
        old = self._live()
        count = _count(count)
        if count > _INT_MAX:
            # As Open MPI under MPI 3.1 (int counts): a vector of whole int-sized blocks and
            # a contiguous remainder, joined by a struct.
            q, r = divmod(count, _INT_MAX)
            head = self.Create_vector(q, _INT_MAX, _INT_MAX)
            tail = self.Create_contiguous(r)
            return Datatype.Create_struct([1, 1], [0, q * _INT_MAX * (old.ub - old.lb)], [head, tail])
        ce = old.ub - old.lb
        t = _derived(old, "CONTIGUOUS", [count], [], [old])
        _layout(t, old, count, 0, (count - 1) * ce, count)
        t._build = lambda: TM.blocks(old.flat(), ce, np.zeros(1 if count else 0, np.int64), count)
        return Datatype._of(t)

    def Create_vector(self, count: int, blocklength: int, stride: int) -> Datatype:
        """Return `count` blocks of `blocklength` elements, block starts `stride` elements apart."""
        old = self._live()
        count, blocklength, stride = _count(count), _blocklength(blocklength), int(stride)
        return self._strided("VECTOR", [count, blocklength, stride], [], old, count, blocklength,
                             stride * (old.ub - old.lb))

    def Create_hvector(self, count: int, blocklength: int, stride: int) -> Datatype:
        """As Create_vector, with the stride in bytes."""
        old = self._live()
        count, blocklength, stride = _count(count), _blocklength(blocklength), int(stride)
        return self._strided("HVECTOR", [count, blocklength], [stride], old, count, blocklength, stride)

    def _strided(self, combiner: str, ints: list[int], addrs: list[int], old: _Type, count: int,
                 blocklength: int, bstride: int) -> Datatype:
        ce = old.ub - old.lb
        t = _derived(old, combiner, ints, addrs, [old])
        n = count * blocklength
        if n:
            lo = min(0, (count - 1) * bstride) + min(0, (blocklength - 1) * ce)
            hi = max(0, (count - 1) * bstride) + max(0, (blocklength - 1) * ce)
        else:
            lo = hi = 0
        _layout(t, old, n, lo, hi, n)
        t._build = lambda: TM.blocks(old.flat(), ce, np.arange(count, dtype=np.int64) * bstride, blocklength)
        return Datatype._of(t)

    def Create_indexed(self, blocklengths: Sequence[int], displacements: Sequence[int]) -> Datatype:
        """Blocks of blocklengths[i] elements at displacements[i] elements."""
        old = self._live()
        bls, ds = _pairs(blocklengths, displacements)
        ce = old.ub - old.lb
        return self._indexed("INDEXED", [len(bls), *bls, *ds], [], old, bls, [d * ce for d in ds])

    def Create_hindexed(self, blocklengths: Sequence[int], displacements: Sequence[int]) -> Datatype:
        """As Create_indexed, with displacements in bytes."""
        old = self._live()
        bls, ds = _pairs(blocklengths, displacements)
        return self._indexed("HINDEXED", [len(bls), *bls], list(ds), old, bls, ds)

    def Create_indexed_block(self, blocklength: int, displacements: Sequence[int]) -> Datatype:
        """Blocks of one length at displacements[i] elements."""
        old = self._live()
        bl = _blocklength(blocklength)
        ds = _ints(displacements, "displacements")
        ce = old.ub - old.lb
        return self._indexed("INDEXED_BLOCK", [len(ds), bl, *ds], [], old, [bl] * len(ds), [d * ce for d in ds])

    def Create_hindexed_block(self, blocklength: int, displacements: Sequence[int]) -> Datatype:
        """Blocks of one length at displacements[i] bytes."""
        old = self._live()
        bl = _blocklength(blocklength)
        ds = _ints(displacements, "displacements")
        return self._indexed("HINDEXED_BLOCK", [len(ds), bl], list(ds), old, [bl] * len(ds), ds)

    def _indexed(self, combiner: str, ints: list[int], addrs: list[int], old: _Type, bls: list[int],
                 starts: list[int]) -> Datatype:
        ce = old.ub - old.lb
        t = _derived(old, combiner, ints, addrs, [old])
        los = [s + min(0, (b - 1) * ce) for b, s in zip(bls, starts, strict=True) if b]
        his = [s + max(0, (b - 1) * ce) for b, s in zip(bls, starts, strict=True) if b]
        n = sum(bls)
        _layout(t, old, n, min(los, default=0), max(his, default=0), n)
        sa, ba = np.asarray(starts, np.int64), np.asarray(bls, np.int64)
        t._build = lambda: TM.blocks(old.flat(), ce, sa, ba)
        return Datatype._of(t)

    @classmethod
    def Create_struct(cls, blocklengths: Sequence[int], displacements: Sequence[int],
                      datatypes: Sequence[Datatype]) -> Datatype:
        """Blocks of blocklengths[i] elements of datatypes[i] at displacements[i] bytes."""
        bls, ds = _pairs(blocklengths, displacements)
        if len(datatypes) != len(bls):
            raise MPIValueError(ERR_ARG, f"expecting {len(bls)} datatypes, got {len(datatypes)}")
        olds = []
        for d in datatypes:
            if not isinstance(d, Datatype):
                raise TypeError(f"expecting a Datatype, got {type(d).__name__}")
            olds.append(d._live())
        t = _derived(None, "STRUCT", [len(bls), *bls], list(ds), olds)
        lb = ub = tlb = tub = None
        size = psize = nbasic = 0
        align = 1
        dtypes = set()
        for b, d, o in zip(bls, ds, olds, strict=True):
            if not b:
                continue
            ce = o.ub - o.lb
            lo, hi = d + min(0, (b - 1) * ce), d + max(0, (b - 1) * ce)
            lb = lo + o.lb if lb is None else min(lb, lo + o.lb)
            ub = hi + o.ub if ub is None else max(ub, hi + o.ub)
            if o.size:
                tlb = lo + o.tlb if tlb is None else min(tlb, lo + o.tlb)
                tub = hi + o.tub if tub is None else max(tub, hi + o.tub)
                dtypes.add(o.dtype)
            size += b * o.size
            psize += b * o.psize
            nbasic += b * o.nbasic
            align = max(align, o.align)
        t.lb, t.ub = lb or 0, ub or 0
        t.tlb, t.tub = tlb or 0, tub or 0
        ext = t.ub - t.lb
        if ext % align:
            t.ub += align - ext % align  # Open MPI pads a struct's extent to its alignment
        t.size, t.psize, t.nbasic, t.align = size, psize, nbasic, align
        t.dtype = dtypes.pop() if len(dtypes) == 1 else None
        if t.dtype is not None and t.dtype.names is not None:
            t.dtype = None
        pairs = list(zip(bls, ds, olds, strict=True))
        t._build = lambda: TM.concat([TM.blocks(o.flat(), o.ub - o.lb, np.asarray([d], np.int64), b)
                                      for b, d, o in pairs])
        return cls._of(t)

    def Create_subarray(self, sizes: Sequence[int], subsizes: Sequence[int], starts: Sequence[int],
                        order: int = ORDER_C) -> Datatype:
        """A sub-block of an n-dimensional array of this type (C or Fortran order)."""
        old = self._live()
        sizes = _ints(sizes, "sizes")
        subsizes, starts = _ints(subsizes, "subsizes"), _ints(starts, "starts")
        nd = len(sizes)
        if len(subsizes) != nd or len(starts) != nd:
            raise MPIValueError(ERR_ARG, f"expecting {nd} subsizes and starts")
        if nd < 1 or order not in (ORDER_C, ORDER_FORTRAN):
            raise MPIException(ERR_ARG, "Create_subarray: bad ndims or order")
        for s, ss, st in zip(sizes, subsizes, starts, strict=True):
            if s < 1 or ss < 1 or ss > s or st < 0 or st > s - ss:
                raise MPIException(ERR_ARG, f"Create_subarray: bad sizes {sizes}, subsizes {subsizes}, "
                                            f"starts {starts}")
        idx = [np.arange(st, st + ss, dtype=np.int64) for ss, st in zip(subsizes, starts, strict=True)]
        t = _derived(old, "SUBARRAY", [nd, *sizes, *subsizes, *starts, order], [], [old])
        self._grid(t, old, sizes, idx, order == ORDER_FORTRAN)
        return Datatype._of(t)

    def Create_darray(self, size: int, rank: int, gsizes: Sequence[int], distribs: Sequence[int],
                      dargs: Sequence[int], psizes: Sequence[int], order: int = ORDER_C) -> Datatype:
        """This rank's part of an n-dimensional array distributed over a process grid (HPF style)."""
        old = self._live()
        gsizes = _ints(gsizes, "gsizes")
        nd = len(gsizes)
        distribs, dargs, psizes = (_ints(distribs, "distribs"), _ints(dargs, "dargs"), _ints(psizes, "psizes"))
        if not (len(distribs) == len(dargs) == len(psizes) == nd):
            raise MPIValueError(ERR_ARG, f"expecting {nd} distribs, dargs and psizes")
        if (size < 1 or not 0 <= rank < size or order not in (ORDER_C, ORDER_FORTRAN)
                or int(np.prod(psizes)) != size):
            raise MPIException(ERR_ARG, "Create_darray: bad size, rank, order or psizes")
        # The process grid is row-major whatever the array order (MPI 4.1, 5.1.4).
        coords, r = [], rank
        for p in reversed(psizes):
            coords.append(r % p)
            r //= p
        coords.reverse()
        idx = []
        for g, dist, darg, p, c in zip(gsizes, distribs, dargs, psizes, coords, strict=True):
            if dist == DISTRIBUTE_NONE:
                idx.append(np.arange(g, dtype=np.int64))
            elif dist == DISTRIBUTE_BLOCK:
                b = -(-g // p) if darg == DISTRIBUTE_DFLT_DARG else darg
                if b < 1 or b * p < g:
                    raise MPIException(ERR_ARG, f"Create_darray: block size {b} cannot cover {g} on {p}")
                idx.append(np.arange(c * b, min(g, (c + 1) * b), dtype=np.int64))
            elif dist == DISTRIBUTE_CYCLIC:
                k = 1 if darg == DISTRIBUTE_DFLT_DARG else darg
                if k < 1:
                    raise MPIException(ERR_ARG, f"Create_darray: cyclic block {k}")
                i = np.arange(g, dtype=np.int64)
                idx.append(i[(i // k) % p == c])
            else:
                raise MPIException(ERR_ARG, f"Create_darray: unknown distribution {dist}")
        t = _derived(old, "DARRAY", [size, rank, nd, *gsizes, *distribs, *dargs, *psizes, order], [], [old])
        self._grid(t, old, gsizes, idx, order == ORDER_FORTRAN)
        return Datatype._of(t)

    @staticmethod
    def _grid(t: _Type, old: _Type, sizes: list[int], idx: list[np.ndarray], fortran: bool) -> None:
        ce = old.ub - old.lb
        n = int(np.prod([len(i) for i in idx]))
        if n:
            lo = sum(int(i[0]) * s for i, s in zip(idx, _strides(sizes, ce, fortran), strict=True))
            hi = sum(int(i[-1]) * s for i, s in zip(idx, _strides(sizes, ce, fortran), strict=True))
        else:
            lo = hi = 0
        _layout(t, old, n, lo, hi, n)
        t.lb, t.ub = old.lb, old.lb + int(np.prod(sizes)) * ce  # the whole array's extent
        t._build = lambda: TM.expand(old.flat(), TM.grid_offsets(sizes, idx, ce, fortran)) if old.psize else TM.empty()

    def Create_resized(self, lb: int, extent: int) -> Datatype:
        """This typemap with another lower bound and extent."""
        old = self._live()
        lb, extent = int(lb), int(extent)
        t = _derived(old, "RESIZED", [], [lb, extent], [old])
        _copy_layout(t, old)
        t.lb, t.ub = lb, lb + extent
        t._build = old.flat
        return Datatype._of(t)

    Resized = Create_resized

    # -- predefined lookups ---------------------------------------------------------------
    @classmethod
    def Get_value_index(cls, value: Datatype, index: Datatype) -> Datatype:
        """The predefined pair type {value, index} (MPI_FLOAT_INT, ...) or MPI_DATATYPE_NULL."""
        v, i = value._live(), index._live()
        if i is _PRE["INT"]._t:
            for vn, pn in (("FLOAT", "FLOAT_INT"), ("DOUBLE", "DOUBLE_INT"), ("LONG", "LONG_INT"),
                           ("INT", "INT_INT"), ("SHORT", "SHORT_INT"), ("LONG_DOUBLE", "LONG_DOUBLE_INT")):
                if v is _PRE[vn]._t:
                    return _PRE[pn]
        return cls()

    @classmethod
    def Match_size(cls, typeclass: int, size: int) -> Datatype:
        """The Fortran type of a type class (TYPECLASS_*) with this size in bytes."""
        table = {
            CONSTANTS["TYPECLASS_INTEGER"]: {1: "INTEGER1", 2: "INTEGER2", 4: "INTEGER", 8: "INTEGER8"},
            CONSTANTS["TYPECLASS_REAL"]: {4: "REAL", 8: "REAL8", 16: "REAL16"},
            CONSTANTS["TYPECLASS_COMPLEX"]: {8: "COMPLEX", 16: "COMPLEX16", 32: "C_LONG_DOUBLE_COMPLEX"},
            CONSTANTS["TYPECLASS_LOGICAL"]: {1: "LOGICAL1", 2: "LOGICAL2", 4: "LOGICAL4", 8: "LOGICAL8"},
        }
        name = table.get(typeclass, {}).get(size)
        if name is None:
            raise MPIException(ERR_ARG, f"Match_size: no type of class {typeclass} and size {size}")
        return _PRE[name]

    @classmethod
    def Create_f90_integer(cls, r: int) -> Datatype:
        """A Fortran INTEGER kind with at least r decimal digits."""
        for digits, name in ((2, "SIGNED_CHAR"), (4, "SHORT"), (9, "INT"), (18, "LONG")):
            if r <= digits:
                return cls._f90("F90_INTEGER", [r], name)
        raise MPIException(ERR_ARG, f"Create_f90_integer: no integer kind with {r} digits")

    @classmethod
    def Create_f90_real(cls, p: int, r: int) -> Datatype:
        """A Fortran REAL kind with precision p and exponent range r."""
        return cls._f90("F90_REAL", [p, r], _real_kind(p, r, ("FLOAT", "DOUBLE")))

    @classmethod
    def Create_f90_complex(cls, p: int, r: int) -> Datatype:
        """A Fortran COMPLEX kind with precision p and exponent range r."""
        return cls._f90("F90_COMPLEX", [p, r], _real_kind(p, r, ("COMPLEX", "DOUBLE_COMPLEX")))

    @classmethod
    def _f90(cls, combiner: str, ints: list[int], basename: str) -> Datatype:
        old = _PRE[basename]._t
        t = _derived(old, combiner, ints, [], [])
        _copy_layout(t, old)
        t.name = "COMBINER " + old.name
        t.committed = True
        kind = {"F90_INTEGER": "i", "F90_REAL": "f", "F90_COMPLEX": "c"}[combiner]
        t.tstr = t.code = f"{kind}{old.size}"
        t.char = old.char
        t._build = old.flat
        return cls._of(t)

    # -- decoding -------------------------------------------------------------------------
    def Get_envelope(self) -> tuple[int, int, int, int, int]:
        """Return (number of integers, addresses, large counts, datatypes, combiner)."""
        t = self._live()
        if t.named:
            return (0, 0, 0, 0, COMBINER_NAMED)
        return (len(t.ints), len(t.addrs), 0, len(t.types), CONSTANTS["COMBINER_" + t.combiner])

    @property
    def envelope(self) -> tuple[int, int, int, int, int]:
        """Get_envelope()."""
        return self.Get_envelope()

    def Get_contents(self) -> tuple[list[int], list[int], list[int], list[Datatype]]:
        """The integers, addresses, counts and datatypes the type was built from."""
        t = self._live()
        if t.named:
            raise MPIException(ERR_INTERN, "Get_contents: a named datatype has no contents")
        return (list(t.ints), list(t.addrs), [], [_handle(o) for o in t.types])

    @property
    def contents(self) -> tuple[list[int], list[int], list[int], list[Datatype]]:
        """Get_contents()."""
        return self.Get_contents()

    @property
    def combiner(self) -> int:
        """The combiner (COMBINER_*)."""
        return self.Get_envelope()[-1]

    @property
    def is_named(self) -> bool:
        """Whether this is a named predefined type."""
        return self._t is _NULL_T or self._t.named

    @property
    def is_predefined(self) -> bool:
        """Whether this type is predefined (named, or a Fortran parameterised type)."""
        t = self._t
        return t is _NULL_T or t.named or t.combiner in _F90

    def decode(self) -> tuple[Datatype, str, dict[str, Any]]:
        """Return (base type, combiner name, keyword arguments that recreate it), as mpi4py."""
        t = self._live()
        if t.named:
            return (self, "NAMED", {})
        i, a = t.ints, t.addrs
        c = t.combiner
        base = _handle(t.types[0]) if len(t.types) == 1 else Datatype()
        if c == "DUP":
            p: dict[str, Any] = {}
        elif c == "CONTIGUOUS":
            p = {"count": i[0]}
        elif c == "VECTOR":
            p = {"count": i[0], "blocklength": i[1], "stride": i[2]}
        elif c == "HVECTOR":
            p = {"count": i[0], "blocklength": i[1], "stride": a[0]}
        elif c == "INDEXED":
            n = i[0]
            p = {"blocklengths": i[1:1 + n], "displacements": i[1 + n:1 + 2 * n]}
        elif c == "HINDEXED":
            p = {"blocklengths": i[1:], "displacements": list(a)}
        elif c == "INDEXED_BLOCK":
            p = {"blocklength": i[1], "displacements": i[2:]}
        elif c == "HINDEXED_BLOCK":
            p = {"blocklength": i[1], "displacements": list(a)}
        elif c == "STRUCT":
            p = {"blocklengths": i[1:], "displacements": list(a), "datatypes": [_handle(o) for o in t.types]}
        elif c == "SUBARRAY":
            n = i[0]
            p = {"sizes": i[1:1 + n], "subsizes": i[1 + n:1 + 2 * n], "starts": i[1 + 2 * n:1 + 3 * n],
                 "order": i[1 + 3 * n]}
        elif c == "DARRAY":
            n = i[2]
            p = {"size": i[0], "rank": i[1], "gsizes": i[3:3 + n], "distribs": i[3 + n:3 + 2 * n],
                 "dargs": i[3 + 2 * n:3 + 3 * n], "psizes": i[3 + 3 * n:3 + 4 * n], "order": i[3 + 4 * n]}
        elif c == "RESIZED":
            p = {"lb": a[0], "extent": a[1]}
        elif c == "F90_INTEGER":
            p = {"r": i[0]}
        else:  # F90_REAL, F90_COMPLEX
            p = {"p": i[0], "r": i[1]}
        return (base, c, p)

    # -- type codes -------------------------------------------------------------------------
    def tocode(self) -> str:
        """The character code or type string of a predefined type (ValueError for others)."""
        t = _undup(self._t)
        if t.code is None or t is _NULL_T:
            raise ValueError("cannot map to character code or type string")
        return t.code

    @classmethod
    def fromcode(cls, code: str) -> Datatype:
        """The predefined type of a character code or type string ('d', 'i4', ...)."""
        try:
            return _PRE[TYPECODES[code]]
        except (KeyError, TypeError):
            raise ValueError(f"cannot map code {code!r} to MPI datatype") from None

    @property
    def typechar(self) -> str:
        """The one-character code ('V' for a derived type)."""
        t = _undup(self._t)
        if t is _NULL_T:
            return ""
        return t.char or "V"

    @property
    def typestr(self) -> str:
        """The numpy type string ('V<extent>' for a derived type)."""
        t = _undup(self._t)
        if t is _NULL_T:
            return ""
        return t.tstr or f"V{max(t.ub - t.lb, 0)}"

    # -- packing ----------------------------------------------------------------------------
    def Pack(self, inbuf: Any, outbuf: Any, position: int, comm: Any) -> int:
        """Pack len(inbuf) // extent elements into outbuf at position; the new position."""
        from .packing import pack

        return pack(self, inbuf, outbuf, position)

    def Unpack(self, inbuf: Any, position: int, outbuf: Any, comm: Any) -> int:
        """Unpack len(outbuf) // extent elements from inbuf at position; the new position."""
        from .packing import unpack

        return unpack(self, inbuf, position, outbuf)

    def Pack_size(self, count: int, comm: Any) -> int:
        """Bytes that count elements take packed (an upper bound, as MPI says)."""
        from .packing import pack_size

        return pack_size(self, count)

    def Pack_external(self, datarep: str, inbuf: Any, outbuf: Any, position: int) -> int:
        """Pack in the portable external32 representation (big-endian)."""
        from .packing import check_datarep, pack

        check_datarep(datarep)
        return pack(self, inbuf, outbuf, position, external=True)

    def Unpack_external(self, datarep: str, inbuf: Any, position: int, outbuf: Any) -> int:
        """Unpack from the external32 representation."""
        from .packing import check_datarep, unpack

        check_datarep(datarep)
        return unpack(self, inbuf, position, outbuf, external=True)

    def Pack_external_size(self, datarep: str, count: int) -> int:
        """Bytes that count elements take in external32."""
        from .packing import check_datarep, pack_size

        check_datarep(datarep)
        return pack_size(self, count)

    # -- Fortran handles --------------------------------------------------------------------
    def py2f(self) -> int:
        """The Fortran handle."""
        return self._t.fhandle

    @classmethod
    def f2py(cls, arg: int) -> Datatype:
        """The datatype of a Fortran handle."""
        return _from_fhandle(arg)

    def toint(self) -> int:
        """The integer handle (the Fortran one)."""
        return self._t.fhandle

    @classmethod
    def fromint(cls, arg: int) -> Datatype:
        """The datatype of an integer handle."""
        return _from_fhandle(arg)

    @classmethod
    def fromhandle(cls, handle: int) -> Datatype:
        """The datatype of a handle."""
        return _from_fhandle(handle)


# Attributes on datatypes (Create_keyval, Get_attr, ...) come with the keyval module of the
# communicators; until then they name themselves as missing.
add_missing_methods(Datatype, "Datatype")


# -- helpers of the constructors ----------------------------------------------------------

def _count(value: Any) -> int:
    n = int(value)
    if n < 0:
        raise MPIException(ERR_COUNT, f"negative count {n}")
    return n


def _blocklength(value: Any) -> int:
    n = int(value)
    if n < 0:
        raise MPIException(ERR_ARG, f"negative blocklength {n}")
    return n


def _ints(values: Any, what: str) -> list[int]:
    try:
        return [int(v) for v in values]
    except TypeError:
        raise MPITypeError(ERR_ARG, f"{what} must be a sequence of integers") from None


def _pairs(blocklengths: Any, displacements: Any) -> tuple[list[int], list[int]]:
    bls, ds = _ints(blocklengths, "blocklengths"), _ints(displacements, "displacements")
    if len(ds) != len(bls):
        raise MPIValueError(ERR_ARG, f"expecting {len(bls)} items, got {len(ds)}")
    if any(b < 0 for b in bls):
        raise MPIException(ERR_ARG, f"negative blocklength in {bls}")
    return bls, ds


def _strides(sizes: list[int], extent: int, fortran: bool) -> list[int]:
    nd = len(sizes)
    out = [0] * nd
    acc = extent
    for d in (range(nd) if fortran else reversed(range(nd))):
        out[d] = acc
        acc *= sizes[d]
    return out


def _real_kind(p: int, r: int, names: tuple[str, str]) -> str:
    if p <= 6 and r <= 37:
        return names[0]
    if p <= 15 and r <= 307:
        return names[1]
    raise MPIException(ERR_ARG, f"no real kind with precision {p} and range {r}")


def _derived(old: _Type | None, combiner: str, ints: list[int], addrs: list[int], types: list[_Type]) -> _Type:
    t = _Type()
    t.combiner = combiner
    t.ints, t.addrs, t.types = ints, addrs, types
    t.fhandle = next(_handles)
    _BY_FHANDLE[t.fhandle] = t
    if old is not None:
        t.dtype = old.dtype
        t.align = old.align
    return t


def _layout(t: _Type, old: _Type, copies: int, lo: int, hi: int, n: int) -> None:
    """Size and bounds of `copies` copies of old whose displacements span [lo, hi] bytes."""
    t.size, t.psize, t.nbasic = n * old.size, n * old.psize, n * old.nbasic
    if copies:
        t.lb, t.ub = lo + old.lb, hi + old.ub
        t.tlb, t.tub = (lo + old.tlb, hi + old.tub) if old.size else (0, 0)
    if not t.size:
        t.dtype = old.dtype


def _copy_layout(t: _Type, old: _Type) -> None:
    t.size, t.psize, t.nbasic, t.align, t.dtype = old.size, old.psize, old.nbasic, old.align, old.dtype
    t.lb, t.ub, t.tlb, t.tub = old.lb, old.ub, old.tlb, old.tub


def _undup(t: _Type) -> _Type:
    while t.combiner == "DUP" and t.types:
        t = t.types[0]
    return t


def _handle(t: _Type) -> Datatype:
    """The Datatype object for a type found in another's contents (a predefined one is the
    module's own object, as in mpi4py)."""
    if t.named:
        pre = _PRE_BY_T.get(id(t))
        if pre is not None:
            return pre
    return Datatype._of(t)


def _from_fhandle(arg: int) -> Datatype:
    t = _BY_FHANDLE.get(int(arg))
    if t is None:
        raise MPIException(ERR_TYPE, f"no datatype has handle {arg}")
    return _handle(t) if t is not _NULL_T else Datatype()


def _copy_of(fhandle: int, cls: type[Datatype] = Datatype) -> Datatype:
    """A new handle of class cls to the predefined type of a Fortran handle (unpickling
    MPI.Datatype(MPI.INT), or a program's subclass of Datatype holding it)."""
    return cls(_from_fhandle(fhandle))


def _create(base: Datatype, combiner: str, params: dict[str, Any]) -> Datatype:
    """Rebuild a type from decode()'s output (unpickling)."""
    if combiner in ("STRUCT",):
        return Datatype.Create_struct(**params).Commit()
    if combiner.startswith("F90_"):
        return getattr(Datatype, "Create_" + combiner.lower())(**params)
    factory = getattr(base, "Create_" + combiner.lower())
    return factory(**params).Commit()


# -- the predefined types -------------------------------------------------------------------

def _pair(value: str) -> np.dtype:
    # MPI's C pair structs ({value; int}) with C alignment, as MINLOC/MAXLOC see them.
    return np.dtype([("v", value), ("i", "i4")], align=True)


# numpy dtype of each predefined name whose type string numpy cannot read as is.
_DTYPES: dict[str, str | np.dtype] = {
    "BYTE": "u1", "PACKED": "u1", "CHAR": "i1", "CHARACTER": "i1", "WCHAR": "i4",
    "SHORT_INT": _pair("i2"), "INT_INT": _pair("i4"), "TWOINT": _pair("i4"), "LONG_INT": _pair("i8"),
    "FLOAT_INT": _pair("f4"), "DOUBLE_INT": _pair("f8"), "LONG_DOUBLE_INT": _pair("g"),
    "LONG_DOUBLE": "g", "C_LONG_DOUBLE_COMPLEX": "G", "CXX_LONG_DOUBLE_COMPLEX": "G", "REAL16": "g",
}


def _named(key: str, row: tuple) -> _Type:
    mpi_name, size, lb, extent, tlb, text, char, tstr, code, fh, _same = row
    t = _Type()
    t.named = True
    t.committed = True
    t.name, t.size, t.lb, t.ub, t.tlb, t.tub = mpi_name, size, lb, lb + extent, tlb, tlb + text
    t.char, t.tstr, t.code, t.fhandle = char, tstr, code, fh
    spec = _DTYPES.get(key)
    if spec is None and size:
        spec = "?" if tstr == "b1" else tstr
    dt = np.dtype(spec) if spec is not None and size else None
    t.dtype = dt
    t.psize = dt.itemsize if dt is not None else 0
    t.nbasic = (2 if dt.names else 1) if dt is not None else 0
    if dt is None:
        t.align = 1
    elif dt.names:
        t.align = dt.alignment
    else:
        t.align = dt.itemsize // 2 if dt.kind == "c" else dt.itemsize
    unit = 1 if dt is None or dt.names else (dt.itemsize // 2 if dt.kind == "c" else dt.itemsize)
    t._flat = TM.single(t.psize, unit)
    _BY_FHANDLE.setdefault(fh, t)
    return t


_PRE: dict[str, Datatype] = {}
for _key, _row in ROWS.items():
    if _row is not None and _row[-1] != _key:
        continue  # an alias: bound below to its target's object
    if _row is None:
        _PRE[_key] = Datatype()
    else:
        _PRE[_key] = Datatype._of(_named(_key, _row))
for _key, _row in ROWS.items():
    if _row is not None and _row[-1] != _key:
        _PRE[_key] = _PRE[_row[-1]]
DATATYPE_NULL = Datatype()
_PRE_BY_T: dict[int, Datatype] = {}
for _key in sorted(_PRE):
    if _PRE[_key]:
        _PRE_BY_T.setdefault(id(_PRE[_key]._t), _PRE[_key])
for _key in ("INT", "DOUBLE", "FLOAT", "LONG", "CHAR", "BYTE"):
    _PRE_BY_T[id(_PRE[_key]._t)] = _PRE[_key]

# Every predefined name, MPI.INT etc. (DATATYPE_NULL included).
PREDEFINED: dict[str, Datatype] = dict(_PRE)
_NAME_OF: dict[int, str] = {id(v): k for k, v in sorted(PREDEFINED.items(), reverse=True)}
_NAME_OF[id(DATATYPE_NULL)] = "DATATYPE_NULL"
globals().update(PREDEFINED)  # so a pickled MPI.INT (reduced to its name) loads from here

# numpy dtype -> the datatype mpi4py would infer from the buffer's typecode.
_BY_DTYPE: dict[np.dtype, Datatype] = {}
for _name in ("BYTE", "SIGNED_CHAR", "SHORT", "UNSIGNED_SHORT", "INT", "UNSIGNED", "LONG",
              "UNSIGNED_LONG", "FLOAT", "DOUBLE", "LONG_DOUBLE", "C_BOOL", "C_FLOAT_COMPLEX",
              "C_DOUBLE_COMPLEX", "C_LONG_DOUBLE_COMPLEX", "FLOAT_INT", "DOUBLE_INT", "LONG_INT",
              "SHORT_INT", "TWOINT", "FLOAT16_T"):
    _BY_DTYPE.setdefault(PREDEFINED[_name].dtype, PREDEFINED[_name])


def from_dtype(dtype: np.dtype) -> Datatype | None:
    """The predefined datatype matching a numpy dtype, or None if there is none."""
    dt = _BY_DTYPE.get(dtype)
    if dt is None and dtype.kind in "biufc" and dtype.byteorder in "=|":
        dt = _BY_DTYPE.get(np.dtype(dtype.str))
    return dt


def type_of(datatype: Datatype) -> _Type:
    """The type a handle names (MPI_DATATYPE_NULL's for a null one)."""
    return datatype._t


def is_derived(datatype: Datatype) -> bool:
    """Whether a handle names a derived (not predefined) type that must be packed to travel."""
    t = datatype._t
    return not t.named and t.combiner not in _F90
