"""Buffers that offer only the CUDA Array Interface (`__cuda_array_interface__`), as numpy arrays.

mpi4py accepts such objects as message buffers (a CUDA-aware MPI reads device memory directly).
toro_mpi moves messages through host shared memory, so it accepts them exactly when their memory
is host memory this process can address (pinned or managed memory, or an object that merely
describes a host buffer this way, as mpi4py's test suite does); device memory raises BufferError,
as do a read-only interface given as a receive buffer and non-contiguous strides, as in mpi4py.

"Host memory" is decided by the address range lying inside this process's readable mappings
(/proc/self/maps, read again only for ranges outside the copy read last): device memory that is
not mapped into the process cannot pass.
"""

from __future__ import annotations

import bisect
import sys
import warnings
from typing import Any

import numpy as np

from ..errors import ERR_BUFFER, MPIBufferError


def is_cai(obj: Any) -> bool:
    """Whether obj offers the CUDA Array Interface."""
    try:
        return hasattr(obj, "__cuda_array_interface__")
    except Exception:  # noqa: BLE001 - a broken __getattr__ means "no"
        return False


_SPANS: list[tuple[int, int]] = []  # readable mappings of this process, merged, by address
_STARTS: list[int] = []


def _read_maps() -> None:
    spans: list[tuple[int, int]] = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            bounds, perms = line.split(None, 2)[:2]
            if perms[0] != "r":
                continue
            lo, hi = (int(x, 16) for x in bounds.split("-"))
            if spans and spans[-1][1] == lo:
                spans[-1] = (spans[-1][0], hi)
            else:
                spans.append((lo, hi))
    _SPANS[:] = spans
    _STARTS[:] = [lo for lo, _ in spans]


def _covered(address: int, end: int) -> bool:
    i = bisect.bisect_right(_STARTS, address) - 1
    return i >= 0 and _SPANS[i][0] <= address and end <= _SPANS[i][1]


def mapped(address: int, nbytes: int) -> bool:
    """Whether [address, address + nbytes) lies in readable mappings of this process. The map is
    read again only when the range is not in the copy read last (new memory), so most calls cost
    a bisection: a range once mapped and since unmapped is a dangling pointer, the caller's bug."""
    end = address + nbytes
    if _covered(address, end):
        return True
    _read_maps()
    return _covered(address, end)


class _Export:
    """Holds the exporting object alive for as long as a numpy view of its memory exists."""

    def __init__(self, owner: Any, interface: dict[str, Any]) -> None:
        self.owner = owner
        self.__array_interface__ = interface


def _contiguous(shape: tuple, strides: tuple, itemsize: int, fortran: bool) -> bool:
    """mpi4py's cuda_is_contig: strides of the dimensions longer than 1 are those of a C (or
    Fortran) layout."""
    size = itemsize
    order = range(len(shape)) if fortran else range(len(shape) - 1, -1, -1)
    for i in order:
        dim = int(shape[i])
        if dim > 1 and size != int(strides[i]):
            return False
        size *= dim
    return True


def _dtype(kind: str, itemsize: int) -> np.dtype:
    """The element type a (kind, itemsize) names, bytes when numpy has none (mpi4py: "B")."""
    if kind == "b" and itemsize == 1:
        return np.dtype(bool)
    if kind in "iufc":
        try:
            return np.dtype(f"{kind}{itemsize}")
        except TypeError:
            pass
    return np.dtype((np.uint8, (itemsize,))) if itemsize != 1 else np.dtype(np.uint8)


def host_array(obj: Any, writable: bool) -> np.ndarray:
    """A 1-D numpy view, in memory order, of the host memory a CUDA Array Interface describes.

    Checks and errors as mpi4py's (ascaibuf.pxi), in its order: KeyError for a missing `data`,
    `typestr` or `shape`, TypeError for entries of the wrong type, ValueError for a `data` that
    is not a pair or an unreadable item size, BufferError for a non-native byte order, a mask, a
    negative size, non-contiguous strides or a read-only interface given as a receive buffer;
    then BufferError for memory this process cannot address (device memory)."""
    name = type(obj).__name__
    cai = obj.__cuda_array_interface__
    if not isinstance(cai, dict):
        raise TypeError(f"__cuda_array_interface__: expected dict, got {type(cai).__name__}")
    data, typestr, shape = cai["data"], cai["typestr"], cai["shape"]
    strides, mask = cai.get("strides"), cai.get("mask")
    for value, kind, what in ((data, tuple, "data"), (typestr, str, "typestr"), (shape, tuple, "shape"),
                              (strides, tuple, "strides")):
        if value is not None and not isinstance(value, kind):
            raise TypeError(f"__cuda_array_interface__: {what} must be a {kind.__name__}, "
                            f"not {type(value).__name__}")
    if data is None or typestr is None or shape is None:
        raise TypeError("__cuda_array_interface__: data, typestr and shape must not be None")
    address, readonly = data  # ValueError unless a pair, as in mpi4py
    count = 1
    for n in shape:
        count *= int(n)
    if address is None and count == 0:
        address = 0
    byteorder, kind = typestr[0:1], typestr[1:2]
    itemsize = int(typestr[2:])  # ValueError for e.g. "<uX"
    native = "<" if sys.byteorder == "little" else ">"
    if byteorder in "<>" and byteorder != native:
        raise MPIBufferError(ERR_BUFFER, f"__cuda_array_interface__: typestr {typestr!r} with non-native byte order")
    if byteorder not in ("<", ">", "|"):
        raise MPIBufferError(ERR_BUFFER, f"__cuda_array_interface__: typestr {typestr!r} with unrecognized "
                                         "byte order")
    if mask is not None:
        raise MPIBufferError(ERR_BUFFER, "__cuda_array_interface__: cannot handle masked arrays")
    if count < 0:
        raise MPIBufferError(ERR_BUFFER, f"__cuda_array_interface__: buffer with negative size (shape:{shape})")
    if strides is not None and not (_contiguous(shape, strides, itemsize, False)
                                    or _contiguous(shape, strides, itemsize, True)):
        raise MPIBufferError(ERR_BUFFER, f"__cuda_array_interface__: buffer is not contiguous "
                                         f"(shape:{shape}, strides:{strides}, itemsize:{itemsize})")
    descr = cai.get("descr")
    if descr is not None and not isinstance(descr, list):
        raise TypeError(f"__cuda_array_interface__: descr must be a list, not {type(descr).__name__}")
    if descr is not None and (len(descr) != 1 or tuple(descr[0]) != ("", typestr)):
        warnings.warn("__cuda_array_interface__: ignoring 'descr' key", RuntimeWarning, stacklevel=4)
    if writable and readonly:
        raise MPIBufferError(ERR_BUFFER, f"receive buffer ({name}): __cuda_array_interface__ buffer is not "
                                         "writable")
    nbytes = count * itemsize
    dtype = _dtype(kind, itemsize)
    if nbytes == 0:
        return np.empty(0, dtype)
    if not isinstance(address, int) or not address or not mapped(address, nbytes):
        raise MPIBufferError(ERR_BUFFER, f"{name}: its __cuda_array_interface__ memory is not host memory "
                                         "(toro_mpi moves messages through host memory only)")
    interface = {"version": 3, "data": (int(address), bool(readonly)), "typestr": dtype.str if dtype.shape == ()
                 else "|u1", "shape": (count if dtype.shape == () else nbytes,), "strides": None}
    return np.asarray(_Export(obj, interface))
