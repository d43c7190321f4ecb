"""Parked messages (mpi/p2p.py): two engines, ranks 0 and 1, in this one process on a private
segment (no job). A large message that arrives before its receive stays in the ring (its header
on the unexpected list) until a receive takes it straight into its buffer; it is spilled (copied
out as any unexpected message) when the engine must read past it: a receive, ANY_SOURCE receive,
probe or Iprobe that could take a later message, an acknowledgement awaited from its sender,
the rank going idle, the queue full behind it, a matched probe; and it keeps MPI's ordering,
truncation, matched-probe and fragment behaviour. Jobs: tests/test_p2p_parked.py."""

from __future__ import annotations

import numpy as np
import pytest

from toro_mpi.bus.transport import VirtioBus
from toro_mpi.errors import ERR_TRUNCATE, MPIException
from toro_mpi.mpi import p2p
from toro_mpi.mpi.p2p import ANY_SOURCE, ANY_TAG, Engine

QSIZE = 16
BSIZE = 4096  # a 64 KiB ring
PARK = 2048
SCHED = {"spin_passes": 1, "yield_passes": 1, "doorbell": False}


@pytest.fixture
def pair(make_segment):
    """Engines of ranks 0 and 1 over one private segment; parking from PARK bytes."""
    seg = make_segment(2, QSIZE, BSIZE)
    return [Engine(VirtioBus(seg, r, False), r, 2, {"park_threshold": PARK}, dict(SCHED)) for r in (0, 1)]


def data(n: int, salt: int) -> np.ndarray:
    return ((np.arange(n) * 7 + salt) % 251).astype(np.uint8)


def send(e1: Engine, n: int, tag: int, salt: int, ctx: int = 0, sync: bool = False) -> p2p.SendReq:
    return e1.isend(data(n, salt), n, 0, tag, ctx, sync)


def settle(*engines: Engine, rounds: int = 50) -> None:
    """A few progress passes of each engine."""
    for _ in range(rounds):
        for e in engines:
            e.progress()


def test_parked_then_received_straight_from_the_ring(pair) -> None:
    e0, e1 = pair
    send(e1, 10000, 5, 1)
    assert e0.progress()
    assert e0.parks == 1 and list(e0.parked) == [1]
    msg = e0.unexpected[0]
    assert msg.parked and msg.data is None and (msg.src, msg.tag, msg.total) == (1, 5, 10000)
    assert e0.iprobe(1, 5, 0) is msg  # probing it leaves it parked
    buf = np.zeros(10000, np.uint8)
    req = e0.irecv(buf, buf.nbytes, 1, 5, 0)
    assert req.done and req.error is None and (req.source, req.rtag, req.nbytes) == (1, 5, 10000)
    assert np.array_equal(buf, data(10000, 1))
    assert not e0.unexpected and not e0.parked and e0.spills == 0 and msg.data is None


def test_small_messages_are_not_parked(pair) -> None:
    e0, e1 = pair
    send(e1, PARK - 1, 5, 1)
    e0.progress()
    assert e0.parks == 0 and e0.unexpected[0].data is not None


def test_receive_for_a_later_message_spills_and_order_holds(pair) -> None:
    e0, e1 = pair
    send(e1, 8000, 1, 1)
    send(e1, 8000, 1, 2)
    send(e1, 64, 2, 3)
    e0.progress()
    assert list(e0.parked) == [1]
    small = np.zeros(64, np.uint8)
    req = e0.irecv(small, 64, 1, 2, 0)
    settle(e0)
    assert req.done and np.array_equal(small, data(64, 3))
    assert e0.spills == 1 and not e0.parked
    for salt in (1, 2):  # equal tags come in the order sent
        buf = np.zeros(8000, np.uint8)
        r = e0.irecv(buf, 8000, 1, 1, 0)
        settle(e0)
        assert r.done and np.array_equal(buf, data(8000, salt))


