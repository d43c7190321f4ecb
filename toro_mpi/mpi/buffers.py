"""The one place that turns mpi4py-style buffer specs into contiguous numpy arrays.

Accepted, as in mpi4py: a numpy array, any buffer-protocol object or a DLPack-capable host array;
`[buf, datatype]`; `[buf, count, datatype]`; `[buf, (count, displ), datatype]`; `None` for an
empty buffer.
A datatype may be a Datatype or a numpy typecode string ('d', 'i', ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import datatypes as D
from .errors import ERR_BUFFER, ERR_COUNT, ERR_TYPE, MPIException

_EMPTY = np.empty(0, np.uint8)


class _InPlace:
    """MPI.IN_PLACE: "the send data is already where the result goes"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MPI.IN_PLACE"


IN_PLACE = _InPlace()


class Buffer:
    """A normalised message buffer: a C-contiguous array, its byte size and datatype."""

    __slots__ = ("array", "nbytes", "datatype", "writeback")

    def __init__(self, array: np.ndarray, nbytes: int, datatype: D.Datatype,
                 writeback: np.ndarray | None = None) -> None:
        self.array = array
        self.nbytes = nbytes
        self.datatype = datatype
        # For a receive into a non-contiguous array: where to copy the data once it arrived.
        self.writeback = writeback

    def finish(self) -> None:
        """Copy a received temporary into the user's non-contiguous array."""
        if self.writeback is not None:
            self.writeback[...] = self.array.reshape(self.writeback.shape)


def byte_view(arr: np.ndarray) -> np.ndarray:
    """A 1-D uint8 view of a C-contiguous array."""
    if arr.dtype == _EMPTY.dtype and arr.ndim == 1:
        return arr
    return arr.reshape(-1).view(np.uint8)


def _as_array(obj: Any, writable: bool) -> np.ndarray:
    if isinstance(obj, np.ndarray):
        return obj
    if obj is None:
        return _EMPTY
    try:
        mv = memoryview(obj)
    except TypeError:
        if hasattr(obj, "__dlpack__"):
            return _from_dlpack(obj)
        raise MPIException(ERR_BUFFER, f"{type(obj).__name__} supports neither the buffer protocol nor "
                                       "DLPack") from None
    if writable and mv.readonly:
        raise MPIException(ERR_BUFFER, f"receive buffer ({type(obj).__name__}) is read-only")
    try:
        return np.asarray(mv)
    except (ValueError, TypeError):
        return np.frombuffer(mv.cast("B"), dtype=np.uint8)


def _from_dlpack(obj: Any) -> np.ndarray:
    """A numpy view of a DLPack-capable CPU array (as mpi4py accepts them); others are refused."""
    try:
        return np.from_dlpack(obj)
    except (BufferError, TypeError, ValueError, RuntimeError) as exc:
        raise MPIException(ERR_BUFFER, f"{type(obj).__name__}: DLPack export failed ({exc}); toro_mpi "
                                       "takes host-memory arrays only") from None


def _as_datatype(spec: Any) -> D.Datatype:
    if isinstance(spec, D.Datatype):
        if not spec:
            raise MPIException(ERR_TYPE, "MPI_DATATYPE_NULL cannot describe a buffer")
        return spec
    if isinstance(spec, str):
        try:
            dt = D.from_dtype(np.dtype(spec))
        except TypeError:
            dt = None
        if dt is None:
            raise MPIException(ERR_TYPE, f"unknown typecode {spec!r}")
        return dt
    raise MPIException(ERR_TYPE, f"expected an MPI datatype, got {type(spec).__name__}")


def _contiguous(arr: np.ndarray, writable: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """A C-contiguous array over the same bytes, or a copy plus the array to write back."""
    if arr.flags.c_contiguous:
        return arr, None
    if arr.flags.f_contiguous:
        return arr.T, None  # same memory, C order
    if writable:
        return np.empty(arr.shape, arr.dtype), arr
    return np.ascontiguousarray(arr), None


def normalise(spec: Any, writable: bool, blocks: int = 1) -> Buffer:
    """Parse a buffer spec for sending (writable=False) or receiving (writable=True).

    `blocks` > 1 for a buffer of one block per rank (Gather's receive buffer, Scatter's send
    buffer, ...): an explicit count is then the count of one block, as in mpi4py and MPI."""
    count = None
    displ = 0
    datatype = None
    obj = spec
    if isinstance(spec, (list, tuple)):
        if len(spec) == 2:
            obj, second = spec
            if isinstance(second, (D.Datatype, str)):
                datatype = _as_datatype(second)
            elif isinstance(second, (int, np.integer)):
                count = int(second)
            else:
                raise MPIException(ERR_TYPE, f"second item of a buffer spec must be a datatype, got {second!r}")
        elif len(spec) == 3:
            obj, cd, dspec = spec
            datatype = _as_datatype(dspec)
            if isinstance(cd, (tuple, list)):
                if len(cd) != 2:
                    raise MPIException(ERR_COUNT, f"(count, displ) expected, got {cd!r}")
                count, displ = int(cd[0]), int(cd[1])
            elif cd is None:
                count = None
            else:
                count = int(cd)
        else:
            raise MPIException(ERR_BUFFER, f"a buffer spec has 1 to 3 items, got {len(spec)}")
    arr = _as_array(obj, writable)
    if writable and not arr.flags.writeable:
        raise MPIException(ERR_BUFFER, "receive buffer is read-only")
    arr, writeback = _contiguous(arr, writable)
    if datatype is None:
        datatype = D.from_dtype(arr.dtype) or D.PREDEFINED["BYTE"]
    if count is None and displ == 0 and arr.dtype == datatype.dtype:
        return Buffer(arr, arr.nbytes, datatype, writeback)
    size = datatype.size
    total = arr.nbytes
    explicit = count is not None
    if count is None:
        if size == 0 or total % size:
            raise MPIException(ERR_BUFFER, f"buffer length {total} is not a multiple of the datatype size {size}")
        count = total // size - displ
    if count < 0:
        raise MPIException(ERR_COUNT, f"count must be >= 0, got {count}")
    if explicit:
        count *= blocks
    if displ < 0:
        raise MPIException(ERR_COUNT, f"displacement must be >= 0, got {displ}")
    start, stop = displ * size, (displ + count) * size
    if stop > total:
        raise MPIException(
            ERR_BUFFER, f"buffer of {total} bytes is too small for {count} x {datatype.name} at displacement {displ}"
        )
    if writeback is not None:
        raise MPIException(ERR_BUFFER, "a count or datatype over a non-contiguous receive buffer is not supported")
    flat = arr.reshape(-1).view(np.uint8)[start:stop]
    return Buffer(flat, stop - start, datatype, None)
