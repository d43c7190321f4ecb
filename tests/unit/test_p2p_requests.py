"""The born-complete requests of the small-message hot paths (mpi/request.py): SentRequest (an
Isend that left in one go) and ReceivedRequest (an Irecv that took its message at once) behave
as any completed request does: status, Test/Wait/Get_status, Cancel, handle copies, pickling,
REQUEST_NULL after completion. No job is started."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from toro_mpi import MPI
from toro_mpi.errors import MPIException
from toro_mpi.mpi.request import REQUEST_NULL, ReceivedRequest, Request, SentRequest
from toro_mpi.mpi.status import Status


def _received(source: int = 3, tag: int = 7, count: int = 5) -> ReceivedRequest:
    r = ReceivedRequest()
    r._source, r._tag, r._count = source, tag, count
    return r


def test_sent_request_completes_with_the_empty_status() -> None:
    r = SentRequest()
    assert r and r != REQUEST_NULL
    st = Status()
    assert r.Get_status(st)
    assert r.Test(st)
    assert (st.Get_source(), st.Get_tag(), st.Get_count()) == (-1, -1, 0)
    assert r == REQUEST_NULL and not r
    assert r.Wait() and r.wait() is None  # a completed request stays complete


def test_sent_request_waitall_and_copy_share_completion() -> None:
    a, b = SentRequest(), SentRequest()
    copy = Request(a)  # mpi4py's copy constructor: another handle to the same request
    assert copy == a and copy != b
    assert Request.Waitall([a, b])
    assert a == REQUEST_NULL and b == REQUEST_NULL and copy == REQUEST_NULL


@pytest.mark.parametrize("how", ["Wait", "Test", "Waitall", "Waitany", "Testall"])
def test_received_request_reports_its_status(how: str) -> None:
    r = _received()
    st = Status()
    if how == "Wait":
        r.Wait(st)
    elif how == "Test":
        assert r.Test(st)
    elif how == "Waitall":
        sts = [Status()]
        Request.Waitall([r], sts)
        st = sts[0]
    elif how == "Waitany":
        assert Request.Waitany([REQUEST_NULL, r], st) == 1
    else:
        sts = [Status()]
        assert Request.Testall([r], sts)
        st = sts[0]
    assert (st.Get_source(), st.Get_tag(), st.Get_count(), st.Is_cancelled()) == (3, 7, 5, False)
    assert r == REQUEST_NULL


def test_received_request_get_status_keeps_it_active_and_cancel_has_no_effect() -> None:
    r = _received(source=0, tag=11, count=2)
    st = Status()
    assert r.Get_status(st) and r
    assert (st.Get_source(), st.Get_tag(), st.Get_count()) == (0, 11, 2)
    r.Cancel()  # matched already: completes normally
    st = Status()
    r.Wait(st)
    assert not st.Is_cancelled() and st.Get_tag() == 11
    with pytest.raises(MPIException):  # REQUEST_NULL now: Cancel is ERR_REQUEST
        r.Cancel()


def test_received_request_copy_reads_the_same_status() -> None:
    r = _received(source=1, tag=4, count=9)
    copy = Request(r)
    st = Status()
    copy.Wait(st)
    assert (st.Get_source(), st.Get_tag(), st.Get_count()) == (1, 4, 9)
    assert r == REQUEST_NULL and copy == REQUEST_NULL


def test_born_complete_requests_pickle_only_when_null() -> None:
    for r in (SentRequest(), _received()):
        with pytest.raises(ValueError):
            pickle.dumps(r)
        r.Wait()
        assert pickle.loads(pickle.dumps(r)) == REQUEST_NULL


def test_completed_receive_and_object_send_requests_pickle_as_null() -> None:
    """A completed Irecv (a CommRequest) and a completed isend of an object (several messages)
    pickle as a null Request, as in mpi4py; their constructors take arguments, so pickling them
    as their own class failed with TypeError."""
    comm = MPI.COMM_SELF
    recv = comm.Irecv(np.zeros(1), source=0, tag=71)
    with pytest.raises(ValueError):
        pickle.dumps(recv)
    comm.Send(np.ones(1), dest=0, tag=71)
    recv.Wait()
    sent = comm.isend({"a": bytes(100)}, dest=0, tag=72)
    sent.wait()
    assert comm.recv(source=0, tag=72) == {"a": bytes(100)}
    for req in (recv, sent):
        back = pickle.loads(pickle.dumps(req))
        assert type(back) is Request and back == REQUEST_NULL
