"""Handle classes of the features toro_mpi does not implement (MPI.File), so that
their null handles (FILE_NULL) exist and behave as mpi4py's:
programs and tests name them in comparisons and tables. Every call on these classes raises
NotImplementedError naming it."""

from __future__ import annotations

from typing import Any

from .handles import Handle
from .mpi4py_names import NotImplementedName


class _Unimplemented(type):
    """Metaclass: class attributes mpi4py has and these classes lack name what is missing."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotImplementedName(f"MPI.{cls._kind}.{name} is not implemented by toro_mpi")


class _NullOnly(Handle, metaclass=_Unimplemented):
    """A handle class of which toro_mpi has only the null (and predefined) handles."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotImplementedName(f"MPI.{self._kind}.{name} is not implemented by toro_mpi")

    def __repr__(self) -> str:
        return f"<{self._kind} {'MPI_' + self._kind.upper() + '_NULL' if self._ref is None else self._ref.name}>"


class File(_NullOnly):
    """MPI-IO files: not implemented by toro_mpi (MPI.File() is FILE_NULL)."""

    _kind = "File"


File.__module__ = "toro_mpi.MPI"

FILE_NULL = File()
