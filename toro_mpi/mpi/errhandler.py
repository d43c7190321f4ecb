"""Error handlers as mpi4py exposes them. toro_mpi always reports an error by raising
MPI.Exception (mpi4py's default ERRORS_RETURN behaviour); an uncaught one ends the rank and the
launcher aborts the job, which is what ERRORS_ARE_FATAL asks for. So a handler is recorded and
returned by Get_errhandler, and changes nothing else.

Errhandler objects follow mpi4py's handle model (handles.py): Errhandler() is ERRHANDLER_NULL,
Get_errhandler returns a new handle that Free releases. User handlers (Comm.Create_errhandler)
run when the program calls Call_errhandler; an error inside a toro_mpi call raises MPI.Exception
whatever the handler (mpi4py's errors="exception" default). As in mpi4py, at most MAX_USER
user handlers of a class exist at a time (RuntimeError past that)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ERR_ARG, MPIException
from .handles import Handle, Ref

MAX_USER = 32  # user error handlers alive at a time, per class (mpi4py's limit)


class _Predefined(str):
    """An error handler's state: its MPI name."""


class _UserHandler:
    """A user error handler's state: the function fn(obj, errorcode) and the class it is for."""

    __slots__ = ("fn", "kind")

    def __init__(self, fn: Callable[[Any, int], None], kind: str) -> None:
        self.fn = fn
        self.kind = kind


_live: dict[str, set[int]] = {}  # per class: the integer handles of the live user handlers


class Errhandler(Handle):
    """An error handler (the predefined ones; user-defined ones are not supported)."""

    _kind = "Errhandler"

    @classmethod
    def _state_type(cls) -> tuple[type, ...]:
        return (_Predefined, _UserHandler)

    @classmethod
    def _create(cls, fn: Callable[[Any, int], None], kind: str) -> Errhandler:
        """A user error handler calling fn(obj, errorcode), for objects of the class `kind`."""
        if not callable(fn):
            raise TypeError(f"Create_errhandler: expected a callable, got {type(fn).__name__}")
        live = _live.setdefault(kind, set())
        if len(live) >= MAX_USER:
            raise RuntimeError(f"cannot create more than {MAX_USER} user-defined error handlers for MPI.{kind}")
        eh = cls._new(Ref(_UserHandler(fn, kind)))
        live.add(eh._ref.id)
        return eh

    def _invoke(self, obj: Any, errorcode: int) -> None:
        """What the handler does for an error on obj: call a user function, abort for the
        fatal predefined ones, nothing for ERRORS_RETURN."""
        state = self._ref.state if self._ref is not None else None
        if isinstance(state, _UserHandler):
            state.fn(obj, errorcode)
        elif state in ("MPI_ERRORS_ARE_FATAL", "MPI_ERRORS_ABORT"):
            obj.Abort(int(errorcode))

    def _free(self, ref: Ref) -> None:
        if isinstance(ref.state, _UserHandler):
            _live.get(ref.state.kind, set()).discard(ref.id)

    def _pickle(self) -> Any:
        raise ValueError("cannot serialize a user-defined MPI.Errhandler")

    @classmethod
    def _predefined(cls, name: str) -> Errhandler:
        return cls._new(Ref(_Predefined(name), predefined=True))

    def Free(self) -> None:
        """Release this handle (it becomes ERRHANDLER_NULL); the predefined handler stays."""
        if self._ref is None:
            raise MPIException(ERR_ARG, "Free: invalid error handler (MPI.ERRHANDLER_NULL)")
        if self._const is None:
            self.free()

    def __repr__(self) -> str:
        return f"<Errhandler {self._ref.state if self._ref is not None else 'MPI_ERRHANDLER_NULL'}>"


ERRHANDLER_NULL = Errhandler()
ERRORS_RETURN = Errhandler._predefined("MPI_ERRORS_RETURN")
ERRORS_ARE_FATAL = Errhandler._predefined("MPI_ERRORS_ARE_FATAL")
ERRORS_ABORT = Errhandler._predefined("MPI_ERRORS_ABORT")
