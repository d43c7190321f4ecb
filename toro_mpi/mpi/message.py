"""Matched probes: `Comm.Mprobe/Improbe/mprobe/improbe` and mpi4py's `MPI.Message`.

A matched probe takes the message it finds out of matching at once (Engine.take): no later
receive, nor another green thread's, can receive it; only the Message's own `Recv/Irecv`
(`recv/irecv` for objects) does. That holds for every kind of message the engine keeps on its
unexpected list: eager ones (complete or still arriving in fragments), rendezvous and heap
descriptors (their payload is copied only when the Message is received), and synchronous sends
(acknowledged only then, so an Ssend completes on the Message's receive, not on the probe).

`MESSAGE_NULL` is the null handle (falsy; receiving from it is an error) and `MESSAGE_NO_PROC`
what a probe on PROC_NULL returns: receiving from it completes at once with the PROC_NULL status.
As in mpi4py, receiving from a Message makes it MESSAGE_NULL, except the two predefined
constants themselves, which stay what they are.
"""

from __future__ import annotations

from typing import Any

from ..errors import ERR_REQUEST, MPIException
from .buffers import normalise
from .comm_requests import CommRequest
from .handles import IntHandles
from .p2p import ANY_SOURCE, ANY_TAG, PROC_NULL, Msg, RecvReq
from .request import Request, Status, proc_null_request

_NULL, _NO_PROC, _LIVE = 0, 1, 2


class Message(IntHandles):
    """A message matched by a probe, waiting to be received (mpi4py's `MPI.Message`)."""

    __slots__ = ("_kind", "_comm", "_msg", "_constant", "__weakref__")

    def __init__(self, message: Message | None = None) -> None:
        if message is not None and not isinstance(message, Message):
            raise TypeError(f"Message() argument must be a Message, not {type(message).__name__}")
        # A copy shares the handle (as in mpi4py): both name the one matched message.
        self._kind = _NULL if message is None else message._kind
        self._comm = None if message is None else message._comm
        self._msg: Msg | None = None if message is None else message._msg
        self._constant = False

    # -- handle semantics ----------------------------------------------------------------
    def __bool__(self) -> bool:
        return self._kind != _NULL

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        if self._kind != other._kind:
            return False
        return self._kind != _LIVE or self._msg is other._msg

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # type: ignore[assignment]  # mpi4py's handles are unhashable

    def __reduce__(self) -> Any:
        # Only the predefined handles can travel (as mpi4py): a live message is this process's.
        if self._kind == _LIVE:
            raise ValueError("cannot pickle a matched MPI.Message (only MESSAGE_NULL and MESSAGE_NO_PROC)")
        name = "MESSAGE_NULL" if self._kind == _NULL else "MESSAGE_NO_PROC"
        if self._constant:
            return (_constant, (name,))
        return (type(self), (_constant(name),))  # another handle, of the program's (sub)class

    def __repr__(self) -> str:
        if self._kind == _LIVE:
            m = self._msg
            return f"<Message from rank {self._comm._comm_rank(m.src)} tag {m.tag} ({m.total} bytes)>"
        return "<MESSAGE_NULL>" if self._kind == _NULL else "<MESSAGE_NO_PROC>"

    def free(self) -> None:
        """Release the handle of a received or null message (a live one cannot be freed)."""
        if self._kind == _LIVE:
            raise MPIException(ERR_REQUEST, "Message.free: the message has not been received")
        if not self._constant:
            self._kind = _NULL  # a copy of MESSAGE_NO_PROC becomes null; the constant stays

    # -- probing (classmethods, as in mpi4py 4) -----------------------------------------
    @classmethod
    def Probe(cls, comm: Any, source: int = ANY_SOURCE, tag: int = ANY_TAG,  # noqa: N802 - mpi4py's name
              status: Status | None = None) -> Message:
        """Block until a matching message arrives on comm; match it (comm.Mprobe)."""
        return comm.Mprobe(source, tag, status)

    @classmethod
    def Iprobe(cls, comm: Any, source: int = ANY_SOURCE, tag: int = ANY_TAG,  # noqa: N802 - mpi4py's name
               status: Status | None = None) -> Message | None:
        """Match a message now if one has arrived on comm, else None (comm.Improbe)."""
        return comm.Improbe(source, tag, status)

    @classmethod
    def probe(cls, comm: Any, source: int = ANY_SOURCE, tag: int = ANY_TAG,
              status: Status | None = None) -> Message:
        """Block until a matching object message arrives on comm; match it (comm.mprobe)."""
        return comm.mprobe(source, tag, status)

    @classmethod
    def iprobe(cls, comm: Any, source: int = ANY_SOURCE, tag: int = ANY_TAG,
               status: Status | None = None) -> Message | None:
        """Match an object message now if one has arrived on comm, else None (comm.improbe)."""
        return comm.improbe(source, tag, status)

    # -- receiving -----------------------------------------------------------------------
    def _take(self, call: str) -> tuple[Any, Msg | None]:
        """Return (comm, msg) of this message, which becomes MESSAGE_NULL (msg None: MESSAGE_NO_PROC)."""
        kind = self._kind
        if kind == _NULL:
            raise MPIException(ERR_REQUEST, f"Message.{call}: the message is MESSAGE_NULL "
                                            "(already received, or never matched)")
        comm, msg = self._comm, self._msg
        if not self._constant:
            self._kind, self._comm, self._msg = _NULL, None, None
        return comm, msg

    def Recv(self, buf: Any, status: Status | None = None) -> None:  # noqa: N802 - mpi4py's name
        """Receive the matched message into buf (MPI_Mrecv)."""
        b = None if self._kind == _NO_PROC and buf is None else normalise(buf, True)
        comm, msg = self._take("Recv")
        if msg is None:
            _null_status(status)
            return
        e = comm._engine
        req = e.recv_taken(RecvReq(msg.src, msg.tag, msg.ctx, b.array, b.nbytes), msg)
        try:
            e.wait_recv(req, "Recv")
        except MPIException as exc:
            if exc is not req.error:
                raise
        if status is not None:
            status._set(comm._comm_rank(req.source), req.rtag, min(req.nbytes, req.cap),
                        req.error.error_class if req.error else 0)
        if req.error is not None:
            raise req.error
        b.finish()

    def Irecv(self, buf: Any) -> Request:  # noqa: N802 - mpi4py's name
        """Start receiving the matched message into buf (MPI_Imrecv)."""
        b = None if self._kind == _NO_PROC and buf is None else normalise(buf, True)
        comm, msg = self._take("Irecv")
        if msg is None:
            return proc_null_request()
        e = comm._engine
        req = e.recv_taken(RecvReq(msg.src, msg.tag, msg.ctx, b.array, b.nbytes), msg)
        return CommRequest(comm, e, req, finish=b.finish if b.writeback is not None else None)

    def recv(self, status: Status | None = None) -> Any:
        """Receive the matched object message and return the object."""
        comm, msg = self._take("recv")
        if msg is None:
            _null_status(status)
            return None
        e = comm._engine
        req = e.recv_taken(comm._object_receive(msg.src, msg.tag), msg)
        e.wait_recv(req, "Recv")
        if status is not None:
            status._set(comm._comm_rank(req.source), req.rtag, comm._object_size(req))
        return comm._finish_object(req)

    def irecv(self) -> Request:
        """Start receiving the matched object message; the request's wait() returns it."""
        comm, msg = self._take("irecv")
        if msg is None:
            return proc_null_request()
        e = comm._engine
        req = e.recv_taken(comm._object_receive(msg.src, msg.tag), msg)
        return CommRequest(comm, e, req, on_done=comm._finish_object)


