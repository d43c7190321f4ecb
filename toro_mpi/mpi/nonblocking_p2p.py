"""MPI-4's remaining nonblocking calls of a communicator: Isendrecv, Isendrecv_replace, and the
nonblocking duplicate Idup / Idup_with_info.

Isendrecv posts its receive and its send at once (as Sendrecv does) and completes when both
have; its status is the receive's. Idup agrees on the new communicator's context block with
messages posted at once on the nonblocking-collective context (each rank sends its next free
block to every other and takes the largest), so it never blocks: the new communicator may be
used once its request has completed, as MPI says.

Limit: each rank reserves its own proposal at the start, but the agreed block (the largest
proposal) is known only at completion; a Dup/Split/Create over some of the same ranks started
before the Idup completes could, in a rare interleaving, agree on that same block.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .buffers import normalise
from .nonblocking import IDUP_TAG_BASE, NBC_TAG_SPAN
from .p2p import ANY_SOURCE, ANY_TAG, PROC_NULL
from .request import Request, Status


def _integral(value: Any) -> Any:
    """An integral float as an int, as mpi4py converts ranks (1.0 for 1)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


class _Both:
    """The pair of requests of an Isendrecv, quacking as a SendReq for Request.Wait."""

    __slots__ = ("send", "recv", "error", "dest", "user_tag")

    def __init__(self, send: Request, recv: Request, dest: int, tag: int) -> None:
        self.send = send
        self.recv = recv
        self.error = None
        self.dest = dest
        self.user_tag = tag

    @property
    def done(self) -> bool:
        """Whether both the send and the receive have completed."""
        return self.send._done() and self.recv._done()


class SendrecvRequest(Request):
    """The request of Isendrecv / Isendrecv_replace: complete once both halves are."""

    def _complete(self, status: Status | None) -> None:
        both = self._inner
        self._inner = None
        both.send.Wait()
        both.recv.Wait(status)
        if self._finish is not None:
            self._finish()

    def Cancel(self) -> None:
        """Cancel the receive half if it has not matched yet (the send completes normally)."""
        if self._inner is not None:
            self._inner.recv.Cancel()


class NonblockingP2PMixin:
    """Isendrecv, Isendrecv_replace, Idup and Idup_with_info, mixed into Comm."""

    def Isendrecv(self, sendbuf: Any, dest: int, sendtag: int = 0, recvbuf: Any = None,
                  source: int = ANY_SOURCE, recvtag: int = ANY_TAG) -> Request:
        """Start a send and a receive together; one request completes when both have."""
        # As mpi4py: a buffer aimed at PROC_NULL is not looked at (None is fine there).
        rreq = Request() if _integral(source) == PROC_NULL else self.Irecv(recvbuf, source, recvtag)
        sreq = Request() if _integral(dest) == PROC_NULL else self.Isend(sendbuf, dest, sendtag)
        return SendrecvRequest(self._engine, _Both(sreq, rreq, dest, recvtag))

    def Isendrecv_replace(self, buf: Any, dest: int, sendtag: int = 0, source: int = ANY_SOURCE,
                          recvtag: int = ANY_TAG) -> Request:
        """Start sending buf and receiving into it: what is sent is buf as it is now."""
        if _integral(dest) == PROC_NULL:
            sreq = Request()
        else:
            tmp = normalise(buf, False).array.copy()  # the receive may land before the send has left
            sreq = None
        rreq = Request() if _integral(source) == PROC_NULL else self.Irecv(buf, source, recvtag)
        if sreq is None:
            sreq = self.Isend(tmp, dest, sendtag)
        return SendrecvRequest(self._engine, _Both(sreq, rreq, dest, recvtag))

    def Idup(self, info: Any = None) -> tuple[Any, Request]:
        """Nonblocking Dup: (new communicator, request); use the communicator once the request
        completes."""
        from .comm import CONTEXTS_PER_COMM, Intracomm  # comm.py mixes this class in

        self._check_live()
        e = self._engine
        seq = self.__dict__.get("_idup_seq", 0)
        self._idup_seq = seq + 1
        tag = IDUP_TAG_BASE + seq % NBC_TAG_SPAN
        mine = e.next_context_block
        # Reserve our proposal now: a Dup started before this Idup completes proposes past it.
        e.next_context_block = mine + 1
        ranks = list(self._ranks)
        newcomm = Intracomm(e, ranks, CONTEXTS_PER_COMM * mine, "")
        newcomm._freed = True  # unusable until the request completes (then re-initialised)
        others = self._others()
        proposal = np.array([mine], np.int64)
        got = {r: np.empty(1, np.int64) for r in others}

        def finish() -> None:
            block = max([mine] + [int(v[0]) for v in got.values()])
            e.next_context_block = max(e.next_context_block, block + 1)
            Intracomm.__init__(newcomm, e, ranks, CONTEXTS_PER_COMM * block, "")

        req = self._nbc_start([(r, proposal.view(np.uint8)) for r in others],
                              [(r, v.view(np.uint8)) for r, v in got.items()], finish, tag=tag)
        return newcomm, req

    def Idup_with_info(self, info: Any) -> tuple[Any, Request]:
        """Idup with info hints (accepted, not acted on)."""
        return self.Idup(info)


__all__ = ["NonblockingP2PMixin", "SendrecvRequest"]
