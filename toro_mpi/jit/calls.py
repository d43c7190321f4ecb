"""The MPI calls jitted code makes (`@numba.njit` functions call these with a comm handle).

Fast path: a call moves its message on the virtqueue kernels itself (bus/ring.py, as the Python
hot paths of Comm.Send / Comm.Recv do) when the Python engine holds nothing that could have to
come first: no queued send, no unexpected message, no posted or active receive (the engine's
jit_state dirty word is 0). Anything else, and a wait longer than a bounded spin, goes to the
Python call through numba.objmode (handle.py), which parks in the scheduler: green-thread ranks,
aborts, the deadlock report and --timeout keep working. Errors come back as MPI error codes.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit

from ..bus import layout as BL
from ..bus.atomics import array_address, cpu_relax, int64_pointer, load_acquire_i64, memcpy
from ..bus.ring import rx_recv, rx_wait, tx_send, wire_type_of
from ..bus.views import pointer_view
from ..coll.interpreter import DONE as _PLAN_DONE
from ..coll.interpreter import run_at
from . import layout as J
from .handle import (
    fb_allreduce,
    fb_allreduce_learn,
    fb_allreduce_stop,
    fb_barrier,
    fb_bcast,
    fb_irecv,
    fb_isend,
    fb_recv,
    fb_recv_rest,
    fb_reduce,
    fb_send,
    fb_send_rest,
    fb_sendrecv,
    fb_sendrecv_rest,
    fb_wait,
)

# Names the objmode blocks of earlier toro_mpi versions looked up in this module: a user's jitted
# function numba cached against such a version runs that code, which must still find them here
# (numba checks only the caller's own file, not ours). Found when such a cache raised NameError.
_EARLIER_FALLBACKS = (fb_send_rest, fb_recv_rest, fb_sendrecv_rest)

_SUCCESS = J.SUCCESS
_EMPTY = BL.RX_EMPTY
_COMPLETE = BL.RX_COMPLETE
_SPECIAL = BL.RX_SPECIAL
_PARTIAL = BL.RX_PARTIAL
_NOT_STARTED = BL.TX_NOT_STARTED


@njit(cache=True, inline="always")
def _stale(h):
    """Whether handle h was made by another build of the kernel sources than this code was
    compiled from (layout.py JIT_BUILD): a user's numba cache of older code."""
    return h[h.size - 1] != J.JIT_BUILD


@njit(cache=True, inline="always")
def _i64(x):
    """x as a plain int64: a constant passed as is would be typed as a literal, and a callee
    called with a literal argument is another specialization, with an objmode block of its own
    that a prime made with a variable would not have compiled."""
    return np.int64(x)


# -- the fallbacks into Python: one objmode block per function (numba mis-lowers several in one) --
# numba compiles an objmode block the first time it runs (it is not cached): each block a call can
# reach is run once, as a no-op, at a handle's first call of its kind and element type (the
# _prime_* helpers, with a negative handle id), so that the first fallback that must wait,
# later, inside the caller's loop, does not compile there while its peers wait (issue #20). A
# blocking call therefore has one block for everything Python finishes for it (`sent` / `st`
# say whether jitted code started the message), not one per case.

@njit(cache=True)
def _send_py(hid, buf, dest, tag, sent):
    with numba.objmode(code="int64"):
        code = fb_send(hid, buf, dest, tag, sent)
    return code


@njit(cache=True)
def _recv_py(hid, buf, source, tag, want, st):
    with numba.objmode(code="int64"):
        code = fb_recv(hid, buf, source, tag, want, st)
    return code


@njit(cache=True)
def _sendrecv_py(hid, sendbuf, dest, sendtag, recvbuf, source, recvtag, want, sent):
    with numba.objmode(code="int64"):
        code = fb_sendrecv(hid, sendbuf, dest, sendtag, recvbuf, source, recvtag, want, sent)
    return code


@njit(cache=True)
def _isend_py(hid, buf, dest, tag, sent, req):
    with numba.objmode(code="int64"):
        code = fb_isend(hid, buf, dest, tag, sent, req)
    return code


@njit(cache=True)
def _irecv_py(hid, buf, source, tag, st, req):
    with numba.objmode(code="int64"):
        code = fb_irecv(hid, buf, source, tag, st, req)
    return code


@njit(cache=True)
def _wait_py(hid, req):
    with numba.objmode(code="int64"):
        code = fb_wait(hid, req)
    return code


