"""MPI.Status with mpi4py's full surface.

The source, tag and error fields live in a small C int array, as MPI_Status's public fields do in
memory, so `tomemory()` can hand out a writable view of them (mpi4py's `Status.tomemory`); the
byte count and the cancelled flag are MPI's hidden fields. The Fortran form (`py2f`) is the
F_STATUS_SIZE integers with source, tag and error at F_SOURCE, F_TAG and F_ERROR.
"""

from __future__ import annotations

import array
from typing import Any

from ..errors import ERR_TYPE, MPIException
from . import datatypes as D

ANY_SOURCE = -1
ANY_TAG = -1
UNDEFINED = -32766
F_SOURCE = 0
F_TAG = 1
F_ERROR = 2
F_STATUS_SIZE = 6  # as Open MPI: source, tag, error, then the count (two ints) and cancelled
_SOURCE, _TAG, _ERROR = 0, 1, 2


def _size(datatype: D.Datatype) -> int:
    if not datatype:
        raise MPIException(ERR_TYPE, "invalid datatype (MPI.DATATYPE_NULL)")
    return datatype.Get_size()


class Status:
    """Source, tag, error and byte count of a received (or probed) message.

    Status() is an empty status (ANY_SOURCE, ANY_TAG, SUCCESS, no bytes); Status(status) a copy."""

    __slots__ = ("_fields", "_count", "_cancelled", "__weakref__")
    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value: unhashable, as in mpi4py

    def __init__(self, status: Status | None = None) -> None:
        if status is None:
            self._fields = array.array("i", (ANY_SOURCE, ANY_TAG, 0))
            self._count = 0  # bytes
            self._cancelled = False
        elif isinstance(status, Status):
            self._fields = array.array("i", status._fields)
            self._count = status._count
            self._cancelled = status._cancelled
        else:
            raise TypeError(f"expected Status, got {type(status).__name__}")

    def _set(self, source: int, tag: int, nbytes: int, error: int = 0) -> None:
        f = self._fields
        f[0] = source
        f[1] = tag
        f[2] = error
        self._count = nbytes

    # -- fields as properties ------------------------------------------------------------------
    @property
    def source(self) -> int:
        """Rank of the sender."""
        return self._fields[_SOURCE]

    @source.setter
    def source(self, value: int) -> None:
        self._fields[_SOURCE] = value

    @property
    def tag(self) -> int:
        """Tag of the message."""
        return self._fields[_TAG]

    @tag.setter
    def tag(self, value: int) -> None:
        self._fields[_TAG] = value

    @property
    def error(self) -> int:
        """Error class of the operation (SUCCESS = 0)."""
        return self._fields[_ERROR]

    @error.setter
    def error(self, value: int) -> None:
        self._fields[_ERROR] = value

    @property
    def count(self) -> int:
        """Number of bytes received."""
        return self._count

    @count.setter
    def count(self, value: int) -> None:
        self._count = int(value)

    @property
    def cancelled(self) -> bool:
        """Whether the operation was cancelled."""
        return self._cancelled

    @cancelled.setter
    def cancelled(self, value: bool) -> None:
        self._cancelled = bool(value)

    # -- MPI calls ---------------------------------------------------------------------------
    def Get_source(self) -> int:
        """Rank of the sender."""
        return self._fields[_SOURCE]

    def Set_source(self, source: int) -> None:
        """Set the source field."""
        self._fields[_SOURCE] = source

    def Get_tag(self) -> int:
        """Tag of the message."""
        return self._fields[_TAG]

    def Set_tag(self, tag: int) -> None:
        """Set the tag field."""
        self._fields[_TAG] = tag

    def Get_error(self) -> int:
        """Error class of the receive (0 on success)."""
        return self._fields[_ERROR]

    def Set_error(self, error: int) -> None:
        """Set the error field."""
        self._fields[_ERROR] = error

    def Get_count(self, datatype: D.Datatype = D.PREDEFINED["BYTE"]) -> int:
        """Number of `datatype` elements received (UNDEFINED if not a whole number)."""
        _size(datatype)  # MPI_DATATYPE_NULL: ERR_TYPE
        size = D.type_of(datatype).psize  # bytes one element takes in a message
        if size == 0:
            return 0 if self._count == 0 else UNDEFINED
        return self._count // size if self._count % size == 0 else UNDEFINED

    def Get_elements(self, datatype: D.Datatype = D.PREDEFINED["BYTE"]) -> int:
        """Number of basic elements received, a partial last element counted too."""
        from .packing import elements

        _size(datatype)
        return elements(datatype, self._count)

    def Set_elements(self, datatype: D.Datatype, count: int) -> None:
        """Set the number of `datatype` elements the status reports (MPI_Status_set_elements)."""
        _size(datatype)
        t = D.type_of(datatype)
        # count basic elements: bytes = count x the packed size of one basic element
        self._count = int(count) * t.psize // t.nbasic if t.nbasic else 0

    def Is_cancelled(self) -> bool:
        """Whether the request was cancelled."""
        return self._cancelled

    def Set_cancelled(self, flag: bool) -> None:
        """Set the cancelled flag (MPI_Status_set_cancelled)."""
        self._cancelled = bool(flag)

    # -- memory and Fortran forms, comparison, pickling ------------------------------------------
    def tomemory(self) -> memoryview:
        """A writable view of the public fields (source, tag, error) as C ints."""
        return memoryview(self._fields)

    def py2f(self) -> list[int]:
        """The Fortran status: F_STATUS_SIZE integers, source/tag/error at F_SOURCE/F_TAG/F_ERROR."""
        out = [0] * F_STATUS_SIZE
        out[F_SOURCE], out[F_TAG], out[F_ERROR] = self._fields
        out[3] = self._count & 0xFFFFFFFF
        out[4] = self._count >> 32
        out[5] = int(self._cancelled)
        return out

    @classmethod
    def f2py(cls, arg: list[int]) -> Status:
        """A Status from its Fortran form (py2f)."""
        if len(arg) != F_STATUS_SIZE:
            raise ValueError(f"a Fortran status has {F_STATUS_SIZE} integers, got {len(arg)}")
        status = cls()
        status._fields[:] = array.array("i", (arg[F_SOURCE], arg[F_TAG], arg[F_ERROR]))
        status._count = (int(arg[4]) << 32) | (int(arg[3]) & 0xFFFFFFFF)
        status._cancelled = bool(arg[5])
        return status

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return (self._fields == other._fields and self._count == other._count
                and self._cancelled == other._cancelled)

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, Status):
            return NotImplemented
        return not self == other

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self), tuple(self._fields), self._count, self._cancelled))

    def __repr__(self) -> str:
        return f"<Status source={self.source} tag={self.tag} count={self._count} error={self.error}>"


def _rebuild(cls: type, fields: tuple[int, int, int], count: int, cancelled: bool) -> Status:
    """Unpickle a Status (or a subclass of it)."""
    status = cls()
    status._fields[:] = array.array("i", fields)
    status._count = count
    status._cancelled = cancelled
    return status
