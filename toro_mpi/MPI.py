"""mpi4py-compatible surface: `from toro_mpi import MPI`, then use it as mpi4py's MPI module.

Importing this module initialises the rank (attaches to the launcher's bus), as importing
mpi4py.MPI calls MPI_Init.
"""

from __future__ import annotations

import operator as _operator
import socket
import time
from typing import Any as _Any

from .errors import (
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
from .errors import MPIBufferError as _MPIBufferError
from .mpi import datatypes as _dt
from .mpi import objects as _objects
from .mpi.buffers import IN_PLACE as _IN_PLACE
from .mpi.comm import KEYVAL_APPNUM as APPNUM
from .mpi.comm import KEYVAL_HOST as HOST
from .mpi.comm import KEYVAL_IO as IO
from .mpi.comm import KEYVAL_TAG_UB as TAG_UB
from .mpi.comm import KEYVAL_UNIVERSE_SIZE as UNIVERSE_SIZE
from .mpi.comm import KEYVAL_WTIME_IS_GLOBAL as WTIME_IS_GLOBAL
from .mpi.comm import Comm, Intracomm
from .mpi.datatypes import DATATYPE_NULL, Datatype
from .mpi.errhandler import ERRHANDLER_NULL, ERRORS_ABORT, ERRORS_ARE_FATAL, ERRORS_RETURN, Errhandler
from .mpi.groups import CONGRUENT, IDENT, SIMILAR, UNEQUAL, Group
from .mpi.memory import buffer, memory
from .mpi.message import MESSAGE_NO_PROC, MESSAGE_NULL, Message
from .mpi.mpi4py_names import CLASSES as _CLASSES
from .mpi.mpi4py_names import not_implemented as _not_implemented
from .mpi.mpi4py_names import stand_in as _stand_in
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
from .mpi.persistent import Prequest
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



def _rank_state(w: _Any) -> dict[str, _Any]:
    """This module's globals that belong to one rank (toro_mpi.hosting swaps them per rank).

    Only the two communicators: the rest of a rank's state (finalized, the Bsend buffer) is on its
    World, which the functions below look up through runtime.world(), itself swapped per rank.
    Every slot here costs hosted ranks a store on every switch between them."""
    return {
        "COMM_WORLD": Intracomm(w.engine, list(range(w.size)), 0, "MPI_COMM_WORLD"),
        "COMM_SELF": Intracomm(w.engine, [w.rank], 4, "MPI_COMM_SELF"),
    }


RANK_GLOBALS = ("COMM_WORLD", "COMM_SELF")
_state = _rank_state(_world())
COMM_WORLD: Intracomm = _state["COMM_WORLD"]
COMM_SELF: Intracomm = _state["COMM_SELF"]
del _state
COMM_NULL = None
_T0 = time.perf_counter()


# Wall-clock time in seconds (monotonic, high resolution): the builtin itself rather than a Python
# function around it, because benchmarks call it around every timed operation.
Wtime = time.perf_counter


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
    return _world().finalized


def Init() -> None:
    """No-op: importing the module initialises."""


def Init_thread(required: int = THREAD_MULTIPLE) -> int:
    """No-op initialisation; returns the provided thread level."""
    return THREAD_SINGLE


def Finalize() -> None:
    """Flush queued sends and mark the rank finished (also done at exit)."""
    _world().finalize()


def get_vendor() -> tuple[str, tuple[int, int, int]]:
    """(name, (major, minor, micro)) of the MPI implementation, as mpi4py's MPI.get_vendor()."""
    from . import __version__

    parts = [int(p) if p.isdigit() else 0 for p in __version__.split(".")[:3]]
    return ("toro_mpi", tuple((parts + [0, 0, 0])[:3]))  # type: ignore[return-value]


def Is_thread_main() -> bool:
    """Whether the caller is the main thread (green threads of a rank share it)."""
    import threading

    return threading.current_thread() is threading.main_thread()


def Pcontrol(level: int) -> None:
    """Profiling control: no profiler is attached to toro_mpi, so this does nothing (as MPI allows)."""


INFO_NULL = None  # toro_mpi takes no info hints; every call accepts and ignores them
BSEND_OVERHEAD = 0  # buffered sends copy into toro_mpi's own memory, not into the attached buffer


def _readonly(buf: _Any) -> bool:
    """Whether a buffer-protocol object is read-only (other buffers, DLPack ones say so later)."""
    try:
        return memoryview(buf).readonly
    except TypeError:
        return False


def Attach_buffer(buf: _Any) -> None:
    """Attach a buffer for buffered sends (accepted; toro_mpi buffers in its own memory)."""
    w = _world()
    if w.attached_buffer is not None:
        raise MPIException(ERR_BUFFER, "a buffer is already attached (Detach_buffer first)")
    if _readonly(buf):  # as mpi4py: the buffer must be writable
        raise _MPIBufferError(ERR_BUFFER, "Attach_buffer: the buffer is read-only")
    w.attached_buffer = buf


def Detach_buffer() -> _Any:
    """Wait until every buffered send has left; return the attached buffer."""
    w = _world()
    engine = w.engine
    pending, engine.buffered = engine.buffered, []
    Request.Waitall(pending)
    buf, w.attached_buffer = w.attached_buffer, None
    return buf


def Alloc_mem(size: int, info: _Any = None) -> memoryview:
    """size zeroed bytes in this rank's shared heap (`bus.heap_size`), as a writable memoryview.

    Sends from this memory of at least `bus.heap_threshold` bytes skip the copy through the ring:
    the receiver copies straight out of the heap. When the heap is full (or off, or the program
    runs without the launcher) the memory is ordinary process memory, which works the same, only
    without that shortcut."""
    try:
        size = _operator.index(size)
    except TypeError:
        raise MPIException(ERR_ARG, f"Alloc_mem: size must be an int, got {type(size).__name__}") from None
    if size < 0:
        raise MPIException(ERR_ARG, f"Alloc_mem: size must be >= 0, got {size}")
    block = _world().engine.alloc_mem(size) if size else None
    if block is not None:
        return memoryview(block)
    try:
        return memoryview(bytearray(size))
    except MemoryError:
        raise MPIException(ERR_OTHER, f"Alloc_mem: cannot allocate {size} bytes") from None


def Free_mem(mem: _Any) -> None:
    """Release memory from Alloc_mem. Heap memory goes back to the heap once nothing views it any
    more (at once, unless a slice of it or a send from it is still alive)."""
    if isinstance(mem, memoryview):
        try:
            mem.release()
        except BufferError:
            raise MPIException(ERR_BUFFER, "Free_mem: the memory is still exported (an array views it)") from None


class Pickle:
    """How object calls serialise (mpi4py's MPI.pickle): pickle protocol 5 by default, buffers of
    at least THRESHOLD bytes out of band; `Pickle(dumps, loads, protocol)` (or `__init__` on
    MPI.pickle) sets other functions, e.g. json or marshal, whose output travels in band."""

    def __init__(self, dumps: _Any = None, loads: _Any = None, protocol: _Any = None) -> None:
        _objects.SERIALIZER.configure(dumps, loads, protocol)

    @property
    def PROTOCOL(self) -> _Any:  # noqa: N802 - mpi4py's name
        """The protocol passed to dumps (None: the functions' own default)."""
        return _objects.SERIALIZER.protocol

    @PROTOCOL.setter
    def PROTOCOL(self, value: _Any) -> None:  # noqa: N802 - mpi4py's name
        s = _objects.SERIALIZER
        s.configure(s.user_dumps, s.user_loads, value)

    @property
    def THRESHOLD(self) -> int:  # noqa: N802 - mpi4py's name
        """Buffers of at least this many bytes travel out of band (default pickle, protocol 5)."""
        return _objects.SERIALIZER.threshold

    @THRESHOLD.setter
    def THRESHOLD(self, value: int) -> None:  # noqa: N802 - mpi4py's name
        _objects.SERIALIZER.threshold = _operator.index(value)

    def dumps(self, obj: _Any) -> bytes:
        """Serialise obj (in band) the way the object calls do."""
        return _objects.SERIALIZER.body(obj)

    def loads(self, data: _Any) -> _Any:
        """Deserialise data."""
        return _objects.SERIALIZER.load(data)


pickle = Pickle()


def __getattr__(name: str) -> _Any:
    """mpi4py names toro_mpi lacks: a stand-in class, or NotImplementedError naming the name."""
    if name in _CLASSES:
        return _stand_in(name)
    raise _not_implemented("MPI", name)


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
    "get_vendor", "Is_thread_main", "Pcontrol", "INFO_NULL", "BSEND_OVERHEAD", "Attach_buffer",
    "Detach_buffer", "Alloc_mem", "Free_mem", "pickle", "Pickle", "Prequest", "Errhandler",
    "ERRHANDLER_NULL", "ERRORS_RETURN", "ERRORS_ARE_FATAL", "ERRORS_ABORT",
    "Message", "MESSAGE_NULL", "MESSAGE_NO_PROC", "buffer", "memory",
]
