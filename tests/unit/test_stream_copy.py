"""Streaming (non-temporal) stores for large messages: the copy primitive itself, messages through
a ring that streams, and which queues a process streams on."""

from __future__ import annotations

import platform

import numba
import numpy as np
import pytest
from numba import njit

from toro_mpi.bus import atomics, ring
from toro_mpi.bus import layout as L
from toro_mpi.bus.atomics import memcpy_stream
from toro_mpi.bus.segment import Segment


# Not cached: numba would check only this file's date, and keep testing an old memcpy_stream.
@njit
def _stream_into(dst, offset, src, nbytes):
    memcpy_stream(dst.ctypes.data + offset, src.ctypes.data, nbytes)


@pytest.mark.parametrize("misalign", [0, 1, 7, 16, 31])
@pytest.mark.parametrize("nbytes", [0, 1, 5, 31, 32, 33, 63, 64, 100, 1000, 32768, 65537])
def test_memcpy_stream_copies_exactly_the_bytes(misalign: int, nbytes: int) -> None:
    """Every alignment of the destination (misalign bytes past a 32-byte boundary) and every
    length around the 32-byte blocks: the bytes asked for arrive, not one byte either side."""
    src = np.random.default_rng(nbytes * 64 + misalign).integers(1, 256, 70000, dtype=np.uint8)
    dst = np.zeros(70200, np.uint8)
    offset = 32 + (misalign - dst.ctypes.data) % 32
    _stream_into(dst, offset, src, nbytes)
    assert (dst[offset:offset + nbytes] == src[:nbytes]).all()
    assert not dst[:offset].any() and not dst[offset + nbytes:].any()


QSIZE = 8
BSIZE = 256


@pytest.fixture
def seg(make_segment):
    return make_segment(2, QSIZE, BSIZE)


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


X86 = platform.machine().lower() in ("x86_64", "amd64")


@pytest.mark.skipif(not X86, reason="non-temporal stores are an x86 path (a plain memcpy elsewhere)")
def test_streaming_stores_are_fenced_before_the_publish() -> None:
    """The machine code: memcpy_stream's stores are non-temporal and an sfence follows the last
    one (they are weakly ordered: without it the receiver could see avail.idx first), and
    tx_push both streams and fences."""
    _stream_into(np.zeros(128, np.uint8), 0, np.ones(128, np.uint8), 64)
    asm = _stream_into.inspect_asm(_stream_into.signatures[0]).splitlines()
    stores = [i for i, line in enumerate(asm) if "movnt" in line]
    fences = [i for i, line in enumerate(asm) if "sfence" in line]
    assert stores and fences and max(fences) > max(stores)
    # A fresh compile of tx_push's source: a kernel loaded from numba's cache has no assembly.
    fresh = njit(ring.tx_push.py_func)
    data = np.ones(8, np.uint8)
    sig = (numba.int64,) * 6 + (numba.typeof(data), numba.int64)
    fresh.compile(sig)
    push = fresh.inspect_asm(sig)
    assert "movnt" in push and "sfence" in push


@njit
def _prefetch_both(a: np.ndarray) -> float:
    p = atomics.array_address(a)
    atomics.prefetch(p)
    atomics.prefetch_write(p + 64)
    return a[0]


@pytest.mark.skipif(not X86, reason="the hints' machine code is checked on x86")
def test_prefetch_hints_compile_to_prefetch_instructions() -> None:
    """atomics.prefetch / prefetch_write (the ring's small-message hints) are real prefetches of
    the addresses given, read then write, and leave memory as it was."""
    a = np.arange(32, dtype=np.float64)
    assert _prefetch_both(a) == 0.0 and np.array_equal(a, np.arange(32))
    asm = [line.strip() for line in _prefetch_both.inspect_asm(_prefetch_both.signatures[0]).splitlines()]
    hints = [line.split()[0] for line in asm if line.startswith("prefetch")]
    assert len(hints) == 2 and hints[0] == "prefetcht0" and hints[1].startswith("prefetch"), hints
