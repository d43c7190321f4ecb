"""A plain message from another node, taken from the network link's buffer into the user's.

The network route (mpi/netroute.py) normally pushes each arriving item into its sender's queue
and the receive kernel then takes it out: two kernel calls, a header unpacked in Python and a
copy through the ring. A blocking receive from a remote peer whose queue is empty (nothing of
that peer's is waiting ahead of the arrival, so per-pair order holds) can instead take a plain
item at once: one call here checks the item's header against the receive, copies its payload
into the receive buffer and writes the header words the engine reports (`info`). Anything not
plain (another plane or kind, synchronous, truncated, another element type, another tag or
context) is left alone and goes the usual way, which handles it exactly as on the bus.

An item's header (netroute.py): 8 int64 words: plane << 8 | item type, kind | flags << 16, tag,
ctx, total, cookie, 0, 0; the payload follows.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import njit, types

from ..bus import layout as L
from ..bus.atomics import array_address, load_i64, memcpy
from ..bus.compiling import compile_once
from ..bus.ring import wire_type_of

ITEM_HDR = 64  # bytes of an item's header
ITEM_P2P = 1 | L.P2P_PLANE << 8  # the head word of a point-to-point message item
NOT_TAKEN = L.RX_EMPTY  # what take_item returns for an item it leaves alone


@njit(cache=True)
def take_item(addr, n, want_tag, want_ctx, buf, info):
    """The item of n bytes at addr, if it is a plain eager message of the point-to-point plane
    that matches (want_tag or L.ANY, want_ctx) and fits buf with a compatible element type:
    copy its payload into buf, its header into info (int64[INFO_LEN]) and return RX_COMPLETE.
    Otherwise NOT_TAKEN, with nothing written."""
    if n < ITEM_HDR or load_i64(addr) != ITEM_P2P:
        return NOT_TAKEN
    word = load_i64(addr + 8)
    kind = word & 0xFFFF
    flags = word >> 16
    tag = load_i64(addr + 16)
    ctx = load_i64(addr + 24)
    total = load_i64(addr + 32)
    if kind != L.KIND_EAGER or (flags & L.FLAG_SYNC) != 0 or total != n - ITEM_HDR or ctx != want_ctx:
        return NOT_TAKEN
    if want_tag != L.ANY and tag != want_tag:
        return NOT_TAKEN
    if total > buf.nbytes:
        return NOT_TAKEN  # truncation: the engine's path reports it
    mine = wire_type_of(buf)
    theirs = (flags & L.FLAG_TYPE_MASK) >> L.FLAG_TYPE_SHIFT
    if mine != theirs and mine != 0 and theirs != 0:
        return NOT_TAKEN  # ERR_TYPE: likewise
    if total > 0:
        memcpy(array_address(buf), addr + ITEM_HDR, total)
    info[L.INFO_KIND] = kind
    info[L.INFO_FLAGS] = flags
    info[L.INFO_TAG] = tag
    info[L.INFO_CTX] = ctx
    info[L.INFO_TOTAL] = total
    info[L.INFO_COOKIE] = load_i64(addr + 40)
    return L.RX_COMPLETE


_I64 = types.int64
_INFO = types.Array(types.int64, 1, "C")


def entry_point(dtype: np.dtype) -> Any:
    """take_item's compiled entry point for 1-D C-contiguous arrays of dtype (from numba's
    on-disk cache after the first compile), or None for an element type numba has no kernel for."""
    if dtype.isbuiltin != 1 or dtype.kind not in "biufc":
        return None
    try:
        return compile_once(take_item, (_I64, _I64, _I64, _I64, types.Array(numba.from_dtype(dtype), 1, "C"), _INFO))
    except Exception:  # noqa: BLE001 - numba refuses the type: the usual path serves it
        return None