@njit(cache=True)
def _barrier_py(hid):
    with numba.objmode(code="int64"):
        code = fb_barrier(hid)
    return code


@njit(cache=True)
def _bcast_py(hid, buf, root):
    with numba.objmode(code="int64"):
        code = fb_bcast(hid, buf, root)
    return code


@njit(cache=True)
def _reduce_py(hid, sendbuf, recvbuf, op, root):
    with numba.objmode(code="int64"):
        code = fb_reduce(hid, sendbuf, recvbuf, op, root)
    return code


@njit(cache=True)
def _allreduce_py(hid, sendbuf, recvbuf, op):
    with numba.objmode(code="int64"):
        code = fb_allreduce(hid, sendbuf, recvbuf, op)
    return code


@njit(cache=True)
def _allreduce_learn_py(hid, sendbuf, recvbuf, op, wire):
    with numba.objmode(code="int64"):
        code = fb_allreduce_learn(hid, sendbuf, recvbuf, op, wire)
    return code


@njit(cache=True)
def _allreduce_stop_py(hid, i, st):
    with numba.objmode(code="int64"):
        code = fb_allreduce_stop(hid, i, st)
    return code


# -- helpers -------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _clean(h, nbytes):
    """Whether a jitted call may use the rings: nothing waits in the Python engine, and the
    message is below the size that goes by rendezvous or heap descriptor."""
    st = h[J.H_STATE]
    return h[J.H_FAST] != 0 and load_acquire_i64(st) == 0 and nbytes < load_acquire_i64(st + 8)


@njit(cache=True, inline="always")
def _put(status, source, tag, nbytes, itemsize, err):
    """Fill a status array (when the caller gave one): source, tag, count in elements, error."""
    if status is not None:
        status[J.ST_SOURCE] = source
        status[J.ST_TAG] = tag
        status[J.ST_COUNT] = nbytes // itemsize if itemsize > 0 else nbytes
        status[J.ST_ERROR] = err


@njit(cache=True, inline="always")
def _check_dest(h, dest, tag):
    if dest != J.PROC_NULL and (dest < 0 or dest >= h[J.H_SIZE]):
        return J.ERR_RANK
    if tag < 0 or tag > J.TAG_MAX:
        return J.ERR_TAG
    return _SUCCESS


@njit(cache=True, inline="always")
def _check_source(h, source, tag):
    if source < J.PROC_NULL or source >= h[J.H_SIZE]:
        return J.ERR_RANK
    if tag < J.ANY_TAG or tag > J.TAG_MAX:
        return J.ERR_TAG
    return _SUCCESS


@njit(cache=True, inline="always")
def _info(rxh):
    """The header the last receive kernel call on queue rxh saw (its private H_INFO words)."""
    return pointer_view(int64_pointer(rxh + BL.H_INFO), BL.INFO_LEN)


@njit(cache=True, inline="always")
def _rx(h, rank):
    return h[J.H_TX + h[J.H_SIZE] + rank]


@njit(cache=True, inline="always")
def _slot(h, req):
    return J.H_TX + 2 * h[J.H_SIZE] + req * J.REQ_W


# -- sending -------------------------------------------------------------------------------------
@njit(cache=True)
def _send(h, buf, dest, tag):
    """Send without argument checks: the fast path, a bounded spin on a full ring, then Python."""
    hid = h[J.H_HID]
    nbytes = buf.nbytes
    txh = h[J.H_TX + dest]
    if txh != 0 and _clean(h, nbytes):
        ctx = h[J.H_CTX]
        sent = tx_send(txh, tag, ctx, buf)
        k = h[J.H_SPINS]
        while sent == _NOT_STARTED and k > 0:  # ring full: the receiver is draining it
            cpu_relax()
            sent = tx_send(txh, tag, ctx, buf)
            k -= 16
        if sent == nbytes:
            return _SUCCESS
        if sent > _NOT_STARTED:  # partly pushed: the rest must follow on this queue, in order
            code = _send_py(hid, buf, dest, tag, sent)
            return code
        if sent < _NOT_STARTED:
            return J.ERR_INTERN
    code = _send_py(hid, buf, dest, tag, _i64(_NOT_STARTED))
    return code


