"""MPI error classes and the exception every public call raises on bad input or a failed job."""

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


def Get_error_string(errorcode: int) -> str:
    """Text for an error code, as MPI_Error_string."""
    return ERROR_NAMES.get(int(errorcode), f"unknown error code {errorcode}")


def Get_error_class(errorcode: int) -> int:
    """Error class of an error code (codes are classes here)."""
    return int(errorcode)
