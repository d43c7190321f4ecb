"""Typemap flattening (mpi/typemap.py) and the datatype descriptions built on it, in-process:
segments merged in typemap order, bounds, partial-element counts, and the pack/unpack pass."""

from __future__ import annotations

import numpy as np
import pytest

from toro_mpi.bus.typemap_copy import typemap_copy
from toro_mpi.mpi import datatypes as D
from toro_mpi.mpi import typemap as TM
from toro_mpi.mpi.packing import Unpacker, address_of, gather

DOUBLE, INT, BYTE = D.PREDEFINED["DOUBLE"], D.PREDEFINED["INT"], D.PREDEFINED["BYTE"]


def segs(dt):
    offs, lens, units = D.type_of(dt).flat()
    return list(zip(offs.tolist(), lens.tolist(), units.tolist(), strict=True))


def test_merge_keeps_order_and_joins_neighbours():
    offs = np.array([0, 8, 32, 24, 40], np.int64)
    lens = np.array([8, 8, 8, 8, 0], np.int64)
    units = np.array([8, 8, 8, 8, 8], np.int64)
    o, ln, _ = TM.merge(offs, lens, units)
    assert o.tolist() == [0, 32, 24] and ln.tolist() == [16, 8, 8]  # 32 then 24: not sorted


def test_merge_does_not_join_different_units():
    o, ln, u = TM.merge(np.array([0, 4]), np.array([4, 8]), np.array([4, 8]))
    assert o.tolist() == [0, 4] and u.tolist() == [4, 8]


def test_vector_is_one_segment_per_block_and_dense_vector_one_in_all():
    assert segs(DOUBLE.Create_vector(3, 2, 5)) == [(0, 16, 8), (40, 16, 8), (80, 16, 8)]
    assert segs(DOUBLE.Create_vector(4, 2, 2)) == [(0, 64, 8)]


def test_huge_contiguous_is_not_expanded():
    t = BYTE.Create_contiguous(2**31 - 1)
    assert segs(t) == [(0, 2**31 - 1, 1)]


def test_indexed_keeps_typemap_order():
    t = INT.Create_indexed([1, 2], [5, 0])
    assert segs(t) == [(20, 4, 4), (0, 8, 4)]


def test_struct_bounds_and_padding_as_open_mpi():
    t = D.Datatype.Create_struct([1, 1], [0, 8], [DOUBLE, INT])
    assert (t.size, t.Get_extent(), t.Get_true_extent()) == (12, (0, 16), (0, 12))
    assert segs(t) == [(0, 8, 8), (8, 4, 4)]


def test_subarray_c_and_fortran_orders():
    c = INT.Create_subarray([4, 5], [2, 3], [1, 1])
    assert c.Get_extent() == (0, 80) and c.Get_true_extent() == (24, 32)
    assert segs(c) == [(24, 12, 4), (44, 12, 4)]
    f = INT.Create_subarray([4, 5], [2, 3], [1, 1], D.ORDER_FORTRAN)
    assert segs(f) == [(20, 8, 4), (36, 8, 4), (52, 8, 4)]


def test_darray_block_and_cyclic():
    b = INT.Create_darray(4, 1, [8, 8], [D.DISTRIBUTE_BLOCK] * 2, [D.DISTRIBUTE_DFLT_DARG] * 2, [2, 2])
    assert b.Get_true_extent() == (16, 112) and b.size == 64
    cyc = INT.Create_darray(2, 1, [9], [D.DISTRIBUTE_CYCLIC], [2], [2])
    assert segs(cyc) == [(8, 8, 4), (24, 8, 4)]


def test_resized_keeps_segments_changes_extent():
    r = INT.Create_vector(2, 1, 3).Create_resized(-4, 40)
    assert r.Get_extent() == (-4, 40) and segs(r) == [(0, 4, 4), (12, 4, 4)]


def test_partial_elements_count_basic_elements():
    t = D.type_of(D.Datatype.Create_struct([1, 2], [0, 8], [INT, DOUBLE]))
    flat = t.flat()
    assert TM.elements(flat, 0, 24, 20 + 12, t.nbasic) == 3 + 2  # one element and int + double


def test_pack_then_unpack_round_trip_and_partial_unpack():
    t = DOUBLE.Create_vector(3, 1, 4).Commit()
    src = np.arange(12.0)
    packed = np.empty(3 * 8, np.uint8)
    gather(D.type_of(t), [(address_of(src), 1)], packed)
    assert packed.view(np.float64).tolist() == [0.0, 4.0, 8.0]
    dst = np.full(12, -1.0)
    Unpacker(D.type_of(t), [(address_of(dst), 1)], packed, dst).unpack(16)  # two of three arrived
    assert dst.tolist() == [0.0, -1, -1, -1, 4.0] + [-1.0] * 7


def test_kernel_skips_and_limits_inside_segments():
    src = np.arange(32, dtype=np.uint8)
    out = np.zeros(5, np.uint8)
    offs, lens = np.array([0, 16], np.int64), np.array([4, 4], np.int64)
    n = typemap_copy(address_of(src), offs, lens, 1, 32, address_of(out), 2, 5, 1)
    assert n == 5 and out.tolist() == [2, 3, 16, 17, 18]


@pytest.mark.parametrize("name", ["INT", "DOUBLE", "FLOAT32_T", "C_BOOL", "INTEGER8"])
def test_named_handles_compare_and_decode(name):
    t = D.PREDEFINED[name]
    assert D.Datatype(t) == t and D.Datatype(t) is not t
    assert t.decode() == (t, "NAMED", {}) and t.is_named and t.is_predefined
    with pytest.raises(TypeError):
        hash(t)
