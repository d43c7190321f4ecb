"""Run a whole collective schedule in one jitted call: sends, receives, copies and reductions.

A collective is compiled (in Python, once per shape, see schedules.py) into a *program*: rows of
eight int64 words. The interpreter below walks the program; Python is not involved between its
steps. It returns when the collective is complete, or when it cannot go on by itself (it has
polled `spins` times without progress, a step needs Python, or something is wrong), leaving
enough state in the plan array to be called again and resume where it stopped.

Program rows (buffers: 0 = send array, 1 = receive array, 2 = scratch array; offsets and counts
in elements of the arrays' dtype)::

    SEND    peer, buf, off, count          post a message to comm rank `peer`
    RECV    peer, buf, off, count, hold    post a receive of exactly `count` elements from `peer`;
                                           hold = 1: the message may stay in its ring until the
                                           REDUCE that names this row reads it (see below)
    WAIT                                   progress every SEND/RECV posted since the last WAIT
                                           until all are complete
    COPY    sbuf, soff, dbuf, doff, count  local copy (memmove semantics not needed: schedules
                                           never copy between overlapping ranges)
    REDUCE  abuf, aoff, bbuf, boff, obuf, ooff, count
                                           out = a op b elementwise (a: the lower-ranked operand);
                                           bbuf = HELD + i: b is the message of RECV row i, read
                                           in its ring if that row held it (bus/held.py), else
                                           where row i received it (boff is unused)
    SIGNAL  peer                           post a signal to comm rank `peer` (layout: SIGNALS)
    AWAIT   peer                           take a signal from comm rank `peer`; completed by the
                                           next WAIT like a RECV (barriers only: a signal names
                                           no communicator, see bus/layout.py)

Messages travel on the collective plane of the bus with the communicator's collective context
and the collective's kind as the tag, so a message of another collective or another
communicator is never taken for ours. Sends to one peer (and receives from one peer) complete in
program order: fragments of one message must be consecutive on a queue.

Plan array (int64), written by Python before the first call and by the interpreter after::

    P_PC       next row to execute (0 to start; the interpreter resets it when it completes)
    P_WSTART   first row of the open window (SEND/RECV rows since the last WAIT); -1 = fresh start
               (set again by the interpreter on completion, so a plan is always ready to run)
    P_DETAIL   row index the interpreter stopped at (NEED_*, FOREIGN, MISMATCH, BLOCKED)
    P_NSTEPS   number of rows
    P_CTX, P_TAG, P_OP, P_SPINS
    P_PROG .. offsets (in words) of the rows, the per-row progress words, the tx and rx queue
    handles by comm rank, the per-peer counts of stashed messages, the info scratch and the
    per-peer busy stamps; P_PASS is a counter that makes the stamps of each pass unique.
    P_MOVED    bumped whenever a pass moves data, so Python can tell a BLOCKED run that made
               progress from one that did not (the scheduler's idle marks, the deadlock check)
    P_LEN      number of words of the plan array
    P_STASH_AT address of the engine's count of stashed messages (0: none): run_at does not
               start while it is non-zero, Python fills the P_PENDING counts first
    P_SEND_AT .. P_TMP_N   addresses and element counts of the send, receive and scratch arrays of
               a hot-path copy of the plan (run_at, barrier_at); unused by run
    P_FREED    set when the communicator is freed: a hot call kept from before refuses to run
    P_ROUNDS   1 when the program is only rounds of SIGNAL, AWAIT, WAIT (a barrier): a fresh run
               goes through _signal_rounds, a tight loop, instead of the general one

The hot paths (Barrier, small Bcast/Reduce/Allreduce on a call site's same arrays) call run_at or
barrier_at with the address of the plan words alone: numba unboxes every argument on every call,
and three arrays cost more than the rest of a 2-rank barrier. The addresses stay valid because
the hot-path record that owns these words also holds the arrays, and whoever holds the call
holds the record.
"""

from __future__ import annotations

import weakref
from typing import Any

import numba
import numpy as np
from numba import njit, objmode, types

from ..bus import held, ring
from ..bus import layout as L
from ..bus.atomics import array_address, cpu_relax, int64_pointer, load_i64, memcpy, typed_pointer, uint8_pointer
from ..bus.compiling import compile_once
from ..bus.views import pointer_view
from .elementwise import OP_USER, reduce_into

# Row opcodes.
SEND = 1
RECV = 2
WAIT = 3
COPY = 4
REDUCE = 5
SIGNAL = 6
AWAIT = 7
ROW = 8
# A REDUCE operand buffer of HELD + i: the message of RECV row i (see the module docstring).
HELD = 8

