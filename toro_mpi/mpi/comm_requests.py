"""The requests a communicator hands out that need more than a plain Request: a receive that
reports its source in communicator ranks (and an object's size as mpi4py does), and an object
send made of several messages (the frame, then its out-of-band buffers)."""

from __future__ import annotations

from typing import Any

from . import objects
from .p2p import Engine, RecvReq
from .request import Request, Status


class CommRequest(Request):
    """A receive request that reports the source in communicator ranks."""

    _pickled_as = Request

    def __init__(self, comm: Any, engine: Engine, inner: RecvReq, on_done: Any = None, finish: Any = None) -> None:
        super().__init__(engine, inner, on_done=on_done, finish=finish)
        self._comm = comm

    def _complete(self, status: Status | None) -> None:
        inner = self._inner
        super()._complete(status)
        if status is not None and isinstance(inner, RecvReq):
            status.source = self._comm._comm_rank(inner.source)
            if inner.allocate and inner.arr is not None:
                status.count = objects.pickle_size(inner.arr[: inner.nbytes])


class MultiSendRequest(Request):
    """An object send made of several messages (frame + out-of-band buffers)."""

    _pickled_as = Request

    def __init__(self, engine: Engine, reqs: list[Any]) -> None:
        super().__init__(engine, reqs[0])
        self._rest = reqs[1:]

    def _done(self) -> bool:
        return all(r.done for r in self._rest) and super()._done()

    def Wait(self, status: Status | None = None) -> bool:
        """Wait for every part of the object send."""
        for r in self._rest:
            self._engine.wait_send(r, "Wait")
        self._rest = []
        return super().Wait(status)

    def Test(self, status: Status | None = None) -> bool:
        """Whether every part has been sent."""
        self._engine.poll_once()
        if not all(r.done for r in self._rest):
            return False
        return super().Test(status)
