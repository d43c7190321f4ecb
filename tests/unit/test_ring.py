"""Unit tests of the virtqueue kernels on a private segment: order, wraparound, backpressure,
fragmentation, truncation, and corruption detection."""

from __future__ import annotations

import os

import numpy as np
import posix_ipc
import pytest

from toro_mpi.bus import layout as L
from toro_mpi.bus import ring
from toro_mpi.bus.segment import Segment, SegmentError, launcher_pid_of, make_name

QSIZE = 8
BSIZE = 256
FIRST = BSIZE - L.MSG_HEADER


@pytest.fixture
def seg(make_segment):
    return make_segment(2, QSIZE, BSIZE)


def push(seg, data, tag=0, ctx=0, sent=L.TX_NOT_STARTED):
    return ring.tx_push(seg.handle(0, 1), L.KIND_EAGER, tag, ctx, data.nbytes, 7, data, sent)


def match(seg, out, tag=L.ANY, ctx=L.ANY, info=None):
    info = np.zeros(L.INFO_LEN, np.int64) if info is None else info
    return ring.rx_match(seg.handle(0, 1), tag, ctx, out, info), info


def resume(seg, out):
    return ring.rx_continue(seg.handle(0, 1), out)


def test_small_message_roundtrip_header_fields(seg):
    data = np.arange(10, dtype=np.int64)
    assert push(seg, data, tag=42, ctx=3) == data.nbytes
    out = np.zeros(10, np.int64)
    status, info = match(seg, out, tag=42, ctx=3)
    assert status == L.RX_COMPLETE
    assert (out == data).all()
    assert info[L.INFO_TAG] == 42 and info[L.INFO_CTX] == 3 and info[L.INFO_TOTAL] == 80
    assert info[L.INFO_KIND] == L.KIND_EAGER and info[L.INFO_COOKIE] == 7
    assert match(seg, out)[0] == L.RX_EMPTY


def test_no_match_leaves_head_in_place(seg):
    data = np.ones(4, np.uint8)
    push(seg, data, tag=1, ctx=0)
    out = np.zeros(4, np.uint8)
    assert match(seg, out, tag=2, ctx=0)[0] == L.RX_NO_MATCH
    assert match(seg, out, tag=1, ctx=9)[0] == L.RX_NO_MATCH
    assert match(seg, out, tag=L.ANY, ctx=L.PEEK)[0] == L.RX_NO_MATCH
    assert match(seg, out, tag=1, ctx=0)[0] == L.RX_COMPLETE


def test_zero_byte_message(seg):
    empty = np.empty(0, np.uint8)
    assert push(seg, empty, tag=5) == 0
    status, info = match(seg, empty, tag=5)
    assert status == L.RX_COMPLETE and info[L.INFO_TOTAL] == 0


def test_wraparound_past_65536_with_lagging_consumer(seg):
    """Free-running 16-bit indices stay correct across many wraps (Toro corrupts here)."""
    rng = np.random.default_rng(1)
    sent = received = 0
    total = 70_000
    msg = np.zeros(2, np.int64)
    out = np.zeros(2, np.int64)
    while received < total:
        # The producer runs ahead until the ring is full (backpressure, never loss)...
        while sent < total:
            msg[0] = sent
            msg[1] = sent * 7919
            r = push(seg, msg, tag=sent & 0xFFFF)
            if r == L.TX_NOT_STARTED:
                break
            assert r == 16
            sent += 1
        # ...and the consumer lags, draining a random part of what is there.
        for _ in range(int(rng.integers(1, QSIZE + 1))):
            status, info = match(seg, out)
            if status == L.RX_EMPTY:
                break
            assert status == L.RX_COMPLETE
            assert out[0] == received and out[1] == received * 7919
            assert info[L.INFO_TAG] == received & 0xFFFF
            received += 1
    assert sent == received == total


def test_full_ring_is_backpressure(seg):
    one = np.ones(1, np.uint8)
    for _ in range(QSIZE):
        assert push(seg, one) == 1
    assert push(seg, one) == L.TX_NOT_STARTED
    out = np.zeros(1, np.uint8)
    assert match(seg, out)[0] == L.RX_COMPLETE
    assert push(seg, one) == 1