# Plan header words.
P_PC = 0
P_WSTART = 1
P_DETAIL = 2
P_NSTEPS = 3
P_CTX = 4
P_TAG = 5
P_OP = 6
P_SPINS = 7
P_N = 8
P_PROG = 9
P_PROGRESS = 10
P_TXH = 11
P_RXH = 12
P_PENDING = 13
P_INFO = 14
P_BUSY = 15
P_PASS = 16
P_MOVED = 17
P_LEN = 18
P_STASH_AT = 19
P_SEND_AT = 20
P_SEND_N = 21
P_RECV_AT = 22
P_RECV_N = 23
P_TMP_AT = 24
P_TMP_N = 25
P_FREED = 26
P_ROUNDS = 27
P_HEADER = 32

# Return codes.
DONE = 0
BLOCKED = 1  # spun `spins` polls without progress: let Python back off and call again
NEED_REDUCE = 2  # row P_DETAIL is a REDUCE with a Python operator
NEED_STASH = 3  # row P_DETAIL receives from a peer with a stashed message: Python delivers it
FOREIGN = 4  # row P_DETAIL found another communicator's message at the head of its queue
MISMATCH = 5  # row P_DETAIL received a message of another size: info holds its header
NEED_PENDING = 6  # run_at only, before starting: messages are stashed, Python fills P_PENDING
FREED = 7  # run_at only: the communicator was freed (P_FREED)
ERR_BAD_PROGRAM = -64  # a COPY row reaches outside its arrays (a bug in a schedule, never data)
# Negative codes are the bus corruption codes of layout.py.

_RX_IDLE = 0
_RX_ACTIVE = 1
_RX_DONE = 2
RX_HELD = 3  # matched and left at the head of its ring for the REDUCE that reads it: complete


@njit(cache=True)
def _pick(which, send, recv, tmp):
    if which == 0:
        return send
    if which == 1:
        return recv
    return tmp


@njit(cache=True, inline="always")
def _bytes(arr):
    """The array's memory as a uint8 array."""
    return pointer_view(uint8_pointer(array_address(arr)), arr.size * arr.itemsize)


@njit(cache=True)
def _start(plan):
    """Reset the per-row progress words for a fresh run."""
    nsteps = plan[P_NSTEPS]
    prog = plan[P_PROG]
    progress = plan[P_PROGRESS]
    for i in range(nsteps):
        plan[progress + i] = L.TX_NOT_STARTED if plan[prog + i * ROW] == SEND else _RX_IDLE
    plan[P_WSTART] = 0


