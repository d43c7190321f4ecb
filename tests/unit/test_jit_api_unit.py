"""toro_mpi.jit without a job: a singleton COMM_WORLD has no bus, so every jitted call takes its
Python fallback (objmode) to the Python calls; the codes, statuses and `check` are tested here.
The multi-rank behaviour (fast paths, ordering against Python calls) is tests/test_jit_api.py's."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import toro_mpi.jit as tj
from toro_mpi import MPI


@numba.njit(cache=True)
def _send_recv(h, a, b, st, tag):
    c1 = tj.send(h, a, 0, tag)
    c2 = tj.recv(h, b, tj.ANY_SOURCE, tj.ANY_TAG, st)
    return c1 * 100 + c2


@numba.njit(cache=True)
def _nonblocking(h, a, b, sts):
    reqs = np.empty(3, np.int64)
    c0, reqs[0] = tj.irecv(h, b, 0, 7)
    c1, reqs[1] = tj.isend(h, a, 0, 7)
    c2, reqs[2] = tj.isend(h, a, tj.PROC_NULL, 7)
    if c0 or c1 or c2:
        return -1
    return tj.waitall(h, reqs, sts)


@numba.njit(cache=True)
def _calls(h, what, a, b):
    if what == 0:
        return tj.send(h, a, 1, 0)  # no rank 1 in a singleton
    if what == 1:
        return tj.send(h, a, 0, -3)
    if what == 2:
        return tj.recv(h, b, 0, -7)
    if what == 3:
        return tj.allreduce(h, a, b, tj.MAX)
    if what == 4:
        return tj.wait(h, tj.REQUEST_NULL)
    if what == 5:
        return tj.wait(h, 5)  # never started
    return tj.allreduce(h, a, b, 99)  # no such operation


@numba.njit(cache=True)
def _column(h, m):
    return tj.send(h, m[:, 0], 0, 0)


def test_handle_is_per_communicator() -> None:
    h = tj.comm_handle(MPI.COMM_WORLD)
    assert tj.comm_handle(MPI.COMM_WORLD) is h
    assert h[tj.layout.H_SIZE] == 1 and h[tj.layout.H_FAST] == 0  # no bus: fallbacks only
    with pytest.raises(TypeError):
        tj.comm_handle(object())


def test_send_recv_to_self_and_truncation() -> None:
    h = tj.comm_handle(MPI.COMM_WORLD)
    st = tj.status()
    b = np.zeros(4)
    assert _send_recv(h, np.arange(4.0), b, st, 3) == 0
    assert st[:3].tolist() == [0, 3, 4] and b.tolist() == [0.0, 1.0, 2.0, 3.0]
    small = np.zeros(2)
    code = _send_recv(h, np.arange(4.0) + 1, small, st, 5)
    assert code == tj.ERR_TRUNCATE
    assert st[:3].tolist() == [0, 5, 2] and small.tolist() == [1.0, 2.0]
    with pytest.raises(MPI.Exception) as info:
        tj.check(code)
    assert info.value.Get_error_class() == MPI.ERR_TRUNCATE
    assert "does not fit" in str(info.value)  # the engine's own exception, not a bare code
    tj.check(tj.SUCCESS)


def test_nonblocking_to_self() -> None:
    h = tj.comm_handle(MPI.COMM_WORLD)
    sts = tj.statuses(3)
    b = np.zeros(3, np.int32)
    assert _nonblocking(h, np.arange(3, dtype=np.int32) + 4, b, sts) == 0
    assert b.tolist() == [4, 5, 6]
    assert sts[0, :3].tolist() == [0, 7, 3]
    assert sts[2, :3].tolist() == [MPI.PROC_NULL, MPI.ANY_TAG, 0]


def test_error_codes() -> None:
    h = tj.comm_handle(MPI.COMM_WORLD)
    a, b = np.ones(2), np.zeros(2)
    assert _calls(h, 0, a, b) == MPI.ERR_RANK
    assert _calls(h, 1, a, b) == MPI.ERR_TAG
    assert _calls(h, 2, a, b) == MPI.ERR_TAG
    assert _calls(h, 3, a, b) == MPI.SUCCESS and b.tolist() == [1.0, 1.0]
    assert _calls(h, 4, a, b) == MPI.SUCCESS
    assert _calls(h, 5, a, b) == MPI.ERR_REQUEST
    assert _calls(h, 6, a, b) == MPI.ERR_OP
    assert _column(h, np.zeros((3, 3))) == MPI.ERR_BUFFER  # not contiguous
    with pytest.raises(MPI.Exception) as info:
        tj.check(MPI.ERR_RANK)
    assert info.value.Get_error_class() == MPI.ERR_RANK