@pytest.mark.parametrize("size", [FIRST - 1, FIRST, FIRST + 1, BSIZE * 3, BSIZE * QSIZE * 3 + 17])
def test_fragmentation_pipelined(seg, size):
    data = (np.arange(size) % 251).astype(np.uint8)
    out = np.zeros(size, np.uint8)
    sent = push(seg, data)
    assert sent > 0
    status, _ = match(seg, out)
    while status == L.RX_PARTIAL:
        if sent < size:
            sent = push(seg, data, sent=sent)
        status = resume(seg, out)
    assert status == L.RX_COMPLETE and sent == size
    assert (out == data).all()


def test_truncation_consumes_whole_message(seg):
    data = np.arange(600, dtype=np.uint16).view(np.uint8)  # 1200 bytes, several fragments
    small = np.zeros(100, np.uint8)
    sent = push(seg, data)
    status, info = match(seg, small)
    while status == L.RX_PARTIAL:
        sent = push(seg, data, sent=sent)
        status = resume(seg, small)
        if status == L.RX_COMPLETE:
            status = L.RX_SPECIAL  # rx_continue does not know the buffer was short
    assert status == L.RX_SPECIAL and info[L.INFO_TOTAL] == 1200  # truncated: not plain
    assert (small == data[:100]).all()
    follow = np.array([99], np.int32)
    push(seg, follow, tag=9)
    out = np.zeros(1, np.int32)
    assert match(seg, out, tag=9)[0] == L.RX_COMPLETE and out[0] == 99


def _queue_addr(seg, region):
    return seg.queue_offset(0, 1) + seg.regions[region]


def test_corrupt_avail_index_detected(seg):
    view = seg.view()
    push(seg, np.ones(1, np.uint8))
    view[_queue_addr(seg, "avail") + L.RING_IDX: _queue_addr(seg, "avail") + L.RING_IDX + 2] = (
        np.array([QSIZE + 5], np.uint16).view(np.uint8))
    assert match(seg, np.zeros(1, np.uint8))[0] == L.ERR_CORRUPT_INDEX


def test_corrupt_descriptor_address_detected(seg):
    view = seg.view()
    push(seg, np.ones(L.INLINE_MAX + 1, np.uint8))  # not inline: read from its buffer
    d = _queue_addr(seg, "desc") + L.DESC_ADDR
    view[d: d + 8] = np.array([seg.size + 4096], np.int64).view(np.uint8)
    assert match(seg, np.zeros(1, np.uint8))[0] == L.ERR_CORRUPT_DESC


def test_corrupt_descriptor_length_detected(seg):
    view = seg.view()
    push(seg, np.ones(L.INLINE_MAX + 1, np.uint8))  # not inline: read from its buffer
    d = _queue_addr(seg, "desc") + L.DESC_LEN
    view[d: d + 4] = np.array([BSIZE + 1], np.uint32).view(np.uint8)
    assert match(seg, np.zeros(1, np.uint8))[0] == L.ERR_CORRUPT_DESC


def test_corrupt_header_detected(seg):
    view = seg.view()
    push(seg, np.ones(L.INLINE_MAX + 1, np.uint8))  # not inline: read from its buffer
    b = _queue_addr(seg, "buffers") + L.MSG_TOTAL
    view[b: b + 8] = np.array([10**9], np.int64).view(np.uint8)
    assert match(seg, np.zeros(1, np.uint8))[0] == L.ERR_CORRUPT_HEADER


def _inline(seg):
    """(mark word index, inline bytes) of queue 0 -> 1's avail line, as views."""
    view = seg.view()
    at = _queue_addr(seg, "avail")
    return view[at + L.AVAIL_INLINE_SEQ: at + L.AVAIL_INLINE_SEQ + 8].view(np.int64), \
        view[at + L.AVAIL_INLINE: at + L.CACHE_LINE]


