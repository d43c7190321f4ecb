"""MPI error classes and the exceptions public calls raise on bad input or a failed job.

MPI errors raise `MPIException` (mpi4py's `MPI.Exception`). Errors in a call's Python arguments
that mpi4py reports with Python's own exceptions (a buffer spec it cannot parse, a read-only
receive buffer, counts that do not fit) raise a subclass that is both: an `MPIException` with its
MPI error class, and the `TypeError`, `ValueError`, `BufferError` or `KeyError` mpi4py raises
there, so a program catches it either way.

This module is the bottom of the layers (README "Architecture"): every layer raises these, so it
imports nothing of toro_mpi. `toro_mpi.MPI` re-exports its public names.
"""

from __future__ import annotations

SUCCESS = 0
ERR_BUFFER = 1
ERR_COUNT = 2
ERR_TYPE = 3
ERR_TAG = 4
ERR_COMM = 5
ERR_RANK = 6
ERR_REQUEST = 7
ERR_ROOT = 8
ERR_GROUP = 9
ERR_OP = 10
ERR_TOPOLOGY = 11
ERR_DIMS = 12
ERR_ARG = 13
ERR_UNKNOWN = 14
ERR_TRUNCATE = 15
ERR_OTHER = 16
ERR_INTERN = 17
ERR_IN_STATUS = 18
ERR_PENDING = 19
ERR_ACCESS = 20
ERR_AMODE = 21
ERR_ASSERT = 22
ERR_BAD_FILE = 23
ERR_BASE = 24
ERR_CONVERSION = 25
ERR_DISP = 26
ERR_DUP_DATAREP = 27
ERR_FILE_EXISTS = 28
ERR_FILE_IN_USE = 29
ERR_FILE = 30
ERR_INFO_KEY = 31
ERR_INFO_NOKEY = 32
ERR_INFO_VALUE = 33
ERR_INFO = 34
ERR_IO = 35
ERR_KEYVAL = 36
ERR_LOCKTYPE = 37
ERR_NAME = 38
ERR_NO_MEM = 39
ERR_NOT_SAME = 40
ERR_NO_SPACE = 41
ERR_NO_SUCH_FILE = 42
ERR_PORT = 43
ERR_QUOTA = 44
ERR_READ_ONLY = 45
ERR_RMA_CONFLICT = 46
ERR_RMA_SYNC = 47
ERR_SERVICE = 48
ERR_SIZE = 49
ERR_SPAWN = 50
ERR_UNSUPPORTED_DATAREP = 51
ERR_UNSUPPORTED_OPERATION = 52
ERR_WIN = 53
ERR_RMA_RANGE = 68
ERR_RMA_ATTACH = 69
ERR_RMA_FLAVOR = 70
ERR_RMA_SHARED = 71
ERR_PROC_ABORTED = 74
ERR_PROC_FAILED = 75
ERR_PROC_FAILED_PENDING = 76
ERR_REVOKED = 77
ERR_SESSION = 78
ERR_VALUE_TOO_LARGE = 79
# MPI-4.1 classes Open MPI 5 lacks (mpi4py maps them to its ERR_LASTCODE there): own values here.
ERR_ERRHANDLER = 80
ERR_ABI = 81
ERR_LASTCODE = 92

