"""Typemap flattening: one element of a derived datatype as byte segments.

A flat typemap is three int64 arrays of one element, in typemap order (the order MPI packs in):
`offs` (byte offset from the element's start), `lens` (bytes) and `units` (the byte size of the
basic elements in the segment, the unit external32 swaps). Neighbours that touch and share a
unit are merged, so a vector of doubles is one segment per block and a contiguous type one
segment in all. Everything is numpy (no Python loop per block), and a type of dense children
(one segment as long as their extent) is laid out block by block, so `BYTE.Create_contiguous(2**31)`
is one segment, not two billion.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Flat = tuple[np.ndarray, np.ndarray, np.ndarray]
_I64 = np.int64


def single(length: int, unit: int) -> Flat:
    """The flat typemap of a predefined type: one segment at offset 0."""
    if length <= 0:
        return empty()
    return (np.zeros(1, _I64), np.full(1, length, _I64), np.full(1, max(unit, 1), _I64))


def empty() -> Flat:
    """The flat typemap of a type with no data."""
    z = np.zeros(0, _I64)
    return (z, z, z)


def merge(offs: np.ndarray, lens: np.ndarray, units: np.ndarray) -> Flat:
    """Drop empty segments and merge each segment into its predecessor where it starts at the
    predecessor's end with the same unit (typemap order is kept: nothing is sorted)."""
    keep = lens > 0
    if not keep.all():
        offs, lens, units = offs[keep], lens[keep], units[keep]
    if offs.size <= 1:
        return (offs.astype(_I64), lens.astype(_I64), units.astype(_I64))
    starts = np.ones(offs.size, bool)
    starts[1:] = (offs[1:] != offs[:-1] + lens[:-1]) | (units[1:] != units[:-1])
    idx = np.flatnonzero(starts)
    return (offs[idx].astype(_I64), np.add.reduceat(lens, idx).astype(_I64), units[idx].astype(_I64))


def regular(flat: Flat) -> tuple[int, int, int] | None:
    """(first offset, stride, segment length) if the element's segments are equally long and
    equally spaced (a vector's, a column's), else None; at least two segments."""
    offs, lens, _ = flat
    if offs.size < 2 or not (lens == lens[0]).all():
        return None
    steps = np.diff(offs)
    if not (steps == steps[0]).all():
        return None
    return int(offs[0]), int(steps[0]), int(lens[0])


def is_dense(flat: Flat, extent: int) -> bool:
    """Whether consecutive elements of this typemap form one run of bytes (a single segment as
    long as the extent, starting where the element starts, lb 0 relative to the offsets)."""
    offs, lens, _ = flat
    return offs.size == 1 and int(lens[0]) == extent


def blocks(child: Flat, extent: int, starts: np.ndarray, blocklength: int | np.ndarray) -> Flat:
    """Blocks of `blocklength` consecutive child elements, block b starting at byte starts[b]
    (blocklength one integer, or one per block)."""
    starts = np.asarray(starts, _I64).reshape(-1)
    bl = np.broadcast_to(np.asarray(blocklength, _I64), starts.shape)
    co, cl, cu = child
    if co.size == 0 or starts.size == 0:
        return empty()
    if is_dense(child, extent):
        # Each block is one run: no per-element expansion.
        return merge(starts + co[0], bl * extent, np.full(starts.size, cu[0], _I64))
    # Element starts: block start + j * extent, j < blocklength of that block.
    total = int(bl.sum())
    if total == 0:
        return empty()
    rep = np.repeat(starts, bl)
    first = np.repeat(np.cumsum(bl) - bl, bl)
    elem = rep + (np.arange(total, dtype=_I64) - first) * extent
    return expand(child, elem)


def expand(child: Flat, elem_starts: np.ndarray) -> Flat:
    """One child element at each byte offset of elem_starts, in that order."""
    co, cl, cu = child
    offs = (elem_starts[:, None] + co[None, :]).reshape(-1)
    n = elem_starts.size
    return merge(offs, np.tile(cl, n), np.tile(cu, n))


def concat(parts: Sequence[Flat]) -> Flat:
    """Typemaps one after the other (a struct's members)."""
    parts = [p for p in parts if p[0].size]
    if not parts:
        return empty()
    return merge(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                 np.concatenate([p[2] for p in parts]))


def grid_offsets(sizes: Sequence[int], indices: Sequence[np.ndarray], extent: int, fortran: bool) -> np.ndarray:
    """Byte offsets of the elements of a sub-grid of an array of `sizes` elements (each `extent`
    bytes), indices[d] the chosen indices along dimension d, in the array's storage order."""
    nd = len(sizes)
    order = list(range(nd))
    if fortran:
        order = order[::-1]  # the first index varies fastest: treat it as the last
    strides = [0] * nd
    acc = extent
    for d in reversed(order):
        strides[d] = acc
        acc *= sizes[d]
    offs = np.zeros(1, _I64)
    for d in order:
        offs = (offs[:, None] + np.asarray(indices[d], _I64)[None, :] * strides[d]).reshape(-1)
    return offs


def elements(flat: Flat, count: int, extent: int, nbytes: int, basic: int) -> int:
    """Basic elements in the first `nbytes` of the packed stream of elements of this typemap,
    a partial element counted element by element (MPI_Get_elements)."""
    size = int(flat[1].sum())
    if size == 0:
        return 0
    whole, rest = divmod(nbytes, size)
    n = whole * basic
    if rest:
        lens, units = flat[1], flat[2]
        ends = np.cumsum(lens)
        for length, unit, end in zip(lens, units, ends, strict=True):
            if end <= rest:
                n += int(length // unit)
            else:
                n += int((rest - (end - length)) // unit)
                break
    return n
