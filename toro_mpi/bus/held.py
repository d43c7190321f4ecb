"""A message held in its ring: matched at the head of a queue, read in place, released later.

A reduction's receiver combines each incoming segment with its own operand. Copied out of the
ring first (rx_match into a scratch buffer, then the combine reads the scratch), every byte is
written and read once more than it needs to be; held, the combine reads the segment straight
out of the ring buffer and only then hands the buffer back to the sender.

Only the simplest message is held: eager, the expected tag and context, and whole in one
fragment (its payload is exactly the expected size). Anything else (an empty queue aside) is left
to the ordinary path (ring.rx_match), which copies, reports a mismatch or continues a fragmented
message. While a message is held it stays at the head of its queue: the caller must not receive
from that queue again before release_held (the collective programs guarantee it, see
coll/schedules.py `_reduce_tree`).

Every index and descriptor is validated as ring.rx_match validates them (ring._head).
"""

from __future__ import annotations

from typing import Any

from numba import njit, types
from numba.extending import intrinsic

from . import layout as L
from .atomics import load_i64, load_u32, read_cycles, store_i64
from .ring import _ab_account, _head, _release, desc_probe

HOLD_OK = 1  # the head message is held: read it with held_payload, then release_held
HOLD_NO = 2  # the head message is not one to hold: take it the ordinary way (rx_match)


@njit(cache=True)
def rx_hold(h, want_tag, want_ctx, nbytes):
    """Whether the head message of queue h can be held: HOLD_OK (eager, tag and context match,
    exactly nbytes of payload in its one fragment), HOLD_NO (something else is at the head: leave
    it to rx_match), L.RX_EMPTY, or a negative corruption code. Consumes nothing."""
    qa = load_i64(h + L.H_QADDR)
    status, pos, src, length = _head(h, qa, load_i64(h + L.H_QSIZE), load_i64(h + L.H_BSIZE))
    if status != L.RX_COMPLETE:
        return status
    if length != L.MSG_HEADER + nbytes or load_u32(src + L.MSG_KIND) != L.KIND_EAGER:
        return HOLD_NO
    if load_i64(src + L.MSG_TOTAL) != nbytes or load_u32(src + L.MSG_CTX) != want_ctx:
        return HOLD_NO
    tag = load_u32(src + L.MSG_TAG)
    if tag >= 0x80000000:
        tag -= 0x100000000
    return HOLD_OK if tag == want_tag else HOLD_NO


@njit(cache=True)
def held_payload(h):
    """Address of the payload of the message rx_hold held at the head of queue h, or a negative
    corruption code (the head moved: only a scribbled segment does that)."""
    qa = load_i64(h + L.H_QADDR)
    status, pos, src, length = _head(h, qa, load_i64(h + L.H_QSIZE), load_i64(h + L.H_BSIZE))
    if status != L.RX_COMPLETE:
        return L.ERR_CORRUPT_INDEX if status == L.RX_EMPTY else status
    start = 0
    if desc_probe(qa, pos) != 0:
        # A timed trial fragment (layout.py, "Streaming stores"): the combine that reads it in
        # place is this end's cost of it, timed until release_held.
        start = read_cycles()
    store_i64(h + L.H_AB_HELD, start)
    return src + L.MSG_HEADER


@njit(cache=True)
def release_held(h):
    """Hand the held head fragment of queue h back to its sender; 0, or a negative corruption code."""
    qa = load_i64(h + L.H_QADDR)
    # The timer is taken before anything can return: a start left behind would time a later
    # fragment's release from it.
    start = load_i64(h + L.H_AB_HELD)
    if start != 0:
        store_i64(h + L.H_AB_HELD, 0)
    status, pos, src, length = _head(h, qa, load_i64(h + L.H_QSIZE), load_i64(h + L.H_BSIZE))
    if status != L.RX_COMPLETE:
        return L.ERR_CORRUPT_INDEX if status == L.RX_EMPTY else status
    if start != 0:
        probe = desc_probe(qa, pos)
        if probe != 0:
            _ab_account(h, qa, probe, read_cycles() - start, length - L.MSG_HEADER)
    _release(h, qa, pos, length)
    return 0


@intrinsic
def view_like(typingctx: Any, addr: Any, like: Any, n: Any) -> Any:
    """A 1-D C-contiguous array of `n` elements of `like`'s dtype (any dtype: numbers, bool,
    records) over the memory at address `addr`, borrowing it (the caller keeps it alive)."""
    if not isinstance(addr, types.Integer) or not isinstance(like, types.Array) or not isinstance(n, types.Integer):
        return None
    aryty = types.Array(like.dtype, 1, "C")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        # Imported at compile time only, as bus/views.py does.
        from numba.np.arrayobj import populate_array

        at, _, count = args
        dtype = context.get_data_type(aryty.dtype)
        data = builder.inttoptr(context.cast(builder, at, sig.args[0], types.int64), dtype.as_pointer())
        ary = context.make_array(aryty)(context, builder)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(dtype))
        nitems = context.cast(builder, count, sig.args[2], types.intp)
        populate_array(ary, data=data, shape=[nitems], strides=[itemsize], itemsize=itemsize, meminfo=None)
        return ary._getvalue()

    return aryty(addr, like, n), codegen
