"""Get_accumulate with NO_OP, in one process (no job started)."""

from __future__ import annotations

import numpy as np


def test_get_accumulate_no_op_ignores_the_origin() -> None:
    """NO_OP reads the target only: an origin of another size and type is not looked at, as in
    mpi4py (3 bytes are no float64; a path that typed the origin raised numpy's ValueError)."""
    from toro_mpi import MPI

    win = MPI.Win.Allocate(64, 8, comm=MPI.COMM_SELF)
    try:
        win.Lock(0)
        np.frombuffer(win.tomemory(), np.float64)[:] = 2.5
        res = np.zeros(1)
        win.Get_accumulate(np.zeros(3, "b"), res, 0, op=MPI.NO_OP)
        win.Unlock(0)
        assert res[0] == 2.5
    finally:
        win.Free()
