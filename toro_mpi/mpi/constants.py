"""mpi4py's module-level integer constants that are not error classes (those are in
toro_mpi.errors), datatype constants (datatypes' owner) or topology kinds (topology.py).

Values are those mpi4py 4.1.2 shows over Open MPI 5, so a program printing them, or comparing
results against the reference, sees the same numbers. Constants of features toro_mpi does not
implement (windows, files, sessions) are defined all the same: programs name them in tables and
`if` tests, and only the calls themselves raise NotImplementedError.
"""

from __future__ import annotations

ROOT = -4  # the root's own group in an intercommunicator collective
KEYVAL_INVALID = -1
LASTUSEDCODE = 7  # attribute key: the largest error code in use (COMM_WORLD.Get_attr); = comm.LASTUSEDCODE

# Communicator split types (Comm.Split_type).
COMM_TYPE_SHARED = 0
COMM_TYPE_HW_UNGUIDED = 12
COMM_TYPE_HW_GUIDED = 13
COMM_TYPE_RESOURCE_GUIDED = -32766  # Open MPI lacks it: mpi4py gives UNDEFINED

# String limits.
MAX_PROCESSOR_NAME = 256
MAX_ERROR_STRING = 256
MAX_PORT_NAME = 1024
MAX_INFO_KEY = 36
MAX_INFO_VAL = 256
MAX_OBJECT_NAME = 64
MAX_DATAREP_STRING = 128
MAX_LIBRARY_VERSION_STRING = 256
MAX_PSET_NAME_LEN = 512
MAX_STRINGTAG_LEN = 1024

# Fortran status layout (Status.py2f).
F_SOURCE = 0
F_TAG = 1
F_ERROR = 2
F_STATUS_SIZE = 6

# One-sided communication (MPI.Win, not implemented by toro_mpi: issue #22).
WIN_BASE = 7
WIN_SIZE = 8
WIN_DISP_UNIT = 9
WIN_CREATE_FLAVOR = 10
WIN_FLAVOR = 10
WIN_MODEL = 11
WIN_FLAVOR_CREATE = 1
WIN_FLAVOR_ALLOCATE = 2
WIN_FLAVOR_DYNAMIC = 3
WIN_FLAVOR_SHARED = 4
WIN_SEPARATE = 1
WIN_UNIFIED = 0
MODE_NOCHECK = 1
MODE_NOSTORE = 8
MODE_NOPUT = 4
MODE_NOPRECEDE = 2
MODE_NOSUCCEED = 16
LOCK_EXCLUSIVE = 1
LOCK_SHARED = 2

# Parallel I/O (MPI.File, not implemented by toro_mpi).
MODE_RDONLY = 2
MODE_WRONLY = 4
MODE_RDWR = 8
MODE_CREATE = 1
MODE_EXCL = 64
MODE_DELETE_ON_CLOSE = 16
MODE_UNIQUE_OPEN = 32
MODE_SEQUENTIAL = 256
MODE_APPEND = 128
SEEK_SET = 600
SEEK_CUR = 602
SEEK_END = 604
DISPLACEMENT_CURRENT = -54278278
DISP_CUR = DISPLACEMENT_CURRENT


class BufferAutomaticType(bytes):
    """The type of MPI.BUFFER_AUTOMATIC: Attach_buffer(BUFFER_AUTOMATIC) lets MPI buffer as it
    needs, which is what toro_mpi's buffered sends always do. As in mpi4py it is an empty buffer
    that compares, hashes and converts as the integer 0, but does no arithmetic."""

    def __new__(cls) -> BufferAutomaticType:
        return super().__new__(cls)

    def __int__(self) -> int:
        return 0

    __index__ = __int__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (BufferAutomaticType, int)):
            return int(other) == 0
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(0)

    def __repr__(self) -> str:
        return "BUFFER_AUTOMATIC"

    __str__ = __repr__

    def __reduce__(self) -> str:
        return "BUFFER_AUTOMATIC"


BufferAutomaticType.__module__ = "toro_mpi.MPI"
BUFFER_AUTOMATIC = BufferAutomaticType()
