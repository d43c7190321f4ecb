"""Status and Request objects with mpi4py's interface."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import ERR_REQUEST, MPIException
from .handles import IntHandles
from .mpi4py_names import add_missing_methods
from .p2p import ANY_SOURCE, ANY_TAG, PROC_NULL, SENT, Engine, RecvReq, SendReq
from .status import Status  # noqa: F401 - re-exported: Status was defined here

_EMPTY = np.empty(0, np.uint8)

UNDEFINED = -32766


class Request(IntHandles):
    """A nonblocking operation; it compares equal to REQUEST_NULL once completed."""

    # What a null handle of this class is pickled as: None for its own class (a program's
    # subclass); the runtime's internal kinds, whose constructors take arguments, say Request.
    _pickled_as: type | None = None

    def __init__(self, engine: Engine | None = None, inner: SendReq | RecvReq | None = None,
                 on_done: Callable[[Any], Any] | None = None, finish: Callable[[], None] | None = None) -> None:
        if engine.__class__ is not Engine:  # one test on the hot path (every Isend makes one)
            if isinstance(engine, Request):
                # mpi4py's copy constructor, MPI.Request(request): another handle to the same
                # request (the two share one state, as two handles of one MPI_Request name one
                # operation).
                engine._materialise()
                self.__dict__ = engine.__dict__
                return
            if engine is not None and not isinstance(engine, Engine):
                raise TypeError(f"expected Request, got {type(engine).__name__}")
        self._engine = engine
        self._inner = inner
        self._on_done = on_done  # turns the raw request into the object `wait()` returns
        self._finish = finish  # e.g. copy a temporary into a non-contiguous receive buffer
        self._result: Any = None
        self._cancelled = False

    # -- helpers -----------------------------------------------------------------------
    # The fields a kind built without Request.__init__ keeps as class attributes until it
    # completes (the born-complete and posted kinds); _materialise copies them to the instance.
    _class_fields: tuple[str, ...] = ()

    def _materialise(self) -> None:
        """Put every field of the request in its instance dict (a handle copy shares that dict
        and reads it with Request's methods)."""
        d = self.__dict__
        for name in self._class_fields:
            d.setdefault(name, getattr(self, name))

    def _is_null(self) -> bool:
        return self._inner is None

    def _complete(self, status: Status | None) -> None:
        inner = self._inner
        engine = self._engine
        self._inner = None
        if isinstance(inner, RecvReq):
            if status is not None:
                status._set(inner.source, inner.rtag, min(inner.nbytes, inner.cap) if not inner.allocate
                            else inner.nbytes, inner.error.error_class if inner.error else 0)
                status.cancelled = self._cancelled
            if inner.error is not None:
                raise inner.error
            if self._finish is not None:
                self._finish()
            if self._on_done is not None:
                self._result = self._on_done(inner)
        else:
            if status is not None:
                status._set(ANY_SOURCE, ANY_TAG, 0)
            if inner is not None and inner.error is not None:
                raise inner.error
            if self._on_done is not None:
                self._result = self._on_done(inner)
        del engine

    def _done(self) -> bool:
        inner = self._inner
        return inner is None or inner.done

    def _wait_inner(self) -> None:
        inner = self._inner
        if inner is None or inner.done:
            return
        engine = self._engine
        if isinstance(inner, RecvReq):
            engine.wait_recv(inner, "Wait")
            return
        if inner.__class__ is not SendReq:
            spin = getattr(inner, "spin", None)  # a nonblocking collective: its own fast wait first
            if spin is not None and spin(engine):
                return
        engine.wait_send(inner, "Wait")

    # -- mpi4py interface ----------------------------------------------------------------
    def Wait(self, status: Status | None = None) -> bool:
        """Block until the operation completes."""
        if self._inner is None:
            if status is not None:
                status._set(ANY_SOURCE, ANY_TAG, 0)
            return True
        self._wait_inner()
        self._complete(status)
        return True

    def Test(self, status: Status | None = None) -> bool:
        """Whether the operation has completed (progressing it once)."""
        if self._inner is None:
            return True
        if not self._inner.done and self._engine is not None:
            self._engine.poll_once()
        if not self._inner.done:
            return False
        self._complete(status)
        return True

    def wait(self, status: Status | None = None) -> Any:
        """Wait and return the received object (None for sends, and once it has been returned:
        the request is then null, as in mpi4py)."""
        if self._inner is not None:
            self.Wait(status)
        result, self._result = self._result, None
        return result

    def test(self, status: Status | None = None) -> tuple[bool, Any]:
        """Return (completed, object) without blocking (the object once, as wait())."""
        if self._inner is None:
            result, self._result = self._result, None
            return True, result
        flag = self.Test(status)
        if not flag:
            return False, None
        result, self._result = self._result, None
        return True, result

    def Get_status(self, status: Status | None = None) -> bool:
        """Whether the operation completed, without freeing the request."""
        if self._inner is None:
            if status is not None:
                status._set(ANY_SOURCE, ANY_TAG, 0)
            return True
        if not self._inner.done and self._engine is not None:
            self._engine.poll_once()
        inner = self._inner
        if inner.done and status is not None:
            if isinstance(inner, RecvReq):
                comm = getattr(self, "_comm", None)  # a communicator's request reports its ranks
                source = comm._comm_rank(inner.source) if comm is not None else inner.source
                status._set(source, inner.rtag, inner.nbytes if inner.allocate else min(inner.nbytes, inner.cap),
                            inner.error.error_class if inner.error else 0)
                status.cancelled = self._cancelled
            else:
                status._set(ANY_SOURCE, ANY_TAG, 0, inner.error.error_class if inner.error else 0)
        return inner.done

    def Cancel(self) -> None:
        """Cancel a receive that has not matched yet; otherwise it completes normally.

        Sends are not cancelled (MPI deprecates it): they complete normally, not cancelled.
        REQUEST_NULL (a completed request) cannot be cancelled: ERR_REQUEST, as in MPI."""
        inner = self._inner
        if inner is None:
            raise MPIException(ERR_REQUEST, "Cancel: invalid request (MPI.REQUEST_NULL)")
        if inner.done:
            return
        if isinstance(inner, RecvReq):
            engine = self._engine
            if inner in engine.posted:
                engine.posted.remove(inner)
                engine.settle_run()
                inner.done = True
                self._on_done = None
                self._finish = None
                self._cancelled = True
            # Matched (or still arriving): the receive completes; Cancel has no effect.
            return
        # A send is never cancelled here (MPI allows that, and deprecates cancelling sends, as
        # Open MPI does not): it completes normally and its status says "not cancelled".

    def Free(self) -> None:
        """Release the handle; the operation still completes in the background. REQUEST_NULL
        cannot be freed: ERR_REQUEST, as in MPI (free() is the safe form)."""
        if self._inner is None:
            raise MPIException(ERR_REQUEST, "Free: invalid request (MPI.REQUEST_NULL)")
        self._inner = None

    def _handle_null(self) -> bool:
        """Whether this is REQUEST_NULL (a persistent request is that only once freed)."""
        freed = self.__dict__.get("_freed")
        if freed is not None:  # MPI.Request(prequest): a handle to a persistent request
            return freed
        return self._inner is None

    def __getattr__(self, name: str) -> Any:
        # Only for MPI.Request(prequest), which shares a Prequest's state: there the running
        # operation's state (`_inner`) is that of the Prequest's active request.
        if name == "_inner" and "_active" in self.__dict__:
            active = self.__dict__["_active"]
            return None if active is None else active._inner
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Request):
            mine, theirs = self._handle_null(), other._handle_null()
            if mine or theirs:
                return mine and theirs
            # handles: two live requests are equal only if they name one operation
            return self is other or self.__dict__ is other.__dict__
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mpi4py's handles are unhashable

    def __bool__(self) -> bool:
        return not self._handle_null()

    def __reduce__(self) -> Any:
        # As mpi4py: only the null handle can be pickled; a live request is this process's.
        if not self._handle_null():
            raise ValueError(f"cannot pickle an active {type(self).__name__} (only REQUEST_NULL)")
        if self is REQUEST_NULL:
            return (_request_null, ())  # the constant itself
        # Another null handle, of the program's (sub)class; the runtime's own kinds say as what.
        return (self._pickled_as or type(self), ())

    def get_status(self, status: Status | None = None) -> bool:
        """Whether the operation completed, without freeing the request (Get_status)."""
        return self.Get_status(status)

    def cancel(self) -> None:
        """Cancel the operation (Cancel)."""
        self.Cancel()

    def free(self) -> None:
        """Release the handle (Free) unless it is null: mpi4py's safe form."""
        if not self._handle_null():
            self.Free()

    # -- collections of requests -----------------------------------------------------------
    # As mpi4py: a list of statuses grows to one Status per request (a tuple is filled as far
    # as it goes), and a null request's status is the empty one (ANY_SOURCE, ANY_TAG, SUCCESS).
    @staticmethod
    def _statuses(statuses: Sequence[Status] | None, n: int) -> Sequence[Status] | None:
        if isinstance(statuses, list):
            statuses.extend(Status() for _ in range(n - len(statuses)))
        return statuses

    @staticmethod
    def _status_at(statuses: Sequence[Status] | None, i: int) -> Status | None:
        return statuses[i] if statuses is not None and i < len(statuses) else None

    @staticmethod
    def _engine_of(requests: Sequence[Request]) -> Engine | None:
        return next((r._engine for r in requests if r._engine is not None and not r._is_null()), None)

    @classmethod
    def _poll(cls, requests: Sequence[Request]) -> None:
        engine = cls._engine_of(requests)
        if engine is not None:
            engine.poll_once()

    @classmethod
    def _wait_for(cls, requests: Sequence[Request], ready: Callable[[], bool], call: str) -> None:
        if not ready():
            engine = cls._engine_of(requests)
            if engine is not None:
                engine.sched.wait(ready, (call, -1, -1))

    @classmethod
    def Waitall(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None) -> bool:
        """Wait for every request."""
        if statuses is None:
            # The common form (osu_bw's window): no per-request status look-up, and the
            # requests that are done with nothing left to run (born complete, or a plain
            # receive that took its message without error) completed here, without the calls
            # of Wait (about 0.2-0.5 us a request, most of a small message's Waitall).
            plain = _plain_classes()
            posted = plain[1]
            for req in requests:
                c = req.__class__
                if c is SentRequest:
                    req._inner = None
                    continue
                inner = req._inner
                if c is posted:
                    # A PostedRequest never has a finish step or an object to build: a receive
                    # done without error is complete (and it is never re-posted: None stays None).
                    if inner is not None and inner.done and inner.error is None:
                        req._inner = None
                        continue
                elif c is ReceivedRequest:
                    if inner is RECEIVED:
                        req._inner = None
                        continue
                elif (c in plain and inner is not None and inner.__class__ is RecvReq and inner.done
                      and inner.error is None and req._finish is None and req._on_done is None):
                    req._inner = None
                    continue
                req.Wait()
            return True
        statuses = cls._statuses(statuses, len(requests))
        for i, req in enumerate(requests):
            req.Wait(cls._status_at(statuses, i))
        return True

    @classmethod
    def waitall(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None) -> list[Any]:
        """Wait for every request; return their objects."""
        statuses = cls._statuses(statuses, len(requests))
        return [req.wait(cls._status_at(statuses, i)) for i, req in enumerate(requests)]

    @classmethod
    def Testall(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None) -> bool:
        """True (completing them all) if every request is done."""
        statuses = cls._statuses(statuses, len(requests))
        cls._poll(requests)
        if not all(r._done() for r in requests):
            return False
        cls.Waitall(requests, statuses)
        return True

    @classmethod
    def testall(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None
                ) -> tuple[bool, list[Any] | None]:
        """Return (True, objects) completing them all if every request is done, else (False, None)."""
        statuses = cls._statuses(statuses, len(requests))
        cls._poll(requests)
        if not all(r._done() for r in requests):
            return False, None
        return True, cls.waitall(requests, statuses)

    @classmethod
    def Waitany(cls, requests: Sequence[Request], status: Status | None = None) -> int:
        """Wait for one request; return its index (UNDEFINED if all are null)."""
        live = [r for r in requests if not r._is_null()]
        if not live:
            if status is not None:
                status._set(ANY_SOURCE, ANY_TAG, 0)
            return UNDEFINED
        cls._wait_for(live, lambda: any(r._done() for r in live), "Waitany")
        for i, r in enumerate(requests):
            if not r._is_null() and r._done():
                r.Wait(status)
                return i
        raise MPIException(ERR_REQUEST, "Waitany woke without a completed request")

    @classmethod
    def waitany(cls, requests: Sequence[Request], status: Status | None = None) -> tuple[int, Any]:
        """Wait for one request; return (index, object)."""
        i = cls.Waitany(requests, status)
        return i, (requests[i]._result if i != UNDEFINED else None)

    @classmethod
    def Testany(cls, requests: Sequence[Request], status: Status | None = None) -> tuple[int, bool]:
        """Return (index, True) for a completed request, (UNDEFINED, False) if none is done yet,
        (UNDEFINED, True) if all are null."""
        live = [r for r in requests if not r._is_null()]
        if not live:
            if status is not None:
                status._set(ANY_SOURCE, ANY_TAG, 0)
            return UNDEFINED, True
        cls._poll(live)
        for i, r in enumerate(requests):
            if not r._is_null() and r._done():
                r.Wait(status)
                return i, True
        return UNDEFINED, False

    @classmethod
    def testany(cls, requests: Sequence[Request], status: Status | None = None) -> tuple[int, bool, Any]:
        """Return (index, flag, object) as Testany, with the completed request's object."""
        i, flag = cls.Testany(requests, status)
        return i, flag, (requests[i]._result if i != UNDEFINED else None)

    @classmethod
    def Waitsome(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None) -> list[int] | None:
        """Wait until at least one request is done; return the indices of all done ones
        (None if all are null)."""
        live = [r for r in requests if not r._is_null()]
        if not live:
            return None
        cls._wait_for(live, lambda: any(r._done() for r in live), "Waitany")
        return cls._complete_done(requests, statuses)

    @classmethod
    def _complete_done(cls, requests: Sequence[Request], statuses: Sequence[Status] | None,
                       complete: bool = True) -> list[int]:
        """Indices of the live requests that are done, completing them (else only their
        statuses); a list of statuses becomes one per index, as mpi4py leaves it."""
        done = [i for i, r in enumerate(requests) if not r._is_null() and r._done()]
        if isinstance(statuses, list):
            del statuses[len(done):]
            cls._statuses(statuses, len(done))
        for k, i in enumerate(done):
            st = cls._status_at(statuses, k)
            if complete:
                requests[i].Wait(st)
            else:
                requests[i].Get_status(st)
        return done

    @classmethod
    def waitsome(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None
                 ) -> tuple[list[int] | None, list[Any] | None]:
        """Return (indices, objects) of the requests done once at least one is (None, None if all null)."""
        done = cls.Waitsome(requests, statuses)
        return (None, None) if done is None else (done, [requests[i]._result for i in done])

    @classmethod
    def Testsome(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None) -> list[int] | None:
        """Indices of the requests that are done now, completing them (None if all are null)."""
        live = [r for r in requests if not r._is_null()]
        if not live:
            return None
        cls._poll(live)
        return cls._complete_done(requests, statuses)

    @classmethod
    def testsome(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None
                 ) -> tuple[list[int] | None, list[Any] | None]:
        """Return (indices, objects) of the requests done now (None, None if all are null)."""
        done = cls.Testsome(requests, statuses)
        return (None, None) if done is None else (done, [requests[i]._result for i in done])

    @classmethod
    def Get_status_any(cls, requests: Sequence[Request], status: Status | None = None) -> tuple[int, bool]:
        """Return (index, True) of a completed request without freeing it, (UNDEFINED, False) if none
        is done, (UNDEFINED, True) if all are null."""
        live = [r for r in requests if not r._is_null()]
        if not live:
            if status is not None:
                status._set(ANY_SOURCE, ANY_TAG, 0)
            return UNDEFINED, True
        cls._poll(live)
        for i, r in enumerate(requests):
            if not r._is_null() and r._done():
                r.Get_status(status)
                return i, True
        return UNDEFINED, False

    @classmethod
    def get_status_any(cls, requests: Sequence[Request], status: Status | None = None) -> tuple[int, bool]:
        """Get_status_any."""
        return cls.Get_status_any(requests, status)

    @classmethod
    def Get_status_all(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None) -> bool:
        """Whether every request is done, without freeing them (their statuses filled if so)."""
        statuses = cls._statuses(statuses, len(requests))
        cls._poll(requests)
        if not all(r._done() for r in requests):
            return False
        for i, r in enumerate(requests):
            r.Get_status(cls._status_at(statuses, i))
        return True

    @classmethod
    def get_status_all(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None) -> bool:
        """Get_status_all."""
        return cls.Get_status_all(requests, statuses)

    @classmethod
    def Get_status_some(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None
                        ) -> list[int] | None:
        """Indices of the requests done now, without freeing them (None if all are null)."""
        live = [r for r in requests if not r._is_null()]
        if not live:
            return None
        cls._poll(live)
        return cls._complete_done(requests, statuses, complete=False)

    @classmethod
    def get_status_some(cls, requests: Sequence[Request], statuses: Sequence[Status] | None = None
                        ) -> list[int] | None:
        """Get_status_some."""
        return cls.Get_status_some(requests, statuses)


