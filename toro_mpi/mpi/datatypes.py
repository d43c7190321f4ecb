"""Predefined MPI datatypes, each backed by a numpy dtype."""

from __future__ import annotations

import numpy as np

from .attributes import AttributesMixin
from .handles import IntHandles


class Datatype(IntHandles, AttributesMixin):
    """An MPI datatype: a name, a numpy dtype, a size and an extent in bytes."""

    __slots__ = ("name", "dtype", "size", "_null", "_attrs")
    _attr_kind = "Datatype"  # keyval attributes (attributes.py): Create_keyval, Set_attr, ...

    def __init__(self, name: str, dtype: np.dtype | None, null: bool = False) -> None:
        self.name = name
        self.dtype = dtype
        self.size = 0 if dtype is None else int(dtype.itemsize)
        self._null = null

    def Get_size(self) -> int:
        """Size in bytes of one element."""
        return self.size

    def Get_extent(self) -> tuple[int, int]:
        """(lower bound, extent) in bytes; predefined types have lb 0 and extent = size."""
        return (0, self.size)

    @property
    def extent(self) -> int:
        """Extent in bytes."""
        return self.size

    @property
    def lb(self) -> int:
        """Lower bound in bytes."""
        return 0

    @property
    def ub(self) -> int:
        """Upper bound in bytes."""
        return self.size

    def Get_name(self) -> str:
        """The MPI name of this type, e.g. MPI_DOUBLE."""
        return self.name

    def Dup(self) -> Datatype:
        """A copy of this datatype (predefined types are immutable, so itself)."""
        return self

    def Commit(self) -> Datatype:
        """Predefined types are always committed."""
        return self

    def Free(self) -> None:
        """Predefined types cannot be freed; this is a no-op."""

    def __bool__(self) -> bool:
        return not self._null

    def __repr__(self) -> str:
        return f"<Datatype {self.name}>"


def _pair(value: str) -> np.dtype:
    # MPI's C pair structs ({value; int}) with C alignment, as MINLOC/MAXLOC see them.
    return np.dtype([("v", value), ("i", "i4")], align=True)


_TABLE: list[tuple[str, str | np.dtype]] = [
    ("BYTE", "u1"), ("PACKED", "u1"), ("CHAR", "i1"), ("SIGNED_CHAR", "i1"),
    ("UNSIGNED_CHAR", "u1"), ("WCHAR", "i4"), ("SHORT", "i2"), ("UNSIGNED_SHORT", "u2"),
    ("INT", "i4"), ("UNSIGNED", "u4"), ("UNSIGNED_INT", "u4"), ("LONG", "i8"),
    ("UNSIGNED_LONG", "u8"), ("LONG_LONG", "i8"), ("UNSIGNED_LONG_LONG", "u8"),
    ("FLOAT", "f4"), ("DOUBLE", "f8"), ("LONG_DOUBLE", "g"), ("C_BOOL", "?"), ("BOOL", "?"),
    ("INT8_T", "i1"), ("INT16_T", "i2"), ("INT32_T", "i4"), ("INT64_T", "i8"),
    ("UINT8_T", "u1"), ("UINT16_T", "u2"), ("UINT32_T", "u4"), ("UINT64_T", "u8"),
    ("C_COMPLEX", "c8"), ("C_FLOAT_COMPLEX", "c8"), ("C_DOUBLE_COMPLEX", "c16"),
    ("C_LONG_DOUBLE_COMPLEX", "G"), ("COMPLEX", "c8"), ("DOUBLE_COMPLEX", "c16"),
    ("AINT", "i8"), ("OFFSET", "i8"), ("COUNT", "i8"),
    ("SHORT_INT", _pair("i2")), ("TWOINT", _pair("i4")), ("INT_INT", _pair("i4")),
    ("LONG_INT", _pair("i8")), ("FLOAT_INT", _pair("f4")), ("DOUBLE_INT", _pair("f8")),
    ("LONG_DOUBLE_INT", _pair("g")),
]

PREDEFINED: dict[str, Datatype] = {
    name: Datatype("MPI_" + name, np.dtype(spec)) for name, spec in _TABLE
}
DATATYPE_NULL = Datatype("MPI_DATATYPE_NULL", None, null=True)

# numpy dtype -> the datatype mpi4py would infer from the buffer's typecode.
_BY_DTYPE: dict[np.dtype, Datatype] = {}
for _name in ("BYTE", "SIGNED_CHAR", "SHORT", "UNSIGNED_SHORT", "INT", "UNSIGNED", "LONG",
              "UNSIGNED_LONG", "FLOAT", "DOUBLE", "LONG_DOUBLE", "C_BOOL", "C_FLOAT_COMPLEX",
              "C_DOUBLE_COMPLEX", "C_LONG_DOUBLE_COMPLEX", "FLOAT_INT", "DOUBLE_INT", "LONG_INT",
              "SHORT_INT", "TWOINT"):
    _BY_DTYPE.setdefault(PREDEFINED[_name].dtype, PREDEFINED[_name])


def from_dtype(dtype: np.dtype) -> Datatype | None:
    """The predefined datatype matching a numpy dtype, or None if there is none."""
    dt = _BY_DTYPE.get(dtype)
    if dt is None and dtype.kind in "biufc" and dtype.byteorder in "=|":
        dt = _BY_DTYPE.get(np.dtype(dtype.str))
    return dt
