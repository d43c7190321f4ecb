"""The datatype part of the MPI module's surface: constants, BOTTOM, IN_PLACE, addresses.

`from .mpi.datatypes_surface import *` in MPI.py brings in everything listed in __all__, so the
surface gains these names with one line there.
"""

from __future__ import annotations

from typing import Any

from .buffers import BOTTOM, IN_PLACE, BottomType, InPlaceType
from .named_types import CONSTANTS
from .packing import get_address

globals().update(CONSTANTS)  # COMBINER_*, ORDER_*, DISTRIBUTE_*, TYPECLASS_*


def Get_address(location: Any) -> int:
    """The address of a buffer in memory (0 for MPI.BOTTOM), for struct displacements."""
    return get_address(location)


def Aint_add(base: int, disp: int) -> int:
    """base + disp, as addresses."""
    return int(base) + int(disp)


def Aint_diff(addr1: int, addr2: int) -> int:
    """addr1 - addr2, as addresses."""
    return int(addr1) - int(addr2)


__all__ = ["BOTTOM", "IN_PLACE", "BottomType", "InPlaceType", "Get_address", "Aint_add", "Aint_diff",
           *CONSTANTS]
