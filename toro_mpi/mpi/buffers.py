"""The one place that turns mpi4py-style buffer specs into contiguous numpy arrays.

Accepted, as in mpi4py: a numpy array, any buffer-protocol object or a DLPack-capable host array
(mpi/dlpack.py); `[buf, datatype]`; `[buf, count]`; `[buf, count, datatype]`;
`[buf, (count, displ)]`; `[buf, (count, displ), datatype]`; `[buf, count, displ, datatype]`
(`None` inside a spec is an empty buffer; a datatype of `None` is the buffer's own).
A datatype may be a Datatype or a numpy typecode string ('d', 'i', ...).

Bad specs raise what mpi4py raises, as exceptions that are also `MPI.Exception` (errors.py):
TypeError for something that is not a buffer or a count that is not an integer, ValueError for
a spec of the wrong length, negative or out-of-range counts and displacements, a length that is
no whole number of datatypes, KeyError for an unknown typecode (only mpi4py's typecodes name
datatypes), BufferError for a read-only receive buffer, memory that is not on the host, an
array that is neither C- nor Fortran-contiguous, or one in non-native byte order without an
explicit datatype. The checks come in mpi4py's order (spec, buffer,
datatype, displacement, count), so a spec with two faults raises the same one.

The v-collectives' specs (`[buf, counts]`, `[buf, (counts, displs), datatype]`, ... one count
and displacement per rank) are parsed here too (`normalise_v`, `v_bytes`), as is the typed 1-D
view every reduction runs on (`typed`).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..errors import (
    ERR_ARG,
    ERR_BUFFER,
    ERR_COUNT,
    ERR_TRUNCATE,
    ERR_TYPE,
    MPIBufferError,
    MPIException,
    MPIKeyError,
    MPITypeError,
    MPIValueError,
)
from . import cai
from . import datatypes as D
from .dlpack import host_array, is_dlpack
from .packing import Unpacker, address_of, check_committed, gather, packed, run_view

_EMPTY = np.empty(0, np.uint8)
_U8 = np.dtype(np.uint8)


class InPlaceType:
    """Type of MPI.IN_PLACE: "the send data is already where the result goes"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "IN_PLACE"

    def __reduce__(self) -> str:
        return "IN_PLACE"


class BottomType(int):
    """Type of MPI.BOTTOM, address 0: a buffer `[MPI.BOTTOM, count, datatype]` names memory by
    the datatype's displacements alone (absolute addresses from MPI.Get_address)."""

    __slots__ = ()

    def __new__(cls) -> BottomType:
        return super().__new__(cls, 0)

    def __repr__(self) -> str:
        return "BOTTOM"

    def __reduce__(self) -> str:
        return "BOTTOM"


IN_PLACE = InPlaceType()
BOTTOM = BottomType()


def is_bottom(obj: Any) -> bool:
    """Whether a buffer is MPI.BOTTOM."""
    return obj is BOTTOM or type(obj) is BottomType


class Buffer:
    """A normalised message buffer: a C-contiguous array, its byte size and datatype."""

    __slots__ = ("array", "nbytes", "datatype", "writeback")

    def __init__(self, array: np.ndarray, nbytes: int, datatype: D.Datatype,
                 writeback: np.ndarray | Unpacker | None = None) -> None:
        self.array = array
        self.nbytes = nbytes
        self.datatype = datatype
        # For a receive into a non-contiguous array: where to copy the data once it arrived.
        self.writeback = writeback

    def finish(self, nbytes: int | None = None) -> None:
        """Copy a received temporary into the user's memory: a non-contiguous array, or the
        elements of a derived datatype (only the first nbytes, when given: what arrived)."""
        wb = self.writeback
        if wb is None:
            return
        if type(wb) is Unpacker:
            wb.unpack(nbytes)
        else:
            wb[...] = self.array.reshape(wb.shape)


def byte_view(arr: np.ndarray) -> np.ndarray:
    """A 1-D uint8 view of a C-contiguous array."""
    if arr.dtype == _EMPTY.dtype and arr.ndim == 1:
        return arr
    return arr.reshape(-1).view(np.uint8)


