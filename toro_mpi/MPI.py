"""The mpi4py-compatible surface: `from toro_mpi import MPI`, then use it as mpi4py's MPI module.

Importing this module initialises the rank (attaches to the launcher's bus), as importing
mpi4py.MPI calls MPI_Init.
"""

from __future__ import annotations

from operator import index as _index
from socket import gethostname as _gethostname
from sys import modules as _modules
from time import get_clock_info as _get_clock_info
from time import perf_counter as _perf_counter
from typing import Any as _Any

from . import errors as _errors
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
from .mpi import constants as _constants
from .mpi import datatypes as _dt
from .mpi import grequest as _grequest
from .mpi import intercomm as _intercomm
from .mpi import ops as _ops
from .mpi import session as _session
from .mpi.address import (
    Aint_add,
    Aint_diff,
    Get_abi_fortran_info,
    Get_abi_info,
    Get_abi_version,
    Get_address,
    Get_hw_resource_info,
)
from .mpi.buffers import IN_PLACE as _IN_PLACE
from .mpi.comm import KEYVAL_APPNUM as APPNUM
from .mpi.comm import KEYVAL_HOST as HOST
from .mpi.comm import KEYVAL_IO as IO
from .mpi.comm import KEYVAL_TAG_UB as TAG_UB
from .mpi.comm import KEYVAL_UNIVERSE_SIZE as UNIVERSE_SIZE
from .mpi.comm import KEYVAL_WTIME_IS_GLOBAL as WTIME_IS_GLOBAL
from .mpi.comm import Comm, Intracomm
from .mpi.comm_locks import _comm_lock, _comm_lock_table  # noqa: F401 - mpi4py's (pkl5 uses them)
from .mpi.comm_manage import name_comm_constants as _name_comm_constants
from .mpi.constants import ROOT
from .mpi.datatypes import DATATYPE_NULL, Datatype
from .mpi.docstrings import embed_signatures as _embed_signatures
from .mpi.errcodes import (
    Add_error_class,
    Add_error_code,
    Add_error_string,
    Remove_error_class,
    Remove_error_code,
    Remove_error_string,
)
from .mpi.errhandler import ERRHANDLER_NULL, ERRORS_ABORT, ERRORS_ARE_FATAL, ERRORS_RETURN, Errhandler
from .mpi.grequest import Grequest
from .mpi.groups import CONGRUENT, GROUP_EMPTY, GROUP_NULL, IDENT, SIMILAR, UNEQUAL, Group
from .mpi.handles import name_constants as _name_constants
from .mpi.info import INFO_NULL as _info_null
from .mpi.info import Info
from .mpi.info import make_env as _make_info_env
from .mpi.intercomm import Intercomm
from .mpi.memory import alloc_mem as _alloc_mem
from .mpi.memory import buffer, memory
from .mpi.memory import free_mem as _free_mem
from .mpi.message import MESSAGE_NO_PROC, MESSAGE_NULL, Message
from .mpi.mpi4py_names import CLASSES as _CLASSES
from .mpi.mpi4py_names import not_implemented as _not_implemented
from .mpi.mpi4py_names import stand_in as _stand_in
from .mpi.null_handles import FILE_NULL, File
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
from .mpi.pickler import Pickle, pickle
from .mpi.private_helpers import (  # noqa: F401 - mpi4py's MPI has them (its own modules use them)
    _addressof,
    _commctx_inter,
    _commctx_intra,
    _handleof,
    _sizeof,
)
from .mpi.request import REQUEST_NULL, UNDEFINED, Request, Status
from .mpi.session import Session
from .mpi.topocomm import Cartcomm, Distgraphcomm, Graphcomm, Topocomm
from .mpi.topology import CART, DIST_GRAPH, GRAPH, UNWEIGHTED, WEIGHTS_EMPTY, Compute_dims
from .mpi.window import WIN_NULL, Win
from .mpi.window import set_self_lookup as _set_win_self_lookup
from .runtime import world as _world

