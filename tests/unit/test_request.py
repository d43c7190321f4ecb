"""Request and Message handle semantics (mpi/request.py, mpi/message.py), in process: no engine
is needed for null and PROC_NULL requests nor for the predefined messages."""

from __future__ import annotations

import pickle

import pytest

from toro_mpi.mpi.message import MESSAGE_NO_PROC, MESSAGE_NULL, Message
from toro_mpi.mpi.p2p import ANY_SOURCE, ANY_TAG, PROC_NULL
from toro_mpi.mpi.request import REQUEST_NULL, UNDEFINED, Request, Status, proc_null_request


def test_proc_null_request_is_active_until_completed() -> None:
    req = proc_null_request()
    assert req and req != REQUEST_NULL
    st = Status()
    assert req.Wait(st) is True
    assert not req and req == REQUEST_NULL
    assert (st.Get_source(), st.Get_tag(), st.Get_count()) == (PROC_NULL, ANY_TAG, 0)
    send = proc_null_request(send=True)
    assert send and send.Test() and not send


def test_status_lists_grow_and_null_requests_report_empty_statuses() -> None:
    reqs = [Request() for _ in range(3)]
    statuses: list[Status] = []
    assert Request.Waitall(reqs, statuses) is True and len(statuses) == 3
    st = Status()
    st.source, st.tag, st.error = 5, 6, 7
    assert Request.Waitany(reqs, st) == UNDEFINED
    assert (st.source, st.tag, st.error) == (ANY_SOURCE, ANY_TAG, 0)
    assert Request.testany(reqs) == (UNDEFINED, True, None)
    assert Request.testall(reqs) == (True, [None, None, None])
    some: list[Status] = [Status()]
    assert Request.Testsome(reqs, some) is None and len(some) == 1
    done = [proc_null_request(), Request()]
    assert Request.Waitsome(done, some) == [0] and len(some) == 1


def test_pickling_handles() -> None:
    assert pickle.loads(pickle.dumps(REQUEST_NULL)) is REQUEST_NULL
    with pytest.raises(ValueError):
        pickle.dumps(proc_null_request())
    for m in (MESSAGE_NULL, MESSAGE_NO_PROC):
        assert pickle.loads(pickle.dumps(m)) is m
        copy = pickle.loads(pickle.dumps(Message(m)))
        assert copy is not m and copy == m


def test_message_no_proc_copies_become_null_when_received() -> None:
    assert not MESSAGE_NULL and MESSAGE_NO_PROC and Message() == MESSAGE_NULL
    m = Message(MESSAGE_NO_PROC)
    st = Status()
    m.Recv(None, st)
    assert m == MESSAGE_NULL and st.Get_source() == PROC_NULL
    MESSAGE_NO_PROC.Recv(None)
    assert MESSAGE_NO_PROC  # the constant itself stays
    req = Message(MESSAGE_NO_PROC).Irecv(None)
    assert req and req.Wait() and not req