@pytest.mark.parametrize("src, tag", [(ANY_SOURCE, 2), (1, ANY_TAG)])
def test_wildcard_receives(pair, src: int, tag: int) -> None:
    """ANY_SOURCE for another tag spills; ANY_TAG from the sender takes the parked message."""
    e0, e1 = pair
    send(e1, 8000, 1, 1)
    send(e1, 64, 2, 2)
    e0.progress()
    buf = np.zeros(8000, np.uint8)
    req = e0.irecv(buf, buf.nbytes, src, tag, 0)
    settle(e0)
    assert req.done and req.error is None
    if tag == 2:
        assert req.nbytes == 64 and e0.spills == 1
    else:
        assert req.rtag == 1 and np.array_equal(buf, data(8000, 1)) and e0.spills == 0


def test_iprobe_and_probe_waiters_look_past_a_parked_message(pair) -> None:
    e0, e1 = pair
    send(e1, 8000, 1, 1)
    send(e1, 64, 2, 2)
    e0.progress()
    assert e0.parked
    assert e0.iprobe(1, 1, 0) is not None and e0.parked  # the parked one: found, left parked
    found = None
    for _ in range(20):
        found = e0.iprobe(1, 2, 0)
        if found:
            break
    assert found is not None and found.total == 64 and e0.spills == 1
    # A blocking probe's waiter (self.probes) makes the drain spill too.
    send(e1, 8000, 3, 3)
    send(e1, 64, 4, 4)
    settle(e0)
    assert list(e0.parked) == [1]
    e0.probes.append(p2p.RecvReq(1, 4, 0, None, 0))
    settle(e0)
    assert e0.spills == 2 and e0.find_unexpected(1, 4, 0) is not None


def test_awaited_ack_behind_a_parked_message_spills(pair) -> None:
    e0, e1 = pair
    send(e1, 8000, 1, 1)
    e0.progress()
    assert e0.parked
    sreq = e0.isend(data(16, 9), 16, 1, 7, 0, sync=True)
    assert not sreq.done
    e0.progress()
    assert e0.spills == 1 and not e0.parked
    got = np.zeros(16, np.uint8)
    rreq = e1.irecv(got, 16, 0, 7, 0)
    for _ in range(20):
        e1.progress()
        e0.progress()
    assert rreq.done and sreq.done


def test_a_full_queue_and_going_idle_spill_and_nothing_parks_while_idle(pair) -> None:
    """Passes that move nothing leave a parked message parked; the queue full behind it (its
    sender then waits for room only this rank can make) spills it after PARK_FULL_PASSES passes,
    whatever else moves; going idle spills it;
    and while the rank is idle (it may look at its queues once more before it sleeps) nothing
    parks, since nobody would spill it before the sender's wake-up."""
    e0, e1 = pair
    send(e1, 8000, 1, 1)
    settle(e0, rounds=500)
    assert e0.parked and e0.spills == 0
    behind = [send(e1, 100, 2, k) for k in range(QSIZE)]  # more than the ring holds
    settle(e1, e0, rounds=5)
    assert e0.parked  # a moment for the receive that would take it
    settle(e1, e0, rounds=p2p.PARK_FULL_PASSES)
    assert not e0.parked and e0.spills == 1
    settle(e1, e0, rounds=50)
    assert all(r.done for r in behind)
    send(e1, 8000, 1, 2)
    e0.progress()
    assert e0.parked
    e0.on_idle(True)
    assert not e0.parked and e0.spills == 2
    send(e1, 8000, 1, 3)
    e0.progress()
    assert not e0.parked and e0.spills == 2  # copied out, not parked
    e0.on_idle(False)
    send(e1, 8000, 1, 4)
    e0.progress()
    assert e0.parked
    for salt in (1, 2, 3, 4):
        buf = np.zeros(8000, np.uint8)
        r = e0.irecv(buf, 8000, 1, 1, 0)
        assert r.done and np.array_equal(buf, data(8000, salt))
    for k in range(QSIZE):
        buf = np.zeros(100, np.uint8)
        assert e0.irecv(buf, 100, 1, 2, 0).done and np.array_equal(buf, data(100, k))