@njit(cache=True, inline="always")
def _prime_send(h, buf, dest, tag):
    """At this handle's first send of buf's element type: call the send fallback once with a
    negative id, a no-op there but for loading the engine's kernels (handle.fb_send). numba
    compiles an objmode block at its first execution (not cached): without this, in the first
    send that must wait, inside the caller's loop (0.5 s under load, issue #20's slow mode)."""
    if h[J.H_READY + 1] & (1 << (J.P_SEND + wire_type_of(buf))) == 0:
        _send_py(-h[J.H_HID], buf, dest, tag, _i64(_NOT_STARTED))


@njit(cache=True)
def send(h, buf, dest, tag=0):
    """Blocking standard send of a contiguous array (MPI_Send); returns an MPI error code."""
    if _stale(h):
        return J.ERR_STALE_BUILD
    code = _check_dest(h, dest, tag)
    if code != _SUCCESS:
        return code
    if not buf.flags.c_contiguous:
        return J.ERR_BUFFER
    if dest == J.PROC_NULL:
        return _SUCCESS
    # int64 from here on (_i64): a literal rank or tag would make another specialization below
    dest, tag = _i64(dest), _i64(tag)
    _prime_send(h, buf, dest, tag)
    return _send(h, buf, dest, tag)


# -- receiving -----------------------------------------------------------------------------------
@njit(cache=True)
def _recv(h, buf, source, tag, want):
    """Receive without argument checks; returns (code, source, tag, bytes): the last three are
    meaningful only when `want` (a status asked for; a Python fallback then fills them in)."""
    hid = h[J.H_HID]
    size = h[J.H_SIZE]
    if h[J.H_READY] & (1 << (J.P_RECV + wire_type_of(buf))) == 0:
        # This handle's first receive of the element type: compile the fallback's objmode block
        # now (a no-op call, see _prime_send), not at the first wait longer than the spin.
        _recv_py(-hid, buf, source, tag, want, _i64(_EMPTY))
    if _clean(h, 0):
        ctx = h[J.H_CTX]
        spins = h[J.H_SPINS]
        got = -1
        st = _EMPTY
        if source >= 0:
            rxh = _rx(h, source)
            if rxh != 0:
                st = rx_wait(rxh, tag, ctx, buf, _info(rxh), spins)
                got = source
        else:  # ANY_SOURCE: poll every queue from a rotating first one, as the engine does
            start = h[J.H_ROTATE]
            h[J.H_ROTATE] = start + 1 if start + 1 < size else 0
            passes = max(1, spins // (16 * max(1, size - 1)))
            for _ in range(passes):
                for k in range(size):
                    p = start + k
                    p = p if p < size else p - size
                    rxh = _rx(h, p)
                    if rxh == 0:
                        continue
                    st = rx_recv(rxh, tag, ctx, buf)
                    if st != _EMPTY:
                        got = p
                        break
                if st != _EMPTY:
                    break
                cpu_relax()
        if st == _COMPLETE:
            info = _info(_rx(h, got))
            return _SUCCESS, got, info[BL.INFO_TAG], info[BL.INFO_TOTAL]
        if st == _SPECIAL or st == _PARTIAL:  # consumed: Python finishes it (acks, truncation...)
            code = _recv_py(hid, buf, got, tag, want, st)
            return code, h[J.H_ST], h[J.H_ST + 1], h[J.H_ST + 2]
        if st < 0:
            return J.ERR_INTERN, got, tag, 0
    # Empty after the spin, another message at the head, or Python state first: the Python call.
    code = _recv_py(hid, buf, source, tag, want, _i64(_EMPTY))
    return code, h[J.H_ST], h[J.H_ST + 1], h[J.H_ST + 2]


@njit(cache=True)
def recv(h, buf, source=J.ANY_SOURCE, tag=J.ANY_TAG, status=None):
    """Blocking receive into a contiguous array (MPI_Recv); fills `status` (int64[4]: source,
    tag, count in elements, error) when given; returns an MPI error code (ERR_TRUNCATE, ...)."""
    if _stale(h):
        return J.ERR_STALE_BUILD
    code = _check_source(h, source, tag)
    if code != _SUCCESS:
        return code
    if not buf.flags.c_contiguous:
        return J.ERR_BUFFER
    if source == J.PROC_NULL:
        _put(status, J.PROC_NULL, J.ANY_TAG, 0, 1, _SUCCESS)
        return _SUCCESS
    code, src, rtag, nbytes = _recv(h, buf, _i64(source), _i64(tag), _i64(status is not None))
    _put(status, src, rtag, nbytes, buf.itemsize, code)
    return code


@njit(cache=True)
def sendrecv(h, sendbuf, dest, sendtag, recvbuf, source=J.ANY_SOURCE, recvtag=J.ANY_TAG, status=None):
    """Send and receive in one call (MPI_Sendrecv): no deadlock when both sides call it."""
    if _stale(h):
        return J.ERR_STALE_BUILD
    code = _check_dest(h, dest, sendtag)
    if code == _SUCCESS:
        code = _check_source(h, source, recvtag)
    if code != _SUCCESS:
        return code
    if not (sendbuf.flags.c_contiguous and recvbuf.flags.c_contiguous):
        return J.ERR_BUFFER
    hid = h[J.H_HID]
    # int64 from here on (_i64): a literal rank or tag (the usual halo exchange's) would make
    # another specialization of the fallback below, with an objmode block the prime missed.
    want = _i64(status is not None)
    dest, sendtag, source, recvtag = _i64(dest), _i64(sendtag), _i64(source), _i64(recvtag)
    if dest != J.PROC_NULL:
        if h[J.H_READY + 1] & (1 << (J.P_SENDRECV + wire_type_of(sendbuf))) == 0:
            # This handle's first sendrecv of the type: its fallback's objmode block compiles now
            # (see _prime_send), not at the first call that finds Python state first (which
            # green-thread ranks meet every few steps: a message drained while they waited).
            _sendrecv_py(-hid, sendbuf, dest, sendtag, recvbuf, source, recvtag, want, _i64(_NOT_STARTED))
        nbytes = sendbuf.nbytes
        txh = h[J.H_TX + dest]
        sent = _NOT_STARTED
        if txh != 0 and _clean(h, nbytes):
            sent = tx_send(txh, sendtag, h[J.H_CTX], sendbuf)
            if sent < _NOT_STARTED:
                return J.ERR_INTERN
        if sent != nbytes:
            # The send must not block before the receive is posted: Python does both (and the
            # rest of the message when jitted code pushed its first `sent` bytes).
            code = _sendrecv_py(hid, sendbuf, dest, sendtag, recvbuf, source, recvtag, want, sent)
            if source == J.PROC_NULL:
                _put(status, J.PROC_NULL, J.ANY_TAG, 0, 1, code)
            else:
                _put(status, h[J.H_ST], h[J.H_ST + 1], h[J.H_ST + 2], recvbuf.itemsize, code)
            return code
    if source == J.PROC_NULL:
        _put(status, J.PROC_NULL, J.ANY_TAG, 0, 1, _SUCCESS)
        return _SUCCESS
    code, src, rtag, nb = _recv(h, recvbuf, source, recvtag, want)
    _put(status, src, rtag, nb, recvbuf.itemsize, code)
    return code


# -- nonblocking ---------------------------------------------------------------------------------
@njit(cache=True)
def _alloc(h):
    """A free request slot, or -1."""
    n = h[J.H_NREQ]
    start = h[J.H_REQHINT]
    for k in range(n):
        i = start + k
        i = i if i < n else i - n
        b = _slot(h, i)
        if h[b + J.R_STATE] == J.R_FREE:
            h[J.H_REQHINT] = i + 1 if i + 1 < n else 0
            return i
    return -1


@njit(cache=True, inline="always")
def _done(h, req, source, tag, nbytes, item):
    b = _slot(h, req)
    h[b + J.R_STATE] = J.R_DONE
    h[b + J.R_SOURCE] = source
    h[b + J.R_TAG] = tag
    h[b + J.R_BYTES] = nbytes
    h[b + J.R_ERROR] = _SUCCESS
    h[b + J.R_ITEM] = item


@njit(cache=True)
def isend(h, buf, dest, tag=0):
    """Start a standard send (MPI_Isend); returns (code, request). The array must not change
    until the request completes (wait / waitall)."""
    if _stale(h):
        return (J.ERR_STALE_BUILD, J.REQUEST_NULL)
    code = _check_dest(h, dest, tag)
    if code != _SUCCESS:
        return code, J.REQUEST_NULL
    if not buf.flags.c_contiguous:
        return J.ERR_BUFFER, J.REQUEST_NULL
    req = _alloc(h)
    if req < 0:
        return J.ERR_REQUEST, J.REQUEST_NULL
    if dest == J.PROC_NULL:
        _done(h, req, J.PROC_NULL, J.ANY_TAG, 0, 1)
        return _SUCCESS, req
    hid = h[J.H_HID]
    if h[J.H_READY + 1] & (1 << (J.P_ISEND + wire_type_of(buf))) == 0:
        _isend_py(-hid, buf, _i64(dest), _i64(tag), _i64(_NOT_STARTED), req)  # its objmode block, now (_prime_send)
    nbytes = buf.nbytes
    txh = h[J.H_TX + dest]
    sent = _NOT_STARTED
    if txh != 0 and _clean(h, nbytes):
        sent = tx_send(txh, tag, h[J.H_CTX], buf)
        if sent == nbytes:
            _done(h, req, J.ANY_SOURCE, J.ANY_TAG, 0, 1)
            return _SUCCESS, req
        if sent < _NOT_STARTED:
            return J.ERR_INTERN, J.REQUEST_NULL
    code = _isend_py(hid, buf, _i64(dest), _i64(tag), sent, req)
    if code != _SUCCESS:
        return code, J.REQUEST_NULL
    h[_slot(h, req) + J.R_STATE] = J.R_PYTHON
    return _SUCCESS, req


@njit(cache=True)
def irecv(h, buf, source=J.ANY_SOURCE, tag=J.ANY_TAG):
    """Start a receive (MPI_Irecv); returns (code, request)."""
    if _stale(h):
        return (J.ERR_STALE_BUILD, J.REQUEST_NULL)
    code = _check_source(h, source, tag)
    if code != _SUCCESS:
        return code, J.REQUEST_NULL
    if not buf.flags.c_contiguous:
        return J.ERR_BUFFER, J.REQUEST_NULL
    req = _alloc(h)
    if req < 0:
        return J.ERR_REQUEST, J.REQUEST_NULL
    if source == J.PROC_NULL:
        _done(h, req, J.PROC_NULL, J.ANY_TAG, 0, 1)
        return _SUCCESS, req
    hid = h[J.H_HID]
    if h[J.H_READY] & (1 << (J.P_IRECV + wire_type_of(buf))) == 0:
        _irecv_py(-hid, buf, _i64(source), _i64(tag), _i64(_EMPTY), req)  # its objmode block, now (_prime_send)
    st = _EMPTY
    if source >= 0 and _clean(h, 0):
        rxh = _rx(h, source)
        if rxh != 0:
            st = rx_recv(rxh, tag, h[J.H_CTX], buf)
            if st == _COMPLETE:
                info = _info(rxh)
                _done(h, req, source, info[BL.INFO_TAG], info[BL.INFO_TOTAL], buf.itemsize)
                return _SUCCESS, req
            if st < 0:
                return J.ERR_INTERN, J.REQUEST_NULL
            if st != _SPECIAL and st != _PARTIAL:
                st = _EMPTY  # nothing consumed: post it in Python
    code = _irecv_py(hid, buf, _i64(source), _i64(tag), st, req)
    if code != _SUCCESS:
        return code, J.REQUEST_NULL
    b = _slot(h, req)
    h[b + J.R_STATE] = J.R_PYTHON
    h[b + J.R_ITEM] = buf.itemsize
    return _SUCCESS, req


@njit(cache=True)
def wait(h, req, status=None):
    """Complete a request from isend / irecv (MPI_Wait); fills `status` when given."""
    if _stale(h):
        return J.ERR_STALE_BUILD
    if req == J.REQUEST_NULL:
        _put(status, J.ANY_SOURCE, J.ANY_TAG, 0, 1, _SUCCESS)
        return _SUCCESS
    if req < 0 or req >= h[J.H_NREQ]:
        return J.ERR_REQUEST
    b = _slot(h, req)
    state = h[b + J.R_STATE]
    if state == J.R_FREE:
        return J.ERR_REQUEST
    if h[J.H_READY] & (1 << J.P_WAIT) == 0:
        # The handle's first wait: compile the fallback's objmode block now (see _prime_send),
        # also when this request completed in jitted code and a later one will not.
        _wait_py(-h[J.H_HID], req)
    if state == J.R_PYTHON:
        hid = h[J.H_HID]
        code = _wait_py(hid, req)
    code = h[b + J.R_ERROR]
    _put(status, h[b + J.R_SOURCE], h[b + J.R_TAG], h[b + J.R_BYTES], h[b + J.R_ITEM], code)
    h[b + J.R_STATE] = J.R_FREE
    return code


@njit(cache=True)
def waitall(h, reqs, statuses=None):
    """Complete every request of the int64 array `reqs` (each becomes REQUEST_NULL); statuses,
    when given, is int64[len(reqs), 4]. Returns the first error code met (all are waited for)."""
    if _stale(h):
        return J.ERR_STALE_BUILD
    first = _SUCCESS
    for i in range(reqs.size):
        if statuses is not None:
            code = wait(h, reqs[i], statuses[i])
        else:
            code = wait(h, reqs[i])
        reqs[i] = J.REQUEST_NULL
        if code != _SUCCESS and first == _SUCCESS:
            first = code
    return first


# -- collectives (the Python collectives, through objmode) --------------------------------------
@njit(cache=True)
def barrier(h):
    """MPI_Barrier."""
    if _stale(h):
        return J.ERR_STALE_BUILD
    hid = h[J.H_HID]
    code = _barrier_py(hid)
    return code


@njit(cache=True)
def bcast(h, buf, root=0):
    """MPI_Bcast of a contiguous array from root."""
    if _stale(h):
        return J.ERR_STALE_BUILD
    if not buf.flags.c_contiguous:
        return J.ERR_BUFFER
    hid = h[J.H_HID]
    code = _bcast_py(hid, buf, _i64(root))
    return code


@njit(cache=True)
def reduce(h, sendbuf, recvbuf, op=J.SUM, root=0):
    """MPI_Reduce (op: toro_mpi.jit.SUM, MAX, ...); recvbuf matters at root only."""
    if _stale(h):
        return J.ERR_STALE_BUILD
    if not (sendbuf.flags.c_contiguous and recvbuf.flags.c_contiguous):
        return J.ERR_BUFFER
    hid = h[J.H_HID]
    code = _reduce_py(hid, sendbuf, recvbuf, _i64(op), _i64(root))
    return code


@njit(cache=True)
def allreduce(h, sendbuf, recvbuf, op=J.SUM):
    """MPI_Allreduce (op: toro_mpi.jit.SUM, MAX, ...).

    A small one (up to AR_MAX elements of a predefined type) is run in jitted code after its
    first call: on the collective plan the Python Allreduce made for staging arrays (see
    layout.py NAR); a plan that has to wait finishes in Python (objmode), as Comm.Allreduce's."""
    if _stale(h):
        return J.ERR_STALE_BUILD
    if not (sendbuf.flags.c_contiguous and recvbuf.flags.c_contiguous):
        return J.ERR_BUFFER
    hid = h[J.H_HID]
    n = sendbuf.size
    wire = wire_type_of(sendbuf)
    if 0 < n <= J.AR_MAX and recvbuf.size == n and wire != 0 and wire == wire_type_of(recvbuf) and h[J.H_SIZE] > 1:
        first = J.H_TX + 2 * h[J.H_SIZE] + J.NREQ * J.REQ_W
        for i in range(J.NAR):
            b = first + i * J.AR_W
            if h[b + J.AR_TYPE] == wire and h[b + J.AR_COUNT] == n and h[b + J.AR_OP] == op:
                if h[b + J.AR_WORDS] == 0:
                    break  # no plan record for this one: the Python call
                nbytes = sendbuf.nbytes
                memcpy(h[b + J.AR_SEND], array_address(sendbuf), nbytes)
                st = run_at(h[b + J.AR_WORDS], sendbuf.reshape(-1)[0])
                code = _SUCCESS
                if st != _PLAN_DONE:
                    code = _allreduce_stop_py(hid, i, st)
                if code == _SUCCESS:
                    memcpy(array_address(recvbuf), h[b + J.AR_RECV], nbytes)
                return code
        else:
            code = _allreduce_learn_py(hid, sendbuf, recvbuf, _i64(op), _i64(wire))
            if h[J.H_READY] & (1 << J.P_AR_STOP) == 0:
                # The stop of the record just learnt: its objmode block compiles now, in this
                # first call (see _prime_send), not in the record's first run that must wait for
                # a late peer, in the caller's loop (primed at the record's first run instead, it
                # compiled there in every run: 180 ms inside a 2-rank Jacobi's timed steps).
                _allreduce_stop_py(-hid, _i64(0), _i64(_PLAN_DONE))
            return code
    code = _allreduce_py(hid, sendbuf, recvbuf, _i64(op))
    return code
