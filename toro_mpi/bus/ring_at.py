"""Send and receive kernels that take a buffer's address and size instead of the array.

One job: the per-message kernels of Isend's and Irecv's call-site records (mpi/p2p_sites.py).
numba unboxes every argument of every call, and an array costs about 1.5 us of a small
message's budget where six integers cost a fraction of that. These kernels view the memory as
bytes and carry the element type as an integer (layout.WIRE_TYPES), so one compiled function
serves every dtype. They are in a module of their own: editing ring.py invalidates the on-disk
cache of every kernel there (numba keys it on the source file), and these are new.

The caller guarantees that [addr, addr + nbytes) is the memory of a live C-contiguous array for
the duration of the call (the record holds the array).
"""

from __future__ import annotations

import numba
from numba import njit, types

from . import layout as L
from . import ring
from .atomics import int64_pointer, uint8_pointer
from .compiling import compile_once

_I64 = types.int64


@njit(cache=True)
def tx_send_at(h, tag, ctx, addr, nbytes, wire):
    """ring.tx_send of the nbytes at addr, whose elements have wire type `wire`."""
    buf = numba.carray(uint8_pointer(addr), nbytes)
    flags = wire << L.FLAG_TYPE_SHIFT
    return ring.tx_push(h, L.KIND_EAGER | flags << 16, tag, ctx, nbytes, 0, buf, L.TX_NOT_STARTED)


@njit(cache=True)
def rx_recv_at(h, want_tag, want_ctx, addr, cap, mine):
    """ring.rx_recv into the cap bytes at addr, a buffer of wire type `mine`.

    The match itself sees bytes (wire type 0, which meets any type), so a plain message whose
    element type differs from `mine` is reported RX_SPECIAL here: consumed and complete, left
    for the Python path, which reports ERR_TYPE as for any other buffer."""
    info = numba.carray(int64_pointer(h + L.H_INFO), (L.INFO_LEN,))
    buf = numba.carray(uint8_pointer(addr), cap)
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


@njit(cache=True)
def rx_recv_run_at(h, tab, k, out):
    """rx_recv_at for k receives posted in a row for this queue, in posted order, in one call.

    tab (an address) holds k rows of RUN_ROW words: tag, ctx, buffer address, capacity, wire
    type; out (an address) gets one row of OUT_ROW words per message taken: its tag, size and
    header flags. Stops at the first receive whose status is not RX_COMPLETE (the queue is
    empty, its head does not match, or the message needs the general path: its header is then
    in the handle's H_INFO words). Returns j * 16 + status + RUN_STATUS_BIAS: j receives
    completed, `status` the result of receive j (RX_COMPLETE when j == k: all of them)."""
    rows = numba.carray(int64_pointer(tab), (k * RUN_ROW,))
    res = numba.carray(int64_pointer(out), (k * OUT_ROW,))
    info = numba.carray(int64_pointer(h + L.H_INFO), (L.INFO_LEN,))
    for j in range(k):
        r = j * RUN_ROW
        mine = rows[r + RUN_WIRE]
        buf = numba.carray(uint8_pointer(rows[r + RUN_ADDR]), rows[r + RUN_CAP])
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


def send_at_entry() -> object:
    """The compiled entry point of tx_send_at (six int64 arguments)."""
    return compile_once(tx_send_at, (_I64,) * 6)


def recv_at_entry() -> object:
    """The compiled entry point of rx_recv_at (six int64 arguments)."""
    return compile_once(rx_recv_at, (_I64,) * 6)


def run_at_entry() -> object:
    """The compiled entry point of rx_recv_run_at (four int64 arguments)."""
    return compile_once(rx_recv_run_at, (_I64,) * 4)
