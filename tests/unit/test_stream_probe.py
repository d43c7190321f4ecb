"""The trials that decide whether large messages are written into the ring with streaming or
plain stores: the sender times its copy of some fragments of each kind, the receiver its copy out,
and the cheaper kind is advised (layout.py, "Streaming stores")."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from toro_mpi.bus import layout as L
from toro_mpi.bus import ring
from toro_mpi.bus.segment import Segment

QSIZE = 8
BSIZE = 256
KIB = 1024  # a trial fragment's payload in the synthetic trials below (so cost per KiB = cost)


@pytest.fixture
def seg(make_segment):
    return make_segment(2, QSIZE, BSIZE)


def _word(addr: int) -> int:
    return ctypes.c_int64.from_address(addr).value


def _queue(seg: Segment, src: int = 0, dst: int = 1) -> tuple[int, int, int]:
    """(handle, queue address, advice word address) of queue src -> dst."""
    words = seg.handle_words(src, dst, L.P2P_PLANE)
    qa = int(words[L.H_QADDR // 8])
    return seg.handle(src, dst), qa, qa + int(words[L.H_SEEN // 8]) + L.SEEN_ADVICE


def _trials(h: int, qa: int, plain: list[int], streamed: list[int]) -> None:
    """Count trial fragments of KIB bytes whose two copies together took these cycles."""
    for cost in plain:
        ring._ab_account(h, qa, cost // 2, cost - cost // 2, KIB)
    for cost in streamed:
        ring._ab_account(h, qa, (cost // 2) | L.AB_STREAMED, cost - cost // 2, KIB)


def test_the_cheaper_kind_is_advised_with_a_margin_to_change(seg) -> None:
    """After ab_samples trials of each kind the cheaper one is advised; one slow trial (an
    interrupt) does not decide; streaming is advised only when cheaper by more than AB_MARGIN/16
    and then stays until plain stores are cheaper by as much; nothing is decided before both kinds
    have their samples."""
    h, qa, advice = _queue(seg)
    n = ring.ab_samples(QSIZE)
    assert n == QSIZE // 2 and ring.ab_samples(64) == L.AB_SAMPLES and ring.ab_samples(2) == 2
    _trials(h, qa, [3000] * n, [4000] * (n - 1))
    assert _word(advice) == L.STREAM_UNMEASURED
    _trials(h, qa, [], [4000])
    assert _word(advice) == L.STREAM_OFF
    assert _word(h + L.H_AB_LAST) == 1333  # streamed cost per mille of plain
    steps = [
        ([3000] * (n - 1) + [10**7], [2000] * n, L.STREAM_ON),  # one slow plain trial is dropped
        ([3000] * n, [2000] * (n - 1) + [10**7], L.STREAM_ON),
        ([3000] * n, [3100] * n, L.STREAM_OFF),  # a tie: plain, whatever the advice before
        ([4000] * n, [1000] * n, L.STREAM_ON),
        ([3000] * n, [2900] * n, L.STREAM_OFF),  # cheaper, but within the margin
        ([3000] * n, [4000] * n, L.STREAM_OFF),
    ]
    for plain, streamed, want in steps:
        _trials(h, qa, plain, streamed)
        assert _word(advice) == want, (plain[0], streamed[0])
        for kind in (L.H_AB_PLAIN, L.H_AB_STREAM):
            assert _word(h + kind + L.AB_COUNT) == 0  # a fresh window after each decision


def test_samples_whose_counter_went_backwards_are_dropped(seg) -> None:
    """A copy timed at zero or fewer cycles (the counter of another core) is not a sample."""
    h, qa, advice = _queue(seg)
    for took in (0, -5, -(10**9)):
        ring._ab_account(h, qa, 100, took, KIB)
    assert _word(h + L.H_AB_PLAIN + L.AB_COUNT) == 0 and _word(h + L.H_AB_PLAIN + L.AB_SUM) == 0
    assert _word(advice) == L.STREAM_UNMEASURED


def test_the_sender_stores_by_the_advice_outside_trials() -> None:
    """Outside the trials a message streams unless the advice is STREAM_OFF; a message too short
    to stream never does; nothing outside the trials is timed."""
    q = 64
    outside = L.AB_SKIP + L.AB_TRIAL_PASSES * q  # just after the first trials
    for nxt in (0, L.AB_SKIP - 1, outside, outside + 12345):
        for probe in (False, True):
            assert ring.store_kind(nxt, q, True, L.STREAM_OFF, probe, True) == (False, False)
            assert ring.store_kind(nxt, q, True, L.STREAM_ON, probe, True) == (True, False)
            assert ring.store_kind(nxt, q, True, L.STREAM_UNMEASURED, probe, True) == (True, False)
            assert ring.store_kind(nxt, q, False, L.STREAM_ON, probe, True) == (False, False)


def test_trials_time_each_kind_one_pass_after_it_took_the_ring() -> None:
    """In a trial window the kind goes by blocks of AB_BLOCK_PASSES passes (plain first), whatever
    the advice; only a block's last pass is timed, so a timed fragment's buffer (the same slot one
    pass back) was last written with the same kind. The window comes back every period: at its
    start while unmeasured, AB_SETTLED_PASSES later while an advice stands."""
    q = 16
    for period in (0, 1, 5):
        for advice in (L.STREAM_UNMEASURED, L.STREAM_ON, L.STREAM_OFF):
            base = L.AB_SKIP + period * L.AB_PERIOD_PASSES * q
            if advice != L.STREAM_UNMEASURED:
                base += L.AB_SETTLED_PASSES * q
            for t in range(-3, L.AB_TRIAL_PASSES * q + 3):
                nt, timed = ring.store_kind(base + t, q, True, advice, True, True)
                if not 0 <= t < L.AB_TRIAL_PASSES * q:
                    assert (nt, timed) == (advice != L.STREAM_OFF, False), (period, t)
                    continue
                ring_pass = t // q
                assert nt == ((ring_pass // L.AB_BLOCK_PASSES) % 2 == 1), (period, t)
                assert timed == (ring_pass % L.AB_BLOCK_PASSES == L.AB_BLOCK_PASSES - 1), (period, t)
                if timed:
                    assert ring.store_kind(base + t - q, q, True, advice, True, True)[0] == nt
                assert ring.store_kind(base + t, q, True, advice, True, False) == (nt, False)
    kinds = [ring.store_kind(L.AB_SKIP + t, q, True, L.STREAM_UNMEASURED, True, True)
             for t in range(L.AB_TRIAL_PASSES * q)]
    timed = [nt for nt, was_timed in kinds if was_timed]
    assert timed.count(True) == timed.count(False) > 0  # as many of each kind


def test_a_standing_advice_runs_alone_before_its_trials() -> None:
    """A queue started with an advice (a past job's, preset by the launcher) stores by it alone
    for its first AB_SETTLED_PASSES passes: a short job never tries the other kind."""
    q = 64
    for nxt in range(0, L.AB_SKIP + L.AB_SETTLED_PASSES * q, 7):
        assert ring.store_kind(nxt, q, True, L.STREAM_OFF, True, True) == (False, False), nxt
        assert ring.store_kind(nxt, q, True, L.STREAM_ON, True, True) == (True, False), nxt
    first_timed = L.AB_SKIP + (L.AB_SETTLED_PASSES + L.AB_BLOCK_PASSES - 1) * q  # then its trials begin
    assert ring.store_kind(first_timed, q, True, L.STREAM_OFF, True, True) == \
        (False, True)


def test_a_tie_on_the_first_decision_still_decides(seg) -> None:
    """The first comparison always gives an advice: plain stores unless streaming is cheaper by
    the margin."""
    h, qa, advice = _queue(seg)
    _trials(h, qa, [3000] * ring.ab_samples(QSIZE), [2900] * ring.ab_samples(QSIZE))
    assert _word(advice) == L.STREAM_OFF


def _send_through(seg: Segment, count: int, nbytes: int = 2 * BSIZE + 5) -> dict[int, int]:
    """count messages 0 -> 1, each taken at once; the probe word of each fragment by its index."""
    data = np.arange(nbytes, dtype=np.uint8)
    out = np.zeros(nbytes, np.uint8)
    info = np.zeros(L.INFO_LEN, np.int64)
    h, qa, _ = _queue(seg)
    txp = qa + int(seg.handle_words(0, 1, L.P2P_PLANE)[L.H_TXPRIV // 8])
    words = {}
    for _ in range(count):
        out[:] = 0
        sent = ring.tx_push(h, L.KIND_EAGER, 1, 0, nbytes, 0, data, L.TX_NOT_STARTED)
        status = ring.rx_match(h, 1, 0, out, info)
        while sent < nbytes or status == L.RX_PARTIAL:
            if sent < nbytes:
                sent = ring.tx_push(h, L.KIND_EAGER, 1, 0, nbytes, 0, data, sent)
            status = ring.rx_continue(h, out) if status == L.RX_PARTIAL else status
        assert status == L.RX_COMPLETE and (out == data).all()
        nxt = _word(txp + L.TX_NEXT)
        frags = -(-(nbytes + L.MSG_HEADER) // BSIZE)
        for k in range(nxt - frags, nxt):
            at = qa + L.CACHE_LINE + (k & (QSIZE - 1)) * L.DESC_SIZE + L.DESC_PROBE
            words[k] = ctypes.c_uint32.from_address(at).value
    return words


def test_trial_fragments_carry_the_senders_cost_and_lead_to_an_advice(seg) -> None:
    """With trials on, from the AB_SKIP-th fragment the last pass of each block of a trial window
    carries the sender's cycles and its kind (plain blocks first); others carry nothing, and small
    messages (under the stream threshold) are never trials, and a message's short tail is not
    timed. The receiver's copies end in an advice."""
    seg.stream_from(64, [0, 1], 0, probe=True)
    h, qa, advice = _queue(seg)
    assert set(_send_through(seg, L.AB_SKIP - 4, nbytes=16).values()) == {0}
    window = L.AB_TRIAL_PASSES * QSIZE
    words = _send_through(seg, (window + 8) // 3 + 2, nbytes=3 * BSIZE - L.MSG_HEADER)  # 3 full fragments
    assert min(words) < L.AB_SKIP and max(words) >= L.AB_SKIP + window
    # The first decision comes in the first streamed block's timed pass (ab_samples of each kind:
    # half a pass); from the next message on, the advice stands and the window moves
    # AB_SETTLED_PASSES later, so the rest of this one carries nothing.
    decided = 2 * L.AB_BLOCK_PASSES - 1
    assert ring.ab_samples(QSIZE) <= QSIZE // 2
    for k, w in words.items():
        ring_pass = (k - L.AB_SKIP) // QSIZE
        if 0 <= ring_pass < decided and ring_pass % L.AB_BLOCK_PASSES == L.AB_BLOCK_PASSES - 1:
            assert w & L.AB_COST_MASK > 0 and not w & L.AB_STREAMED, (k, w)
        elif ring_pass == decided and w:
            assert w & L.AB_STREAMED, (k, w)  # its messages before the decision
        else:
            assert w == 0, (k, w)
    assert sum(1 for k, w in words.items() if w and (k - L.AB_SKIP) // QSIZE == decided) >= ring.ab_samples(QSIZE)
    assert _word(advice) in (L.STREAM_ON, L.STREAM_OFF)
    assert _word(h + L.H_AB_LAST) > 0
    tails = _send_through(seg, L.AB_PERIOD_PASSES * QSIZE // 3 + 4, nbytes=2 * BSIZE + 5)  # 37-byte tails
    assert any(tails.values())
    for k, w in tails.items():
        if w and (k + 1) % 3 == 0:
            pytest.fail(f"a message's 37-byte tail was timed: {k}")


def test_messages_under_half_a_buffer_are_measured_too(seg) -> None:
    """A message over the stream threshold but under B/2 (one short fragment) is timed on both
    sides and counted, so traffic of only such messages still reaches an advice."""
    seg.stream_from(64, [0, 1], 0, probe=True)
    h, qa, advice = _queue(seg)
    nbytes = BSIZE // 2 - L.MSG_HEADER - 8
    assert 64 <= nbytes < BSIZE // 2
    words = _send_through(seg, L.AB_SKIP + L.AB_TRIAL_PASSES * QSIZE, nbytes=nbytes)
    assert sum(1 for w in words.values() if w) >= 2 * ring.ab_samples(QSIZE)
    assert _word(advice) in (L.STREAM_ON, L.STREAM_OFF)


def test_without_trials_nothing_is_timed(seg) -> None:
    """Streaming by size alone (probe off): no probe words, and the advice is never set."""
    seg.stream_from(64, [0, 1], 0, probe=False)
    *_, advice = _queue(seg)
    assert set(_send_through(seg, (L.AB_SKIP + L.AB_TRIAL_PASSES * QSIZE) // 3 + 1).values()) == {0}
    assert _word(advice) == L.STREAM_UNMEASURED


def test_only_senders_to_other_processes_run_trials(seg) -> None:
    """Hosted ranks (one process) and a job that never streams run no trials; the flag is set on
    the queues a process sends on to another process, in both planes."""
    seg.stream_from(8192, [0, 0], 1, probe=True)
    assert int(seg.handle_words(1, 0, L.P2P_PLANE)[L.H_STREAM_PROBE // 8]) == 0
    seg.stream_from(0, [0, 1], 1, probe=True)
    assert int(seg.handle_words(1, 0, L.P2P_PLANE)[L.H_STREAM_PROBE // 8]) == 0
    seg.stream_from(8192, [0, 1], 1, probe=True)
    for plane in range(L.PLANES):
        assert int(seg.handle_words(1, 0, plane)[L.H_STREAM_PROBE // 8]) == 1
        assert int(seg.handle_words(0, 1, plane)[L.H_STREAM_PROBE // 8]) == 0


def test_every_byte_arrives_whatever_the_advice(seg) -> None:
    """The sender reads the advice before each message it could stream and takes the plain or
    the streaming copy by it (trials both): every byte arrives, at every size around a fragment."""
    seg.stream_from(1, [0, 1], 0, probe=True)
    *_, advice = _queue(seg)
    rng = np.random.default_rng(3)
    for word in (L.STREAM_OFF, L.STREAM_ON, L.STREAM_UNMEASURED):
        for nbytes in (1, BSIZE - L.MSG_HEADER, 2 * BSIZE + 5):
            ctypes.c_int64.from_address(advice).value = word
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


def test_a_held_trial_fragment_counts_its_combine(seg) -> None:
    """A reduction's segment read in place (bus/held.py) counts as a trial: timed from
    held_payload to release_held; a release without held_payload (a failed run's) does not."""
    from toro_mpi.bus import held

    seg.stream_from(64, [0, 1], 0, probe=True)
    h, qa, _ = _queue(seg)
    _send_through(seg, L.AB_SKIP + QSIZE, nbytes=16)  # the next fragment opens a timed pass
    nbytes = BSIZE - L.MSG_HEADER
    data = np.arange(nbytes, dtype=np.uint8)
    counts = []
    for read in (True, False):
        assert ring.tx_push(h, L.KIND_EAGER, 5, 7, nbytes, 0, data, L.TX_NOT_STARTED) == nbytes
        assert held.rx_hold(h, 5, 7, nbytes) == held.HOLD_OK
        if read:
            at = held.held_payload(h)
            assert ctypes.string_at(at, nbytes) == data.tobytes()
        assert held.release_held(h) == 0
        counts.append(_word(h + L.H_AB_PLAIN + L.AB_COUNT))
    assert counts == [1, 1]


def test_a_release_that_fails_leaves_no_timer_behind(seg) -> None:
    """release_held clears the held timer before anything can fail, so a stale start cannot be
    counted against a later fragment (as one huge sample)."""
    from toro_mpi.bus import held

    seg.stream_from(64, [0, 1], 0, probe=True)
    h, _qa, _ = _queue(seg)
    ctypes.c_int64.from_address(h + L.H_AB_HELD).value = 12345
    assert held.release_held(h) < 0  # nothing is held: the queue is empty
    assert _word(h + L.H_AB_HELD) == 0