def _as_array(obj: Any, writable: bool) -> np.ndarray:
    if isinstance(obj, np.ndarray):
        if type(obj) is not np.ndarray and getattr(obj, "_keep", None) is not None:
            # MPI.Alloc_mem memory: a view of the buffer's base, which Free_mem sees in use.
            obj = np.frombuffer(obj, np.uint8)
        if writable and not obj.flags.writeable:
            raise MPIBufferError(ERR_BUFFER, "receive buffer (a read-only numpy array) is not writable")
        return obj
    if obj is None:
        return _EMPTY
    try:
        mv = memoryview(obj)
    except TypeError:
        # As mpi4py: the buffer protocol first, then DLPack, then the CUDA Array Interface.
        if is_dlpack(obj):
            return host_array(obj, writable)
        if cai.is_cai(obj):
            return cai.host_array(obj, writable)
        raise MPITypeError(ERR_BUFFER, f"{type(obj).__name__} is not a buffer (neither the buffer protocol nor "
                                       "DLPack)") from None
    if writable and mv.readonly:
        raise MPIBufferError(ERR_BUFFER, f"receive buffer ({type(obj).__name__}) is read-only")
    try:
        return np.asarray(mv)
    except (ValueError, TypeError):
        return np.frombuffer(mv.cast("B"), dtype=np.uint8)


def as_datatype(spec: Any) -> D.Datatype:
    """The MPI datatype a spec names: a Datatype (MPI_DATATYPE_NULL too) or a numpy typecode
    string; anything else is no datatype key (KeyError, TypeError if unhashable, as mpi4py)."""
    if isinstance(spec, D.Datatype):
        return spec
    if isinstance(spec, str):
        # Only mpi4py's typecodes ('c' is MPI.CHAR, 'i4' INT32_T, ...): mpi4py looks strings up
        # in its TypeDict and nowhere else, so 'float64' or '\0' are KeyErrors there too.
        try:
            return D.Datatype.fromcode(spec)
        except ValueError:
            pass
    try:
        hash(spec)
    except TypeError:
        raise MPITypeError(ERR_TYPE, f"cannot map {type(spec).__name__} to an MPI datatype (unhashable)") from None
    raise MPIKeyError(ERR_TYPE, f"cannot map {spec!r} to an MPI datatype")


def is_datatype(spec: Any) -> bool:
    """Whether a spec item stands for a datatype (mpi4py: a Datatype or a str)."""
    return isinstance(spec, (D.Datatype, str))


def as_count(value: Any, what: str) -> int:
    """An integer argument (count, displacement): anything with __index__, as mpi4py takes it."""
    try:
        return operator.index(value)
    except TypeError:
        raise MPITypeError(ERR_COUNT, f"{what} must be an integer, got {type(value).__name__} {value!r}") from None


def split_spec(spec: Any, pair_types: tuple[type, ...], count: str, displ: str) -> tuple[Any, Any, Any, Any]:
    """(buffer, count, displacement, datatype spec) of a spec, each None where it is not given,
    as mpi4py reads them: `[buf, datatype]`, `[buf, count]`, `[buf, (count, displ)]`,
    `[buf, count, datatype]`, `[buf, (count, displ), datatype]`, `[buf, count, displ, datatype]`,
    or a plain buffer. `pair_types` are the types of a (count, displ) item (only tuples for a
    v-spec, whose counts are often a list); `count` and `displ` name the items in errors."""
    if spec is None:
        raise MPITypeError(ERR_BUFFER, "expecting a buffer or a list/tuple spec, got None")
    if not isinstance(spec, (list, tuple)):
        return spec, None, None, None
    n, c, d, dspec = len(spec), None, None, None
    if n == 2:
        obj, c = spec
        if is_datatype(c):
            c, dspec = None, c
    elif n == 3:
        obj, c, dspec = spec
    elif n == 4:
        obj, c, d, dspec = spec
    else:
        raise MPIValueError(ERR_BUFFER, f"a buffer spec has 2 to 4 items, got {n}")
    if n < 4 and isinstance(c, pair_types):
        if len(c) != 2:
            raise MPIValueError(ERR_COUNT, f"({count}, {displ}) expected, got {c!r}")
        c, d = c
    return obj, c, d, dspec


