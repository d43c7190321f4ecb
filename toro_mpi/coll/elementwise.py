"""Reduction operators as jitted element functions, one specialisation per dtype.

Each predefined MPI operator is a small function overloaded on the element type: numba compiles
the arithmetic for the types MPI defines it on, and a placeholder elsewhere (the MPI layer refuses
an operator that does not apply to a datatype with ERR_OP before anything is sent, so the
placeholders never run). `reduce_into` applies an operator over whole arrays.

Semantics follow OpenMPI's C operators: integer arithmetic wraps in the element type, the logical
operators yield 0 or 1, MIN/MAX keep the first operand on ties, MAXLOC/MINLOC keep the smaller
index on equal values.
"""

from __future__ import annotations

from numba import njit, types
from numba.extending import overload

from ..bus.atomics import array_address

# Operator codes shared with the MPI layer (mpi/ops.py) and the collective programs.
OP_NONE = 0
OP_SUM = 1
OP_PROD = 2
OP_MIN = 3
OP_MAX = 4
OP_LAND = 5
OP_LOR = 6
OP_LXOR = 7
OP_BAND = 8
OP_BOR = 9
OP_BXOR = 10
OP_MAXLOC = 11
OP_MINLOC = 12
OP_REPLACE = 13
OP_NO_OP = 14
OP_USER = 15  # a Python function: the collective hands the step back to Python

_NUMBER = (types.Integer, types.Float, types.Complex)
_ORDERED = (types.Integer, types.Float)
_INTEGRAL = (types.Integer, types.Boolean)


def _first(a, b):
    return a


def _scalar_op(name: str, kinds: tuple, impl):
    """A stub plus an overload that is `impl` on `kinds` and returns `a` on any other type."""

    def stub(a, b):  # pragma: no cover - only ever called from jitted code
        raise NotImplementedError(name)

    stub.__name__ = name

    @overload(stub)
    def _typed(a, b):
        if isinstance(a, kinds):
            return impl
        return _first

    return stub


def _sum(a, b):
    return a + b


def _prod(a, b):
    return a * b


def _min(a, b):
    return a if a <= b else b


def _max(a, b):
    return a if a >= b else b


def _land(a, b):
    return (a != 0) and (b != 0)


def _lor(a, b):
    return (a != 0) or (b != 0)


def _lxor(a, b):
    return (a != 0) != (b != 0)


def _band(a, b):
    return a & b


def _bor(a, b):
    return a | b


def _bxor(a, b):
    return a ^ b


op_sum = _scalar_op("op_sum", _NUMBER, _sum)
op_prod = _scalar_op("op_prod", _NUMBER, _prod)
op_min = _scalar_op("op_min", _ORDERED, _min)
op_max = _scalar_op("op_max", _ORDERED, _max)
op_land = _scalar_op("op_land", _INTEGRAL, _land)
op_lor = _scalar_op("op_lor", _INTEGRAL, _lor)
op_lxor = _scalar_op("op_lxor", _INTEGRAL, _lxor)
op_band = _scalar_op("op_band", _INTEGRAL, _band)
op_bor = _scalar_op("op_bor", _INTEGRAL, _bor)
op_bxor = _scalar_op("op_bxor", _INTEGRAL, _bxor)


def pair_reduce(a, b, out, want_max):  # pragma: no cover - jitted only
    """MAXLOC/MINLOC over arrays of {value, index} records (out may alias a or b)."""
    raise NotImplementedError


@overload(pair_reduce)
def _pair_reduce(a, b, out, want_max):
    if not isinstance(a.dtype, types.Record):
        return lambda a, b, out, want_max: None

    def impl(a, b, out, want_max):
        for k in range(out.shape[0]):
            av = a[k].v
            ai = a[k].i
            bv = b[k].v
            bi = b[k].i
            if av == bv:
                wv = av
                wi = ai if ai < bi else bi
            elif (av > bv) == want_max:
                wv = av
                wi = ai
            else:
                wv = bv
                wi = bi
            out[k].v = wv
            out[k].i = wi

    return impl


