"""The receiver's measure of the sender's core, which decides whether large messages are written
into the ring with streaming or plain stores (layout.py, "Streaming stores")."""

from __future__ import annotations

import ctypes
import platform

import numba
import numpy as np
import pytest
from numba import njit

from toro_mpi.bus import layout as L
from toro_mpi.bus import ring
from toro_mpi.bus.segment import Segment
from toro_mpi.bus.transport import tsc_ghz

QSIZE = 8
BSIZE = 256


@pytest.fixture
def seg(make_segment):
    return make_segment(2, QSIZE, BSIZE)


def _word(addr: int) -> int:
    return ctypes.c_int64.from_address(addr).value


def _queue(seg: Segment, src: int = 0, dst: int = 1) -> tuple[int, int, int, int]:
    """(handle, queue address, RXPRIV address, advice word address) of queue src -> dst."""
    words = seg.handle_words(src, dst, L.P2P_PLANE)
    qa = int(words[L.H_QADDR // 8])
    return seg.handle(src, dst), qa, qa + int(words[L.H_RXPRIV // 8]), qa + int(words[L.H_SEEN // 8]) + L.SEEN_ADVICE


def test_a_window_of_slow_loads_advises_streaming_and_fast_ones_plain(seg) -> None:
    """PROBE_WINDOW loads slower than the bound give FAR; the next window's minimum under it
    gives NEAR; loads under a third of the bound (cache hits) are not counted at all."""
    h, qa, rxp, advice = _queue(seg)
    far = 300
    assert _word(advice) == L.STREAM_UNMEASURED
    for took in [900, 50, 400, 99] + [350] * (L.PROBE_WINDOW - 2):  # 50 and 99: hits, ignored
        assert _word(advice) == L.STREAM_UNMEASURED
        ring._probed(h, qa, rxp, took, far)
    assert _word(advice) == L.STREAM_FAR and _word(rxp + L.RX_PROBE_LAST) == 350
    for took in [1000] * (L.PROBE_WINDOW - 1) + [120]:  # one fast transfer is enough: the minimum
        ring._probed(h, qa, rxp, took, far)
    assert _word(advice) == L.STREAM_NEAR and _word(rxp + L.RX_PROBE_LAST) == 120
    for took in [301] * L.PROBE_WINDOW:
        ring._probed(h, qa, rxp, took, far)
    assert _word(advice) == L.STREAM_FAR


def _send_through(seg: Segment, count: int, nbytes: int = 16) -> None:
    """count messages 0 -> 1, each taken at once (one fragment each)."""
    data = np.arange(nbytes, dtype=np.uint8)
    out = np.zeros(nbytes, np.uint8)
    info = np.zeros(L.INFO_LEN, np.int64)
    for _ in range(count):
        assert ring.tx_push(seg.handle(0, 1), L.KIND_EAGER, 1, 0, nbytes, 0, data, L.TX_NOT_STARTED) == nbytes
        assert ring.rx_match(seg.handle(0, 1), 1, 0, out, info) == L.RX_COMPLETE
        assert (out == data).all()


def test_the_receiver_times_descriptor_zero_once_per_pass(seg) -> None:
    """A receiver that measures (rank 1, its sender in another process) times one load per pass
    over the ring and decides after PROBE_WINDOW passes; with a bound of 1 cycle nothing is a hit
    and every real load is slower, so the advice is FAR. A receiver that does not measure
    leaves the word alone."""
    seg.stream_from(64, [0, 1], 1, far_cycles=1)
    assert int(seg.handle_words(0, 1, L.P2P_PLANE)[L.H_FAR_CYCLES // 8]) == 1
    h, qa, rxp, advice = _queue(seg)
    _send_through(seg, QSIZE * L.PROBE_WINDOW)  # passes 1.. see descriptor 0 again: 7 probes
    assert _word(advice) == L.STREAM_UNMEASURED and _word(rxp + L.RX_PROBES) == L.PROBE_WINDOW - 1
    _send_through(seg, 1)
    assert _word(advice) == L.STREAM_FAR and _word(rxp + L.RX_PROBE_LAST) > 0
    *_, back = _queue(seg, 1, 0)
    _send_through(seg, QSIZE * (L.PROBE_WINDOW + 1))
    assert _word(back) == L.STREAM_UNMEASURED  # queue 1 -> 0: rank 0's to measure, not ours


def test_only_queues_from_other_processes_are_measured(seg) -> None:
    """Hosted ranks (one process) and a job that never streams do not measure; the bound is
    set on the queues a process receives on from another process, in both planes."""
    seg.stream_from(8192, [0, 0], 1, far_cycles=300)
    assert int(seg.handle_words(0, 1, L.P2P_PLANE)[L.H_FAR_CYCLES // 8]) == 0
    seg.stream_from(0, [0, 1], 1, far_cycles=300)
    assert int(seg.handle_words(0, 1, L.P2P_PLANE)[L.H_FAR_CYCLES // 8]) == 0
    seg.stream_from(8192, [0, 1], 1, far_cycles=300)
    for plane in range(L.PLANES):
        assert int(seg.handle_words(0, 1, plane)[L.H_FAR_CYCLES // 8]) == 300
        assert int(seg.handle_words(1, 0, plane)[L.H_FAR_CYCLES // 8]) == 0
    with pytest.raises(ValueError):
        seg.stream_from(8192, [0, 1], 1, far_cycles=-1)


def test_an_advice_of_near_keeps_plain_stores_and_the_bytes(seg) -> None:
    """The sender reads the advice before each message it could stream; whatever it says, every
    byte arrives (the stores differ, not the data)."""
    seg.stream_from(1, [0, 1], 0)
    *_, advice = _queue(seg)
    rng = np.random.default_rng(3)
    for word in (L.STREAM_NEAR, L.STREAM_FAR, L.STREAM_UNMEASURED):
        ctypes.c_int64.from_address(advice).value = word
        for nbytes in (1, BSIZE - L.MSG_HEADER, 2 * BSIZE + 5):
            data = rng.integers(0, 256, nbytes, dtype=np.uint8)
            out = np.zeros(nbytes, np.uint8)
            info = np.zeros(L.INFO_LEN, np.int64)
            sent = ring.tx_push(seg.handle(0, 1), L.KIND_EAGER, 2, 0, nbytes, 0, data, L.TX_NOT_STARTED)
            status = ring.rx_match(seg.handle(0, 1), 2, 0, out, info)
            while sent < nbytes or status == L.RX_PARTIAL:
                if sent < nbytes:
                    sent = ring.tx_push(seg.handle(0, 1), L.KIND_EAGER, 2, 0, nbytes, 0, data, sent)
                status = ring.rx_continue(seg.handle(0, 1), out) if status == L.RX_PARTIAL else status
            assert status == L.RX_COMPLETE and (out == data).all()


def test_tsc_rate_is_read_from_the_kernel() -> None:
    """Linux's "cpu MHz" gives the counter's rate (0 where absent: no measuring)."""
    ghz = tsc_ghz()
    assert ghz == 0.0 or 0.3 < ghz < 10.0


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="rdtsc is x86")
def test_the_timed_load_sits_between_the_two_counter_reads() -> None:
    """The machine code of a fresh compile of rx_continue: between the two `rdtsc` of the probe
    there is a load from memory (the compiler once moved a plain load out from between them,
    leaving a probe that timed nothing)."""
    fresh = njit(ring.rx_continue.py_func)
    sig = (numba.int64, numba.typeof(np.zeros(1, np.uint8)))
    fresh.compile(sig)
    asm = fresh.inspect_asm(sig).splitlines()
    reads = [i for i, line in enumerate(asm) if line.strip() == "rdtsc"]
    assert len(reads) == 2
    between = asm[reads[0] + 1:reads[1]]
    assert any(line.strip().startswith("mov") and "(" in line.split(",")[0] for line in between), between
