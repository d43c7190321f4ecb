"""The datatype part of the MPI module's surface: constants, BOTTOM, IN_PLACE, addresses.

`from .mpi.datatypes_surface import *` in MPI.py brings in everything listed in __all__, so the
surface gains these names with one line there.
"""

from __future__ import annotations

from .buffers import BOTTOM, IN_PLACE, BottomType, InPlaceType
from .datatypes import Datatype
from .named_types import CONSTANTS

globals().update(CONSTANTS)  # COMBINER_*, ORDER_*, DISTRIBUTE_*, TYPECLASS_*


# C alignment of each typechar (x86-64 Linux), as mpi4py's MPI._typealign reports it.
_ALIGN = {"?": 1, "b": 1, "h": 2, "i": 4, "l": 8, "q": 8, "B": 1, "H": 2, "I": 4, "L": 8, "Q": 8, "e": 2,
          "f": 4, "d": 8, "g": 16, "E": 2, "F": 4, "D": 8, "G": 16, "c": 1, "S": 1, "U": 4, "p": 8, "P": 8}


def _typecode(datatype: Datatype) -> str | None:
    """The typecode, as mpi4py's private MPI._typecode (mpi4py.util.dtlib): tocode(), or None."""
    try:
        return datatype.tocode()
    except ValueError:
        return None


def _typealign(datatype: Datatype) -> int | None:
    """The alignment, as mpi4py's private MPI._typealign (mpi4py.util.dtlib): the C alignment of a predefined
    type (a pair type's is its struct's), None for a derived or null one."""
    if not datatype:
        return None
    char = datatype.typechar
    if char != "V":
        return _ALIGN.get(char)
    dt = datatype.dtype
    if datatype.is_named and dt is not None and dt.names:
        return dt.alignment
    return None


# (Get_address, Aint_add and Aint_diff are MPI.py's from mpi/address.py.)
__all__ = ["_typecode", "_typealign", "BOTTOM", "IN_PLACE", "BottomType", "InPlaceType", *CONSTANTS]