@njit(cache=True)
def _combine(op, x, y):
    if op == OP_SUM:
        return op_sum(x, y)
    if op == OP_PROD:
        return op_prod(x, y)
    if op == OP_MIN:
        return op_min(x, y)
    if op == OP_MAX:
        return op_max(x, y)
    if op == OP_LAND:
        return op_land(x, y)
    if op == OP_LOR:
        return op_lor(x, y)
    if op == OP_LXOR:
        return op_lxor(x, y)
    if op == OP_BAND:
        return op_band(x, y)
    if op == OP_BOR:
        return op_bor(x, y)
    return op_bxor(x, y)


def elementwise(op, a, b, out):  # pragma: no cover - jitted only
    """out[k] = a[k] op b[k] for the arithmetic, logical and bitwise operators."""
    raise NotImplementedError


@overload(elementwise)
def _elementwise(op, a, b, out):
    if isinstance(a.dtype, types.Record):
        return lambda op, a, b, out: None
    if isinstance(a.dtype, types.Boolean):
        # Logical and bitwise operators only; the result is stored back as a bool.
        def impl_bool(op, a, b, out):
            for k in range(out.shape[0]):
                x = a[k]
                y = b[k]
                if op == OP_LAND or op == OP_BAND:
                    out[k] = x and y
                elif op == OP_LOR or op == OP_BOR:
                    out[k] = x or y
                else:
                    out[k] = x != y

        return impl_bool

    def impl(op, a, b, out):
        # The collectives reduce in place (out is a view of a's or b's memory). LLVM vectorises a
        # loop only when its runtime check finds the arrays disjoint, and two views of the same
        # memory fail it: an in-place call becomes a loop over two arrays.
        if array_address(out) == array_address(b):
            _into(op, a, out, False)
        elif array_address(out) == array_address(a):
            _into(op, b, out, True)
        else:
            # Three distinct arrays (a reduce's root combines its send buffer with a received
            # segment into its receive buffer): one fused pass. Copying b into out first cost a
            # numba slice assignment, about 3 GB/s on uint8: 346 us of a 1 MiB reduce.
            _apart(op, a, b, out)

    return impl


@njit(cache=True)
def _into(op, x, inout, swap):
    """inout[k] = x[k] op inout[k] (inout[k] op x[k] when swap); one loop per operator, so each
    loop body is branch-free."""
    n = inout.shape[0]
    if op == OP_SUM:
        for k in range(n):
            inout[k] = op_sum(x[k], inout[k])
    elif op == OP_PROD:
        for k in range(n):
            inout[k] = op_prod(x[k], inout[k])
    elif op == OP_MIN:
        if swap:
            for k in range(n):
                inout[k] = op_min(inout[k], x[k])
        else:
            for k in range(n):
                inout[k] = op_min(x[k], inout[k])
    elif op == OP_MAX:
        if swap:
            for k in range(n):
                inout[k] = op_max(inout[k], x[k])
        else:
            for k in range(n):
                inout[k] = op_max(x[k], inout[k])
    elif swap:
        for k in range(n):
            inout[k] = _combine(op, inout[k], x[k])
    else:
        for k in range(n):
            inout[k] = _combine(op, x[k], inout[k])


@njit(cache=True)
def _apart(op, x, y, out):
    """out[k] = x[k] op y[k] for an out that overlaps neither x nor y; one loop per operator."""
    n = out.shape[0]
    if op == OP_SUM:
        for k in range(n):
            out[k] = op_sum(x[k], y[k])
    elif op == OP_PROD:
        for k in range(n):
            out[k] = op_prod(x[k], y[k])
    elif op == OP_MIN:
        for k in range(n):
            out[k] = op_min(x[k], y[k])
    elif op == OP_MAX:
        for k in range(n):
            out[k] = op_max(x[k], y[k])
    else:
        for k in range(n):
            out[k] = _combine(op, x[k], y[k])


@njit(cache=True)
def reduce_into(op, a, b, out):
    """out = a op b elementwise (a is the lower-ranked operand); out may alias a or b."""
    if op == OP_MAXLOC or op == OP_MINLOC:
        pair_reduce(a, b, out, op == OP_MAXLOC)
    else:
        elementwise(op, a, b, out)
