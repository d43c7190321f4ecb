"""The virtqueue hot path in numba nopython mode: enqueue, poll, dequeue, reclaim, copy.

Every kernel takes the handle of one virtqueue (the address of its process-private geometry
record, see layout.py for the bytes)
and does a whole step in one call: the sender pushes as many fragments as the ring has room
for, the receiver drains every fragment that is available. Python never loops per fragment.

Bounds checks: every index, descriptor and header read from shared memory is validated
before it is used as an address, so a scribbled segment yields a negative error code instead
of a wild read or write.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, types
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from . import layout as L
from .atomics import (
    array_address,
    compare_exchange_i64,
    cpu_relax,
    fence_acquire,
    fence_after_rmw,
    fence_release,
    fence_seq_cst,
    fetch_add_i64,
    int64_pointer,
    load_acquire_i64,
    load_acquire_u16,
    load_i64,
    load_u32,
    memcpy,
    memcpy_stream,
    prefetch,
    prefetch_write,
    read_cycles,
    store_i64,
    store_relaxed_i64,
    store_release_i64,
    store_release_u16,
    store_u16,
    store_u32,
)
from .compiling import compile_once
from .futex import FUTEX_WAIT, FUTEX_WAKE, SYS_FUTEX, WAKE_ALL
from .rma_kernels import SYS_VM
from .views import pointer_view

_MASK16 = 0xFFFF
# process_vm_readv's number here (0: none; the receive kernels then leave rendezvous reads to Python).
_SYS_VM_READV = SYS_VM[0] if SYS_VM is not None else 0

# The futex system call, for the doorbell (layout: SLOT_BELL). libc's `syscall` as an external
# function keeps the kernels cacheable (a ctypes function in a kernel would not be).
_syscall = types.ExternalFunction("syscall", types.int64(types.int64, types.int64, types.int64, types.int64,
                                                         types.int64, types.int64, types.int64))


@njit(cache=True)
def ring_bell(bell):
    """Wake the process whose doorbell is at `bell` if it sleeps or is about to (one waker wins).

    The caller has published an index and made a seq_cst fence since (see ring_peer)."""
    if load_acquire_i64(bell + L.BELL_SLEEPING) != 0 and compare_exchange_i64(bell + L.BELL_SLEEPING, 1, 0) == 1:
        fetch_add_i64(bell, 1)
        _syscall(SYS_FUTEX, bell, FUTEX_WAKE, WAKE_ALL, 0, 0, 0)


@njit(cache=True, inline="always")
def ring_peer(h, after_rmw=False):
    """After publishing an index of queue h: ring the other end's process if it sleeps.

    The fence orders our index store before our read of its sleeping word; the sleeper orders
    its sleeping store before its last look at the queues the same way (doze_arm). A publish
    made with a seq_cst read-modify-write (after_rmw) needs no separate fence on x86, where the
    locked instruction is a full barrier itself (atomics.fence_after_rmw)."""
    bell = load_i64(h + L.H_PEER_BELL)
    if bell != 0:
        if after_rmw:
            fence_after_rmw()
        else:
            fence_seq_cst()
        ring_bell(bell)


@njit(cache=True)
def ring_bells(bells):
    """Ring each doorbell address in `bells` whose process sleeps (after a store they must see,
    e.g. this rank's state turning finished: the fence orders it before our reads)."""
    fence_seq_cst()
    for i in range(bells.size):
        ring_bell(bells[i])


@njit(cache=True)
def doze_arm(bell):
    """Announce that this process is about to sleep on its doorbell; return the value to wait on.

    The doorbell is read before the sleeping word is set: a wake after that changes it, so the
    wait (doze_wait) returns at once instead of missing it."""
    seq = load_acquire_i64(bell) & 0xFFFFFFFF
    store_release_i64(bell + L.BELL_SLEEPING, 1)
    fence_seq_cst()
    return seq


@njit(cache=True, nogil=True)
def doze_wait(bell, seq, timespec):
    """Sleep until the doorbell moves from `seq`, a signal, or the timeout (int64[2] at timespec).

    Without the GIL: other threads of the program (I/O, a progress thread) run meanwhile."""
    _syscall(SYS_FUTEX, bell, FUTEX_WAIT, seq, timespec, 0, 0)
    store_release_i64(bell + L.BELL_SLEEPING, 0)


def wire_type_of(buf):
    """The wire type code (layout.WIRE_TYPES) of an array's elements; a constant in jitted code."""
    dtype = buf.dtype
    return L.wire_type(dtype.str[1:]) if dtype.byteorder in "=|" else 0


@overload(wire_type_of, inline="always")
def _wire_type_of_jit(buf):
    # Resolved at compile time: each per-dtype kernel carries its own constant.
    try:
        code = wire_type_of(np.empty(0, as_dtype(buf.dtype)))
    except Exception:  # noqa: BLE001 - a numba type without a numpy equivalent: plain bytes
        code = 0
    return lambda buf: code


# Prefetch hints for small messages, whose every line is a transfer between the two cores:
# _release prefetches the first line of up to PREFETCH_AHEAD fragments published after the one
# it hands back, when that one was at most PREFETCH_MAX_LENGTH bytes (header included); tx_push
# takes the next buffer's first line for writing after a message of at most that many bytes.
# Large messages are left to the hardware prefetcher: with the receiver's hint on for every
# size, osu_bw 8 KiB measured 0.7-0.9x of the code before it in two short runs (not pursued).
PREFETCH_AHEAD = 2
PREFETCH_MAX_LENGTH = 1024


@njit(cache=True, inline="always")
def _geometry(h):
    """(queue address, Q, B) from the queue's private handle."""
    return load_i64(h + L.H_QADDR), load_i64(h + L.H_QSIZE), load_i64(h + L.H_BSIZE)


@njit(cache=True)
def store_kind(nxt, qsize, stream, advice, probe, long_enough):
    """(streamed, timed) for fragment `nxt` (the sender's TX_NEXT) of a message: `stream` if the
    message is long enough to stream at all, `advice` the receiver's (STREAM_*), `probe` whether
    this queue runs trials, `long_enough` whether the fragment is long enough to be timed.

    Outside the trials a message streams unless the advice is STREAM_OFF (so until the first
    decision, STREAM_UNMEASURED, it streams). A trial (AB_TRIAL_PASSES ring passes in every
    AB_PERIOD_PASSES, from fragment AB_SKIP; while an advice stands, AB_SETTLED_PASSES later in
    the period, so that a queue started with a past job's advice runs that long on it before
    trying the other kind) takes its kind from its block of
    AB_BLOCK_PASSES passes, plain then streamed, and only the last pass of a block is timed: its
    buffer was last written, one pass earlier, with the same kind, so each kind is timed in its
    own steady state and not in the switch from the other (layout.py, "Streaming stores")."""
    if not stream:
        return False, False
    period = qsize * L.AB_PERIOD_PASSES
    t = (nxt - L.AB_SKIP) & (period - 1)
    if advice != L.STREAM_UNMEASURED:
        t = (t - L.AB_SETTLED_PASSES * qsize) & (period - 1)
    if probe and t < L.AB_TRIAL_PASSES * qsize:
        ring_pass = t // qsize
        nt = (ring_pass // L.AB_BLOCK_PASSES) & 1 == 1
        return nt, long_enough and ring_pass % L.AB_BLOCK_PASSES == L.AB_BLOCK_PASSES - 1
    return advice != L.STREAM_OFF, False


@njit(cache=True)
def tx_push(h, kind, tag, ctx, total, cookie, buf, sent):
    """Enqueue fragments of one message on the queue with handle h; return payload bytes sent.

    `kind` is KIND_* | flags << 16. `sent` is what the previous call returned
    (L.TX_NOT_STARTED before the first fragment). The header travels in the first fragment with
    up to B - 32 payload bytes; continuation fragments carry B bytes. All of `buf` is sent; the
    header says `total` (equal to buf.nbytes except for a rendezvous request).
    Returns TX_NOT_STARTED when the ring had no room for the first fragment, a value below
    that when the used ring is corrupt.
    """
    qa, qsize, bsize = _geometry(h)
    avail = qa + load_i64(h + L.H_AVAIL)
    used = qa + load_i64(h + L.H_USED)
    txp = qa + load_i64(h + L.H_TXPRIV)
    bufs = load_i64(h + L.H_BUFFERS)
    qoff = load_i64(h + L.H_QOFF)
    nbytes = buf.nbytes
    src = array_address(buf)
    nxt = load_i64(txp + L.TX_NEXT)
    seen = load_i64(txp + L.TX_USED)
    stream_min = load_i64(h + L.H_STREAM_MIN)
    stream = stream_min > 0 and nbytes >= stream_min
    advice = L.STREAM_UNMEASURED
    probe = False
    if stream:
        # Plain stores when the receiver found them cheaper (layout.py, "Streaming stores").
        advice = load_acquire_i64(qa + load_i64(h + L.H_SEEN) + L.SEEN_ADVICE)
        probe = load_i64(h + L.H_STREAM_PROBE) != 0
    # Trial fragments this short (a message's tail) are not timed: every message the sender
    # could stream has a first fragment at least this long, so every size gets measured.
    timed_min = min(stream_min, bsize // 2)
    while sent < nbytes or sent == L.TX_NOT_STARTED:
        if nxt - seen >= qsize:
            # Ring looks full: reclaim what the device has handed back (lazy, so the used
            # ring's cache lines move only when we actually need room).
            uidx = load_acquire_u16(used + L.RING_IDX)
            back = (uidx - seen) & _MASK16
            if back > nxt - seen:
                return L.TX_ERR_BASE + L.ERR_CORRUPT_USED
            for k in range(back):
                slot = (seen + k) & (qsize - 1)
                if load_u32(used + L.RING_ENTRIES + slot * L.USED_ELEM) != slot:
                    return L.TX_ERR_BASE + L.ERR_CORRUPT_USED
            seen += back
            store_i64(txp + L.TX_USED, seen)
            if nxt - seen >= qsize:
                break
        pos = nxt & (qsize - 1)
        boff = bufs + pos * bsize
        dst = qa + boff
        first = sent == L.TX_NOT_STARTED
        chunk = min(nbytes, bsize - L.MSG_HEADER) if first else min(nbytes - sent, bsize)
        nt, timed = store_kind(nxt, qsize, stream, advice, probe, chunk >= timed_min)
        t0 = read_cycles() if timed else 0
        if first:
            store_u32(dst + L.MSG_KIND, kind & 0xFFFF)
            store_u32(dst + L.MSG_FLAGS, kind >> 16)
            store_u32(dst + L.MSG_TAG, tag)
            store_u32(dst + L.MSG_CTX, ctx)
            store_i64(dst + L.MSG_TOTAL, total)
            store_i64(dst + L.MSG_COOKIE, cookie)
            if chunk > 0:
                if nt:
                    memcpy_stream(dst + L.MSG_HEADER, src, chunk)
                else:
                    memcpy(dst + L.MSG_HEADER, src, chunk)
            length = L.MSG_HEADER + chunk
            sent = chunk
        else:
            if nt:
                memcpy_stream(dst, src + sent, chunk)
            else:
                memcpy(dst, src + sent, chunk)
            length = chunk
            sent += chunk
        d = qa + L.CACHE_LINE + pos * L.DESC_SIZE
        store_i64(d + L.DESC_ADDR, qoff + boff)
        store_u32(d + L.DESC_LEN, length)
        cost = 0
        if timed:
            took = read_cycles() - t0
            # (A counter that went backwards, a move between cores, leaves the fragment untimed.)
            if took > 0:
                cost = min(took, L.AB_COST_MASK) | (L.AB_STREAMED if nt else 0)
        store_u32(d + L.DESC_PROBE, cost)
        store_u16(avail + L.AVAIL_ENTRIES + 2 * pos, pos)
        if first and nbytes <= L.INLINE_MAX and total == nbytes and not timed:
            # (Not a rendezvous or heap request: its header's total is not its payload's size,
            # which the receiver reads an inline copy's length from.)
            _write_inline(avail, nxt, dst, length)
        nxt += 1
        # Publish: everything above happens-before the device's acquire load of avail.idx.
        store_release_u16(avail + L.RING_IDX, nxt & _MASK16)
    if nxt != load_i64(txp + L.TX_NEXT):
        store_i64(txp + L.TX_NEXT, nxt)
        ring_peer(h)
        if nbytes <= PREFETCH_MAX_LENGTH and nxt - seen < qsize:
            # The next buffer is ours (handed back): take its first line now, while the caller
            # goes on, so the next small message's header stores find it owned (the receiver
            # read it last, a transfer away; ring_peer's fence would wait for it).
            prefetch_write(qa + bufs + (nxt & (qsize - 1)) * bsize)
    return sent


@njit(cache=True, inline="always")
def _write_inline(avail, nxt, frag, length):
    """Copy fragment `nxt` (header and payload, `length` bytes at frag) into the avail line, as a
    seqlock: the mark odd while the copy is written, 2 * nxt + 2 once whole (layout.py, "Inline
    small messages"). The caller publishes avail.idx after this."""
    mark = avail + L.AVAIL_INLINE_SEQ
    store_relaxed_i64(mark, 2 * nxt + 1)
    fence_release()  # the odd mark before any byte of the copy (x86: the compiler's order)
    memcpy(avail + L.AVAIL_INLINE, frag, length)
    store_release_i64(mark, 2 * nxt + 2)


@njit(cache=True)
def tx_signal(h):
    """Post one signal on the queue with handle h (layout: SIGNALS): bump the count the sender
    alone writes (a seq_cst add, so also a release), then ring the receiver if it sleeps."""
    # One locked add instead of a release store and the doorbell's fence: on x86 the locked
    # instruction orders the count before the read of the peer's sleeping word by itself.
    fetch_add_i64(load_i64(h + L.H_QADDR) + load_i64(h + L.H_SIGNALS), 1)
    ring_peer(h, True)


@njit(cache=True)
def rx_signal(h):
    """Take one signal from the queue with handle h if one is posted: 1 if taken, 0 if none,
    L.ERR_CORRUPT_INDEX if the counts say fewer were posted than taken."""
    qa = load_i64(h + L.H_QADDR)
    seen_at = qa + load_i64(h + L.H_SEEN)
    seen = load_i64(seen_at)
    posted = load_acquire_i64(qa + load_i64(h + L.H_SIGNALS))
    if posted == seen:
        return 0
    if posted < seen:
        return L.ERR_CORRUPT_INDEX
    store_release_i64(seen_at, seen + 1)
    return 1


@njit(cache=True)
def rx_signals_waiting(h):
    """How many signals the queue with handle h holds that its receiver has not taken yet (the
    count is an acquire load: what the sender published before its signal is visible too)."""
    qa = load_i64(h + L.H_QADDR)
    return load_acquire_i64(qa + load_i64(h + L.H_SIGNALS)) - load_i64(qa + load_i64(h + L.H_SEEN))


def signals_waiting_reader():
    """The compiled entry point of rx_signals_waiting."""
    return compile_once(rx_signals_waiting, (types.int64,))


@njit(cache=True)
def tx_send(h, tag, ctx, buf):
    """tx_push of a whole plain eager message from its start: the blocking-send fast path.

    Four arguments instead of eight: numba unboxes every argument on every call, and this is
    the call a small Send makes."""
    flags = wire_type_of(buf) << L.FLAG_TYPE_SHIFT
    return tx_push(h, L.KIND_EAGER | flags << 16, tag, ctx, buf.nbytes, 0, buf, L.TX_NOT_STARTED)


@njit(cache=True, inline="always")
def _ack_slot(h, qa, seq):
    """Address of the ACKS slot of rendezvous request `seq` on the queue (layout: "Rendezvous")."""
    return qa + load_i64(h + L.H_ACKS) + (seq & (L.RNDV_SLOTS - 1)) * 8


@njit(cache=True)
def tx_rndv(h, kind, tag, ctx, total, pid, address, spins):
    """Send a rendezvous request for the `total` bytes at `address` of process `pid` on the queue
    with handle h, then wait up to `spins` polls (a pause each) for its acknowledgement.

    `kind` is KIND_RNDV | flags << 16 (FLAG_ACK_SLOT among them). Returns 2 * seq + 1 when the
    receiver has read the payload and acknowledged it, 2 * seq when the request is out but not
    yet acknowledged (see tx_rndv_poll), TX_NOT_STARTED when the ring is full,
    TX_NO_SLOT when every acknowledgement slot is taken (send the message eager instead), or a
    value below TX_ERR_BASE when the used ring is corrupt (layout.py, "Rendezvous")."""
    qa = load_i64(h + L.H_QADDR)
    txp = qa + load_i64(h + L.H_TXPRIV)
    seq = load_i64(txp + L.TX_RNDV_SEQ) + 1
    slot = _ack_slot(h, qa, seq)
    if seq > L.RNDV_SLOTS and load_acquire_i64(slot) < seq - L.RNDV_SLOTS:
        return L.TX_NO_SLOT
    # The payload, two words, from the handle's private scratch words.
    words = pointer_view(int64_pointer(h + L.H_IOV), 2)
    words[0] = pid
    words[1] = address
    sent = tx_push(h, kind, tag, ctx, total, seq, words, L.TX_NOT_STARTED)
    if sent != 16:
        return sent
    store_i64(txp + L.TX_RNDV_SEQ, seq)
    for _ in range(spins):
        if load_acquire_i64(slot) >= seq:
            return 2 * seq + 1
        cpu_relax()
    return 2 * seq + (1 if load_acquire_i64(slot) >= seq else 0)


@njit(cache=True, inline="always")
def _send_rndv(h, tag, ctx, buf, spins):
    pid_at = load_i64(h + L.H_SENDER_PID)
    if pid_at == 0:
        return L.TX_NO_SLOT  # rendezvous off on this queue: the caller sends eager
    flags = L.FLAG_ACK_SLOT | wire_type_of(buf) << L.FLAG_TYPE_SHIFT
    return tx_rndv(h, L.KIND_RNDV | flags << 16, tag, ctx, buf.nbytes, load_i64(pid_at), array_address(buf), spins)


@njit(cache=True)
def tx_send_rndv(h, tag, ctx, buf):
    """tx_rndv of the whole of buf from this process (the queue's H_SENDER_PID), with the
    queue's H_RNDV_SPINS polls for the acknowledgement: a blocking Send's one call (four
    arguments to unbox, as tx_send). Returns what tx_rndv returns."""
    return _send_rndv(h, tag, ctx, buf, load_i64(h + L.H_RNDV_SPINS))


@njit(cache=True)
def tx_isend_rndv(h, tag, ctx, buf):
    """tx_send_rndv without waiting for the acknowledgement (an Isend's)."""
    return _send_rndv(h, tag, ctx, buf, 0)


@njit(cache=True)
def tx_rndv_poll(h, lo):
    """Which of rendezvous requests lo .. lo + RNDV_SLOTS - 1 of the queue with handle h are
    acknowledged: bit k of the result for request lo + k. (The unacknowledged requests of a
    queue always lie in one such window: a request's slot is free only once the request
    RNDV_SLOTS before it is acknowledged.)"""
    qa = load_i64(h + L.H_QADDR)
    mask = 0
    for k in range(L.RNDV_SLOTS):
        if load_acquire_i64(_ack_slot(h, qa, lo + k)) >= lo + k:
            mask |= 1 << k
    return mask


@njit(cache=True, inline="always")
def _rndv_ack(h, qa, seq):
    """Store rendezvous request `seq` in its slot (its payload is read), then ring the sender's
    process if it sleeps (in its Send)."""
    store_release_i64(_ack_slot(h, qa, seq), seq)
    ring_peer(h)


@njit(cache=True)
def rx_rndv_ack(h, seq):
    """Acknowledge rendezvous request `seq` of the queue with handle h (Python read its payload)."""
    _rndv_ack(h, load_i64(h + L.H_QADDR), seq)


@njit(cache=True, inline="always")
def _rndv_deferred(h):
    """Whether the receiving engine wants rendezvous payloads left unread now (H_RNDV_DEFER_AT)."""
    at = load_i64(h + L.H_RNDV_DEFER_AT)
    return at != 0 and load_i64(at) != 0


@njit(cache=True)
def rx_rndv_read(h, pid, address, dst, nbytes, seq):
    """Read rendezvous request `seq`'s payload (nbytes at `address` of process `pid`) into the
    memory at dst and acknowledge it, for the engine (a read it put off, or an unexpected
    message's): 1 when done, 0 when not (see _rndv_read)."""
    return 1 if _rndv_read(h, load_i64(h + L.H_QADDR), pid, address, dst, nbytes, seq) else 0


@njit(cache=True, inline="always")
def _rndv_read(h, qa, pid, address, dst, nbytes, seq):
    """Read a rendezvous payload into dst with process_vm_readv and acknowledge it; False (and
    nothing acknowledged) when this process may not (no rendezvous here, or `pid` is not the
    queue's sender) or a call fails: the Python path then repeats it and reports why."""
    pid_at = load_i64(h + L.H_SENDER_PID)
    # The pid comes from the header in shared memory: read only from the process that
    # registered itself as this queue's sender, never from whatever pid a scribbled header names.
    if pid_at == 0 or _SYS_VM_READV == 0 or load_acquire_i64(pid_at) != pid:
        return False
    iov = h + L.H_IOV
    done = 0
    while done < nbytes:
        store_i64(iov, dst + done)
        store_i64(iov + 8, nbytes - done)
        store_i64(iov + 16, address + done)
        store_i64(iov + 24, nbytes - done)
        got = _syscall(_SYS_VM_READV, pid, iov, 1, iov + 16, 1, 0)
        if got <= 0:
            return False
        done += got
    _rndv_ack(h, qa, seq)
    store_i64(h + L.H_RNDV_READS, load_i64(h + L.H_RNDV_READS) + 1)
    return True


@njit(cache=True)
def ab_samples(qsize):
    """Samples of each kind a decision takes on a queue of qsize fragments: AB_SAMPLES, or half a
    pass of a small ring (a trial block times one pass), at least 2 (the slowest is dropped)."""
    return max(min(L.AB_SAMPLES, qsize // 2), 2)


@njit(cache=True)
def _ab_account(h, qa, probe, took, nbytes):
    """Count one trial fragment: `probe` is its descriptor's DESC_PROBE word (the sender's copy
    cycles, AB_STREAMED if it streamed), `took` our copy-out's cycles, `nbytes` its payload. Once
    both kinds have ab_samples, publish the advice they give (layout.py, "Streaming stores")."""
    if took <= 0 or nbytes <= 0:
        return  # the counter went backwards (a move between cores), or nothing was copied
    cost = (probe & L.AB_COST_MASK) + took
    per_kib = cost * 1024 // nbytes
    at = h + (L.H_AB_STREAM if probe & L.AB_STREAMED else L.H_AB_PLAIN)
    store_i64(at + L.AB_SUM, load_i64(at + L.AB_SUM) + per_kib)
    store_i64(at + L.AB_MAX, max(load_i64(at + L.AB_MAX), per_kib))
    store_i64(at + L.AB_COUNT, load_i64(at + L.AB_COUNT) + 1)
    ps, pc = h + L.H_AB_PLAIN, h + L.H_AB_STREAM
    n_plain, n_stream = load_i64(ps + L.AB_COUNT), load_i64(pc + L.AB_COUNT)
    need = ab_samples(load_i64(h + L.H_QSIZE))
    if n_plain < need or n_stream < need:
        return
    # Each kind's mean without its slowest sample: an interrupt or a preemption (which only
    # adds time) in one fragment must not decide.
    plain = (load_i64(ps + L.AB_SUM) - load_i64(ps + L.AB_MAX)) // (n_plain - 1)
    streamed = (load_i64(pc + L.AB_SUM) - load_i64(pc + L.AB_MAX)) // (n_stream - 1)
    for w in range(3):
        store_i64(ps + 8 * w, 0)
        store_i64(pc + 8 * w, 0)
    store_i64(h + L.H_AB_LAST, streamed * 1000 // max(plain, 1))
    word = qa + load_i64(h + L.H_SEEN) + L.SEEN_ADVICE
    before = load_i64(word)
    # Each decision stands on its own window, whatever the advice before (a bias toward it would
    # keep a wrong first advice). Streaming must be cheaper by AB_MARGIN/16 to be advised, so ties
    # go to plain stores: where streaming wins it wins by 2-10x, and where the copies cost the
    # same the plain pipeline ran faster end to end (a 64 KiB ping-pong here: plain 1.35x faster).
    advice = L.STREAM_OFF
    if 16 * streamed < (16 - L.AB_MARGIN) * plain:
        advice = L.STREAM_ON
    if advice != before:
        store_release_i64(word, advice)


@njit(cache=True, inline="always")
def desc_probe(qa, pos):
    """Fragment `pos`'s DESC_PROBE word: the sender's copy cycles of a timed trial fragment
    (AB_STREAMED if it streamed), 0 for any other (layout.py, "Streaming stores")."""
    return load_u32(qa + L.CACHE_LINE + pos * L.DESC_SIZE + L.DESC_PROBE)


@njit(cache=True, inline="always")
def _copy_out(h, qa, pos, dst, src, nbytes):
    """memcpy nbytes of fragment `pos` to dst; a trial fragment's (the sender timed its copy,
    DESC_PROBE) is timed too and counted (_ab_account)."""
    if src == h + L.H_INLINE + L.MSG_HEADER:
        memcpy(dst, src, nbytes)  # an inline message (_head): never a trial fragment
        return
    probe = desc_probe(qa, pos)
    if probe == 0:
        memcpy(dst, src, nbytes)
        return
    # Every timed fragment counts (the sender times none too short to measure, store_kind).
    t0 = read_cycles()
    memcpy(dst, src, nbytes)
    _ab_account(h, qa, probe, read_cycles() - t0, nbytes)


@njit(cache=True, inline="always")
def _head(h, qa, qsize, bsize, inline=False):
    """Return (status, pos, buffer address, descriptor length) of the next available fragment.

    With `inline`, a message the sender also wrote into the avail line comes from the handle's
    copy of it (H_INLINE) instead of its buffer: valid until the next _head on this queue, so
    only for a caller that is done with it by then (rx_match)."""
    avail = qa + load_i64(h + L.H_AVAIL)
    rxp = qa + load_i64(h + L.H_RXPRIV)
    nxt = load_i64(rxp + L.RX_NEXT)
    aidx = load_acquire_u16(avail + L.RING_IDX)
    ready = (aidx - nxt) & _MASK16
    if ready == 0:
        return L.RX_EMPTY, 0, 0, 0
    if ready > qsize:
        return L.ERR_CORRUPT_INDEX, 0, 0, 0
    pos = nxt & (qsize - 1)
    if inline:
        # The fragment carried inline: its header and payload came in the line just read, so
        # neither its descriptor nor its buffer need to move to this core. Copied under the
        # mark (a seqlock: the sender may already be writing a later message there).
        mark = avail + L.AVAIL_INLINE_SEQ
        seq = load_acquire_i64(mark)
        if seq == 2 * nxt + 2:
            copy = h + L.H_INLINE
            memcpy(copy, avail + L.AVAIL_INLINE, L.CACHE_LINE - L.AVAIL_INLINE)
            fence_acquire()  # the copy's loads before the second look at the mark
            total = load_i64(copy + L.MSG_TOTAL)
            if load_acquire_i64(mark) == seq and 0 <= total <= L.INLINE_MAX:
                return L.RX_COMPLETE, pos, copy, L.MSG_HEADER + total
    # (ring[pos] is not read: in order it is always pos, and on its own line since the inline
    # copy took the index's line, reading it cost small messages a third line transfer; the
    # descriptor check below bounds what the fragment can name.)
    d = qa + L.CACHE_LINE + pos * L.DESC_SIZE
    boff = load_i64(d + L.DESC_ADDR)
    length = load_u32(d + L.DESC_LEN)
    local = load_i64(h + L.H_BUFFERS) + pos * bsize
    # The descriptor must name exactly buffer `pos` of this queue: never follow it elsewhere.
    if boff != load_i64(h + L.H_QOFF) + local or length > bsize:
        return L.ERR_CORRUPT_DESC, 0, 0, 0
    return L.RX_COMPLETE, pos, qa + local, length


@njit(cache=True, inline="always")
def _release(h, qa, pos, length, inline=False):
    """Hand fragment `pos` back to the driver through the used ring (`inline`: it was read from
    the avail line, _head)."""
    used = qa + load_i64(h + L.H_USED)
    rxp = qa + load_i64(h + L.H_RXPRIV)
    nxt = load_i64(rxp + L.RX_NEXT) + 1
    store_u32(used + L.RING_ENTRIES + pos * L.USED_ELEM, pos)
    store_u32(used + L.RING_ENTRIES + pos * L.USED_ELEM + 4, length)
    store_i64(rxp + L.RX_NEXT, nxt)
    # Release: our reads of the buffer complete before the driver may reuse it.
    store_release_u16(used + L.RING_IDX, nxt & _MASK16)
    # A sender waits for used.idx only when its ring is full: ring it when this release is the
    # one that makes room (every fragment in flight was ours to take), not on every release.
    avail = qa + load_i64(h + L.H_AVAIL)
    aidx = load_acquire_u16(avail + L.RING_IDX)
    qsize = load_i64(h + L.H_QSIZE)
    ready = (aidx - nxt) & _MASK16
    if ready + 1 == qsize:
        ring_peer(h)
    if ready > qsize:
        return  # a corrupt index: the next _head reports it
    # The buffers published before that load are written for good (the sender rewrites one
    # only after we hand it back): start moving the first line of the next ones (a small
    # message's header and payload) into our cache now, so that the next receive finds it
    # one transfer nearer (a line from the sender's core costs 150-300 ns on this host). Not
    # the descriptors or the avail ring: the sender may still be writing their lines for later
    # fragments, and taking a line it is about to write costs it a transfer back.
    # Only after a small fragment (the next is likely small too): see PREFETCH_MAX_LENGTH. Not
    # after an inline one: the next is likely inline too, read from the avail line, and taking
    # its buffer's line would only cost the sender a transfer back when it writes the one after.
    if length <= PREFETCH_MAX_LENGTH and not inline:
        bsize = load_i64(h + L.H_BSIZE)
        bufs = qa + load_i64(h + L.H_BUFFERS)
        for k in range(min(ready, PREFETCH_AHEAD)):
            prefetch(bufs + ((nxt + k) & (qsize - 1)) * bsize)


@njit(cache=True, inline="always")
def rx_progress(h):
    """Bytes of the queue's active message delivered so far (its device-private RX_DONE word)."""
    qa = load_i64(h + L.H_QADDR)
    return load_i64(qa + load_i64(h + L.H_RXPRIV) + L.RX_DONE)


@njit(cache=True)
def rx_continue(h, buf):
    """Deliver the available continuation fragments of the active message into buf.

    Bytes beyond buf.nbytes are consumed and dropped (the caller reports ERR_TRUNCATE).
    Returns RX_COMPLETE when the message is whole, RX_PARTIAL when more is to come, or a
    negative corruption code.
    """
    qa, qsize, bsize = _geometry(h)
    rxp = qa + load_i64(h + L.H_RXPRIV)
    done = load_i64(rxp + L.RX_DONE)
    total = load_i64(rxp + L.RX_TOTAL)
    if done < 0 or total < done:
        return L.ERR_CORRUPT_HEADER  # the private line was scribbled on: never copy with it
    cap = buf.nbytes
    dst = array_address(buf)
    while done < total:
        status, pos, src, length = _head(h, qa, qsize, bsize)
        if status != L.RX_COMPLETE:
            store_i64(rxp + L.RX_DONE, done)
            return L.RX_PARTIAL if status == L.RX_EMPTY else status
        if length != min(total - done, bsize):
            return L.ERR_CORRUPT_HEADER
        if done < cap:
            _copy_out(h, qa, pos, dst + done, src, min(length, cap - done))
        done += length
        _release(h, qa, pos, length)
    store_i64(rxp + L.RX_DONE, done)
    store_i64(rxp + L.RX_ACTIVE, 0)
    return L.RX_COMPLETE


@njit(cache=True)
def rx_match(h, want_tag, want_ctx, buf, info):
    """Poll the queue with handle h; if the head message matches (tag, ctx), consume it into buf.

    want_tag / want_ctx may be L.ANY; want_ctx == L.PEEK only reports the head. The head's
    header is always copied into `info` (int64[INFO_LEN]). Returns RX_EMPTY, RX_NO_MATCH
    (head left in place), RX_COMPLETE (a plain eager message that fit), RX_SPECIAL (consumed
    and complete, but rendezvous / heap / ack / synchronous / truncated: read `info`), RX_PARTIAL (a
    fragmented message is now active: finish it with rx_continue), or a negative corruption
    code. Bytes beyond buf.nbytes are dropped.
    """
    qa, qsize, bsize = _geometry(h)
    status, pos, src, length = _head(h, qa, qsize, bsize, True)
    if status != L.RX_COMPLETE:
        return status
    kind = load_u32(src + L.MSG_KIND)
    total = load_i64(src + L.MSG_TOTAL)
    tag = load_u32(src + L.MSG_TAG)
    ctx = load_u32(src + L.MSG_CTX)
    if tag >= 0x80000000:
        tag -= 0x100000000
    info[L.INFO_KIND] = kind
    info[L.INFO_FLAGS] = load_u32(src + L.MSG_FLAGS)
    info[L.INFO_TAG] = tag
    info[L.INFO_CTX] = ctx
    info[L.INFO_TOTAL] = total
    info[L.INFO_COOKIE] = load_i64(src + L.MSG_COOKIE)
    if length < L.MSG_HEADER or total < 0:
        return L.ERR_CORRUPT_HEADER
    payload = length - L.MSG_HEADER
    if kind == L.KIND_EAGER:
        if payload != min(total, bsize - L.MSG_HEADER):
            return L.ERR_CORRUPT_HEADER
    elif kind == L.KIND_RNDV or kind == L.KIND_HEAP:
        if payload != 16:
            return L.ERR_CORRUPT_HEADER
        info[L.INFO_AUX0] = load_i64(src + L.MSG_HEADER)
        info[L.INFO_AUX1] = load_i64(src + L.MSG_HEADER + 8)
    elif kind == L.KIND_ACK:
        if payload != 0:
            return L.ERR_CORRUPT_HEADER
    else:
        return L.ERR_CORRUPT_HEADER
    if want_ctx == L.PEEK:
        return L.RX_NO_MATCH
    if want_ctx != L.ANY and (want_ctx != ctx or kind == L.KIND_ACK):
        return L.RX_NO_MATCH
    if want_tag != L.ANY and want_tag != tag:
        return L.RX_NO_MATCH
    cap = buf.nbytes
    if kind == L.KIND_EAGER and payload > 0 and cap > 0:
        _copy_out(h, qa, pos, array_address(buf), src + L.MSG_HEADER, min(payload, cap))
    _release(h, qa, pos, length, src == h + L.H_INLINE)
    # Plain: no ack owed, it fits, and its element type is the buffer's (or either is bytes);
    # anything else goes to the Python path, which acks, truncates or reports ERR_TYPE.
    flags = info[L.INFO_FLAGS]
    mine = wire_type_of(buf)
    theirs = (flags & L.FLAG_TYPE_MASK) >> L.FLAG_TYPE_SHIFT
    fits = total <= cap and (mine == theirs or mine == 0 or theirs == 0)
    if (kind == L.KIND_RNDV and fits and (flags & L.FLAG_ACK_SLOT) != 0 and not _rndv_deferred(h)
            and _rndv_read(h, qa, info[L.INFO_AUX0], info[L.INFO_AUX1], array_address(buf), total,
                           info[L.INFO_COOKIE])):
        # Read and acknowledged here, one copy straight out of the sender (layout.py,
        # "Rendezvous"): to the caller, a plain message now in buf (the slot's acknowledgement
        # also told a synchronous sender of the match: nothing more is owed).
        info[L.INFO_KIND] = L.KIND_EAGER
        info[L.INFO_FLAGS] = flags & ~(L.FLAG_SYNC | L.FLAG_ACK_SLOT)
        return L.RX_COMPLETE
    plain = kind == L.KIND_EAGER and (flags & L.FLAG_SYNC) == 0 and fits
    if kind != L.KIND_EAGER or payload == total:
        return L.RX_COMPLETE if plain else L.RX_SPECIAL
    rxp = qa + load_i64(h + L.H_RXPRIV)
    store_i64(rxp + L.RX_DONE, payload)
    store_i64(rxp + L.RX_TOTAL, total)
    store_i64(rxp + L.RX_ACTIVE, 1)
    status = rx_continue(h, buf)
    if status == L.RX_COMPLETE and not plain:
        return L.RX_SPECIAL
    return status


@njit(cache=True)
def rx_recv(h, want_tag, want_ctx, buf):
    """rx_match with the header written into the handle's private H_INFO words.

    The blocking-receive fast path: one array argument fewer to unbox per call."""
    info = pointer_view(int64_pointer(h + L.H_INFO), L.INFO_LEN)
    return rx_match(h, want_tag, want_ctx, buf, info)


@njit(cache=True)
def rx_wait(h, want_tag, want_ctx, buf, info, spins):
    """rx_match after spinning (pause) in jitted code up to `spins` polls while the queue is empty.

    A blocked receive waits here instead of calling rx_match from a Python loop: it notices
    the sender's release store within one pause, not within one Python round trip.
    """
    qa = load_i64(h + L.H_QADDR)
    avail = qa + load_i64(h + L.H_AVAIL)
    rxp = qa + load_i64(h + L.H_RXPRIV)
    seen = load_i64(rxp + L.RX_NEXT) & _MASK16
    for _ in range(spins):
        if load_acquire_u16(avail + L.RING_IDX) != seen:
            break
        cpu_relax()
    return rx_match(h, want_tag, want_ctx, buf, info)


@njit(cache=True)
def rx_scan(handles, ready):
    """Note in ready[i] (1/0) whether queue handles[i] has a fragment available; return how many do.

    A handle of 0 (a rank's own entry) counts as empty. One call tells a progress pass which of
    a rank's incoming queues need draining, instead of one kernel call per queue."""
    count = 0
    for i in range(handles.size):
        h = handles[i]
        ready[i] = 0
        if h == 0:
            continue
        qa = load_i64(h + L.H_QADDR)
        avail = qa + load_i64(h + L.H_AVAIL)
        rxp = qa + load_i64(h + L.H_RXPRIV)
        if load_acquire_u16(avail + L.RING_IDX) != (load_i64(rxp + L.RX_NEXT) & _MASK16):
            ready[i] = 1
            count += 1
    return count


def rx_scanner():
    """The compiled entry point of rx_scan (int64 handles, uint8 flags)."""
    return compile_once(rx_scan, (types.Array(types.int64, 1, "C"), types.Array(types.uint8, 1, "C")))


@njit(cache=True)
def data_address(buf):
    """Address of the first byte of a contiguous array (the shared heap's membership test).

    Through its compiled entry point (address_reader) about 50 ns; `arr.ctypes.data` costs
    about 1.6 us here."""
    return array_address(buf)


def address_reader(dtype: np.dtype):
    """The compiled entry point of data_address for 1-D C-contiguous arrays of dtype."""
    return compile_once(data_address, (types.Array(numba.from_dtype(dtype), 1, "C"),))


@njit(cache=True)
def copy_from(dst, src, nbytes):
    """memcpy nbytes from address src to address dst (a KIND_HEAP payload into the receive buffer)."""
    memcpy(dst, src, nbytes)


@njit(cache=True)
def copy_bytes(dst, src, nbytes):
    """memcpy nbytes between the data of two contiguous arrays (an unexpected message's payload
    into the receive buffer, a send to oneself into the unexpected list)."""
    memcpy(array_address(dst), array_address(src), nbytes)


@njit(cache=True)
def store_blocked(slot, call, peer, tag):
    """Write a rank slot's blocked-call fields; the call code last, with release order.

    Called on every blocking wait, so through its compiled entry point (blocked_writer): three
    separate Python-level stores cost about 1.5 us a wait, this one call about 0.2 us."""
    store_i64(slot + L.SLOT_PEER, peer)
    store_i64(slot + L.SLOT_TAG, tag)
    store_release_i64(slot + L.SLOT_CALL, call)


def blocked_writer():
    """The compiled entry point of store_blocked (four int64 arguments)."""
    return compile_once(store_blocked, (_I64, _I64, _I64, _I64))


@njit(cache=True)
def load_acquire(addr):
    """Acquire-load the int64 at addr (Python-side polling of header words)."""
    return load_acquire_i64(addr)


@njit(cache=True)
def store_release(addr, value):
    """Release-store an int64 (abort flag, rank state)."""
    store_release_i64(addr, value)


@njit(cache=True)
def relax(spins):
    """Spin `spins` times with the cpu pause hint."""
    for _ in range(spins):
        cpu_relax()


@njit(cache=True)
def compare_exchange(addr, expected, desired):
    """Atomically replace expected by desired at addr; return the value seen before."""
    return compare_exchange_i64(addr, expected, desired)


@njit(cache=True)
def fetch_add(addr, value):
    """Atomically add to the int64 at addr; return the previous value."""
    return fetch_add_i64(addr, value)


_I64 = types.int64
_INFO = types.Array(types.int64, 1, "C")


def rndv_entries():
    """The compiled (tx_rndv, tx_rndv_poll, rx_rndv_ack, rx_rndv_read) of the rendezvous protocol."""
    return (compile_once(tx_rndv, (_I64,) * 8), compile_once(tx_rndv_poll, (_I64,) * 2),
            compile_once(rx_rndv_ack, (_I64,) * 2), compile_once(rx_rndv_read, (_I64,) * 6))


def _signature(kernel, array_type):
    if kernel is tx_push:
        return (_I64, _I64, _I64, _I64, _I64, _I64, array_type, _I64)
    if kernel is rx_match:
        return (_I64, _I64, _I64, array_type, _INFO)
    if kernel is rx_continue:
        return (_I64, array_type)
    if kernel is tx_send or kernel is rx_recv or kernel is tx_send_rndv or kernel is tx_isend_rndv:
        return (_I64, _I64, _I64, array_type)
    if kernel is rx_wait:
        return (_I64, _I64, _I64, array_type, _INFO, _I64)
    raise ValueError(f"no entry-point signature for {kernel}")


def compiled_or_none(build, dtype: np.dtype):
    """build(dtype) (a compiled entry point for arrays of dtype), or None when numba has no such
    element type (float16, longdouble, structured types): the caller then works on bytes."""
    if dtype.isbuiltin != 1 or dtype.kind not in "biufc":
        return None
    try:
        return build(dtype)
    except Exception:  # noqa: BLE001 - numba refuses the type
        return None


def entry_point(kernel, dtype: np.dtype):
    """The compiled entry point of `kernel` for 1-D C-contiguous arrays of `dtype`.

    Calling it skips numba's dispatcher (type resolution per call): about 200 ns less per
    message. It checks the dtype but not the layout, so callers pass only 1-D C-contiguous
    arrays. Compiled specialisations come from (and go to) the on-disk cache.
    """
    return compile_once(kernel, _signature(kernel, types.Array(numba.from_dtype(dtype), 1, "C")))
