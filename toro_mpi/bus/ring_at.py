"""Send and receive kernels that take a buffer's address and size instead of the array.

One job: the per-message kernels of the call-site records of Send, Recv, Isend and Irecv
(mpi/p2p_sites.py), and of the posted-receive table (mpi/posted_run.py).
numba unboxes every argument of every call, and an array costs about 1.5 us of a small
message's budget where six integers cost a fraction of that. These kernels view the memory as
bytes and carry the element type as an integer (layout.WIRE_TYPES), so one compiled function
serves every dtype. They are in a module of their own: editing ring.py invalidates the on-disk
cache of every kernel there (numba keys it on the source file), and these are new.

The caller guarantees that [addr, addr + nbytes) is the memory of a live C-contiguous array for
the duration of the call (the record holds the array).
"""

from __future__ import annotations

from numba import njit, types

from . import layout as L
from . import ring
from .atomics import cpu_relax, int64_pointer, load_acquire_u16, load_i64, uint8_pointer
from .compiling import compile_once
from .views import pointer_view

_I64 = types.int64


@njit(cache=True)
def tx_send_at(h, tag, ctx, addr, nbytes, wire):
    """ring.tx_send of the nbytes at addr, whose elements have wire type `wire`."""
    buf = pointer_view(uint8_pointer(addr), nbytes)
    flags = wire << L.FLAG_TYPE_SHIFT
    return ring.tx_push(h, L.KIND_EAGER | flags << 16, tag, ctx, nbytes, 0, buf, L.TX_NOT_STARTED)


@njit(cache=True)
def rx_recv_at(h, want_tag, want_ctx, addr, cap, mine):
    """ring.rx_recv into the cap bytes at addr, a buffer of wire type `mine`.

    The match itself sees bytes (wire type 0, which meets any type), so a plain message whose
    element type differs from `mine` is reported RX_SPECIAL here: consumed and complete, left
    for the Python path, which reports ERR_TYPE as for any other buffer."""
    info = pointer_view(int64_pointer(h + L.H_INFO), L.INFO_LEN)
    buf = pointer_view(uint8_pointer(addr), cap)
    status = ring.rx_match(h, want_tag, want_ctx, buf, info)
    if status == L.RX_COMPLETE and mine != 0:
        theirs = (info[L.INFO_FLAGS] & L.FLAG_TYPE_MASK) >> L.FLAG_TYPE_SHIFT
        if theirs != 0 and theirs != mine:
            return L.RX_SPECIAL
    return status


# Rows of rx_recv_run_at's table (one posted receive each) and of its output (one message each).
RUN_TAG, RUN_CTX, RUN_ADDR, RUN_CAP, RUN_WIRE = 0, 1, 2, 3, 4
RUN_ROW = 5
OUT_TAG, OUT_TOTAL, OUT_FLAGS = 0, 1, 2
OUT_ROW = 3
RUN_STATUS_BIAS = 8  # the status part of the result is status + 8 (corruption codes are negative)


@njit(cache=True, inline="always")
def _recv_run(h, tab, stride, k, out):
    """rx_recv_run_at's loop over rows `stride` words apart (0: one row for every receive)."""
    rows = pointer_view(int64_pointer(tab), (k - 1) * stride + RUN_ROW)
    res = pointer_view(int64_pointer(out), k * OUT_ROW)
    info = pointer_view(int64_pointer(h + L.H_INFO), L.INFO_LEN)
    for j in range(k):
        r = j * stride
        mine = rows[r + RUN_WIRE]
        buf = pointer_view(uint8_pointer(rows[r + RUN_ADDR]), rows[r + RUN_CAP])
        status = ring.rx_match(h, rows[r + RUN_TAG], rows[r + RUN_CTX], buf, info)
        if status == L.RX_COMPLETE and mine != 0:
            theirs = (info[L.INFO_FLAGS] & L.FLAG_TYPE_MASK) >> L.FLAG_TYPE_SHIFT
            if theirs != 0 and theirs != mine:
                status = L.RX_SPECIAL
        if status != L.RX_COMPLETE:
            return j * 16 + status + RUN_STATUS_BIAS
        o = j * OUT_ROW
        res[o + OUT_TAG] = info[L.INFO_TAG]
        res[o + OUT_TOTAL] = info[L.INFO_TOTAL]
        res[o + OUT_FLAGS] = info[L.INFO_FLAGS]
    return k * 16 + L.RX_COMPLETE + RUN_STATUS_BIAS


@njit(cache=True)
def rx_recv_run_at(h, tab, k, out):
    """rx_recv_at for k receives posted in a row for this queue, in posted order, in one call.

    tab (an address) holds k rows of RUN_ROW words: tag, ctx, buffer address, capacity, wire
    type; out (an address) gets one row of OUT_ROW words per message taken: its tag, size and
    header flags. Stops at the first receive whose status is not RX_COMPLETE (the queue is
    empty, its head does not match, or the message needs the general path: its header is then
    in the handle's H_INFO words). Returns j * 16 + status + RUN_STATUS_BIAS: j receives
    completed, `status` the result of receive j (RX_COMPLETE when j == k: all of them)."""
    return _recv_run(h, tab, RUN_ROW, k, out)


