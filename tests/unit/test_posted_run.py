"""Unit tests of the posted-receive table (mpi/posted_run.py) and its kernels
(bus/ring_at.rx_recv_run_at, rx_recv_run_same) on a private segment, against a stand-in engine's
posted list: runs in posted order, the stop at a non-matching head, a message for the general
path, a mirror dropped when the posted list changes under it, buffers the kernel may not write;
a window of identical posted receives sharing one table row (PostedRun's `same` mode), the row
written out when a different receive joins, completion in parts, a message for the general path
inside such a window; and the call-site block kernels (tx_send_site, rx_recv_site's size in its
result, rx_wait_site, rx_pending_at)."""

from __future__ import annotations

import numpy as np
import pytest

from toro_mpi.bus import layout as L
from toro_mpi.bus import ring, ring_at
from toro_mpi.mpi.p2p import RecvReq
from toro_mpi.mpi.p2p_sites import make_site
from toro_mpi.mpi.posted_run import NOT_APPLICABLE, PostedRun

QSIZE = 16
BSIZE = 256


class _Engine:
    """What PostedRun reads of an engine: its posted list."""

    def __init__(self) -> None:
        self.posted: list[RecvReq] = []


@pytest.fixture
def seg(make_segment):
    return make_segment(2, QSIZE, BSIZE)


@pytest.fixture(scope="module")
def kernel():
    return ring_at.run_at_entry()


@pytest.fixture(scope="module")
def run_kernels():
    return ring_at.run_at_entry(), ring_at.run_same_entry()


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


def test_identical_window_shares_one_row_and_completes_in_parts(seg, run_kernels):
    e, run = _Engine(), PostedRun(run_kernels[0], same_kernel=run_kernels[1])
    buf = np.zeros(8, np.uint8)
    reqs = [post(e, buf, tag=7) for _ in range(10)]
    for i in range(4):
        push(seg, np.full(i + 1, i, np.uint8), tag=7)
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_EMPTY
    assert run.same and run.off == 0
    assert [r.done for r in reqs] == [True] * 4 + [False] * 6
    assert [r.nbytes for r in reqs[:4]] == [1, 2, 3, 4] and int(buf[0]) == 3
    for i in range(6):
        push(seg, np.full(2, 50 + i, np.uint8), tag=7)
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_COMPLETE
    assert all(r.done for r in reqs) and e.posted == [] and int(buf[1]) == 55


def test_different_receive_writes_the_shared_row_out(seg, run_kernels):
    e, run = _Engine(), PostedRun(run_kernels[0], same_kernel=run_kernels[1])
    buf, other = np.zeros(4, np.uint8), np.zeros(4, np.uint8)
    first = [post(e, buf, tag=1) for _ in range(3)]
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_EMPTY and run.same
    odd = post(e, other, tag=2)
    last = post(e, buf, tag=1)
    for i in range(3):
        push(seg, np.full(4, i + 1, np.uint8), tag=1)
    push(seg, np.full(4, 9, np.uint8), tag=2)
    push(seg, np.full(4, 5, np.uint8), tag=1)
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_COMPLETE
    assert not run.same
    assert all(r.done for r in [*first, odd, last])
    assert int(other[0]) == 9 and int(buf[0]) == 5 and odd.rtag == 2


def test_special_message_inside_identical_window(seg, run_kernels):
    e, run = _Engine(), PostedRun(run_kernels[0], same_kernel=run_kernels[1])
    buf = np.zeros(2, np.uint8)
    reqs = [post(e, buf, tag=3) for _ in range(4)]
    push(seg, np.ones(2, np.uint8), tag=3)
    push(seg, np.ones(4, np.uint8), tag=3)  # 4 bytes into 2: truncated, for the general path
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_SPECIAL
    assert reqs[0].done and not reqs[1].done and e.posted == reqs[1:]
    e.posted.pop(0)  # the caller finishes it the general way
    push(seg, np.full(2, 4, np.uint8), tag=3)
    push(seg, np.full(1, 6, np.uint8), tag=3)
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_COMPLETE
    assert reqs[2].nbytes == 2 and reqs[3].nbytes == 1 and int(buf[0]) == 6


