"""Predefined reductions on the dtypes numba cannot compile: long double, long double complex and
float16 (MPI.LONG_DOUBLE, MPI.C_LONG_DOUBLE_COMPLEX, MPI.FLOAT16_T).

The collective interpreter is jitted per dtype and numba has no float128/float16, so such a
reduction runs as a user operator would: the arrays travel viewed as a jitted dtype of the same
size (complex128 for long double, int16 for float16: only their bytes matter), and each
combining step hands control to numpy, which has these types. Only the combining step leaves
jitted code; the schedule is the same as for any dtype. Long double complex (32 bytes) has no
same-sized jitted dtype: the blocking and nonblocking intracommunicator calls reduce it with
numpy operators (`applies`, `NUMPY_OPS`) combining whole contributions, as a user operator would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..coll import elementwise as E
from ..errors import ERR_OP, MPIException
from .ops import MAX, MIN, PROD, SUM, Op, check_applies

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


def _numpy_op(ufunc: Any) -> Op:
    def apply(inbuf: np.ndarray, inout: np.ndarray, datatype: Any) -> None:
        ufunc(inbuf, inout, out=inout)
    return Op.internal(apply, True)


# Predefined operators by numpy, for the float and complex types without a jitted kernel.
NUMPY_OPS = {SUM.code: _numpy_op(np.add), PROD.code: _numpy_op(np.multiply),
             MIN.code: _numpy_op(np.minimum), MAX.code: _numpy_op(np.maximum)}
_NUMPY_KINDS = {SUM.code: "fc", PROD.code: "fc", MIN.code: "f", MAX.code: "f"}


def applies(op: Any, dtype: np.dtype) -> Op:
    """check_applies, or the numpy operator for a float/complex type without a jitted kernel
    (long double, long double complex, float16): what the intracommunicator reductions accept."""
    try:
        return check_applies(op, dtype)
    except MPIException as exc:
        fallback = NUMPY_OPS.get(getattr(op, "code", None))
        if (exc.error_class != ERR_OP or fallback is None or dtype.names is not None
                or dtype.kind not in _NUMPY_KINDS[op.code]):
            raise
        return fallback
