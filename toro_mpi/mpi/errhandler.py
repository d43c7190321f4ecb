"""Error handlers as mpi4py exposes them. toro_mpi always reports an error by raising
MPI.Exception (mpi4py's default ERRORS_RETURN behaviour); an uncaught one ends the rank and the
launcher aborts the job, which is what ERRORS_ARE_FATAL asks for. So a handler is recorded and
returned by Get_errhandler, and changes nothing else."""

from __future__ import annotations


class Errhandler:
    """A predefined error handler (user-defined ones are not supported)."""

    def __init__(self, name: str, null: bool = False) -> None:
        self._name = name
        self._null = null

    def Free(self) -> None:
        """Predefined handlers are never freed; this is a no-op, as in MPI."""

    def __bool__(self) -> bool:
        return not self._null

    def __repr__(self) -> str:
        return f"<Errhandler {self._name}>"


ERRHANDLER_NULL = Errhandler("MPI_ERRHANDLER_NULL", null=True)
ERRORS_RETURN = Errhandler("MPI_ERRORS_RETURN")
ERRORS_ARE_FATAL = Errhandler("MPI_ERRORS_ARE_FATAL")
ERRORS_ABORT = Errhandler("MPI_ERRORS_ABORT")
