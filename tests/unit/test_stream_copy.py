"""Streaming (non-temporal) stores for large messages: the copy primitive itself, messages through
a ring that streams, and which queues a process streams on."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from toro_mpi.bus import layout as L
from toro_mpi.bus import ring
from toro_mpi.bus.atomics import memcpy_stream
from toro_mpi.bus.segment import Segment


@njit(cache=True)
def _stream_into(dst, offset, src, nbytes):
    memcpy_stream(dst.ctypes.data + offset, src.ctypes.data, nbytes)


@pytest.mark.parametrize("offset", [0, 1, 7, 31, 32, 33])
@pytest.mark.parametrize("nbytes", [0, 1, 5, 31, 32, 33, 63, 64, 100, 1000, 32768, 65537])
def test_memcpy_stream_copies_exactly_the_bytes(offset: int, nbytes: int) -> None:
    """Every alignment of the destination and every length around the 32-byte blocks: the bytes
    asked for arrive, and not one byte either side is touched."""
    src = np.random.default_rng(nbytes * 64 + offset).integers(1, 256, 70000, dtype=np.uint8)
    dst = np.zeros(70100, np.uint8)
    _stream_into(dst, offset, src, nbytes)
    assert (dst[offset:offset + nbytes] == src[:nbytes]).all()
    assert not dst[:offset].any() and not dst[offset + nbytes:].any()


QSIZE = 8
BSIZE = 256


@pytest.fixture
def seg():
    s = Segment.create(2, QSIZE, BSIZE)
    s.unlink()
    yield s
    s.close()


def _stream_word(seg: Segment, src: int, dst: int, plane: int = L.P2P_PLANE) -> int:
    return int(seg.handle_words(src, dst, plane)[L.H_STREAM_MIN // 8])


def test_streamed_messages_arrive_whole_through_wraparound(seg) -> None:
    """With streaming from 1 byte on, messages of one fragment, of many fragments, of odd sizes
    and from unaligned sources go round the ring several times and arrive byte for byte."""
    seg.stream_from(1, None, 0)
    assert _stream_word(seg, 0, 1) == 1
    h_tx = seg.handle(0, 1)
    rng = np.random.default_rng(5)
    for nbytes in (1, 33, BSIZE - L.MSG_HEADER, BSIZE, 3 * BSIZE + 17, QSIZE * BSIZE - L.MSG_HEADER):
        for shift in (0, 3):
            backing = rng.integers(0, 256, nbytes + shift, dtype=np.uint8)
            data = backing[shift:]
            out = np.zeros(nbytes, np.uint8)
            info = np.zeros(L.INFO_LEN, np.int64)
            sent = ring.tx_push(h_tx, L.KIND_EAGER, 9, 0, nbytes, 0, data, L.TX_NOT_STARTED)
            status = ring.rx_match(seg.handle(0, 1), 9, 0, out, info)
            while sent < nbytes or status == L.RX_PARTIAL:
                if sent < nbytes:
                    sent = ring.tx_push(h_tx, L.KIND_EAGER, 9, 0, nbytes, 0, data, sent)
                if status == L.RX_PARTIAL:
                    status = ring.rx_continue(seg.handle(0, 1), out)
                elif status == L.RX_EMPTY:
                    status = ring.rx_match(seg.handle(0, 1), 9, 0, out, info)
            assert status == L.RX_COMPLETE
            assert (out == data).all(), (nbytes, shift)


def test_stream_only_towards_other_processes(seg) -> None:
    """Queues whose two ends live in one process keep plain stores (the receiver reads from this
    core's cache); each process sets only the queues it sends on."""
    seg.stream_from(65536, [0, 0], 0)
    assert _stream_word(seg, 0, 1) == 0 and _stream_word(seg, 1, 0) == 0
    seg.stream_from(65536, [0, 1], 0)
    for plane in range(L.PLANES):
        assert _stream_word(seg, 0, 1, plane) == 65536
        assert _stream_word(seg, 1, 0, plane) == 0  # the other process's to set
    seg.stream_from(0, [0, 1], 0)
    assert _stream_word(seg, 0, 1) == 0


def test_stream_threshold_refuses_bad_values(seg) -> None:
    """A negative threshold or a process map of the wrong length is refused."""
    with pytest.raises(ValueError):
        seg.stream_from(-1, None, 0)
    with pytest.raises(ValueError):
        seg.stream_from(1, [0], 0)