ERROR_NAMES = {
    SUCCESS: "MPI_SUCCESS",
    ERR_BUFFER: "MPI_ERR_BUFFER",
    ERR_COUNT: "MPI_ERR_COUNT",
    ERR_TYPE: "MPI_ERR_TYPE",
    ERR_TAG: "MPI_ERR_TAG",
    ERR_COMM: "MPI_ERR_COMM",
    ERR_RANK: "MPI_ERR_RANK",
    ERR_REQUEST: "MPI_ERR_REQUEST",
    ERR_ROOT: "MPI_ERR_ROOT",
    ERR_GROUP: "MPI_ERR_GROUP",
    ERR_OP: "MPI_ERR_OP",
    ERR_TOPOLOGY: "MPI_ERR_TOPOLOGY",
    ERR_DIMS: "MPI_ERR_DIMS",
    ERR_ARG: "MPI_ERR_ARG",
    ERR_UNKNOWN: "MPI_ERR_UNKNOWN",
    ERR_TRUNCATE: "MPI_ERR_TRUNCATE",
    ERR_OTHER: "MPI_ERR_OTHER",
    ERR_INTERN: "MPI_ERR_INTERN",
    ERR_IN_STATUS: "MPI_ERR_IN_STATUS",
    ERR_PENDING: "MPI_ERR_PENDING",
    ERR_PROC_ABORTED: "MPI_ERR_PROC_ABORTED",
    ERR_ACCESS: "MPI_ERR_ACCESS",
    ERR_AMODE: "MPI_ERR_AMODE",
    ERR_ASSERT: "MPI_ERR_ASSERT",
    ERR_BAD_FILE: "MPI_ERR_BAD_FILE",
    ERR_BASE: "MPI_ERR_BASE",
    ERR_CONVERSION: "MPI_ERR_CONVERSION",
    ERR_DISP: "MPI_ERR_DISP",
    ERR_DUP_DATAREP: "MPI_ERR_DUP_DATAREP",
    ERR_FILE_EXISTS: "MPI_ERR_FILE_EXISTS",
    ERR_FILE_IN_USE: "MPI_ERR_FILE_IN_USE",
    ERR_FILE: "MPI_ERR_FILE",
    ERR_INFO_KEY: "MPI_ERR_INFO_KEY",
    ERR_INFO_NOKEY: "MPI_ERR_INFO_NOKEY",
    ERR_INFO_VALUE: "MPI_ERR_INFO_VALUE",
    ERR_INFO: "MPI_ERR_INFO",
    ERR_IO: "MPI_ERR_IO",
    ERR_KEYVAL: "MPI_ERR_KEYVAL",
    ERR_LOCKTYPE: "MPI_ERR_LOCKTYPE",
    ERR_NAME: "MPI_ERR_NAME",
    ERR_NO_MEM: "MPI_ERR_NO_MEM",
    ERR_NOT_SAME: "MPI_ERR_NOT_SAME",
    ERR_NO_SPACE: "MPI_ERR_NO_SPACE",
    ERR_NO_SUCH_FILE: "MPI_ERR_NO_SUCH_FILE",
    ERR_PORT: "MPI_ERR_PORT",
    ERR_QUOTA: "MPI_ERR_QUOTA",
    ERR_READ_ONLY: "MPI_ERR_READ_ONLY",
    ERR_RMA_CONFLICT: "MPI_ERR_RMA_CONFLICT",
    ERR_RMA_SYNC: "MPI_ERR_RMA_SYNC",
    ERR_SERVICE: "MPI_ERR_SERVICE",
    ERR_SIZE: "MPI_ERR_SIZE",
    ERR_SPAWN: "MPI_ERR_SPAWN",
    ERR_UNSUPPORTED_DATAREP: "MPI_ERR_UNSUPPORTED_DATAREP",
    ERR_UNSUPPORTED_OPERATION: "MPI_ERR_UNSUPPORTED_OPERATION",
    ERR_WIN: "MPI_ERR_WIN",
    ERR_RMA_RANGE: "MPI_ERR_RMA_RANGE",
    ERR_RMA_ATTACH: "MPI_ERR_RMA_ATTACH",
    ERR_RMA_FLAVOR: "MPI_ERR_RMA_FLAVOR",
    ERR_RMA_SHARED: "MPI_ERR_RMA_SHARED",
    ERR_PROC_FAILED: "MPI_ERR_PROC_FAILED",
    ERR_PROC_FAILED_PENDING: "MPI_ERR_PROC_FAILED_PENDING",
    ERR_REVOKED: "MPI_ERR_REVOKED",
    ERR_SESSION: "MPI_ERR_SESSION",
    ERR_VALUE_TOO_LARGE: "MPI_ERR_VALUE_TOO_LARGE",
    ERR_ERRHANDLER: "MPI_ERR_ERRHANDLER",
    ERR_ABI: "MPI_ERR_ABI",
}
# Error classes and codes a program added (Add_error_class/code, toro_mpi/mpi/errcodes.py): code ->
# its class, and the strings set for them (Add_error_string); both start empty.
USER_CODES: dict[int, int] = {}
USER_STRINGS: dict[int, str] = {}


