"""Buffers that offer only the CUDA Array Interface (`__cuda_array_interface__`), as numpy arrays.

mpi4py accepts such objects as message buffers (a CUDA-aware MPI reads device memory directly).
toro_mpi moves messages through host shared memory, so it accepts them exactly when their memory
is host memory this process can address (pinned or managed memory, or an object that merely
describes a host buffer this way, as mpi4py's test suite does); device memory raises BufferError,
as do a read-only interface given as a receive buffer and non-contiguous strides, as in mpi4py.

"Host memory" is decided by the address range lying inside this process's readable mappings
(/proc/self/maps): device memory that is not mapped into the process cannot pass, and reading the
map costs one small file read per call, paid only by these objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ERR_BUFFER, MPIBufferError, MPITypeError


def is_cai(obj: Any) -> bool:
    """Whether obj offers the CUDA Array Interface."""
    try:
        return hasattr(obj, "__cuda_array_interface__")
    except Exception:  # noqa: BLE001 - a broken __getattr__ means "no"
        return False


def _mapped(address: int, nbytes: int) -> bool:
    """Whether [address, address + nbytes) lies in readable mappings of this process."""
    if nbytes == 0:
        return True
    end = address + nbytes
    spans = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(None, 2)
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if "r" in fields[1]:
                spans.append((lo, hi))
    at = address
    for lo, hi in sorted(spans):
        if lo <= at < hi:
            at = hi
            if at >= end:
                return True
    return False


class _Export:
    """Holds the exporting object alive for as long as a numpy view of its memory exists."""

    def __init__(self, owner: Any, interface: dict[str, Any]) -> None:
        self.owner = owner
        self.__array_interface__ = interface


def host_array(obj: Any, writable: bool) -> np.ndarray:
    """A 1-D numpy view, in memory order, of the host memory a CUDA Array Interface describes.

    Raises BufferError (as MPIBufferError, ERR_BUFFER) for memory this process cannot address,
    a read-only interface given as a receive buffer, or non-contiguous strides."""
    name = type(obj).__name__
    try:
        cai = obj.__cuda_array_interface__
        address, readonly = cai["data"]
        dtype = np.dtype(cai["typestr"])
        shape = tuple(int(n) for n in cai["shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise MPITypeError(ERR_BUFFER, f"{name}: malformed __cuda_array_interface__ ({exc})") from None
    count = 1
    for n in shape:
        count *= n
    nbytes = count * dtype.itemsize
    strides = cai.get("strides")
    if strides is not None and count > 1:
        expect, step = [], dtype.itemsize
        for n in reversed(shape):
            expect.append(step)
            step *= n
        if tuple(int(s) for s, n in zip(strides, shape, strict=True) if n > 1) != tuple(
                s for s, n in zip(reversed(expect), shape, strict=True) if n > 1):
            raise MPIBufferError(ERR_BUFFER, f"{name}: the CUDA Array Interface buffer is not C-contiguous")
    if writable and readonly:
        raise MPIBufferError(ERR_BUFFER, f"receive buffer ({name}) is read-only (its __cuda_array_interface__ "
                                         "says so)")
    if nbytes and (not address or not _mapped(int(address), nbytes)):
        raise MPIBufferError(ERR_BUFFER, f"{name}: its __cuda_array_interface__ memory is not host memory "
                                         "(toro_mpi moves messages through host memory only)")
    if nbytes == 0:
        return np.empty(0, dtype)
    interface = {"version": 3, "data": (int(address), bool(readonly)), "typestr": dtype.str,
                 "shape": (count,), "strides": None}
    return np.asarray(_Export(obj, interface))
