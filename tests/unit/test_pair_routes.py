"""Pieces of the 2-rank collective routes (mpi/pair_collectives.py) on a private segment, in one
process: the acknowledgement window Engine.exchange_rndv files its send in, and how a rank
tells that a peer shares its process with other ranks. Jobs: tests/test_pair_collectives.py."""

from __future__ import annotations

import numpy as np

from toro_mpi.bus import layout as L
from toro_mpi.bus.transport import VirtioBus
from toro_mpi.mpi.p2p import Engine, SendReq

SCHED = {"spin_passes": 1, "yield_passes": 1, "doorbell": False}


def _request(seq: int) -> SendReq:
    req = SendReq(1, L.KIND_RNDV, 0, 5, 0, 8, seq, np.zeros(1), 16, True)
    req.sent = req.nbytes
    return req


def test_late_request_keeps_the_window_in_order(make_segment) -> None:
    """poll_acks reads RNDV_SLOTS requests from the first one noted: a request noted after newer
    ones (exchange_rndv's, when progress sent others meanwhile) goes in its place."""
    seg = make_segment(2, 8, 256)
    e = Engine(VirtioBus(seg, 0, False), 0, 2, {}, dict(SCHED))
    out = np.zeros(4)
    e._await_ack(out, 1, 5, 0, 1)  # nothing waiting: noted as is
    assert list(e.slot_waiting[1]) == [1]
    e.slot_waiting[1][3] = _request(3)
    req = e._await_ack(out, 1, 5, 0, 2)  # older than the last noted
    assert list(e.slot_waiting[1]) == [1, 2, 3]
    assert e.slot_waiting[1][2] is req and req.keep is out and req.cookie == 2 and not req.done
    del e.slot_waiting[1][1]  # the oldest acknowledged first: the window now starts at 2
    assert next(iter(e.slot_waiting[1])) == 2
    e._await_ack(out, 1, 5, 0, 4)  # newer than all: appended
    assert list(e.slot_waiting[1]) == [2, 3, 4]


def test_hosts_others_reads_the_pid_words(make_segment) -> None:
    """A rank shares its process when another rank's pid word holds its pid (green-thread ranks);
    the answer is kept."""
    seg = make_segment(3, 8, 256)
    for rank, pid in enumerate((4242, 4242, 4343)):
        seg.write_word(seg.slot(rank, L.SLOT_PID), pid)
    bus = VirtioBus(seg, 2, False)
    assert bus.hosts_others(0) and bus.hosts_others(1)
    assert not bus.hosts_others(2)
    seg.write_word(seg.slot(1, L.SLOT_PID), 4444)  # (pids never change in a job: kept)
    assert bus.hosts_others(0)
