"""mpi4py-compatible surface: `from toro_mpi import MPI`, then use it as mpi4py's MPI module.

Importing this module initialises the rank (attaches to the launcher's bus), as importing
mpi4py.MPI calls MPI_Init.
"""

from __future__ import annotations

import socket
import time

from .mpi import datatypes as _dt
from .mpi.buffers import IN_PLACE as _IN_PLACE
from .mpi.comm import KEYVAL_APPNUM as APPNUM
from .mpi.comm import KEYVAL_HOST as HOST
from .mpi.comm import KEYVAL_IO as IO
from .mpi.comm import KEYVAL_TAG_UB as TAG_UB
from .mpi.comm import KEYVAL_UNIVERSE_SIZE as UNIVERSE_SIZE
from .mpi.comm import KEYVAL_WTIME_IS_GLOBAL as WTIME_IS_GLOBAL
from .mpi.comm import Comm, Intracomm
from .mpi.datatypes import DATATYPE_NULL, Datatype
from .mpi.errors import (
    ERR_ARG,
    ERR_BUFFER,
    ERR_COMM,
    ERR_COUNT,
    ERR_DIMS,
    ERR_GROUP,
    ERR_IN_STATUS,
    ERR_INTERN,
    ERR_LASTCODE,
    ERR_OP,
    ERR_OTHER,
    ERR_PENDING,
    ERR_PROC_ABORTED,
    ERR_RANK,
    ERR_REQUEST,
    ERR_ROOT,
    ERR_TAG,
    ERR_TOPOLOGY,
    ERR_TRUNCATE,
    ERR_TYPE,
    ERR_UNKNOWN,
    SUCCESS,
    Get_error_class,
    Get_error_string,
    MPIException,
)
from .mpi.groups import CONGRUENT, IDENT, SIMILAR, UNEQUAL, Group
from .mpi.ops import (
    BAND,
    BOR,
    BXOR,
    LAND,
    LOR,
    LXOR,
    MAX,
    MAXLOC,
    MIN,
    MINLOC,
    NO_OP,
    OP_NULL,
    PROD,
    REPLACE,
    SUM,
    Op,
)
from .mpi.p2p import ANY_SOURCE, ANY_TAG, PROC_NULL
from .mpi.request import REQUEST_NULL, UNDEFINED, Request, Status
from .runtime import world as _world

Exception = MPIException  # noqa: A001 - mpi4py names it MPI.Exception

# Predefined datatypes as module attributes (MPI.DOUBLE, MPI.INT, ...).
globals().update(_dt.PREDEFINED)
BYTE: Datatype = _dt.PREDEFINED["BYTE"]
INT: Datatype = _dt.PREDEFINED["INT"]
DOUBLE: Datatype = _dt.PREDEFINED["DOUBLE"]
FLOAT: Datatype = _dt.PREDEFINED["FLOAT"]
LONG: Datatype = _dt.PREDEFINED["LONG"]
CHAR: Datatype = _dt.PREDEFINED["CHAR"]

THREAD_SINGLE = 0
THREAD_FUNNELED = 1
THREAD_SERIALIZED = 2
THREAD_MULTIPLE = 3
VERSION = 3
SUBVERSION = 1
MAX_PROCESSOR_NAME = 256
IN_PLACE = _IN_PLACE
BOTTOM = None

_w = _world()
COMM_WORLD: Intracomm = Intracomm(_w.engine, list(range(_w.size)), 0, "MPI_COMM_WORLD")
COMM_SELF: Intracomm = Intracomm(_w.engine, [_w.rank], 4, "MPI_COMM_SELF")
COMM_NULL = None
_T0 = time.perf_counter()


def Wtime() -> float:
    """Wall-clock time in seconds (monotonic, high resolution)."""
    return time.perf_counter()


def Wtick() -> float:
    """Resolution of Wtime in seconds."""
    return time.get_clock_info("perf_counter").resolution


def Get_processor_name() -> str:
    """Host name of this machine."""
    return socket.gethostname()


def Get_version() -> tuple[int, int]:
    """MPI standard version implemented (as far as it goes)."""
    return (VERSION, SUBVERSION)


def Get_library_version() -> str:
    """Library identification string."""
    from . import __version__

    return f"toro_mpi {__version__} (virtio-bus over POSIX shared memory)"


def Query_thread() -> int:
    """Thread level: one OS thread per rank, green threads cooperate (THREAD_SINGLE)."""
    return THREAD_SINGLE


def Is_initialized() -> bool:
    """True once this module is imported."""
    return True


def Is_finalized() -> bool:
    """True after Finalize."""
    return _w.finalized


def Init() -> None:
    """No-op: importing the module initialises."""


def Init_thread(required: int = THREAD_MULTIPLE) -> int:
    """No-op initialisation; returns the provided thread level."""
    return THREAD_SINGLE


def Finalize() -> None:
    """Flush queued sends and mark the rank finished (also done at exit)."""
    _w.finalize()


__all__ = [
    "ANY_SOURCE", "ANY_TAG", "PROC_NULL", "TAG_UB", "HOST", "IO", "WTIME_IS_GLOBAL", "UNIVERSE_SIZE",
    "APPNUM", "UNDEFINED", "IN_PLACE", "BOTTOM",
    "COMM_WORLD", "COMM_SELF", "COMM_NULL", "REQUEST_NULL", "DATATYPE_NULL",
    "Comm", "Intracomm", "Group", "IDENT", "CONGRUENT", "SIMILAR", "UNEQUAL",
    "Request", "Status", "Datatype", "Exception", "Op",
    "SUM", "PROD", "MAX", "MIN", "LAND", "LOR", "LXOR", "BAND", "BOR", "BXOR", "MAXLOC", "MINLOC",
    "REPLACE", "NO_OP", "OP_NULL",
    "Wtime", "Wtick", "Get_processor_name", "Get_version", "Get_library_version",
    "Query_thread", "Is_initialized", "Is_finalized", "Init", "Init_thread", "Finalize",
    "Get_error_string", "Get_error_class",
    "SUCCESS", "ERR_BUFFER", "ERR_COUNT", "ERR_TYPE", "ERR_TAG", "ERR_COMM", "ERR_RANK",
    "ERR_REQUEST", "ERR_ROOT", "ERR_GROUP", "ERR_OP", "ERR_TOPOLOGY", "ERR_DIMS", "ERR_ARG",
    "ERR_UNKNOWN", "ERR_TRUNCATE", "ERR_OTHER", "ERR_INTERN", "ERR_IN_STATUS", "ERR_PENDING",
    "ERR_PROC_ABORTED", "ERR_LASTCODE",
    "THREAD_SINGLE", "THREAD_FUNNELED", "THREAD_SERIALIZED", "THREAD_MULTIPLE",
]
