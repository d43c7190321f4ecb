"""Moving derived-datatype data: packing for sends, unpacking after receives, MPI_Pack.

A message described by a derived datatype travels packed: its elements' bytes back to back,
gathered in one jitted pass (bus/typemap_copy.py) over the type's flat typemap. A receive goes
into contiguous scratch and is unpacked in one pass once it arrived (`Unpacker`, the Buffer's
writeback), only as many bytes as arrived. A type whose elements form one run of bytes (a
contiguous type, a vector with stride == blocklength) is no copy at all: a view of the memory.

Also here: MPI_Pack/MPI_Unpack (the same passes at a position in a user buffer), their
external32 forms (big-endian: the packed bytes swapped per basic element), MPI_Get_address.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..bus.ring import address_reader, compiled_or_none
from ..bus.typemap_copy import strided_copy, typemap_copy
from ..errors import ERR_ARG, ERR_TRUNCATE, ERR_TYPE, MPIException, MPIValueError
from . import datatypes as D
from . import typemap as TM

_U8 = np.dtype(np.uint8)


_readers: dict[np.dtype, Any] = {}


def address_of(arr: np.ndarray) -> int:
    """Address of an array's first byte.

    Through a compiled reader for 1-D arrays (about 0.1 us): `__array_interface__` builds a dict
    per call, measured at 1-3.5 us here, and a derived send or receive asks two or three times.
    The reader reads only the data pointer, so any strides and read-only arrays are fine."""
    if arr.ndim == 1:
        fn = _readers.get(arr.dtype)
        if fn is None:
            # Only the element types toro_mpi.warm compiles ahead (u1 i4 i8 f4 f8): another
            # would compile here, on a message's path.
            ok = arr.dtype.isnative and arr.dtype.str[1:] in ("u1", "i4", "i8", "f4", "f8")
            fn = _readers[arr.dtype] = (ok and compiled_or_none(address_reader, arr.dtype)) or False
        if fn:
            return fn(arr)
    return int(arr.__array_interface__["data"][0])


def check_committed(datatype: D.Datatype) -> D._Type:
    """The type of a handle used in communication: a null or uncommitted one is ERR_TYPE."""
    t = D.type_of(datatype)
    if not datatype:
        raise MPIException(ERR_TYPE, "MPI_DATATYPE_NULL cannot describe a buffer")
    if not t.committed:
        raise MPIException(ERR_TYPE, f"datatype {t.name or '(derived)'} is not committed (call Commit)")
    return t


def run_view(t: D._Type, count: int) -> tuple[int, int] | None:
    """(first byte offset, length) if `count` elements of t are one run of bytes, else None."""
    offs, lens, _ = t.flat()
    if offs.size == 0:
        return (0, 0)
    extent = t.ub - t.lb
    if offs.size == 1 and (count <= 1 or int(lens[0]) == extent):
        return (int(offs[0]), int(lens[0]) * count)
    return None


def gather(t: D._Type, pieces: list[tuple[int, int]], out: np.ndarray) -> None:
    """Pack pieces [(address, count)] of elements of t back to back into the byte array out."""
    offs, lens, _ = t.flat()
    extent = t.ub - t.lb
    reg = t.regular()
    pos = address_of(out)
    for addr, n in pieces:
        if n:
            nbytes = n * t.psize
            if reg is not None:
                strided_copy(addr, reg[0], reg[1], reg[2], offs.size, n, extent, pos, 1)
            else:
                typemap_copy(addr, offs, lens, n, extent, pos, 0, nbytes, 1)
            pos += nbytes


class Unpacker:
    """What a receive into a derived datatype does once the data arrived: unpack the scratch
    bytes into the user's memory (the `writeback` of its Buffer)."""

    __slots__ = ("t", "pieces", "scratch", "keep")

    def __init__(self, t: D._Type, pieces: list[tuple[int, int]], scratch: np.ndarray, keep: Any) -> None:
        self.t = t
        self.pieces = pieces
        self.scratch = scratch
        self.keep = keep  # the user's array: its memory must outlive the receive

    def unpack(self, nbytes: int | None = None) -> None:
        """Unpack the first nbytes of the scratch (all of it by default)."""
        t = self.t
        offs, lens, _ = t.flat()
        extent = t.ub - t.lb
        left = self.scratch.nbytes if nbytes is None else min(nbytes, self.scratch.nbytes)
        pos = address_of(self.scratch)
        reg = t.regular()
        for addr, n in self.pieces:
            if left <= 0:
                break
            take = min(n * t.psize, left)
            if take == n * t.psize and reg is not None:
                strided_copy(addr, reg[0], reg[1], reg[2], offs.size, n, extent, pos, 0)
            elif take:
                typemap_copy(addr, offs, lens, n, extent, pos, 0, take, 0)
            pos += take
            left -= take


