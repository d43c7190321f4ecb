"""The whole-element pass of bus/typemap_copy.py (the path every send and every complete receive
of a derived datatype takes) against numpy's own strided copy, for the shapes halo exchanges use:
a column, blocks of 2-16 elements, irregular segments, several elements of a resized type."""

from __future__ import annotations

import numpy as np
import pytest

from toro_mpi.bus.typemap_copy import strided_copy, typemap_copy
from toro_mpi.mpi.packing import address_of


def _segments(rows: int, cols: int, block: int, item: int) -> tuple[np.ndarray, np.ndarray]:
    """A column block: `block` items at the start of each row of rows x cols items."""
    offs = np.arange(rows, dtype=np.int64) * cols * item
    return offs, np.full(rows, block * item, np.int64)


@pytest.mark.parametrize("block", [1, 2, 3, 8, 16])
def test_pack_and_unpack_match_numpy(block: int) -> None:
    rows, cols = 257, 20
    a = np.arange(rows * cols, dtype=np.float64).reshape(rows, cols)
    offs, lens = _segments(rows, cols, block, 8)
    packed = np.zeros(rows * block)
    n = typemap_copy(address_of(a) + 8, offs, lens, 1, a.nbytes, address_of(packed), 0, packed.nbytes, 1)
    assert n == packed.nbytes
    assert np.array_equal(packed, a[:, 1:1 + block].reshape(-1))
    b = np.full((rows, cols), -1.0)
    n = typemap_copy(address_of(b) + 16, offs, lens, 1, b.nbytes, address_of(packed), 0, packed.nbytes, 0)
    assert n == packed.nbytes
    want = np.full((rows, cols), -1.0)
    want[:, 2:2 + block] = a[:, 1:1 + block]
    assert np.array_equal(b, want)  # nothing written outside the segments


def test_several_elements_irregular_segments_and_a_generous_limit() -> None:
    # Element: bytes [1, 4), [9, 10), [20, 28) of a 32-byte extent; 5 elements.
    src = np.arange(5 * 32, dtype=np.uint8)
    offs, lens = np.array([1, 9, 20], np.int64), np.array([3, 1, 8], np.int64)
    out = np.zeros(5 * 12 + 7, np.uint8)
    n = typemap_copy(address_of(src), offs, lens, 5, 32, address_of(out), 0, out.nbytes, 1)
    want = np.concatenate([src[k * 32:k * 32 + 32][np.r_[1:4, 9:10, 20:28]] for k in range(5)])
    assert n == 60 and np.array_equal(out[:60], want) and not out[60:].any()
    back = np.zeros_like(src)
    n = typemap_copy(address_of(back), offs, lens, 5, 32, address_of(out), 0, 1 << 40, 0)
    mask = np.zeros(32, bool)
    mask[np.r_[1:4, 9:10, 20:28]] = True
    full = np.tile(mask, 5)
    assert n == 60 and np.array_equal(back[full], src[full]) and not back[~full].any()


def test_partial_receive_still_stops_at_the_limit() -> None:
    a = np.arange(64, dtype=np.float64)
    offs, lens = _segments(16, 4, 1, 8)
    packed = np.arange(16, dtype=np.float64) + 100
    b = np.zeros(64)
    n = typemap_copy(address_of(b), offs, lens, 1, a.nbytes, address_of(packed), 0, 5 * 8 + 3, 0)
    assert n == 43
    assert b[0:20:4].tolist() == [100, 101, 102, 103, 104] and b[20] != 105 and not b[24:].any()


def test_zero_elements_copy_nothing() -> None:
    offs, lens = _segments(4, 4, 1, 8)
    out = np.zeros(4)
    assert typemap_copy(0, offs, lens, 0, 128, address_of(out), 0, 0, 1) == 0


@pytest.mark.parametrize("seg", [1, 8, 24])
def test_strided_copy_matches_the_general_pass(seg: int) -> None:
    # Three elements (extent 1000 bytes) of 7 segments of `seg` bytes, 100 bytes apart from byte 5.
    src = (np.arange(3000) % 251).astype(np.uint8)
    offs = 5 + 100 * np.arange(7, dtype=np.int64)
    lens = np.full(7, seg, np.int64)
    want = np.zeros(3 * 7 * seg, np.uint8)
    typemap_copy(address_of(src), offs, lens, 3, 1000, address_of(want), 0, want.nbytes, 1)
    got = np.zeros_like(want)
    assert strided_copy(address_of(src), 5, 100, seg, 7, 3, 1000, address_of(got), 1) == want.nbytes
    assert np.array_equal(got, want)
    back = np.zeros_like(src)
    assert strided_copy(address_of(back), 5, 100, seg, 7, 3, 1000, address_of(got), 0) == want.nbytes
    ref = np.zeros_like(src)
    typemap_copy(address_of(ref), offs, lens, 3, 1000, address_of(want), 0, want.nbytes, 0)
    assert np.array_equal(back, ref)


def test_regular_typemaps() -> None:
    from toro_mpi.mpi import typemap as TM

    col = TM.blocks(TM.single(8, 8), 8, np.arange(5) * 80, 1)
    assert TM.regular(col) == (0, 80, 8)
    assert TM.regular(TM.single(8, 8)) is None  # one segment: the contiguous copy's business
    irregular = TM.blocks(TM.single(8, 8), 8, np.array([0, 80, 200]), 1)
    assert TM.regular(irregular) is None
    uneven = TM.blocks(TM.single(8, 8), 8, np.array([0, 80, 160]), np.array([1, 2, 1]))
    assert TM.regular(uneven) is None