class MPIException(RuntimeError):
    """An MPI error: `Get_error_class()` tells which (ERR_RANK, ERR_TRUNCATE, ...).

    As mpi4py's MPI.Exception it compares, orders and hashes as its error code, is false for
    SUCCESS, and a code outside SUCCESS..ERR_LASTCODE that nobody added stands for ERR_UNKNOWN."""

    def __init__(self, error_class: int = ERR_UNKNOWN, message: str = "") -> None:
        code = int(error_class)
        if code < SUCCESS or (code > ERR_LASTCODE and code not in USER_CODES):
            code = ERR_UNKNOWN if code < SUCCESS else code
        self.error_code = code
        self.error_class = Get_error_class(code)
        self.message = message
        name = Get_error_string(code)
        super().__init__(f"{name}: {message}" if message else name)

    @property
    def error_string(self) -> str:
        """Human-readable text of this error (mpi4py's attribute)."""
        return self.Get_error_string()

    def Get_error_class(self) -> int:
        """The MPI error class of this error."""
        return self.error_class

    def Get_error_code(self) -> int:
        """The MPI error code (the class, unless the code was added with Add_error_code)."""
        return self.error_code

    def Get_error_string(self) -> str:
        """Human-readable text of this error."""
        return str(self)

    def __int__(self) -> int:
        return self.error_code

    def __bool__(self) -> bool:
        return self.error_code != SUCCESS

    def __repr__(self) -> str:
        return f"MPI.Exception({self.error_code})"

    def _code(self, other: object) -> int | None:
        if isinstance(other, MPIException):
            return other.error_code
        if isinstance(other, int):
            return other
        return None

    def __eq__(self, other: object) -> bool:
        code = self._code(other)
        return NotImplemented if code is None else self.error_code == code

    def __ne__(self, other: object) -> bool:
        code = self._code(other)
        return NotImplemented if code is None else self.error_code != code

    def __lt__(self, other: object) -> bool:
        code = self._code(other)
        return NotImplemented if code is None else self.error_code < code

    def __le__(self, other: object) -> bool:
        code = self._code(other)
        return NotImplemented if code is None else self.error_code <= code

    def __gt__(self, other: object) -> bool:
        code = self._code(other)
        return NotImplemented if code is None else self.error_code > code

    def __ge__(self, other: object) -> bool:
        code = self._code(other)
        return NotImplemented if code is None else self.error_code >= code

    def __hash__(self) -> int:
        return hash(self.error_code)

    # The plain message even where a Python base class formats its own (KeyError quotes it).
    __str__ = BaseException.__str__


class MPITypeError(MPIException, TypeError):
    """An argument of the wrong kind (not a buffer, a count that is not an integer): mpi4py's TypeError."""


class MPIValueError(MPIException, ValueError):
    """A buffer spec with bad counts, displacements or items: mpi4py's ValueError."""


class MPIBufferError(MPIException, BufferError):
    """A buffer that cannot serve (read-only receive buffer, memory not on the host): mpi4py's BufferError."""


class MPIKeyError(MPIException, KeyError):
    """A datatype key that names no MPI datatype (an unknown typecode): mpi4py's KeyError."""


def Get_error_string(errorcode: int) -> str:
    """Text for an error code, as MPI_Error_string (an added code's string, "" until one is set)."""
    code = int(errorcode)
    if code in USER_CODES:
        return USER_STRINGS.get(code, "")
    return ERROR_NAMES.get(code, f"MPI_ERR_UNKNOWN: unknown error code {code}")


def Get_error_class(errorcode: int) -> int:
    """Error class of an error code: predefined codes are their own class, an added code has the
    class it was added to, anything else is ERR_UNKNOWN."""
    code = int(errorcode)
    if code in USER_CODES:
        return USER_CODES[code]
    if SUCCESS <= code <= ERR_LASTCODE:
        return code
    return ERR_UNKNOWN
