"""MPI from inside numba-jitted code: `toro_mpi.jit`.

    h = toro_mpi.jit.comm_handle(MPI.COMM_WORLD)      # in Python

    @numba.njit
    def step(h, u, ...):
        code = toro_mpi.jit.sendrecv(h, u[1], up, 0, u[0], down, 0)
        ...
    toro_mpi.jit.check(code)                           # back in Python: raise MPI.Exception

Calls take contiguous numpy arrays and return MPI error codes; nonblocking calls return
(code, request) with requests as small ints. Matching and ordering are those of the Python calls:
a jitted send can be received by Comm.Recv and the reverse (calls.py tells how).
"""

from __future__ import annotations

import numpy as np

from .calls import allreduce, barrier, bcast, irecv, isend, recv, reduce, send, sendrecv, wait, waitall
from .handle import check, comm_handle, fallbacks
from .layout import *  # noqa: F403 - the codes, wildcards and op codes are part of the API
from .layout import STATUS_LEN
from .layout import __all__ as _CODES

__all__ = [
    "comm_handle", "check", "fallbacks", "status", "statuses", "send", "recv", "sendrecv", "isend", "irecv", "wait",
    "waitall", "barrier", "bcast", "reduce", "allreduce", "STATUS_LEN", *_CODES,
]


def status() -> np.ndarray:
    """A status array for recv / sendrecv / wait: int64[4] (source, tag, count, error)."""
    return np.zeros(STATUS_LEN, np.int64)


def statuses(n: int) -> np.ndarray:
    """Status arrays for waitall: int64[n, 4]."""
    return np.zeros((n, STATUS_LEN), np.int64)
