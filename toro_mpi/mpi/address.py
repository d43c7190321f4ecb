"""Addresses of memory (MPI_Get_address, MPI_Aint_add, MPI_Aint_diff) and the hardware-resource
and ABI queries of the environment."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ..errors import ERR_ARG, MPITypeError
from .info import Info

_AINT_MASK = (1 << 64) - 1


def _aint(value: Any, what: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise MPITypeError(ERR_ARG, f"{what}: an address must be an int, got {type(value).__name__}") from None


def _signed(value: int) -> int:
    """An address as MPI_Aint (a signed 64-bit integer) wraps."""
    value &= _AINT_MASK
    return value - (1 << 64) if value >> 63 else value


def Get_address(location: Any) -> int:
    """The address of a buffer's first byte; None (and MPI.BOTTOM) is address 0."""
    if location is None or type(location).__name__ in ("BottomType", "BufferAutomaticType"):
        return 0  # MPI_BOTTOM and MPI_BUFFER_AUTOMATIC are address 0
    if type(location).__name__ == "buffer" and len(location) == 0:
        return int(location.address)  # an empty MPI.buffer (a dynamic window's memory) is at 0, as mpi4py
    try:
        view = memoryview(location)
    except TypeError:
        # As mpi4py: DLPack and CUDA Array Interface objects have addresses too.
        from .buffers import _as_array  # buffers.py builds on this module's neighbours

        try:
            return int(_as_array(location, False).__array_interface__["data"][0])
        except TypeError:
            raise MPITypeError(ERR_ARG, f"Get_address: expected a buffer, got {type(location).__name__}") from None
    if view.c_contiguous:
        return int(np.frombuffer(view.cast("B"), np.uint8).ctypes.data)
    return int(np.asarray(view).__array_interface__["data"][0])  # a strided view: its first element


def Aint_add(base: int, disp: int) -> int:
    """Return base + disp as MPI_Aint arithmetic."""
    return _signed(_aint(base, "Aint_add") + _aint(disp, "Aint_add"))


def Aint_diff(addr1: int, addr2: int) -> int:
    """Return addr1 - addr2 as MPI_Aint arithmetic."""
    return _signed(_aint(addr1, "Aint_diff") - _aint(addr2, "Aint_diff"))


def Get_hw_resource_info() -> Info:
    """MPI-4.1's hardware resource info: Open MPI (and toro_mpi) do not provide it."""
    raise NotImplementedError("MPI.Get_hw_resource_info is not implemented by toro_mpi")


def Get_abi_version() -> tuple[int, int]:
    """The MPI ABI version: (-1, -1), no standard ABI (as mpi4py reports over Open MPI)."""
    return (-1, -1)


def Get_abi_info() -> Info:
    """Information about the MPI ABI: empty, toro_mpi implements no standard ABI."""
    return Info.Create()


def Get_abi_fortran_info() -> Info:
    """Fortran ABI information: empty, toro_mpi has no Fortran binding."""
    return Info.Create()
