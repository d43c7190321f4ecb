"""toro_mpi.jit's primed fallbacks without a job (a singleton COMM_WORLD: every call falls back).

numba compiles an objmode block at its first execution; a jitted call runs each block it can
reach once, as a no-op, at the handle's first call of its kind and type, and notes that in the
handle's H_READY words (layout.P_*). Green-thread ranks otherwise compiled sendrecv's block in
the middle of their loop (issue #20). The multi-rank side is tests/test_jit_green.py's."""

from __future__ import annotations

import numba
import numpy as np

import toro_mpi.jit as tj
from toro_mpi import MPI
from toro_mpi.bus.ring import wire_type_of
from toro_mpi.jit import handle as JH
from toro_mpi.jit import layout as J

F8 = wire_type_of(np.zeros(1))


@numba.njit(cache=True)
def _sendrecv_self(h, a, b):
    return tj.sendrecv(h, a, 0, 4, b, 0, 4)


@numba.njit(cache=True)
def _null_then_wait(h, a):
    code, req = tj.isend(h, a, tj.PROC_NULL, 1)
    return code or tj.wait(h, req)


def _fresh_handle() -> np.ndarray:
    """A handle of its own (the primes are per handle): a duplicate of COMM_WORLD's."""
    return tj.comm_handle(MPI.COMM_WORLD.Dup())


def test_sendrecv_primes_its_fallback_uncounted() -> None:
    h = _fresh_handle()
    assert h[J.H_READY + 1] & (1 << (J.P_SENDRECV + F8)) == 0
    before = tj.fallbacks(h)
    a, b = np.arange(3.0), np.zeros(3)
    assert _sendrecv_self(h, a, b) == 0
    assert b.tolist() == [0.0, 1.0, 2.0]
    assert h[J.H_READY + 1] & (1 << (J.P_SENDRECV + F8))
    assert tj.fallbacks(h) - before == 1  # the message itself; the prime is not a fallback
    assert _sendrecv_self(h, a + 1, b) == 0 and b.tolist() == [1.0, 2.0, 3.0]
    assert tj.fallbacks(h) - before == 2


def test_wait_primed_by_a_request_done_in_jitted_code() -> None:
    h = _fresh_handle()
    before = tj.fallbacks(h)
    assert _null_then_wait(h, np.zeros(2)) == 0
    assert h[J.H_READY] & (1 << J.P_WAIT)
    assert tj.fallbacks(h) == before  # PROC_NULL: nothing went to Python but the prime


def test_fallbacks_keep_the_signatures_cached_callers_use() -> None:
    """numba keeps callers' cached code, which calls the fallbacks with the arguments of the
    toro_mpi it was compiled with: the older, shorter calls still work."""
    h = _fresh_handle()
    hid = int(h[J.H_HID])
    i4 = wire_type_of(np.zeros(1, np.int32))
    assert JH.fb_send(-hid, np.zeros(1, np.int32), 0, 0) == tj.SUCCESS  # a prime (4 arguments)
    assert h[J.H_READY + 1] & (1 << (J.P_SEND + i4))
    assert JH.fb_recv(-hid, np.zeros(1, np.int32), 0, 0) == tj.SUCCESS
    assert h[J.H_READY] & (1 << (J.P_RECV + i4))
    a, b = np.arange(4.0), np.zeros(4)
    assert JH.fb_sendrecv(hid, a, 0, 9, b, 0, 9) == tj.SUCCESS  # 7 arguments, as before `want`
    assert b.tolist() == a.tolist()
    assert JH.fb_send(hid, a + 1, 0, 8) == tj.SUCCESS
    assert JH.fb_recv(hid, b, 0, 8) == tj.SUCCESS and b.tolist() == (a + 1).tolist()
    assert h[J.H_ST:J.H_ST + 3].tolist() == [0, 8, 32]