def test_site_kernels(seg):
    send, recv, wait = ring_at.send_site_entry(), ring_at.recv_site_entry(), ring_at.wait_site_entry()
    pending = ring_at.pending_entry()
    tx, rx = seg.handle(0, 1), seg.handle(0, 1)
    s = np.arange(6, dtype=np.uint8)
    site_s = make_site(s, ctx=4)
    r = np.zeros(8, np.uint8)
    site_r = make_site(r, ctx=4)
    assert pending(rx) == 0
    assert recv(rx, 1, site_r.blk) == L.RX_EMPTY
    assert wait(rx, 1, site_r.blk, 50) == L.RX_EMPTY
    assert send(tx, 1, site_s.blk) == 6
    assert pending(rx) == 1
    assert recv(rx, 2, site_r.blk) == L.RX_NO_MATCH  # another tag at the head
    assert wait(rx, 1, site_r.blk, 50) == ring_at.RECV_TAKEN + 6
    assert r[:6].tolist() == list(range(6)) and pending(rx) == 0
    small = np.zeros(2, np.uint8)
    assert send(tx, 1, site_s.blk) == 6
    assert recv(rx, L.ANY, make_site(small, ctx=4).blk) == L.RX_SPECIAL  # truncated: general path
    assert send(tx, 1, site_s.blk) == 6
    assert recv(rx, 1, make_site(r, ctx=5).blk) == L.RX_NO_MATCH  # another context
    assert recv(rx, 1, site_r.blk) == ring_at.RECV_TAKEN + 6
    f32 = np.ones(2, np.float32)
    assert send(tx, 1, make_site(f32, ctx=4).blk) == 8
    i32 = np.zeros(2, np.int32)
    assert recv(rx, 1, make_site(i32, ctx=4).blk) == L.RX_SPECIAL  # float32 elements, int32 buffer


def test_buffer_address_kept_for_views_only_by_weak_reference(seg, kernel):
    """Once its receives are complete the table holds no buffer. A view's address is still
    remembered for the next window (a view's memory cannot move), by weak reference: a view
    that is gone, made read-only, or an array owning its memory is looked at again."""
    import gc
    import weakref

    e, run = _Engine(), PostedRun(kernel)
    base = np.zeros(64, np.uint8)
    view = base[:8]
    for window in range(2):
        req = post(e, view, tag=7)
        push(seg, np.full(8, window + 1, np.uint8), tag=7)
        assert run.match(e, 0, seg.handle(0, 1)) == L.RX_COMPLETE and req.done
        assert run._arr is None and run._view() is view  # not held, remembered
        assert int(view[0]) == window + 1
    gone = weakref.ref(view)
    del view, req
    gc.collect()
    assert gone() is None and run._view() is None  # the table kept nothing alive
    other = base[8:16]
    other.flags.writeable = False
    post(e, other, tag=7)
    assert run.match(e, 0, seg.handle(0, 1)) == NOT_APPLICABLE  # never written by address
    e.posted.clear()
    run.forget()
    owning = np.zeros(8, np.uint8)
    post(e, owning, tag=7)
    push(seg, np.full(8, 5, np.uint8), tag=7)
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_COMPLETE and int(owning[0]) == 5
    assert run._arr is None and run._view() is None  # an owning array may be resized: not kept
    # A view remembered, then read-only: refused on the next window.
    view = base[16:24]
    post(e, view, tag=7)
    push(seg, np.full(8, 6, np.uint8), tag=7)
    assert run.match(e, 0, seg.handle(0, 1)) == L.RX_COMPLETE and run._view() is view
    view.flags.writeable = False
    post(e, view, tag=7)
    assert run.match(e, 0, seg.handle(0, 1)) == NOT_APPLICABLE
