"""Persistent requests (MPI's *_init calls): a Prequest starts the same operation again and again.

A Prequest is inactive until Start; Wait/Test complete the current operation and leave it
inactive again, not null: it compares equal to REQUEST_NULL only once freed. Each Start issues
the matching nonblocking call (Isend, Irecv, ...), so a persistent request moves its messages
exactly like those calls do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..errors import ERR_REQUEST, MPIException
from .p2p import RecvReq
from .request import Request, Status


class Prequest(Request):
    """A persistent request (mpi4py's MPI.Prequest)."""

    def __init__(self, start: Callable[[], Request] | Prequest | None = None) -> None:
        if isinstance(start, Request):
            if isinstance(start, Prequest):
                super().__init__(start)  # MPI.Prequest(prequest): another handle to the same request
                return
            if start:  # a live request of another kind cannot be restarted
                raise TypeError(f"expected Prequest, got {type(start).__name__}")
            start = None  # MPI.Prequest(MPI.REQUEST_NULL): a null persistent request, as in mpi4py
        elif start is not None and not callable(start):
            raise TypeError(f"expected Request, got {type(start).__name__}")
        super().__init__()
        self._start = start
        self._active: Request | None = None
        self._freed = start is None
        self._comm = None

    # The running operation's state is the base class's state while active.
    @property
    def _inner(self):  # type: ignore[override]
        return None if self._active is None else self._active._inner

    @_inner.setter
    def _inner(self, value) -> None:
        if value is not None:
            raise AssertionError("a Prequest's operation comes from Start only")
        self._active = None

    def Start(self) -> None:
        """Start the operation once more (the request must be inactive)."""
        if self._freed:
            raise MPIException(ERR_REQUEST, "Start on a freed persistent request")
        if self._active is not None and self._active._inner is not None:
            raise MPIException(ERR_REQUEST, "Start on a persistent request that is still active")
        req = self._start()
        self._active = req
        self._engine = req._engine
        self._on_done = req._on_done
        self._finish = req._finish
        self._comm = getattr(req, "_comm", None)
        self._cancelled = False

    @classmethod
    def Startall(cls, requests: Sequence[Prequest]) -> None:
        """Start every request of the list."""
        for req in requests:
            req.Start()

    def _complete(self, status: Status | None) -> None:
        inner = self._inner
        comm = self._comm
        super()._complete(status)
        if comm is not None and status is not None and isinstance(inner, RecvReq):
            status.source = comm._comm_rank(inner.source)

    def _handle_null(self) -> bool:
        return self._freed

    def Free(self) -> None:
        """Release the request (an active operation still completes in the background)."""
        self._freed = True
        self._active = None
