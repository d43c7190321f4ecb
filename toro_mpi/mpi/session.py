"""MPI-4 sessions (`MPI.Session`): a handle through which a program asks for the process sets
("psets") it may build groups and communicators from, without touching COMM_WORLD.

toro_mpi's job is one set of processes, so a session offers the two process sets every MPI
implementation must: "mpi://WORLD" (every rank of the job) and "mpi://SELF" (the caller).
`Session.Create_group(name)` (or `Group.Create_from_session_pset`) gives the group, and
`Intracomm.Create_from_group(group)` the communicator. Sessions hold no other state, so
initialising one is cheap and finalising it releases nothing but the handle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ERR_ARG, ERR_SESSION, MPIException
from .errhandler import ERRORS_RETURN, Errhandler, ErrhandlerMixin, guard_class
from .groups import Group
from .handles import Handle, Ref
from .info import Info
from .request import Request

WORLD = "mpi://WORLD"
SELF = "mpi://SELF"
_PSETS = (WORLD, SELF)

# The caller's (world rank, world size): MPI.py installs it, as the world is per rank (hosted
# green-thread ranks swap it) and this layer does not import the runtime.
_whoami: Callable[[], tuple[int, int]] = lambda: (0, 1)  # noqa: E731 - replaced at import of MPI


def set_whoami(lookup: Callable[[], tuple[int, int]]) -> None:
    """Install the function giving this rank's (world rank, world size)."""
    global _whoami
    _whoami = lookup


class _SessionState:
    __slots__ = ("errhandler", "buffer")

    def __init__(self, errhandler: Errhandler) -> None:
        self.errhandler = errhandler
        self.buffer: Any = None


class Session(ErrhandlerMixin, Handle):
    """An MPI session (MPI-4). `Session()` is SESSION_NULL; `Session.Init()` starts one.

    Its error handler (Create/Get/Set/Call_errhandler, errhandler.py) runs when one of its calls
    fails; every session starts with ERRORS_RETURN, whatever Init is given, as under mpi4py (its
    rc.errors option sets ERRORS_RETURN on every session it initialises)."""

    _kind = "Session"
    _errh_kind = "Session"

    @classmethod
    def _state_type(cls) -> type:
        return _SessionState

    @classmethod
    def Init(cls, info: Any = None, errhandler: Errhandler | None = None) -> Session:
        """Start a session (info hints are accepted and ignored)."""
        if errhandler is not None and not isinstance(errhandler, Errhandler):
            raise TypeError("Argument 'errhandler' has incorrect type (expected Errhandler, "
                            f"got {type(errhandler).__name__})")
        return cls._new(Ref(_SessionState(Errhandler(ERRORS_RETURN))))

    def _state(self) -> _SessionState:
        if self._ref is None:
            raise MPIException(ERR_SESSION, "invalid session (MPI.SESSION_NULL)")
        return self._ref.state

    def _errh_check(self) -> None:
        self._state()

    @property
    def _errhandler(self) -> Errhandler:
        """The session's error handler (errhandler.py's protocol)."""
        return self._state().errhandler

    @_errhandler.setter
    def _errhandler(self, errhandler: Errhandler) -> None:
        self._state().errhandler = errhandler

    def Finalize(self) -> None:
        """End the session: this handle becomes SESSION_NULL."""
        self._state()
        self._ref = None

    def Get_num_psets(self, info: Any = None) -> int:
        """The number of process sets this session offers."""
        self._state()
        return len(_PSETS)

    def Get_nth_pset(self, n: int, info: Any = None) -> str:
        """The name of process set n (0 <= n < Get_num_psets())."""
        self._state()
        if not 0 <= int(n) < len(_PSETS):
            raise MPIException(ERR_ARG, f"Get_nth_pset: n must be in 0..{len(_PSETS) - 1}, got {n}")
        return _PSETS[int(n)]

    def _pset_size(self, pset_name: str) -> int:
        self._state()
        if pset_name == WORLD:
            return _whoami()[1]
        if pset_name == SELF:
            return 1
        raise MPIException(ERR_ARG, f"unknown process set {pset_name!r} (this job has {', '.join(_PSETS)})")

    def Get_pset_info(self, pset_name: str) -> Info:
        """Info of a process set: its size under the key "mpi_size"."""
        return Info.Create({"mpi_size": str(self._pset_size(pset_name))})

    def Get_info(self) -> Info:
        """The session's info: the thread support it provides."""
        self._state()
        return Info.Create({"thread_level": "MPI_THREAD_SINGLE"})

    def Create_group(self, pset_name: str) -> Group:
        """The group of a process set."""
        size = self._pset_size(pset_name)
        rank = _whoami()[0]
        return Group(list(range(size)), rank) if pset_name == WORLD else Group([rank], rank)

    def Attach_buffer(self, buf: Any) -> None:
        """Attach a buffer for buffered sends (accepted; sends are buffered in toro_mpi's memory)."""
        state = self._state()
        if state.buffer is not None:
            raise MPIException(ERR_ARG, "Session.Attach_buffer: a buffer is already attached")
        state.buffer = buf

    def Detach_buffer(self) -> Any:
        """Detach and return the attached buffer."""
        state = self._state()
        buf, state.buffer = state.buffer, None
        return buf

    def Flush_buffer(self) -> None:
        """Buffered sends leave at once here: nothing to flush."""
        self._state()

    def Iflush_buffer(self) -> Request:
        """Buffered sends leave at once here: a request that is already complete."""
        self._state()
        return Request()

    def __repr__(self) -> str:
        return "<Session MPI_SESSION_NULL>" if self._ref is None else f"<Session {self._ref.id}>"


# A session's calls are not hot: they are guarded once, in the class (errhandler.py).
guard_class(Session)


def group_from_session_pset(session: Session, pset_name: str) -> Group:
    """MPI.Group.Create_from_session_pset(session, pset_name)."""
    if not isinstance(session, Session):
        raise TypeError(f"expected Session, got {type(session).__name__}")
    return session.Create_group(pset_name)