def test_small_messages_come_from_the_avail_line(seg):
    """A message of up to INLINE_MAX bytes is copied into the avail line under a mark naming its
    fragment; the receiver takes it from there (its buffer is never read: scribbling on the
    buffer changes nothing). A longer one is not copied there."""
    mark, _ = _inline(seg)
    data = np.arange(L.INLINE_MAX, dtype=np.uint8)
    push(seg, data, tag=5, ctx=2)
    assert mark[0] == 2 * 0 + 2
    b = _queue_addr(seg, "buffers")
    seg.view()[b: b + L.MSG_HEADER + data.nbytes] = 0xEE
    out = np.zeros(L.INLINE_MAX, np.uint8)
    status, info = match(seg, out, tag=5, ctx=2)
    assert status == L.RX_COMPLETE and (out == data).all()
    assert info[L.INFO_TOTAL] == L.INLINE_MAX and info[L.INFO_COOKIE] == 7
    push(seg, np.ones(L.INLINE_MAX + 1, np.uint8))
    assert mark[0] == 2
    assert match(seg, np.zeros(L.INLINE_MAX + 1, np.uint8))[0] == L.RX_COMPLETE


def test_inline_copy_of_a_later_message_or_a_torn_one_falls_back_to_the_buffer(seg):
    """The mark names one fragment: messages sent after it, or a copy being written (odd mark),
    leave earlier ones to their buffers; every message arrives, in order."""
    mark, line = _inline(seg)
    for k in range(3):
        push(seg, np.full(4, k, np.uint8), tag=k)
    assert mark[0] == 2 * 2 + 2
    for k in range(2):
        out = np.zeros(4, np.uint8)
        assert match(seg, out, tag=k)[0] == L.RX_COMPLETE and (out == k).all()
    mark[0] += 1  # the sender is writing a later message's copy now
    line[:] = 0xEE
    out = np.zeros(4, np.uint8)
    assert match(seg, out, tag=2)[0] == L.RX_COMPLETE and (out == 2).all()


@pytest.mark.parametrize("total", [0, 8, 16, 1 << 20])
def test_a_request_whose_total_is_not_its_payload_is_not_inline(seg, total):
    """A rendezvous request carries 16 bytes (the sender's address and size) under the total of
    the message it announces; a copy's length is read from its total, so it is made inline only
    where the two agree."""
    mark, _ = _inline(seg)
    aux = np.array([1234, 5678], np.int64)
    assert ring.tx_push(seg.handle(0, 1), L.KIND_RNDV, 3, 0, total, 9, aux.view(np.uint8), L.TX_NOT_STARTED) == 16
    assert mark[0] == (2 if total == 16 else 0)  # (16: the copy's length is right, so it may be)
    status, info = match(seg, np.zeros(total, np.uint8))
    assert status == L.RX_SPECIAL and info[L.INFO_KIND] == L.KIND_RNDV and info[L.INFO_TOTAL] == total
    assert (info[L.INFO_AUX0], info[L.INFO_AUX1]) == (1234, 5678)


def test_corrupt_inline_copy_never_read_as_a_message(seg):
    """An inline copy whose length is out of range falls back to the buffer; one whose header is
    bad is reported as the buffer's would be."""
    mark, line = _inline(seg)
    push(seg, np.ones(2, np.uint8))
    line[L.MSG_TOTAL: L.MSG_TOTAL + 8] = np.array([L.INLINE_MAX + 1], np.int64).view(np.uint8)
    out = np.zeros(2, np.uint8)
    assert match(seg, out)[0] == L.RX_COMPLETE and (out == 1).all()
    push(seg, np.ones(2, np.uint8))
    line[L.MSG_KIND: L.MSG_KIND + 4] = np.array([999], np.uint32).view(np.uint8)
    assert match(seg, out)[0] == L.ERR_CORRUPT_HEADER


def test_corrupt_used_ring_detected(seg):
    one = np.ones(1, np.uint8)
    for _ in range(QSIZE):
        push(seg, one)
    out = np.zeros(1, np.uint8)
    match(seg, out)
    view = seg.view()
    u = _queue_addr(seg, "used") + L.RING_ENTRIES
    view[u: u + 4] = np.array([5], np.uint32).view(np.uint8)  # out-of-order id
    assert push(seg, one) == L.TX_ERR_BASE + L.ERR_CORRUPT_USED


def test_attach_checks_version_and_magic():
    s = Segment.create(2, QSIZE, BSIZE)
    try:
        s.write_word(L.HDR_VERSION, L.LAYOUT_VERSION + 1)
        with pytest.raises(SegmentError, match="layout version"):
            Segment.attach(s.name)
        s.write_word(L.HDR_VERSION, L.LAYOUT_VERSION)
        s.write_word(L.HDR_MAGIC, 12345)
        with pytest.raises(SegmentError, match="not a toro_mpi bus"):
            Segment.attach(s.name)
    finally:
        s.unlink()
        s.close()


