"""Error handlers as mpi4py exposes them. toro_mpi always reports an error by raising
MPI.Exception (mpi4py's default ERRORS_RETURN behaviour); an uncaught one ends the rank and the
launcher aborts the job, which is what ERRORS_ARE_FATAL asks for. So a handler is recorded and
returned by Get_errhandler, and changes nothing else.

Errhandler objects follow mpi4py's handle model (handles.py): Errhandler() is ERRHANDLER_NULL,
Get_errhandler returns a new handle that Free releases."""

from __future__ import annotations

from ..errors import ERR_ARG, MPIException
from .handles import Handle, Ref


class _Predefined(str):
    """An error handler's state: its MPI name."""


class Errhandler(Handle):
    """An error handler (the predefined ones; user-defined ones are not supported)."""

    _kind = "Errhandler"

    @classmethod
    def _state_type(cls) -> type:
        return _Predefined

    @classmethod
    def _predefined(cls, name: str) -> Errhandler:
        return cls._new(Ref(_Predefined(name), predefined=True))

    def Free(self) -> None:
        """Release this handle (it becomes ERRHANDLER_NULL); the predefined handler stays."""
        if self._ref is None:
            raise MPIException(ERR_ARG, "Free: invalid error handler (MPI.ERRHANDLER_NULL)")
        if self._const is None:
            self._ref = None

    def __repr__(self) -> str:
        return f"<Errhandler {self._ref.state if self._ref is not None else 'MPI_ERRHANDLER_NULL'}>"


ERRHANDLER_NULL = Errhandler()
ERRORS_RETURN = Errhandler._predefined("MPI_ERRORS_RETURN")
ERRORS_ARE_FATAL = Errhandler._predefined("MPI_ERRORS_ARE_FATAL")
ERRORS_ABORT = Errhandler._predefined("MPI_ERRORS_ABORT")
