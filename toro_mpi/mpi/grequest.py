"""Generalized requests (`MPI.Grequest`): a request whose operation the program itself carries
out, completing it with `Complete()`, while MPI's Wait/Test family treats it as any other request.

`Grequest.Start(query_fn, free_fn, cancel_fn, args, kwargs)` returns the request. Once it is
complete, the first Wait/Test that sees it calls `query_fn(status, *args, **kwargs)` to fill the
status, then `free_fn(*args, **kwargs)`; `Cancel()` calls `cancel_fn(completed, *args, **kwargs)`.
A callback that raises has its traceback printed; the call then raises that MPI.Exception, or
MPI.Exception(ERR_OTHER) for any other exception, as mpi4py does. The Python
forms `complete(obj)` and `wait()`/`test()` hand `obj` back as the request's result.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any

from ..errors import ERR_OTHER, ERR_REQUEST, MPIException
from .p2p import ANY_SOURCE, ANY_TAG
from .request import Request
from .status import Status

# The caller's engine (for a Wait that must block until another green thread completes the
# request): MPI.py installs the lookup, as this layer does not import the runtime.
_engine: Callable[[], Any] = lambda: None  # noqa: E731 - replaced at import of MPI


def set_engine_lookup(lookup: Callable[[], Any]) -> None:
    """Install the function giving the calling rank's engine."""
    global _engine
    _engine = lookup


class _Work:
    """The inner state Request's machinery polls: done once the program calls Complete."""

    __slots__ = ("done", "error", "dest", "user_tag", "query_fn", "free_fn", "cancel_fn", "args", "kwargs",
                 "result")

    def __init__(self, query_fn: Any, free_fn: Any, cancel_fn: Any, args: tuple, kwargs: dict) -> None:
        self.done = False
        self.error: BaseException | None = None
        self.dest = -1  # what a blocked-call report names: no peer
        self.user_tag = -1
        self.query_fn = query_fn
        self.free_fn = free_fn
        self.cancel_fn = cancel_fn
        self.args = args
        self.kwargs = kwargs
        self.result: Any = None


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run a user callback; anything but MPI.Exception becomes ERR_OTHER after its traceback."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:
        # mpi4py prints the callback's traceback either way: the call itself only reports a class.
        traceback.print_exception(exc, file=sys.stderr)
        if isinstance(exc, MPIException):
            raise
        raise MPIException(ERR_OTHER, f"generalized request callback raised {type(exc).__name__}: {exc}") from exc


class Grequest(Request):
    """A generalized request (MPI_Grequest_start / MPI_Grequest_complete)."""

    def __init__(self, request: Any = None) -> None:
        if isinstance(request, Request) and not isinstance(request, Grequest) and not request:
            request = None  # MPI.Grequest(MPI.REQUEST_NULL): the null handle, as in mpi4py
        if request is None:
            super().__init__()
            return
        if not isinstance(request, Grequest):
            raise TypeError(f"expected Grequest, got {type(request).__name__}")
        super().__init__(request)  # another handle to the same request

    @classmethod
    def Start(cls, query_fn: Callable[..., Any] | None = None, free_fn: Callable[..., Any] | None = None,
              cancel_fn: Callable[..., Any] | None = None, args: tuple | None = None,
              kwargs: dict | None = None) -> Grequest:
        """Start a generalized request; the program completes it with Complete()."""
        for name, fn in (("query_fn", query_fn), ("free_fn", free_fn), ("cancel_fn", cancel_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"Grequest.Start: {name} must be callable or None")
        req = cls()
        req._engine = _engine()
        req._inner = _Work(query_fn, free_fn, cancel_fn, tuple(args or ()), dict(kwargs or {}))
        return req

    def _work(self) -> _Work:
        inner = self._inner
        if not isinstance(inner, _Work):
            raise MPIException(ERR_REQUEST, "Grequest.Complete: the request is not an active generalized request")
        return inner

    def Complete(self) -> None:
        """Mark the operation complete: the next Wait/Test returns."""
        work = self._work()
        if work.done:
            raise MPIException(ERR_REQUEST, "Grequest.Complete: already complete")
        work.done = True

    def complete(self, obj: Any = None) -> None:
        """Complete the request with `obj` as what wait()/test() return."""
        self._work().result = obj
        self.Complete()

    def _wait_inner(self) -> None:
        work = self._inner
        if isinstance(work, _Work) and not work.done:
            engine = self._engine or _engine()
            if engine is None:
                raise MPIException(ERR_REQUEST, "Grequest.Wait: the request is not complete and no other task "
                                                "can complete it")
            engine.sched.wait(lambda: work.done, ("Wait (generalized request)", -1, -1))

    def _complete(self, status: Status | None) -> None:
        work = self._inner
        if not isinstance(work, _Work):
            super()._complete(status)
            return
        self._inner = None
        st = status if status is not None else Status()
        st._set(ANY_SOURCE, ANY_TAG, 0)
        try:
            if work.query_fn is not None:
                _call(work.query_fn, st, *work.args, **work.kwargs)
        finally:
            if work.free_fn is not None:
                _call(work.free_fn, *work.args, **work.kwargs)
        self._result = work.result

    def wait(self, status: Status | None = None) -> Any:
        """Wait; return the object given to complete() (None once it has been returned)."""
        result = super().wait(status)
        self._result = None  # the request is now null: a later wait()/test() gives None
        return result

    def test(self, status: Status | None = None) -> tuple[bool, Any]:
        """Return (completed, the object given to complete()), as wait()."""
        flag, result = super().test(status)
        if flag:
            self._result = None
        return flag, result

    def Cancel(self) -> None:
        """Ask the program's cancel_fn to cancel (told whether the request is already complete)."""
        work = self._inner
        if isinstance(work, _Work) and work.cancel_fn is not None:
            _call(work.cancel_fn, work.done, *work.args, **work.kwargs)

    def __repr__(self) -> str:
        return f"<Grequest {'done' if self._done() else 'active'}>"