def test_attach_refuses_wide_mode_and_missing():
    name = make_name()
    shm = posix_ipc.SharedMemory(name, flags=posix_ipc.O_CREX, mode=0o644, size=8192)
    try:
        os.fchmod(shm.fd, 0o644)
        with pytest.raises(SegmentError, match="mode"):
            Segment.attach(name)
    finally:
        shm.close_fd()
        shm.unlink()
    with pytest.raises(SegmentError, match="does not exist"):
        Segment.attach(make_name())


def test_segment_name_is_random_and_carries_pid():
    a, b = make_name(), make_name()
    assert a != b
    assert launcher_pid_of(a) == os.getpid()
    s = Segment.create(3, QSIZE, BSIZE)
    try:
        mode = os.stat("/dev/shm/" + s.name.lstrip("/")).st_mode & 0o777
        assert mode == 0o600
        assert s.register(0) == 1 and s.register(1) == 2
    finally:
        s.unlink()
        s.close()
    assert not os.path.exists("/dev/shm/" + s.name.lstrip("/"))


def test_bad_geometry_rejected():
    with pytest.raises(ValueError):
        Segment.create(2, 6, BSIZE)
    with pytest.raises(ValueError):
        Segment.create(2, 8, 100)


def test_corrupt_queue_geometry_refused_on_attach():
    s = Segment.create(2, QSIZE, BSIZE)
    try:
        q = s.queue_offset(1, 0)
        s.view()[q + L.QG_BSIZE: q + L.QG_BSIZE + 8] = np.array([1 << 20], np.int64).view(np.uint8)
        with pytest.raises(SegmentError, match="geometry"):
            Segment.attach(s.name)
    finally:
        s.unlink()
        s.close()


def test_rx_wait_spins_then_reports_empty_or_matches(seg):
    qa = seg.handle(0, 1)
    info = np.zeros(L.INFO_LEN, np.int64)
    out = np.zeros(1, np.int64)
    assert ring.rx_wait(qa, L.ANY, L.ANY, out, info, 1000) == L.RX_EMPTY
    push(seg, np.array([5], np.int64), tag=3)
    assert ring.rx_wait(qa, 3, 0, out, info, 1000) == L.RX_COMPLETE and out[0] == 5


def test_kernels_ignore_a_scribbled_geometry_line(seg):
    """Geometry comes from the private handle: rewriting the shared line cannot redirect copies."""
    q = seg.queue_offset(0, 1)
    view = seg.view()
    for field in (L.QG_BUFFERS, L.QG_USED, L.QG_SELF, L.QG_BSIZE):
        view[q + field: q + field + 8] = np.array([1 << 40], np.int64).view(np.uint8)
    data = np.arange(700, dtype=np.int32)
    out = np.zeros(700, np.int32)
    sent = push(seg, data)
    status, _ = match(seg, out)
    while status == L.RX_PARTIAL:
        sent = push(seg, data, sent=sent)
        status = resume(seg, out)
    assert status == L.RX_COMPLETE and (out == data).all()


def test_scribbled_receive_progress_is_refused(seg):
    data = (np.arange(5000) % 256).astype(np.uint8)  # more fragments than the queue holds
    push(seg, data)
    out = np.zeros(5000, np.uint8)
    assert match(seg, out)[0] == L.RX_PARTIAL
    rxp = seg.queue_offset(0, 1) + seg.regions["rxpriv"] + L.RX_DONE
    seg.view()[rxp: rxp + 8] = np.array([-(1 << 30)], np.int64).view(np.uint8)
    assert resume(seg, out) == L.ERR_CORRUPT_HEADER


def test_attach_refuses_a_segment_of_another_user():
    s = Segment.create(2, QSIZE, BSIZE)
    try:
        os.chown("/dev/shm/" + s.name.lstrip("/"), 65534, -1)  # nobody
        if os.geteuid() != 0 and os.stat("/dev/shm/" + s.name.lstrip("/")).st_uid != 65534:
            pytest.skip("cannot give a segment away without root")
        with pytest.raises(SegmentError, match="belongs to uid 65534"):
            Segment.attach(s.name)
    except PermissionError:
        pytest.skip("cannot give a segment away without root")
    finally:
        s.unlink()
        s.close()
