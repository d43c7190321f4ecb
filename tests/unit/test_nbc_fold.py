"""The local step of nonblocking reductions (mpi/nonblocking.py): contributions combine in rank
order, x0 op (x1 op (... op x(n-1))), with MPI's argument order for user operators."""

import numpy as np

from toro_mpi.mpi.nonblocking import fold
from toro_mpi.mpi.ops import SUM, Op
from toro_mpi.mpi.wide_reduce import applies


def test_fold_keeps_rank_order_for_a_non_commutative_operator() -> None:
    # inout = in op inout with "a op b" = 10 * a + b, which is not commutative (nor associative,
    # so the grouping shows too).
    def digits(inbuf, inout, datatype):
        inout[:] = inbuf * 10 + inout

    op = Op.Create(digits, False)
    parts = [np.array([k], np.int64) for k in (1, 2, 3, 4)]
    out = np.zeros(1, np.int64)
    fold(op, parts, out, None)
    # 1 op (2 op (3 op 4)) = 1*10 + (2*10 + (3*10 + 4)) = 64; a left fold would give 1234.
    assert out[0] == 10 * 1 + (10 * 2 + (10 * 3 + 4))


def test_fold_of_one_contribution_copies_it() -> None:
    out = np.zeros(3)
    fold(SUM, [np.array([1.0, 2.0, 3.0])], out, None)
    assert out.tolist() == [1.0, 2.0, 3.0]


def test_long_double_sum_uses_numpy() -> None:
    op = applies(SUM, np.dtype(np.longdouble))
    a = np.array([1, 2], np.longdouble)
    b = np.array([10, 20], np.longdouble)
    out = np.zeros(2, np.longdouble)
    fold(op, [a, b], out, None)
    assert out.tolist() == [11, 22]
