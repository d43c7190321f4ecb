"""The doorbell on a private segment: an idle process sleeps on a futex in its slot, and a peer
that publishes a queue index to it rings it (layout: SLOT_BELL, SLOT_SLEEPING). Idle ranks
through the launcher: tests/test_doorbell.py."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from toro_mpi.bus import layout as L
from toro_mpi.bus import ring
from toro_mpi.bus.doorbell import Doorbell
from toro_mpi.bus.futex import SYS_FUTEX, usable
from toro_mpi.bus.segment import Segment

pytestmark = pytest.mark.skipif(not SYS_FUTEX, reason="not Linux on x86-64 or aarch64: no doorbells")


@pytest.fixture
def pair():
    """Two mappings of one 2-rank segment: rank 0's process and rank 1's."""
    a = Segment.create(2, 8, 256)
    b = Segment.attach(a.name)
    a.unlink()
    a.enable_doorbells(None, 0)
    b.enable_doorbells(None, 1)
    yield a, b
    b.close()
    a.close()


def words(seg: Segment, rank: int) -> tuple[int, int]:
    """(doorbell, sleeping) of rank's slot."""
    return (seg.read_word(seg.slot(rank, L.SLOT_BELL)), seg.read_word(seg.slot(rank, L.SLOT_SLEEPING)))


def test_handles_point_at_the_other_process():
    seg = Segment.create(4, 8, 256)
    try:
        seg.unlink()
        own = seg.enable_doorbells([0, 0, 1, 1], 1)  # ranks 0 and 1 in one process, 2 and 3 in another
        bell = {r: seg.base + seg.slot(r, L.SLOT_BELL) for r in range(4)}
        assert own == bell[0]
        peer = lambda s, d, plane=L.P2P_PLANE: int(seg.handle_words(s, d, plane)[L.H_PEER_BELL // 8])  # noqa: E731
        assert peer(0, 1) == 0 and peer(1, 0) == 0  # same process: nobody to ring
        assert peer(1, 3) == bell[2] and peer(3, 0) == bell[2]  # both directions ring process 1's lead
        assert peer(0, 2, L.COLL_PLANE) == bell[2]
        assert peer(2, 3) == 0  # not ours
        assert seg.bells == [bell[0], bell[2]]
    finally:
        seg.close()


def test_send_rings_a_sleeping_receiver_once(pair):
    a, b = pair
    data = np.arange(4, dtype=np.int64)
    assert ring.tx_push(a.handle(0, 1), L.KIND_EAGER, 0, 0, 32, 0, data, L.TX_NOT_STARTED) == 32
    assert words(b, 1) == (0, 0)  # awake: no system call, nothing changes
    bell = Doorbell(b.base + b.slot(1, L.SLOT_BELL))
    token = bell.arm()
    assert words(b, 1) == (0, 1)
    ring.tx_push(a.handle(0, 1), L.KIND_EAGER, 0, 0, 32, 0, data, L.TX_NOT_STARTED)
    assert words(b, 1) == (1, 0)  # rung: the word moved, the sleeping flag taken back
    ring.tx_push(a.handle(0, 1), L.KIND_EAGER, 0, 0, 32, 0, data, L.TX_NOT_STARTED)
    assert words(b, 1) == (1, 0)  # one ring per sleep
    # The word moved since arm(), so the futex does not sleep at all. The hour-long timeout means
    # that returning (within the test's own timeout) can only be that: the timeout cannot expire.
    bell.sleep(token, 3600.0)
    assert words(b, 1) == (1, 0)


def test_a_signal_rings_a_sleeping_receiver_once(pair):
    """A barrier's signal (layout: SIGNALS) is a publish too: it rings a sleeping receiver, once,
    and the receiver takes exactly the signals posted."""
    a, b = pair
    tx, rx = a.handle(0, 1, L.COLL_PLANE), b.handle(0, 1, L.COLL_PLANE)
    ring.tx_signal(tx)
    assert words(b, 1) == (0, 0)
    bell = Doorbell(b.base + b.slot(1, L.SLOT_BELL))
    bell.arm()
    ring.tx_signal(tx)
    assert words(b, 1) == (1, 0)
    ring.tx_signal(tx)
    assert words(b, 1) == (1, 0)
    assert [ring.rx_signal(rx) for _ in range(4)] == [1, 1, 1, 0]
    # The launcher's deadlock check counts a signal not yet taken as traffic in flight.
    assert b.bus_quiet()
    ring.tx_signal(tx)
    assert not b.bus_quiet()
    assert ring.rx_signal(rx) == 1 and b.bus_quiet()


def test_receiving_rings_a_sender_waiting_for_room(pair):
    a, b = pair
    data = np.zeros(8, np.uint8)
    for _ in range(8):
        ring.tx_push(a.handle(0, 1), L.KIND_EAGER, 0, 0, 8, 0, data, L.TX_NOT_STARTED)
    assert ring.tx_push(a.handle(0, 1), L.KIND_EAGER, 0, 0, 8, 0, data, L.TX_NOT_STARTED) == L.TX_NOT_STARTED
    sender = Doorbell(a.base + a.slot(0, L.SLOT_BELL))
    sender.arm()  # the sender sleeps until there is room
    info = np.zeros(L.INFO_LEN, np.int64)
    assert ring.rx_match(b.handle(0, 1), L.ANY, L.ANY, data, info) == L.RX_COMPLETE
    assert words(a, 0) == (1, 0)
    sender.arm()  # asleep for some other reason: taking more from a ring with room wakes nobody
    assert ring.rx_match(b.handle(0, 1), L.ANY, L.ANY, data, info) == L.RX_COMPLETE
    assert words(a, 0) == (1, 1)
    sender.cancel()


def test_futex_waits_work_here():
    assert usable()


def test_a_sleeping_thread_is_woken_by_a_send(pair):
    a, b = pair
    bell = Doorbell(b.base + b.slot(1, L.SLOT_BELL))
    woke = threading.Event()

    def sleeper():
        token = bell.arm()
        bell.sleep(token, 60.0)
        woke.set()

    t = threading.Thread(target=sleeper, daemon=True)
    t.start()
    while words(b, 1)[1] == 0:  # until it has armed
        time.sleep(0.01)
    time.sleep(0.2)  # and very likely sleeps in FUTEX_WAIT (either way it must wake)
    ring.tx_push(a.handle(0, 1), L.KIND_EAGER, 0, 0, 8, 0, np.zeros(8, np.uint8), L.TX_NOT_STARTED)
    assert woke.wait(30), "the send did not wake the sleeping thread"
    assert words(b, 1)[1] == 0


def test_cancel_clears_the_sleeping_word(pair):
    _, b = pair
    bell = Doorbell(b.base + b.slot(1, L.SLOT_BELL))
    bell.arm()
    bell.cancel()
    assert words(b, 1) == (0, 0)