@njit(cache=True)
def _advance(plan, i, send, recv, tmp, size, stamp):
    """Move row i forward if it is a SEND or RECV: 1 if it moved, 0 if not, -code to stop with a
    stop code, or a corruption code - 16."""
    prog = plan[P_PROG] + i * ROW
    progress = plan[P_PROGRESS] + i
    state = plan[progress]
    op = plan[prog]
    if op == SIGNAL or op == AWAIT:
        if state == _RX_DONE:
            return 0
        if op == SIGNAL:
            ring.tx_signal(plan[plan[P_TXH] + plan[prog + 1]])
            plan[progress] = _RX_DONE
            return 1
        got = ring.rx_signal(plan[plan[P_RXH] + plan[prog + 1]])
        if got < 0:
            return got - 16
        if got == 0:
            return 0
        plan[progress] = _RX_DONE
        return 1
    if op != SEND and op != RECV:
        return 0
    peer = plan[prog + 1]
    # send, recv and tmp are byte views (see run): this function and the ring kernels compile once
    # for every dtype. Offsets and counts are in elements of `size` bytes.
    arr = _pick(plan[prog + 2], send, recv, tmp)
    off = plan[prog + 3] * size
    count = plan[prog + 4] * size
    if off < 0 or count < 0 or off + count > arr.size:
        return ERR_BAD_PROGRAM - 16
    part = arr[off: off + count]
    busy = plan[P_BUSY]
    if op == SEND:
        if state >= 0 and state >= part.nbytes:
            return 0
        if plan[busy + 2 * peer] == stamp:
            return 0  # an earlier send to this peer is still in flight
        h = plan[plan[P_TXH] + peer]
        sent = ring.tx_push(h, L.KIND_EAGER, plan[P_TAG], plan[P_CTX], part.nbytes, 0, part, state)
        if sent < L.TX_NOT_STARTED:
            return sent - L.TX_ERR_BASE - 16  # corruption code, shifted below the stop codes
        plan[progress] = sent
        if sent < part.nbytes or sent < 0:
            plan[busy + 2 * peer] = stamp
        return 1 if sent != state else 0
    # RECV
    if state == _RX_DONE or state == RX_HELD:
        return 0
    if plan[busy + 2 * peer + 1] == stamp:
        return 0  # an earlier receive from this peer is not complete yet
    h = plan[plan[P_RXH] + peer]
    if state == _RX_IDLE:
        if plan[plan[P_PENDING] + peer] > 0:
            plan[P_DETAIL] = i
            return -NEED_STASH
        if plan[prog + 5] != 0 and plan[P_OP] != OP_USER:
            # Leave the segment in the ring: the REDUCE combines it from there (no copy).
            st = held.rx_hold(h, plan[P_TAG], plan[P_CTX], part.nbytes)
            if st == held.HOLD_OK:
                plan[progress] = RX_HELD
                return 1
            if st == L.RX_EMPTY:
                plan[busy + 2 * peer + 1] = stamp
                return 0
            if st < 0:
                return st - 16
        info = plan[plan[P_INFO]: plan[P_INFO] + L.INFO_LEN]
        st = ring.rx_match(h, plan[P_TAG], plan[P_CTX], part, info)
        if st == L.RX_EMPTY:
            plan[busy + 2 * peer + 1] = stamp
            return 0
        if st == L.RX_NO_MATCH:
            plan[P_DETAIL] = i
            return -FOREIGN
        if st < 0:
            return st - 16
        if info[L.INFO_TOTAL] != part.nbytes or info[L.INFO_KIND] != L.KIND_EAGER:
            plan[P_DETAIL] = i
            return -MISMATCH
        if st == L.RX_PARTIAL:
            plan[progress] = _RX_ACTIVE
            plan[busy + 2 * peer + 1] = stamp
            return 1
        plan[progress] = _RX_DONE
        return 1
    before = ring.rx_progress(h)
    st = ring.rx_continue(h, part)
    if st == L.RX_COMPLETE:
        plan[progress] = _RX_DONE
        return 1
    if st < 0:
        return st - 16
    plan[busy + 2 * peer + 1] = stamp
    # Moved only if fragments arrived: a receive waiting for a sender that cannot run until we
    # return (a green thread of this very process) must let the spin budget run out.
    return 1 if ring.rx_progress(h) != before else 0


@njit(cache=True)
def _signal_rounds(plan):
    """A fresh run of a program of SIGNAL, AWAIT, WAIT rounds (P_ROUNDS), in a tight loop: post,
    spin on the peer's count, next round. Measured at 2 ranks, a barrier through run_at in a
    jitted loop: 0.15 us, against 0.25 us through the general loop (its per-row bookkeeping); the
    bare signal exchange 0.06 us (python -m osu.probes barrier_floor). If a round waits longer
    than P_SPINS polls, the state is left as the general loop keeps it (this round's SIGNAL done,
    its AWAIT open, later rows not started), so the next call resumes there."""
    prog = plan[P_PROG]
    progress = plan[P_PROGRESS]
    nsteps = plan[P_NSTEPS]
    spins = plan[P_SPINS]
    for pc in range(0, nsteps, 3):
        row = prog + pc * ROW
        ring.tx_signal(plan[plan[P_TXH] + plan[row + 1]])
        h = plan[plan[P_RXH] + plan[row + ROW + 1]]
        idle = 0
        while True:
            got = ring.rx_signal(h)
            if got == 1:
                break
            idle += 1
            if got < 0 or idle > spins:
                for i in range(pc, nsteps):
                    plan[progress + i] = _RX_IDLE
                plan[progress + pc] = _RX_DONE
                plan[P_MOVED] += 1
                plan[P_PC] = pc + 2
                plan[P_WSTART] = pc
                plan[P_DETAIL] = pc
                return got if got < 0 else BLOCKED
            cpu_relax()
    return DONE