def test_truncated_parked_message_then_the_next(pair) -> None:
    e0, e1 = pair
    send(e1, 8000, 1, 1)
    send(e1, 8000, 1, 2)
    e0.progress()
    small = np.zeros(3000, np.uint8)
    req = e0.irecv(small, small.nbytes, 1, 1, 0)
    assert req.done and isinstance(req.error, MPIException) and req.error.error_class == ERR_TRUNCATE
    assert np.array_equal(small, data(8000, 1)[:3000]) and req.nbytes == 8000
    settle(e0)
    buf = np.zeros(8000, np.uint8)
    r = e0.irecv(buf, 8000, 1, 1, 0)
    settle(e0)
    assert r.done and r.error is None and np.array_equal(buf, data(8000, 2))


def test_matched_probe_of_a_parked_message(pair) -> None:
    """Mprobe takes it off the unexpected list, which the receive fast paths look at before they
    read a queue head: so it is spilled at once; Mrecv delivers that copy."""
    e0, e1 = pair
    send(e1, 8000, 1, 1)
    send(e1, 64, 2, 2)
    e0.progress()
    msg = e0.iprobe(1, 1, 0)
    assert msg.parked
    e0.take(msg)
    assert not msg.parked and not e0.unexpected and not e0.parked and e0.spills == 1
    small = np.zeros(64, np.uint8)
    r = e0.irecv(small, 64, 1, 2, 0)
    settle(e0)
    assert r.done and np.array_equal(small, data(64, 2))
    buf = np.zeros(8000, np.uint8)
    got = e0.recv_taken(p2p.RecvReq(1, 1, 0, buf, 8000), msg)
    assert got.done and np.array_equal(buf, data(8000, 1))


def test_parked_message_larger_than_the_ring(pair) -> None:
    """Parked with only its first fragments in the ring (its sender waits for room): received in
    fragments, and also spilled in fragments, by hand or once the full queue has waited."""
    e0, e1 = pair
    n = QSIZE * BSIZE * 2
    sreq = send(e1, n, 1, 1)
    assert not sreq.done
    e0.progress()
    assert e0.parked
    buf = np.zeros(n, np.uint8)
    req = e0.irecv(buf, n, 1, 1, 0)
    settle(e1, e0)
    assert req.done and sreq.done and np.array_equal(buf, data(n, 1)) and e0.spills == 0
    sreq = send(e1, n, 1, 2)
    settle(e0)
    assert e0.parked
    e0.spill_all()
    settle(e1, e0)
    assert sreq.done and e0.spills == 1
    req = e0.irecv(buf, n, 1, 1, 0)
    assert req.done and np.array_equal(buf, data(n, 2))
    sreq = send(e1, n, 1, 3)
    settle(e0)
    assert e0.parked and not sreq.done
    settle(e1, e0, rounds=p2p.PARK_FULL_PASSES + 50)
    assert sreq.done and e0.spills == 2
    req = e0.irecv(buf, n, 1, 1, 0)
    assert req.done and np.array_equal(buf, data(n, 3))


def test_object_receive_of_a_parked_message(pair) -> None:
    e0, e1 = pair
    send(e1, 8000, 1, 1)
    e0.progress()
    req = e0.irecv(None, 0, 1, 1, 0)
    assert req.done and np.array_equal(req.arr, data(8000, 1))


def test_hosted_ranks_and_park_threshold_zero_never_park(make_segment) -> None:
    seg = make_segment(2, QSIZE, BSIZE)
    off = Engine(VirtioBus(seg, 0, False), 0, 2, {"park_threshold": 0}, dict(SCHED))
    assert off.park_min > 1 << 40
    on = Engine(VirtioBus(seg, 0, False), 0, 2, {"park_threshold": PARK}, dict(SCHED))
    hosted = Engine(VirtioBus(seg, 0, False), 0, 2, {"park_threshold": PARK}, dict(SCHED), sched=on.sched)
    assert on.park_min == PARK and hosted.park_min > 1 << 40