class SentRequest(Request):
    """The request of a nonblocking send that left in one go (the hot Isend path): complete
    from birth. Built without Request.__init__ (one of these per small Isend): until it
    completes, its fields are these class attributes."""

    __init__ = object.__init__  # type: ignore[assignment]
    _engine = None
    _inner = SENT
    _on_done = None
    _finish = None
    _result = None
    _cancelled = False

    _class_fields = ("_engine", "_inner", "_on_done", "_finish", "_result", "_cancelled")

    def Wait(self, status: Status | None = None) -> bool:
        """Complete the request (it is done already)."""
        if status is not None:
            status._set(ANY_SOURCE, ANY_TAG, 0)
        self._inner = None
        return True

    _pickled_as = Request


# The inner state every ReceivedRequest shows until it completes: a receive that is done.
RECEIVED = RecvReq(ANY_SOURCE, ANY_TAG, -1, _EMPTY, 0)
RECEIVED.done = True


class ReceivedRequest(Request):
    """The request of an Irecv whose message was taken from its queue at once (a plain eager
    message that fit: no error is possible any more): complete from birth, its status in
    three fields (_source, _tag, _count) set by the caller. Built without Request.__init__."""

    __init__ = object.__init__  # type: ignore[assignment]
    _engine = None
    _inner = RECEIVED
    _on_done = None
    _finish = None
    _result = None
    _cancelled = False
    _comm = None

    def _materialise(self) -> None:
        # A handle copy reads the request with Request's methods: give it a real receive state.
        d = self.__dict__
        if d.get("_inner", RECEIVED) is RECEIVED:
            inner = RecvReq(self._source, self._tag, -1, _EMPTY, self._count)
            inner.source, inner.rtag, inner.nbytes, inner.done = self._source, self._tag, self._count, True
            d["_inner"] = inner
        for name in ("_engine", "_on_done", "_finish", "_result", "_cancelled"):
            d.setdefault(name, getattr(self, name))

    def _complete(self, status: Status | None) -> None:
        if self._inner is not RECEIVED:  # materialised by a handle copy
            super()._complete(status)
            return
        self._inner = None
        if status is not None:
            status._set(self._source, self._tag, self._count)
            status.cancelled = False

    def Wait(self, status: Status | None = None) -> bool:
        """Complete the request (it is done already)."""
        if self._inner is None:
            if status is not None:
                status._set(ANY_SOURCE, ANY_TAG, 0)
            return True
        self._complete(status)
        return True

    def Get_status(self, status: Status | None = None) -> bool:
        """Whether the operation completed (it has), without freeing the request."""
        if self._inner is RECEIVED and status is not None:
            status._set(self._source, self._tag, self._count)
            status.cancelled = False
            return True
        return super().Get_status(status)

    _pickled_as = Request


