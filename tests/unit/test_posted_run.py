"""Unit tests of the posted-receive table (mpi/posted_run.py) and its kernel
(bus/ring_at.rx_recv_run_at) on a private segment, against a stand-in engine's posted list:
runs in posted order, the stop at a non-matching head, a message for the general path, a
mirror dropped when the posted list changes under it, buffers the kernel may not write."""

from __future__ import annotations

import numpy as np
import pytest

from toro_mpi.bus import layout as L
from toro_mpi.bus import ring, ring_at
from toro_mpi.bus.segment import Segment
from toro_mpi.mpi.p2p import RecvReq
from toro_mpi.mpi.posted_run import NOT_APPLICABLE, PostedRun

QSIZE = 16
BSIZE = 256


class _Engine:
    """What PostedRun reads of an engine: its posted list."""

    def __init__(self) -> None:
        self.posted: list[RecvReq] = []


@pytest.fixture
def seg():
    s = Segment.create(2, QSIZE, BSIZE)
    s.unlink()
    yield s
    s.close()


@pytest.fixture(scope="module")
def kernel():
    return ring_at.run_at_entry()


def push(seg, data, tag, ctx=0, flags=0):
    kind = L.KIND_EAGER | flags << 16
    return ring.tx_push(seg.handle(0, 1), kind, tag, ctx, data.nbytes, 0, data, L.TX_NOT_STARTED)


def post(engine, buf, tag, ctx=0, src=0):
    req = RecvReq(src, tag, ctx, buf, buf.nbytes)
    engine.posted.append(req)
    return req


def test_run_takes_messages_in_posted_order(seg, kernel):
    e, run = _Engine(), PostedRun(kernel)
    bufs = [np.zeros(4, np.uint8) for _ in range(5)]
    reqs = [post(e, b, tag=L.ANY if i == 2 else 7) for i, b in enumerate(bufs)]
    for i in range(3):
        push(seg, np.full(4, i + 1, np.uint8), tag=7)
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_EMPTY
    assert [r.done for r in reqs] == [True, True, True, False, False]
    assert [int(b[0]) for b in bufs[:3]] == [1, 2, 3]
    assert [(r.source, r.rtag, r.nbytes) for r in reqs[:3]] == [(0, 7, 4)] * 3
    assert e.posted == reqs[3:]
    # The rest arrive: the mirror (two receives) still holds, no row is rebuilt.
    push(seg, np.full(4, 9, np.uint8), tag=7)
    push(seg, np.full(2, 8, np.uint8), tag=7)
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_COMPLETE
    assert e.posted == [] and reqs[4].nbytes == 2 and int(bufs[4][0]) == 8


def test_run_stops_at_other_tag_and_at_special(seg, kernel):
    e, run = _Engine(), PostedRun(kernel)
    a, b = np.zeros(4, np.uint8), np.zeros(2, np.uint8)
    ra = post(e, a, tag=1)
    rb = post(e, b, tag=1)
    push(seg, np.ones(4, np.uint8), tag=5)
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_NO_MATCH
    assert not ra.done and e.posted == [ra, rb]
    info = np.zeros(L.INFO_LEN, np.int64)
    assert ring.rx_match(seg.handle(0, 1), 5, L.ANY, np.zeros(4, np.uint8), info) == L.RX_COMPLETE
    push(seg, np.ones(4, np.uint8), tag=1)
    push(seg, np.ones(4, np.uint8), tag=1)  # 4 bytes into 2: truncated, for the general path
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_SPECIAL
    assert ra.done and not rb.done and e.posted == [rb]  # rb left for the caller to finish


def test_mirror_dropped_when_posted_list_changes(seg, kernel):
    e, run = _Engine(), PostedRun(kernel)
    bufs = [np.full(4, 0, np.uint8) for _ in range(4)]
    reqs = [post(e, b, tag=10 + i) for i, b in enumerate(bufs)]
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_EMPTY  # mirror of all four
    del e.posted[1]  # cancelled in the middle
    push(seg, np.full(4, 1, np.uint8), tag=10)
    push(seg, np.full(4, 3, np.uint8), tag=12)
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_EMPTY
    assert reqs[0].done and not reqs[1].done and reqs[2].done and int(bufs[2][0]) == 3
    assert e.posted == [reqs[3]]


def test_unwritable_or_other_source_buffers_not_applicable(seg, kernel):
    e, run = _Engine(), PostedRun(kernel)
    ro = np.zeros(4, np.uint8)
    ro.flags.writeable = False
    post(e, ro, tag=1)
    assert run.match(e, 0, seg.handle(0, 1)) == NOT_APPLICABLE
    e.posted.clear()
    post(e, np.zeros((2, 2), np.uint8), tag=1)  # 2-D: the general path's kernels take it
    assert run.match(e, 0, seg.handle(0, 1)) == NOT_APPLICABLE
    e.posted.clear()
    post(e, np.zeros(4, np.uint8), tag=1, src=3)
    assert run.match(e, 0, seg.handle(0, 1)) == NOT_APPLICABLE


def test_element_type_mismatch_goes_to_general_path(seg, kernel):
    e, run = _Engine(), PostedRun(kernel)
    r = post(e, np.zeros(2, np.int32), tag=1)
    flags = ring.wire_type_of(np.zeros(1, np.float32)) << L.FLAG_TYPE_SHIFT
    push(seg, np.ones(2, np.float32).view(np.uint8), tag=1, flags=flags)
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_SPECIAL
    assert not r.done and e.posted == [r]