@njit(cache=True)
def run(plan, send, recv, tmp):
    """Execute the plan's program from P_PC; return DONE, a stop code, or a negative error."""
    if plan[P_WSTART] < 0:
        if plan[P_ROUNDS] != 0:
            return _signal_rounds(plan)
        _start(plan)
    prog = plan[P_PROG]
    nsteps = plan[P_NSTEPS]
    itemsize = send.itemsize
    send_b = _bytes(send)
    recv_b = _bytes(recv)
    tmp_b = _bytes(tmp)
    pc = plan[P_PC]
    while pc < nsteps:
        row = prog + pc * ROW
        op = plan[row]
        if op == SEND or op == RECV or op == SIGNAL or op == AWAIT:
            pc += 1
            continue
        if op == WAIT:
            lo = plan[P_WSTART]
            idle = 0
            while True:
                plan[P_PASS] += 1
                stamp = plan[P_PASS]
                moved = 0
                pending = 0
                for i in range(lo, pc):
                    r = _advance(plan, i, send_b, recv_b, tmp_b, itemsize, stamp)
                    if r < 0:
                        plan[P_PC] = pc
                        return -r if r > -16 else r + 16
                    moved += r
                for i in range(lo, pc):
                    kind = plan[prog + i * ROW]
                    if kind == RECV or kind == AWAIT or kind == SIGNAL:
                        state = plan[plan[P_PROGRESS] + i]
                        if state != _RX_DONE and state != RX_HELD:
                            pending += 1
                    elif kind == SEND:
                        sent = plan[plan[P_PROGRESS] + i]
                        if sent < 0 or sent < plan[prog + i * ROW + 4] * itemsize:
                            pending += 1
                if pending == 0:
                    break
                if moved != 0:
                    plan[P_MOVED] += moved
                if moved == 0:
                    idle += 1
                    if idle > plan[P_SPINS]:
                        plan[P_PC] = pc
                        plan[P_DETAIL] = lo
                        return BLOCKED
                    cpu_relax()
                else:
                    idle = 0
            plan[P_WSTART] = pc + 1
            pc += 1
            continue
        if op == COPY:
            src = _pick(plan[row + 1], send, recv, tmp)
            dst = _pick(plan[row + 3], send, recv, tmp)
            count = plan[row + 5]
            so = plan[row + 2]
            do = plan[row + 4]
            if so < 0 or do < 0 or so + count > src.size or do + count > dst.size:
                plan[P_PC] = pc
                return ERR_BAD_PROGRAM
            # llvm.memcpy: a numba slice assignment of small elements copies at a few GB/s.
            size = src.itemsize
            memcpy(array_address(dst) + do * size, array_address(src) + so * size, count * size)
            pc += 1
            continue
        # REDUCE
        if plan[P_OP] == OP_USER:
            plan[P_PC] = pc
            plan[P_DETAIL] = pc
            return NEED_REDUCE
        a = _pick(plan[row + 1], send, recv, tmp)
        out = _pick(plan[row + 5], send, recv, tmp)
        ao = plan[row + 2]
        oo = plan[row + 6]
        count = plan[row + 7]
        which = plan[row + 3]
        bo = plan[row + 4]
        if which >= HELD:
            # b is RECV row i's message: in its ring if the row held it, else where it landed.
            i = which - HELD
            rrow = prog + i * ROW
            if i >= plan[P_NSTEPS] or plan[rrow] != RECV or plan[rrow + 4] != count:
                plan[P_PC] = pc
                return ERR_BAD_PROGRAM
            if plan[plan[P_PROGRESS] + i] == RX_HELD:
                h = plan[plan[P_RXH] + plan[rrow + 1]]
                at = held.held_payload(h)
                if at < 0:
                    plan[P_PC] = pc
                    return at
                reduce_into(plan[P_OP], a[ao: ao + count], held.view_like(at, send, count), out[oo: oo + count])
                st = held.release_held(h)
                if st < 0:
                    plan[P_PC] = pc
                    return st
                plan[plan[P_PROGRESS] + i] = _RX_DONE
                pc += 1
                continue
            which = plan[rrow + 2]
            bo = plan[rrow + 3]
        b = _pick(which, send, recv, tmp)
        reduce_into(plan[P_OP], a[ao: ao + count], b[bo: bo + count], out[oo: oo + count])
        pc += 1
    # Ready for the next run: the caller's fast path calls again without touching the plan.
    plan[P_PC] = 0
    plan[P_WSTART] = -1
    return DONE


@njit(cache=True, inline="always")
def _words_at(addr):
    """The plan words at addr (their count is in their own P_LEN word)."""
    return pointer_view(int64_pointer(addr), pointer_view(int64_pointer(addr), P_HEADER)[P_LEN])


@njit(cache=True, inline="always")
def _fresh_stop(plan):
    """What stops a fresh hot run before it starts: FREED, NEED_PENDING, or DONE (go ahead)."""
    if plan[P_FREED] != 0:
        return FREED
    stash = plan[P_STASH_AT]
    if stash != 0 and load_i64(stash) != 0:
        return NEED_PENDING
    return DONE