def packed(t: D._Type, nbytes: int) -> np.ndarray:
    """Scratch for nbytes of packed elements, typed as the type's elements where it has one."""
    dt = t.dtype
    if dt is not None and dt.itemsize and nbytes % dt.itemsize == 0:
        return np.empty(nbytes // dt.itemsize, dt)
    return np.empty(nbytes, _U8)


# -- MPI_Pack / MPI_Unpack ------------------------------------------------------------------

def _raw(buf: Any, writable: bool) -> np.ndarray:
    from .buffers import raw_bytes  # buffers imports this module: resolved at call time

    return raw_bytes(buf, writable)


def _swap(stream: np.ndarray, t: D._Type, count: int) -> None:
    """Reverse each basic element of a packed stream in place (native <-> external32)."""
    _, lens, units = t.flat()
    if count == 0 or lens.size == 0:
        return
    seg_units = np.tile(units, count)
    seg_lens = np.tile(lens, count)
    pos = 0
    # Runs of one unit are swapped together with one numpy reshape each.
    for unit, length in zip(seg_units.tolist(), seg_lens.tolist(), strict=True):
        if unit > 1:
            part = stream[pos:pos + length]
            part[:] = part.reshape(-1, unit)[:, ::-1].reshape(-1)
        pos += length


def pack(datatype: D.Datatype, inbuf: Any, outbuf: Any, position: int, external: bool = False) -> int:
    """MPI_Pack: count = len(inbuf) // extent elements appended at position; the new position."""
    t = D.type_of(datatype)
    if not datatype:
        raise MPIException(ERR_TYPE, "MPI_DATATYPE_NULL")
    src = _raw(inbuf, False)
    out = _raw(outbuf, True)
    extent = t.ub - t.lb
    if extent <= 0:
        raise MPIException(ERR_TYPE, f"cannot pack a datatype of extent {extent}")
    count = src.nbytes // extent
    position = int(position)
    nbytes = count * t.psize
    if position < 0 or position + nbytes > out.nbytes:
        raise MPIException(ERR_TRUNCATE, f"Pack: {nbytes} bytes at position {position} overflow the "
                                         f"output buffer of {out.nbytes} bytes")
    if nbytes:
        dst = out[position:position + nbytes]
        gather(t, [(address_of(src), count)], dst)
        if external:
            _swap(dst, t, count)
    return position + nbytes


def unpack(datatype: D.Datatype, inbuf: Any, position: int, outbuf: Any, external: bool = False) -> int:
    """MPI_Unpack: fill count = len(outbuf) // extent elements from inbuf at position."""
    t = D.type_of(datatype)
    if not datatype:
        raise MPIException(ERR_TYPE, "MPI_DATATYPE_NULL")
    src = _raw(inbuf, False)
    out = _raw(outbuf, True)
    extent = t.ub - t.lb
    if extent <= 0:
        raise MPIException(ERR_TYPE, f"cannot unpack a datatype of extent {extent}")
    count = out.nbytes // extent
    position = int(position)
    nbytes = count * t.psize
    if position < 0 or position + nbytes > src.nbytes:
        raise MPIException(ERR_TRUNCATE, f"Unpack: {nbytes} bytes at position {position} are beyond the "
                                         f"input buffer of {src.nbytes} bytes")
    if nbytes:
        stream = src[position:position + nbytes]
        if external:
            stream = stream.copy()
            _swap(stream, t, count)
        Unpacker(t, [(address_of(out), count)], stream, out).unpack()
    return position + nbytes


def pack_size(datatype: D.Datatype, count: int) -> int:
    """MPI_Pack_size: bytes that count elements take packed."""
    t = D.type_of(datatype)
    if not datatype:
        raise MPIException(ERR_TYPE, "MPI_DATATYPE_NULL")
    count = int(count)
    if count < 0:
        raise MPIValueError(ERR_ARG, f"negative count {count}")
    return count * t.psize


def check_datarep(datarep: str) -> None:
    """Only "external32" is a canonical representation (as in MPI)."""
    if datarep != "external32":
        raise MPIException(ERR_ARG, f"unsupported data representation {datarep!r} (only 'external32')")


def get_address(location: Any) -> int:
    """MPI_Get_address: the address of a buffer (0 for MPI.BOTTOM)."""
    from .buffers import is_bottom

    if is_bottom(location):
        return 0
    return address_of(_raw(location, False))


def elements(datatype: D.Datatype, nbytes: int) -> int:
    """Basic elements in nbytes of packed elements of a type (MPI_Get_elements)."""
    t = D.type_of(datatype)
    if not datatype:
        raise MPIException(ERR_TYPE, "MPI_DATATYPE_NULL")
    if t.psize == 0:
        return 0
    return TM.elements(t.flat(), 0, t.ub - t.lb, nbytes, t.nbasic)
