"""The receiver's measure of the sender's core, which decides whether large messages are written
into the ring with streaming or plain stores (layout.py, "Streaming stores")."""

from __future__ import annotations

import ctypes
import time

import numba
import numpy as np
import pytest
from numba import njit

from toro_mpi.bus import layout as L
from toro_mpi.bus import ring
from toro_mpi.bus.atomics import IS_X86, read_cycles
from toro_mpi.bus.segment import Segment

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


def _set_rate(seg: Segment, cycles_per_ns: float = 1.0, src: int = 0, dst: int = 1) -> None:
    """Give queue src -> dst's probe a learnt counter rate, so it decides at once."""
    seg.handle_words(src, dst, L.P2P_PLANE)[L.H_TSC_RATE // 8] = int(cycles_per_ns * 65536)


def _window(h: int, qa: int, rxp: int, loads: list[int]) -> None:
    assert len(loads) == L.PROBE_WINDOW
    for took in loads:
        ring._probed(h, qa, rxp, took)


def test_the_third_slowest_load_decides_with_a_band_between(seg) -> None:
    """With the bound at 300 ns: the third slowest load of a window above the bound advises
    streaming, under 3/4 of it plain stores, in between the advice stays; two slow outliers (an
    interrupt) do not make a near core far; hits among transfers do not make a far core near
    unless six of eight hit; a window of hits alone (ranks sharing a core's caches) is near."""
    seg.handle_words(0, 1, L.P2P_PLANE)[L.H_FAR_NS // 8] = 300
    _set_rate(seg)
    h, qa, rxp, advice = _queue(seg)
    steps = [
        ([900, 50, 400, 99, 350, 20, 30, 40], L.STREAM_FAR, 350),
        ([50] * 6 + [5000, 9000], L.STREAM_NEAR, 50),  # two outliers
        ([250] * 8, L.STREAM_NEAR, 250),  # in the band: stays
        ([301] * 8, L.STREAM_FAR, 301),
        ([250] * 8, L.STREAM_FAR, 250),  # in the band: stays
        ([20] * 5 + [400, 500, 600], L.STREAM_FAR, 400),  # five hits, three transfers
        ([20] * 6 + [400, 500], L.STREAM_NEAR, 20),
        ([20] * 8, L.STREAM_NEAR, 20),
    ]
    for loads, want, last in steps:
        _window(h, qa, rxp, loads)
        assert (_word(advice), _word(rxp + L.RX_PROBE_LAST)) == (want, last), loads


def test_no_decision_in_the_middle_of_a_window_or_before_the_rate_is_known(seg) -> None:
    """The advice moves only at the end of a window, and not at all while the counter's rate is
    being learnt (those loads are not counted)."""
    seg.handle_words(0, 1, L.P2P_PLANE)[L.H_FAR_NS // 8] = 300
    h, qa, rxp, advice = _queue(seg)
    for _ in range(3 * L.PROBE_WINDOW):  # no rate yet, and 2 ms have not passed
        ring._probed(h, qa, rxp, 5000)
    assert _word(advice) == L.STREAM_UNMEASURED and _word(rxp + L.RX_PROBES) == 0
    _set_rate(seg)
    for took in [5000] * (L.PROBE_WINDOW - 1):
        ring._probed(h, qa, rxp, took)
        assert _word(advice) == L.STREAM_UNMEASURED
    ring._probed(h, qa, rxp, 5000)
    assert _word(advice) == L.STREAM_FAR


@pytest.mark.skipif(not IS_X86, reason="the time-stamp counter is x86's")
def test_the_counter_rate_is_learnt_against_the_monotonic_clock(seg) -> None:
    """The first look starts the measurement, the rate is known once 2 ms have passed, and it
    agrees with the counter against Python's clock over the same time."""
    h, *_ = _queue(seg)
    words = seg.handle_words(0, 1, L.P2P_PLANE)
    assert ring._calibrated(h) == 0 and words[L.H_CAL_NS // 8] > 0
    t0, c0 = time.perf_counter_ns(), int(words[L.H_CAL_TSC // 8])
    assert ring._calibrated(h) == 0  # too soon
    time.sleep(0.01)
    rate = ring._calibrated(h)
    c1, t1 = _read_cycles(), time.perf_counter_ns()
    assert rate > 0 and words[L.H_TSC_RATE // 8] == rate and ring._calibrated(h) == rate
    assert rate / 65536 == pytest.approx((c1 - c0) / (t1 - t0), rel=0.2)


@njit
def _read_cycles():
    return read_cycles()


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
    over the ring and decides after PROBE_WINDOW passes; with a bound of 1 ns every real load
    is slower, so the advice is FAR. A receiver that does not measure
    leaves the word alone."""
    seg.stream_from(64, [0, 1], 1, far_ns=1)
    assert int(seg.handle_words(0, 1, L.P2P_PLANE)[L.H_FAR_NS // 8]) == 1
    _set_rate(seg)
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
    seg.stream_from(8192, [0, 0], 1, far_ns=300)
    assert int(seg.handle_words(0, 1, L.P2P_PLANE)[L.H_FAR_NS // 8]) == 0
    seg.stream_from(0, [0, 1], 1, far_ns=300)
    assert int(seg.handle_words(0, 1, L.P2P_PLANE)[L.H_FAR_NS // 8]) == 0
    seg.stream_from(8192, [0, 1], 1, far_ns=300)
    for plane in range(L.PLANES):
        assert int(seg.handle_words(0, 1, plane)[L.H_FAR_NS // 8]) == 300
        assert int(seg.handle_words(1, 0, plane)[L.H_FAR_NS // 8]) == 0
    with pytest.raises(ValueError):
        seg.stream_from(8192, [0, 1], 1, far_ns=-1)


def test_every_byte_arrives_whatever_the_advice(seg) -> None:
    """The sender reads the advice before each message it could stream and takes the plain or
    the streaming copy by it: both deliver every byte, at every size around a fragment."""
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


@pytest.mark.skipif(not IS_X86, reason="rdtsc is x86's")
def test_the_timed_load_sits_between_the_two_counter_reads() -> None:
    """The machine code of a fresh compile of rx_continue: the probe's two `rdtsc` have exactly
    one load from memory between them, fenced on both sides (the compiler once moved a plain
    load out from between them, leaving a probe that timed nothing)."""
    fresh = njit(ring.rx_continue.py_func)
    sig = (numba.int64, numba.typeof(np.zeros(1, np.uint8)))
    fresh.compile(sig)
    asm = [line.strip() for line in fresh.inspect_asm(sig).splitlines()]
    reads = [i for i, line in enumerate(asm) if line == "rdtsc"]
    pairs = [(a, b) for a, b in zip(reads, reads[1:], strict=False) if b - a < 12]
    assert len(pairs) == 1, reads
    a, b = pairs[0]
    between = asm[a + 1:b]
    loads = [line for line in between if line.startswith("mov") and "(" in line.split(",")[0]]
    assert len(loads) == 1, between
    i = between.index(loads[0])
    assert "lfence" in between[:i] and "lfence" in between[i:], between
