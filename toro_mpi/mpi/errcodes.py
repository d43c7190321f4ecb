"""Error classes, codes and strings a program adds (MPI_Add_error_class/code/string and their
MPI-4.1 Remove_* counterparts).

The registry lives in toro_mpi.errors (USER_CODES, USER_STRINGS) so that Get_error_class,
Get_error_string and MPI.Exception, at the bottom of the layers, see added codes too. Codes are
numbered from ERR_LASTCODE up, as in MPI; `last_used()` is what COMM_WORLD's LASTUSEDCODE
attribute reports. Codes are local to the rank that adds them (MPI makes Add_error_class local too).
"""

from __future__ import annotations

import operator

from ..errors import (
    ERR_ARG,
    ERR_LASTCODE,
    ERROR_NAMES,
    SUCCESS,
    USER_CODES,
    USER_STRINGS,
    MPIException,
)

_last = [ERR_LASTCODE]  # the largest code handed out so far


def _code(value: object, what: str) -> int:
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what}: an error code must be an int, got {type(value).__name__}") from None


def last_used() -> int:
    """The largest error code or class in use (MPI's LASTUSEDCODE attribute)."""
    return _last[0]


def Add_error_class() -> int:
    """A new error class (its string is "" until Add_error_string sets one)."""
    _last[0] += 1
    code = _last[0]
    USER_CODES[code] = code
    return code


def Add_error_code(errorclass: int) -> int:
    """A new error code of an added (or predefined) error class."""
    errorclass = _code(errorclass, "Add_error_code")
    if errorclass not in ERROR_NAMES and USER_CODES.get(errorclass) != errorclass:
        raise MPIException(ERR_ARG, f"Add_error_code: {errorclass} is not an error class")
    _last[0] += 1
    code = _last[0]
    USER_CODES[code] = errorclass
    return code


def Add_error_string(errorcode: int, string: str) -> None:
    """Set the string of an added error class or code."""
    errorcode = _code(errorcode, "Add_error_string")
    if errorcode not in USER_CODES:
        raise MPIException(ERR_ARG, f"Add_error_string: {errorcode} is not an added error class or code")
    USER_STRINGS[errorcode] = str(string)


def Remove_error_class(errorclass: int) -> None:
    """Remove an added error class: it must have no codes and no string left."""
    errorclass = _code(errorclass, "Remove_error_class")
    if USER_CODES.get(errorclass) != errorclass or errorclass <= ERR_LASTCODE:
        raise MPIException(ERR_ARG, f"Remove_error_class: {errorclass} is not an added error class")
    if errorclass in USER_STRINGS:
        raise MPIException(ERR_ARG, f"Remove_error_class: error class {errorclass} still has a string")
    if any(cls == errorclass and code != errorclass for code, cls in USER_CODES.items()):
        raise MPIException(ERR_ARG, f"Remove_error_class: error class {errorclass} still has error codes")
    del USER_CODES[errorclass]


def Remove_error_code(errorcode: int) -> None:
    """Remove an added error code: its string must have been removed first."""
    errorcode = _code(errorcode, "Remove_error_code")
    if errorcode not in USER_CODES or USER_CODES[errorcode] == errorcode:
        raise MPIException(ERR_ARG, f"Remove_error_code: {errorcode} is not an added error code")
    if errorcode in USER_STRINGS:
        raise MPIException(ERR_ARG, f"Remove_error_code: error code {errorcode} still has a string")
    del USER_CODES[errorcode]


def Remove_error_string(errorcode: int) -> None:
    """Remove the string of an added error class or code."""
    errorcode = _code(errorcode, "Remove_error_string")
    if errorcode == SUCCESS or errorcode not in USER_CODES:
        raise MPIException(ERR_ARG, f"Remove_error_string: {errorcode} is not an added error class or code")
    USER_STRINGS.pop(errorcode, None)