@njit(cache=True)
def rx_recv_run_same(h, tab, k, out):
    """rx_recv_run_at for k receives that all have the one row at tab (a window of Irecvs of
    one buffer, source and tag: no row to write per receive)."""
    return _recv_run(h, tab, 0, k, out)


def send_at_entry() -> object:
    """The compiled entry point of tx_send_at (six int64 arguments)."""
    return compile_once(tx_send_at, (_I64,) * 6)


def recv_at_entry() -> object:
    """The compiled entry point of rx_recv_at (six int64 arguments)."""
    return compile_once(rx_recv_at, (_I64,) * 6)


def run_at_entry() -> object:
    """The compiled entry point of rx_recv_run_at (four int64 arguments)."""
    return compile_once(rx_recv_run_at, (_I64,) * 4)


def run_same_entry() -> object:
    """The compiled entry point of rx_recv_run_same (four int64 arguments)."""
    return compile_once(rx_recv_run_same, (_I64,) * 4)


# Call-site blocks (mpi/p2p_sites.py): the constant arguments of a call-site record (context,
# buffer address, size, wire type) in four int64 words at one address, so a hot call passes three
# integers (handle, tag, block) instead of six: numba unboxes each argument of each call (~20 ns).
SITE_CTX, SITE_ADDR, SITE_NBYTES, SITE_WIRE = 0, 1, 2, 3
SITE_LEN = 4
# rx_recv_site / rx_wait_site: a plain message taken whole returns RECV_TAKEN + its size (in
# bytes), every other status as rx_recv_at returns it (all far below RECV_TAKEN): the caller
# reads the size from the result instead of the header words.
RECV_TAKEN = 1 << 40


@njit(cache=True)
def tx_send_site(h, tag, site):
    """tx_send_at with (ctx, addr, nbytes, wire) read from the block at address `site`."""
    s = pointer_view(int64_pointer(site), SITE_LEN)
    return tx_send_at(h, tag, s[SITE_CTX], s[SITE_ADDR], s[SITE_NBYTES], s[SITE_WIRE])


@njit(cache=True)
def rx_recv_site(h, want_tag, site):
    """rx_recv_at with (ctx, addr, cap, wire) read from the block at address `site`; a plain
    message that fit returns RECV_TAKEN + its size, anything else rx_recv_at's status."""
    s = pointer_view(int64_pointer(site), SITE_LEN)
    status = rx_recv_at(h, want_tag, s[SITE_CTX], s[SITE_ADDR], s[SITE_NBYTES], s[SITE_WIRE])
    if status == L.RX_COMPLETE:
        return RECV_TAKEN + load_i64(h + L.H_INFO + 8 * L.INFO_TOTAL)
    return status


@njit(cache=True)
def rx_wait_site(h, want_tag, site, spins):
    """rx_recv_site after spinning (pause) up to `spins` polls while the queue is empty, as
    ring.rx_wait: a blocked Recv notices the sender's release store within one pause."""
    qa = load_i64(h + L.H_QADDR)
    avail = qa + load_i64(h + L.H_AVAIL)
    rxp = qa + load_i64(h + L.H_RXPRIV)
    seen = load_i64(rxp + L.RX_NEXT) & 0xFFFF
    for _ in range(spins):
        if load_acquire_u16(avail + L.RING_IDX) != seen:
            break
        cpu_relax()
    return rx_recv_site(h, want_tag, site)


def send_site_entry() -> object:
    """The compiled entry point of tx_send_site (three int64 arguments)."""
    return compile_once(tx_send_site, (_I64,) * 3)


def recv_site_entry() -> object:
    """The compiled entry point of rx_recv_site (three int64 arguments)."""
    return compile_once(rx_recv_site, (_I64,) * 3)


def wait_site_entry() -> object:
    """The compiled entry point of rx_wait_site (four int64 arguments)."""
    return compile_once(rx_wait_site, (_I64,) * 4)


@njit(cache=True)
def rx_pending_at(h):
    """How many fragments wait in the queue of handle h (0: empty). A hint: the caller polls
    again later, so a fragment published just after this look is not lost."""
    qa = load_i64(h + L.H_QADDR)
    avail = qa + load_i64(h + L.H_AVAIL)
    rxp = qa + load_i64(h + L.H_RXPRIV)
    return (load_acquire_u16(avail + L.RING_IDX) - load_i64(rxp + L.RX_NEXT)) & 0xFFFF


def pending_entry() -> object:
    """The compiled entry point of rx_pending_at (one int64 argument)."""
    return compile_once(rx_pending_at, (_I64,))