# Every error class, and the integer constants of mpi/constants.py.
globals().update({k: v for k, v in vars(_errors).items() if k.startswith("ERR_")})
globals().update({k: v for k, v in vars(_constants).items() if k.isupper()})
BufferAutomaticType = _constants.BufferAutomaticType
LASTUSEDCODE = _constants.LASTUSEDCODE

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
# Datatype constants, BOTTOM and Get_address: mpi/datatypes_surface.py.
from .mpi.datatypes_surface import *  # noqa: E402, F403
from .mpi.datatypes_surface import BOTTOM  # noqa: E402


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
COMM_NULL: Comm = Comm()
_name_comm_constants(globals())
_intercomm.set_world_lookup(lambda: COMM_WORLD)  # Intercomm.Create_from_groups: this rank's world
_set_win_self_lookup(lambda: COMM_SELF)  # Win.Create(..., comm=None): this rank's COMM_SELF
# Sessions and generalized requests look up the calling rank's world when used (hosted
# green-thread ranks swap it), not at import.
_session.set_whoami(lambda: (_world().rank, _world().size))
_grequest.set_engine_lookup(lambda: _world().engine)
_ops.set_rank_key(_world)  # user operators: mpi4py's limit of 32 counts per rank
SESSION_NULL: Session = Session()
for _cls in (Session, Grequest):
    _cls.__module__ = "toro_mpi.MPI"
_T0 = _perf_counter()


# Wall-clock time in seconds (monotonic, high resolution): the builtin itself rather than a Python
# function around it, because benchmarks call it around every timed operation.
Wtime = _perf_counter


def Wtick() -> float:
    """Resolution of Wtime in seconds."""
    return _get_clock_info("perf_counter").resolution


def Get_processor_name() -> str:
    """Host name of this machine."""
    return _gethostname()


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


def _deferred_init() -> bool:
    """Whether the program asked, through the mpi4py shim's `mpi4py.rc.initialize = False`, to
    call MPI.Init itself. The rank is attached at import all the same (it must be, to take part
    in the job); only what Is_initialized reports, and whether Init may be called, follow it."""
    shim = _modules.get("mpi4py")
    rc = getattr(shim, "rc", None) if getattr(shim, "TORO_SHIM", False) else None
    return rc is not None and getattr(rc, "initialize", True) is False


def Is_initialized() -> bool:
    """True once MPI is initialised: at import, or at Init/Init_thread with rc.initialize False."""
    return getattr(_world(), "mpi_initialized", True)


def Is_finalized() -> bool:
    """True after Finalize."""
    return _world().finalized


def Init() -> None:
    """Initialise MPI: only after `mpi4py.rc.initialize = False` (importing initialises otherwise,
    and initialising twice is an error, as in MPI)."""
    w = _world()
    if getattr(w, "mpi_initialized", True) or w.finalized:
        raise MPIException(ERR_OTHER, "MPI.Init: MPI is already initialized (set mpi4py.rc.initialize = False "
                                      "before importing MPI to initialise it yourself)")
    w.mpi_initialized = True


def Init_thread(required: int = THREAD_MULTIPLE) -> int:
    """Initialise MPI as Init does; returns the thread level provided (THREAD_SINGLE: a rank's
    green threads share one OS thread)."""
    Init()
    return THREAD_SINGLE


if _deferred_init():
    _world().mpi_initialized = False


def _delete_self_attributes() -> None:
    """What MPI_Finalize does first: delete COMM_SELF's attributes, running their delete
    callbacks (libraries hook their own finalisation there), once."""
    w = _world()
    if w.finalized or getattr(w, "self_attributes_deleted", False):
        return
    w.self_attributes_deleted = True
    globals()["COMM_SELF"]._delete_attrs()


def Finalize() -> None:
    """Delete COMM_SELF's attributes, flush queued sends and mark the rank finished. At exit the
    rank is finalised too, but, as under mpi4py (whose MPI_Finalize then runs after Python's
    teardown), without running Python delete callbacks."""
    _delete_self_attributes()
    _world().finalize()



def get_vendor() -> tuple[str, tuple[int, int, int]]:
    """Return (name, (major, minor, micro)) of the MPI implementation, as mpi4py's MPI.get_vendor()."""
    from . import __version__

    parts = [int(p) if p.isdigit() else 0 for p in __version__.split(".")[:3]]
    return ("toro_mpi", tuple((parts + [0, 0, 0])[:3]))  # type: ignore[return-value]


def Is_thread_main() -> bool:
    """Whether the caller is the main thread (green threads of a rank share it)."""
    import threading

    return threading.current_thread() is threading.main_thread()


def Pcontrol(level: int) -> None:
    """Profiling control: no profiler is attached to toro_mpi, so this does nothing (as MPI allows)."""