def _contiguous(arr: np.ndarray, writable: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """A C-contiguous array over the same bytes (a Fortran-ordered array's transpose).

    Anything else is refused with BufferError, as mpi4py refuses it (it asks for a C- or
    Fortran-contiguous buffer, then for a contiguous DLPack tensor). The second item, a copy to
    write back, is always None now; Buffer keeps the field for derived datatypes' Unpacker."""
    if arr.flags.c_contiguous:
        return arr, None
    if arr.flags.f_contiguous:
        return arr.T, None  # same memory, C order
    raise MPIBufferError(ERR_BUFFER, "dlpack: buffer is not contiguous")


def _check_byte_order(arr: np.ndarray) -> None:
    """BufferError for an array in non-native byte order described by its own format (mpi4py
    maps the format string to a datatype and refuses '>i' on a little-endian machine); with
    an explicit datatype the bytes travel as they are."""
    if not arr.dtype.isnative:
        code = arr.dtype.byteorder + arr.dtype.char
        raise MPIBufferError(ERR_BUFFER, f"format string {code!r} with non-native byte order")


# Predefined datatypes by identity, each with the numpy dtype an array must have for [arr, T] to
# name exactly what arr alone names (whole, elements of its own dtype); the datatypes are module
# objects that live as long as the program, so their ids are never reused.
_PLAIN_SPEC_DTYPE: dict[int, np.dtype] = {
    id(t): t.dtype for t in D.PREDEFINED.values()
    if t and t.dtype is not None and t.dtype.fields is None
    and t.Get_extent() == (0, t.dtype.itemsize) == (0, t.Get_size())}


def plain_array(spec: list | tuple) -> np.ndarray | None:
    """The array of a spec that selects that whole array as its own elements, else None.

    [arr, T] (or a tuple) with T a predefined datatype of arr's own dtype, the way mpi4py's
    tutorials write every buffer (`[data, MPI.INT]`), is parsed into exactly what arr alone is
    (normalise: the whole array, typed on the wire) but for the datatype object, which only a
    user-defined operator sees (MPI.INT32_T's spec, MPI.INT for the bare array): a call may then
    take its hot path with arr instead of parsing the spec (about 1 us a call). Anything else
    is for normalise: another dtype (a one-byte array under a type of the other signedness is
    reduced as that type), a count (which makes the message untyped bytes), a displacement, a
    derived or duplicated type."""
    if len(spec) == 2:
        arr = spec[0]
        if type(arr) is np.ndarray and _PLAIN_SPEC_DTYPE.get(id(spec[1])) is arr.dtype:
            return arr
    return None


def plain_spec(spec: Any) -> Any:
    """plain_array's array for a list or tuple spec it accepts, else spec itself (an array,
    IN_PLACE, any other spec): a collective called with [data, MPI.DOUBLE] calls itself again
    with data, whose call-site record the next calls then hit."""
    if type(spec) is list or type(spec) is tuple:
        arr = plain_array(spec)
        if arr is not None:
            return arr
    return spec


def normalise(spec: Any, writable: bool, blocks: int = 1) -> Buffer:
    """Parse a buffer spec for sending (writable=False) or receiving (writable=True).

    `blocks` > 1 for a buffer of one block per rank (Gather's receive buffer, Scatter's send
    buffer, ...): an explicit count is then the count of one block, as in mpi4py and MPI, and
    an inferred one must split into that many blocks."""
    if type(spec) is Buffer:
        return spec  # normalised already (Sendrecv checks its receive buffer before it sends)
    obj, count, displ, dspec = split_spec(spec, (tuple, list), "count", "displ")
    if type(obj) is BottomType:
        return _at_bottom(writable, count, displ, dspec, blocks)
    arr = _as_array(obj, writable)
    datatype = None if dspec is None else as_datatype(dspec)
    arr, writeback = _contiguous(arr, writable)
    if datatype is None:
        _check_byte_order(arr)
        datatype = D.from_dtype(arr.dtype) or D.PREDEFINED["BYTE"]
    # (datatype first: a null datatype's dtype is None, which numpy compares equal to float64.)
    if (count is None and displ is None and datatype and arr.dtype == datatype.dtype
            and not D.is_derived(datatype) and (blocks == 1 or arr.size % blocks == 0)):
        return Buffer(arr, arr.nbytes, datatype, writeback)
    return _sized(arr, writeback, datatype, obj, count, displ, blocks, writable)


def _sized(arr: np.ndarray, writeback: np.ndarray | None, datatype: D.Datatype, obj: Any, count: Any, displ: Any,
           blocks: int, writable: bool = False) -> Buffer:
    """The bytes a spec with a count, a displacement or a foreign datatype selects (mpi4py's checks)."""
    total = arr.nbytes
    # Counts and displacements are in extents (a predefined type's extent is its size).
    t = D.type_of(datatype)
    size = t.ub - t.lb
    start = 0
    if displ is not None:
        displ = as_count(displ, "displacement")
        if displ < 0:
            raise MPIValueError(ERR_COUNT, f"negative displacement {displ}")
        if displ > 0:
            if not datatype or size <= 0:
                raise MPIValueError(ERR_TYPE, f"cannot apply displacement {displ} with {datatype.name}")
            if displ * size > total:
                raise MPIValueError(ERR_BUFFER, f"displacement {displ} is beyond the buffer of {total // size} "
                                                f"x {datatype.name}")
            start = displ * size
    if count is not None:
        count = as_count(count, "count")
        if count < 0:
            raise MPIValueError(ERR_COUNT, f"negative count {count}")
        if count > 0 and obj is None:
            raise MPIValueError(ERR_BUFFER, f"the buffer is None but the count is {count}")
        if not datatype:
            raise MPIException(ERR_TYPE, "MPI_DATATYPE_NULL cannot describe a buffer")
        count *= blocks
    elif total - start > 0:
        if not datatype or size <= 0:
            raise MPIValueError(ERR_TYPE, f"cannot infer a count with {datatype.name}")
        if (total - start) % size:
            raise MPIValueError(ERR_BUFFER, f"buffer length {total - start} is not a multiple of the datatype "
                                            f"size {size} ({datatype.name})")
        count = (total - start) // size
        if blocks > 1 and count % blocks:
            raise MPIValueError(ERR_COUNT, f"{count} x {datatype.name} do not split into {blocks} blocks")
    else:
        count = 0
    if not datatype:
        raise MPIException(ERR_TYPE, "MPI_DATATYPE_NULL cannot describe a buffer")
    if D.is_derived(datatype):
        if writeback is not None:
            raise MPIBufferError(ERR_BUFFER, "a derived datatype over a non-contiguous buffer is not supported")
        return _derived(arr, start, count, datatype, writable)
    stop = start + count * size
    if stop > total:
        # mpi4py leaves this to MPI (which reads or writes past the buffer); it is refused here.
        raise MPIValueError(ERR_BUFFER, f"buffer of {total} bytes is too small for {count} x {datatype.name} "
                                        f"at displacement {displ or 0}")
    if writeback is not None:
        raise MPIBufferError(ERR_BUFFER, "a count or datatype over a non-contiguous receive buffer is not "
                                         "supported")
    flat = arr.reshape(-1).view(np.uint8)[start:stop]
    return Buffer(flat, stop - start, datatype, None)


def _derived(arr: np.ndarray, start: int, count: int, datatype: D.Datatype, writable: bool) -> Buffer:
    """count elements of a derived datatype from byte `start` of arr: a view of the bytes if
    they are one run, else packed scratch (filled now for a send, unpacked by finish() for a
    receive). Elements must lie inside the buffer (MPI would read or write past it)."""
    t = check_committed(datatype)
    nbytes = count * t.psize
    if count and t.psize:
        lo = start + t.tlb
        hi = start + (count - 1) * (t.ub - t.lb) + t.tub
        if lo < 0 or hi > arr.nbytes:
            raise MPIValueError(ERR_BUFFER, f"{count} x {t.name or 'derived datatype'} reach bytes [{lo}, {hi}) "
                                            f"of a buffer of {arr.nbytes} bytes")
    flat = arr.reshape(-1).view(np.uint8)
    run = run_view(t, count)
    if run is not None:
        view = flat[start + run[0]: start + run[0] + run[1]]
        dt = t.dtype
        if dt is not None and dt.itemsize and view.nbytes % dt.itemsize == 0 and start % dt.alignment == 0:
            view = view.view(dt)
        return Buffer(view, nbytes, datatype, None)
    return _packed_buffer(t, [(address_of(flat) + start, count)], nbytes, datatype, writable, arr)


def _packed_buffer(t: D._Type, pieces: list[tuple[int, int]], nbytes: int, datatype: D.Datatype,
                   writable: bool, keep: Any) -> Buffer:
    scratch = packed(t, nbytes)
    if writable:
        return Buffer(scratch, nbytes, datatype, Unpacker(t, pieces, scratch.view(np.uint8), keep))
    gather(t, pieces, scratch.view(np.uint8))
    return Buffer(scratch, nbytes, datatype, None)


def typed_piece(obj: Any, byte_displ: int, count: int, datatype: Any, writable: bool) -> Buffer:
    """One block of an Alltoallw-style spec: count elements of datatype from byte byte_displ of
    obj, or at address byte_displ when obj is MPI.BOTTOM or None. A view of the bytes when the
    elements are one run, else packed scratch (gathered now for a send; a receive Buffer unpacks
    in finish(nbytes)). A block of no elements is empty, whatever its datatype."""
    datatype = as_datatype(datatype)
    bottom = obj is None or is_bottom(obj)
    arr = None if bottom else _as_array(obj, writable)
    if count == 0:
        return Buffer(_EMPTY, 0, datatype, None)
    t = check_committed(datatype)
    if bottom:
        return _packed_buffer(t, [(byte_displ, count)], count * t.psize, datatype, writable, None)
    arr, writeback = _contiguous(arr, writable)
    if writeback is not None:
        raise MPIBufferError(ERR_BUFFER, "a datatype over a non-contiguous receive buffer is not supported")
    return _derived(arr, byte_displ, count, datatype, writable)


def _at_bottom(writable: bool, count: Any, displ: Any, dspec: Any, blocks: int) -> Buffer:
    """A buffer at MPI.BOTTOM: the datatype's displacements are absolute addresses."""
    if dspec is None:
        raise MPIValueError(ERR_TYPE, "a buffer at MPI.BOTTOM needs a datatype")
    datatype = as_datatype(dspec)
    count = 0 if count is None else as_count(count, "count")  # BOTTOM itself is 0 bytes long
    if count < 0:
        raise MPIValueError(ERR_COUNT, f"negative count {count}")
    start = 0 if displ is None else as_count(displ, "displacement")
    t = check_committed(datatype)
    count *= blocks
    start *= t.ub - t.lb
    return _packed_buffer(t, [(start, count)], count * t.psize, datatype, writable, None)


def raw_bytes(obj: Any, writable: bool) -> np.ndarray:
    """A buffer's bytes as a 1-D uint8 array over the same memory (MPI_Pack's buffers)."""
    arr = _as_array(obj, writable)
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        raise MPIBufferError(ERR_BUFFER, "the buffer is not contiguous")
    if arr.flags.f_contiguous and not arr.flags.c_contiguous:
        arr = arr.T
    return arr.reshape(-1).view(np.uint8)


def typed(b: Buffer) -> np.ndarray:
    """The buffer as a 1-D C-contiguous array of its datatype's dtype (a view, no copy)."""
    arr = b.array
    dt = b.datatype.dtype
    if dt is None:
        raise MPIException(ERR_TYPE, f"{b.datatype.name or 'this derived datatype'} is not made of one "
                                     "predefined type: no operation applies to it")
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype != dt:
        if b.nbytes % dt.itemsize:
            raise MPIValueError(ERR_BUFFER, f"{b.nbytes} bytes are not a whole number of {b.datatype.name}")
        arr = arr.view(_U8)[: b.nbytes].view(dt)
    return arr


def _is_sequence(values: Any) -> bool:
    try:
        len(values)
    except TypeError:
        return False
    return True


def int_list(values: Any, n: int, what: str) -> list[int]:
    """n integers, one per rank (mpi4py: ValueError for another length, TypeError for items that
    are not integers; MPI's ERR_COUNT for a negative count)."""
    if not _is_sequence(values):
        raise MPITypeError(ERR_ARG, f"{what} must be a sequence of {n} integers, got {values!r}")
    if len(values) != n:
        raise MPIValueError(ERR_COUNT, f"{what}: expecting {n} items (one per rank), got {len(values)}")
    out = [as_count(v, what) for v in values]
    if any(v < 0 for v in out):
        raise MPIException(ERR_COUNT, f"{what} must be >= 0, got {out}")
    return out


def normalise_v(spec: Any, n: int, writable: bool) -> tuple[np.ndarray, list[int], list[int], D.Datatype, Buffer]:
    """A v-variant buffer spec -> (typed 1-D array, counts, displacements, datatype, Buffer).

    Accepted as in mpi4py: [buf, counts], [buf, datatype], [buf, counts, datatype],
    [buf, (counts, displs)], [buf, (counts, displs), datatype], [buf, counts, displs, datatype],
    or a plain buffer (split as evenly as it goes, the first ranks taking one more). counts may
    be one integer (every rank's), displs one integer (a stride) or None (packed)."""
    obj, counts, displs, dspec = split_spec(spec, (tuple,), "counts", "displs")
    if is_datatype(dspec) and D.is_derived(as_datatype(dspec)):
        return _derived_v(obj, counts, displs, as_datatype(dspec), n, writable)
    b = normalise([obj, dspec], writable)
    arr = typed(b)
    if counts is None:
        q, r = divmod(arr.size, n)
        counts = [q + (i < r) for i in range(n)]
    elif not _is_sequence(counts):
        counts = [as_count(counts, "counts")] * n
        if counts[0] < 0:
            raise MPIException(ERR_COUNT, f"counts must be >= 0, got {counts[0]}")
    else:
        counts = int_list(counts, n, "counts")
    if displs is None:
        displs = [0] * n
        for i in range(1, n):
            displs[i] = displs[i - 1] + counts[i - 1]
    elif not _is_sequence(displs):
        stride = as_count(displs, "displacements")
        displs = [stride * i for i in range(n)]
    else:
        displs = int_list(displs, n, "displacements")
    if any(d < 0 for d in displs):
        raise MPIException(ERR_COUNT, f"displacements must be >= 0, got {displs}")
    end = max((d + c for c, d in zip(counts, displs, strict=True) if c), default=0)
    if end > arr.size:
        raise MPIException(ERR_TRUNCATE, f"counts/displacements reach element {end}, the buffer holds {arr.size}")
    return arr, counts, displs, b.datatype, b


def _derived_v(obj: Any, counts: Any, displs: Any, datatype: D.Datatype, n: int,
               writable: bool) -> tuple[np.ndarray, list[int], list[int], D.Datatype, Buffer]:
    """A v-spec over a derived datatype: rank i's counts[i] elements from displs[i] extents are
    packed one after the other (so the packed counts and displacements describe them)."""
    t = check_committed(datatype)
    if counts is None:
        raise MPIValueError(ERR_COUNT, "a v-spec with a derived datatype needs counts")
    counts = [as_count(counts, "counts")] * n if not _is_sequence(counts) else int_list(counts, n, "counts")
    if any(c < 0 for c in counts):
        raise MPIException(ERR_COUNT, f"counts must be >= 0, got {counts}")
    if displs is None:
        displs = [sum(counts[:i]) for i in range(n)]
    elif not _is_sequence(displs):
        displs = [as_count(displs, "displacements") * i for i in range(n)]
    else:
        displs = int_list(displs, n, "displacements")
    extent = t.ub - t.lb
    if is_bottom(obj):
        base, keep = 0, None
    else:
        arr, wb = _contiguous(_as_array(obj, writable), writable)
        if wb is not None:
            raise MPIBufferError(ERR_BUFFER, "a derived datatype over a non-contiguous buffer is not supported")
        keep = arr.reshape(-1).view(np.uint8)
        base = address_of(keep)
        for c, d in zip(counts, displs, strict=True):
            if c and (d * extent + t.tlb < 0 or d * extent + (c - 1) * extent + t.tub > keep.nbytes):
                raise MPIException(ERR_TRUNCATE, f"counts/displacements reach beyond the buffer of {keep.nbytes} "
                                                 "bytes")
    pieces = [(base + d * extent, c) for c, d in zip(counts, displs, strict=True)]
    b = _packed_buffer(t, pieces, sum(counts) * t.psize, datatype, writable, keep)
    # Counts and displacements now count packed elements (v_bytes scales them by psize).
    packed_displs = [sum(counts[:i]) for i in range(n)]
    return b.array, counts, packed_displs, datatype, b


def v_bytes(spec: Any, n: int, writable: bool) -> tuple[np.ndarray, list[int], list[int], Buffer]:
    """A v-variant buffer spec as bytes: (byte view, byte counts, byte displacements, Buffer)."""
    arr, counts, displs, dt, b = normalise_v(spec, n, writable)
    unit = D.type_of(dt).psize
    return byte_view(arr), [c * unit for c in counts], [d * unit for d in displs], b
