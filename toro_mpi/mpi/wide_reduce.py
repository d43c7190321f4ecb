"""Predefined reductions on the dtypes numba cannot compile: long double, long double complex and
float16 (MPI.LONG_DOUBLE, MPI.C_LONG_DOUBLE_COMPLEX, MPI.FLOAT16_T).

The collective interpreter is jitted per dtype and numba has no float128/float16, so such a
reduction runs as a user operator would: the arrays travel viewed as a jitted dtype of the same
size (complex128 for long double, int16 for float16: only their bytes matter), and each
combining step hands control to numpy, which has these types. Only the combining step leaves
jitted code; the schedule is the same as for any dtype. Long double complex (32 bytes) has no
same-sized jitted dtype: its reductions are still refused (ERR_OP).
"""

from __future__ import annotations

import numpy as np

from ..coll import elementwise as E
from .ops import Op

# dtype -> the jitted dtype of the same size its bytes travel as.
_CARRIER = {np.dtype("g"): np.dtype("c16"), np.dtype("e"): np.dtype("i2")}
_UFUNC = {E.OP_SUM: np.add, E.OP_PROD: np.multiply, E.OP_MIN: np.minimum, E.OP_MAX: np.maximum}


def widen(send: np.ndarray, recv: np.ndarray, op: Op) -> tuple[np.ndarray, np.ndarray, Op]:
    """(send, recv, op) to run: unchanged, or for a predefined operator on a dtype without a
    numba kernel, record views of the arrays and an operator that combines them with numpy."""
    dtype = send.dtype
    carrier = _CARRIER.get(dtype)
    if carrier is None or carrier.itemsize != dtype.itemsize or not isinstance(op, Op):
        return send, recv, op
    ufunc = _UFUNC.get(op.code)
    if ufunc is None or (dtype.kind == "c" and op.code in (E.OP_MIN, E.OP_MAX)):
        return send, recv, op  # check_applies refuses it with ERR_OP, naming the dtype

    def combine(invec: np.ndarray, inoutvec: np.ndarray, datatype: object) -> None:
        a, b = invec.view(dtype), inoutvec.view(dtype)
        ufunc(a, b, out=b)

    return send.view(carrier), recv.view(carrier), Op.internal(combine, op.commutative)
