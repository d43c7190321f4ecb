"""The request of a receive that Irecv's hot path posts behind others (a window of receives).

One job: a CommRequest made with three attribute writes instead of Request.__init__'s nine
(about 0.25 us of a posted receive's ~2 us). Its other fields are class attributes until a
method writes them, as SentRequest's (mpi/request.py); a handle copy (MPI.Request(req)) first
puts them all in the instance dict it shares.
"""

from __future__ import annotations

from typing import Any

from .comm_requests import CommRequest
from .p2p import Engine, RecvReq


class PostedRequest(CommRequest):
    """A CommRequest over a plain posted receive: no finish step, no object to build."""

    __init__ = object.__init__  # type: ignore[assignment]
    _on_done = None
    _finish = None
    _result = None
    _cancelled = False

    _class_fields = ("_on_done", "_finish", "_result", "_cancelled")



def posted_request(comm: Any, engine: Engine, inner: RecvReq) -> PostedRequest:
    """A PostedRequest of comm for inner (already on engine's posted list)."""
    r = PostedRequest()
    r._engine = engine
    r._inner = inner
    r._comm = comm
    return r