@njit(cache=True)
def run_at(addr, proto):
    """run() on the plan words at addr and the arrays whose addresses and counts are in them
    (P_SEND_AT ..); proto is any value of their element type. Also stops with NEED_PENDING or
    FREED. Python calls it through entry_point_at, with the address alone."""
    plan = _words_at(addr)
    if plan[P_WSTART] < 0:
        st = _fresh_stop(plan)
        if st != DONE:
            return st
    send = pointer_view(typed_pointer(plan[P_SEND_AT], proto), plan[P_SEND_N])
    recv = pointer_view(typed_pointer(plan[P_RECV_AT], proto), plan[P_RECV_N])
    tmp = pointer_view(typed_pointer(plan[P_TMP_AT], proto), plan[P_TMP_N])
    return run(plan, send, recv, tmp)


# What completes a hot barrier the interpreter stopped, by the address of its plan words:
# registered by the plan's owner (coll/engine.py HotRun), which also keeps the words alive.
_HOT_STOPS: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


def register_hot_stop(words: np.ndarray, owner: Any) -> None:
    """Let barrier_at hand its stops on `words` to owner.stop(code) (owner keeps words alive)."""
    _HOT_STOPS[words.ctypes.data] = owner


def _hot_stop(addr: int, st: int) -> None:
    _HOT_STOPS[addr].stop(st)


@njit(cache=True)
def barrier_at(addr):
    """A hot Barrier in one call that returns None, as MPI's Barrier does: it is bound to its
    plan words as the communicator's own Barrier attribute, so no Python frame runs when the
    barrier completes inside the interpreter; any stop (blocked, a message for another
    communicator, an abort, FREED) goes to Python through objmode."""
    plan = _words_at(addr)
    if plan[P_ROUNDS] != 0 and plan[P_WSTART] < 0:
        # run_at's checks, then straight to the rounds: no arrays to make, no run().
        st = _fresh_stop(plan)
        if st == DONE:
            st = _signal_rounds(plan)
    else:
        st = run_at(addr, np.uint8(0))
    if st != DONE:
        with objmode():
            _hot_stop(addr, st)


class _IgnoreStop:
    def stop(self, st: int) -> None:
        pass


def warm_objmode_stop() -> None:
    """Run barrier_at's objmode call once, on a dummy freed plan whose stop is ignored.

    The first time a compiled objmode block runs, numba unpickles its Python callee, which
    imports `numba.core.serialize` by name; numba keeps the result for every later run. A
    program that has hidden numba by then (`sys.modules["numba"] = None`, as mpi4py's test
    runner does) would get ModuleNotFoundError from a Barrier that has to wait, on that rank
    only, and the ranks would fall out of step. The rank start-up calls this, with numba
    visible, before the program runs."""
    words = np.zeros(P_HEADER, np.int64)
    words[P_ROUNDS] = 1
    words[P_WSTART] = -1
    words[P_FREED] = 1  # _fresh_stop: FREED, straight to the objmode stop
    owner = _IgnoreStop()  # _HOT_STOPS holds its owners weakly
    register_hot_stop(words, owner)
    try:
        barrier_entry()(words.ctypes.data)
    finally:
        _HOT_STOPS.pop(words.ctypes.data, None)


_PLAN = types.Array(types.int64, 1, "C")


def entry_point(dtype: np.dtype):
    """The compiled interpreter for 1-D C-contiguous arrays of `dtype` (skips the dispatcher)."""
    arr = types.Array(numba.from_dtype(dtype), 1, "C")
    return compile_once(run, (_PLAN, arr, arr, arr))


def _run_at_for(element: type):
    """run_at for one element type, taking the address alone: numba's wrapper unboxes a numpy
    scalar argument on every call, 30-40 ns of a hot call here. numba caches each on disk apart
    (its cache index keys a closure by the values it closes over), so the launcher warms them."""

    @njit(cache=True)
    def run_at_typed(addr):
        return run_at(addr, element(0))

    return run_at_typed


# The dtypes of the hot paths (the MPI layer's Barrier, Bcast, Reduce and Allreduce records).
_RUN_AT_BY_DTYPE = {np.dtype(t): _run_at_for(t) for t in (np.uint8, np.int32, np.int64, np.float32, np.float64)}
HOT_DTYPES = frozenset(_RUN_AT_BY_DTYPE)


def entry_point_at(dtype: np.dtype):
    """The compiled run_at for elements of `dtype` (one of HOT_DTYPES): call it as fn(words address)."""
    return compile_once(_RUN_AT_BY_DTYPE[dtype], (types.int64,))


def barrier_entry():
    """The compiled barrier_at: call it as fn(words address)."""
    return compile_once(barrier_at, (types.int64,))
