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
ERR_PROC_ABORTED = 74
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
}


class MPIException(RuntimeError):
    """An MPI error: `Get_error_class()` tells which (ERR_RANK, ERR_TRUNCATE, ...)."""

    def __init__(self, error_class: int, message: str = "") -> None:
        self.error_class = int(error_class)
        self.error_code = int(error_class)
        name = ERROR_NAMES.get(self.error_class, f"error {self.error_class}")
        self.message = message
        super().__init__(f"{name}: {message}" if message else name)

    def Get_error_class(self) -> int:
        """The MPI error class of this error."""
        return self.error_class

    def Get_error_code(self) -> int:
        """The MPI error code (equal to the class here)."""
        return self.error_code

    def Get_error_string(self) -> str:
        """Human-readable text of this error."""
        return str(self)

    def __int__(self) -> int:
        return self.error_code

    def __eq__(self, other: object) -> bool:
        if isinstance(other, int):
            return self.error_code == other
        return NotImplemented

    __hash__ = RuntimeError.__hash__
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
    """Text for an error code, as MPI_Error_string."""
    return ERROR_NAMES.get(int(errorcode), f"unknown error code {errorcode}")


def Get_error_class(errorcode: int) -> int:
    """Error class of an error code (codes are classes here)."""
    return int(errorcode)