def _null_status(status: Status | None) -> None:
    """The status of a receive from PROC_NULL."""
    if status is not None:
        status._set(PROC_NULL, ANY_TAG, 0)


MESSAGE_NULL = Message()
MESSAGE_NULL._constant = True
MESSAGE_NO_PROC = Message()
MESSAGE_NO_PROC._kind = _NO_PROC
MESSAGE_NO_PROC._constant = True


def _constant(name: str) -> Message:
    """The predefined Message called name (what a pickled constant loads as)."""
    return {"MESSAGE_NULL": MESSAGE_NULL, "MESSAGE_NO_PROC": MESSAGE_NO_PROC}[name]


def _live(comm: Any, msg: Msg) -> Message:
    m = Message()
    m._kind, m._comm, m._msg = _LIVE, comm, msg
    return m


class MatchedProbeMixin:
    """Comm.Mprobe/Improbe (buffers) and mprobe/improbe (objects); mixed into Comm, which
    provides the engine, the context and the argument checks."""

    def _mprobe(self, source: Any, tag: Any, status: Status | None, blocking: bool) -> Message | None:
        source = self._source(source)
        tag = self._recv_tag(tag)
        if source == PROC_NULL:
            _null_status(status)
            return Message(MESSAGE_NO_PROC)  # a handle of its own: receiving it makes it null
        e = self._engine
        msg = e.probe(source, tag, self._ctx) if blocking else e.iprobe(source, tag, self._ctx)
        if msg is None:
            return None
        e.take(msg)
        if status is not None:
            status._set(self._comm_rank(msg.src), msg.tag, msg.total)
        return _live(self, msg)

    def Mprobe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG,  # noqa: N802 - mpi4py's name
               status: Status | None = None) -> Message:
        """Block until a matching message arrives; return it matched (no other receive takes it)."""
        return self._mprobe(source, tag, status, True)

    def Improbe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG,  # noqa: N802 - mpi4py's name
                status: Status | None = None) -> Message | None:
        """A matching message matched now, or None if none has arrived."""
        return self._mprobe(source, tag, status, False)

    def mprobe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG, status: Status | None = None) -> Message:
        """Block until a matching object message arrives; return it matched (Message.recv())."""
        return self._mprobe(source, tag, status, True)

    def improbe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG,
                status: Status | None = None) -> Message | None:
        """A matching object message matched now, or None if none has arrived."""
        return self._mprobe(source, tag, status, False)


__all__ = ["Message", "MESSAGE_NULL", "MESSAGE_NO_PROC", "MatchedProbeMixin"]