REQUEST_NULL = Request()

_PLAIN: list[tuple[type, ...]] = []


def _plain_classes() -> tuple[type, ...]:
    """CommRequest and PostedRequest: the classes whose completion, for a receive done without error and with
    neither finish nor on_done, is only `_inner = None` (Waitall's inline case). Not Request
    itself: MPI.Request(prequest) is one, whose `_inner` is its Prequest's (see __getattr__).
    CommRequest is found on first use (comm_requests.py imports this module)."""
    if not _PLAIN:
        from .comm_requests import CommRequest  # noqa: PLC0415 - import cycle, resolved once
        from .posted_request import PostedRequest  # noqa: PLC0415

        _PLAIN.append((CommRequest, PostedRequest))
    return _PLAIN[0]


def proc_null_request(send: bool = False) -> Request:
    """The request of a nonblocking call on PROC_NULL: active (truthy, not REQUEST_NULL) until
    completed, as in MPI, and then it completes at once; a receive's status is the PROC_NULL one
    (source PROC_NULL, tag ANY_TAG, count 0)."""
    if send:
        return Request(None, SENT)
    inner = RecvReq(PROC_NULL, ANY_TAG, -1, _EMPTY, 0)
    inner.source = PROC_NULL
    inner.done = True
    return Request(None, inner)


def _request_null() -> Request:
    """What a pickled null request loads as: REQUEST_NULL itself."""
    return REQUEST_NULL


# mpi4py's other Request methods name themselves as missing (see mpi4py_names.MissingMethod).
add_missing_methods(Request, "Request")