INFO_NULL: Info = _info_null
INFO_ENV: Info = _make_info_env(COMM_WORLD.size)
_name_constants(globals(), ["INFO_NULL", "INFO_ENV", "GROUP_NULL", "GROUP_EMPTY", "ERRHANDLER_NULL",
                            "ERRORS_RETURN", "ERRORS_ARE_FATAL", "ERRORS_ABORT", "FILE_NULL", "WIN_NULL",
                            "SESSION_NULL"])
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


def Alloc_mem(size: int, info: _Any = None) -> buffer:
    """Allocate size zeroed bytes in this rank's shared heap (`bus.heap_size`), as a writable MPI.buffer.

    Sends from this memory of at least `bus.heap_threshold` bytes skip the copy through the ring:
    the receiver copies straight out of the heap. When the heap is full (or off, or the program
    runs without the launcher) the memory is ordinary process memory, which works the same, only
    without that shortcut."""
    try:
        size = _index(size)
    except TypeError:
        raise MPIException(ERR_ARG, f"Alloc_mem: size must be an int, got {type(size).__name__}") from None
    if size < 0:
        raise MPIException(ERR_ARG, f"Alloc_mem: size must be >= 0, got {size}")
    block = _world().engine.alloc_mem(size) if size else None
    try:
        return _alloc_mem(block, size)
    except MemoryError:
        raise MPIException(ERR_OTHER, f"Alloc_mem: cannot allocate {size} bytes") from None


def Free_mem(mem: _Any) -> None:
    """Release memory from Alloc_mem. Heap memory goes back to the heap once nothing views it any
    more (at once, unless a slice of it or a send from it is still alive)."""
    if isinstance(mem, buffer):
        _free_mem(mem)
        return
    if isinstance(mem, memoryview):
        try:
            mem.release()
        except BufferError:
            raise MPIException(ERR_BUFFER, "Free_mem: the memory is still exported (an array views it)") from None


def __getattr__(name: str) -> _Any:
    """Name what toro_mpi lacks of mpi4py: a stand-in class, or NotImplementedError naming the name."""
    if name in _CLASSES:
        return _stand_in(name)
    raise _not_implemented("MPI", name)


__all__ = [
    "ANY_SOURCE", "ANY_TAG", "PROC_NULL", "TAG_UB", "HOST", "IO", "WTIME_IS_GLOBAL", "UNIVERSE_SIZE",
    "APPNUM", "UNDEFINED", "IN_PLACE", "BOTTOM",
    "COMM_WORLD", "COMM_SELF", "COMM_NULL", "REQUEST_NULL", "DATATYPE_NULL",
    "Comm", "Intracomm", "Intercomm", "ROOT", "Group", "IDENT", "CONGRUENT", "SIMILAR", "UNEQUAL",
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
    "Topocomm", "Cartcomm", "Graphcomm", "Distgraphcomm", "Compute_dims", "CART", "GRAPH", "DIST_GRAPH",
    "UNWEIGHTED", "WEIGHTS_EMPTY",
    "buffer", "memory",
]
__all__ += [
    "Info", "INFO_NULL", "INFO_ENV", "Group", "GROUP_NULL", "GROUP_EMPTY", "File", "FILE_NULL", "Win", "WIN_NULL",
    "Session", "SESSION_NULL", "Grequest", "Message", "MESSAGE_NULL", "MESSAGE_NO_PROC", "BufferAutomaticType",
    "LASTUSEDCODE",
    "Get_address", "Aint_add", "Aint_diff", "Get_hw_resource_info", "Get_abi_version", "Get_abi_info",
    "Get_abi_fortran_info", "Add_error_class", "Add_error_code", "Add_error_string", "Remove_error_class",
    "Remove_error_code", "Remove_error_string",
]
__all__ += sorted(k for k in globals() if k.startswith("ERR_") and k not in __all__)
__all__ += sorted(k for k in vars(_constants) if k.isupper() and k not in __all__)
# No module objects in the namespace, as in mpi4py's MPI (tools walking it, e.g. mpi4py's
# test_doc, recurse into modules): what the functions above need at run time is bound by name.
del _errors, _constants, _dt, _grequest, _intercomm, _ops, _session
_embed_signatures(globals())  # mpi4py's docstring layout: a signature line, then the description
