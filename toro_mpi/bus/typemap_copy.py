"""The one jitted pass that packs or unpacks a derived datatype's bytes.

A derived datatype is flattened once (mpi/typemap.py) into the byte segments of one element,
(offset, length) pairs in typemap order with neighbours merged. Sending `count` elements packs
them into a contiguous buffer, receiving unpacks that buffer into the user's memory: both are
one call here, a loop of llvm.memcpy (libc speed; numpy slice assignment copies at about a
tenth of that, /work/shared/MEASURED.md), with no Python between the blocks.

Addresses are raw int64s: the typed side may be any user buffer, or absolute (MPI.BOTTOM)."""

from __future__ import annotations

from numba import njit

from .atomics import memcpy


@njit(cache=True, inline="always")
def _stream_bytes(lens):
    """Bytes of one element in the packed stream."""
    n = 0
    for s in range(lens.shape[0]):
        n += lens[s]
    return n


@njit(cache=True)
def _whole(base, offs, lens, count, extent, packed, to_packed):
    """typemap_copy of whole elements: no skip or limit bookkeeping per segment.

    The common case (every send, and every receive that got all it asked for). One memcpy per
    segment: measured here on a column of 4096 doubles 32 KiB apart (one page per element), the
    libc call per segment beat inlined 8-byte loads and stores by 1.4-1.9x (the access is bound
    by TLB misses), and this loop is 10-15% faster than the general one below."""
    nseg = offs.shape[0]
    stream = packed
    for k in range(count):
        elem = base + k * extent
        if to_packed:
            for s in range(nseg):
                n = lens[s]
                memcpy(stream, elem + offs[s], n)
                stream += n
        else:
            for s in range(nseg):
                n = lens[s]
                memcpy(elem + offs[s], stream, n)
                stream += n
    return stream - packed


@njit(cache=True)
def strided_copy(base, first, stride, seglen, nseg, count, extent, packed, to_packed):
    """_whole for a typemap of `nseg` segments of `seglen` bytes, `stride` bytes apart from
    byte `first` of the element (a vector's column): no offset or length array to read.

    Measured on the 4096-row column: about 5% faster to unpack than _whole. Returns the bytes
    copied."""
    stream = packed
    for k in range(count):
        seg = base + k * extent + first
        if to_packed:
            for _ in range(nseg):
                memcpy(stream, seg, seglen)
                stream += seglen
                seg += stride
        else:
            for _ in range(nseg):
                memcpy(seg, stream, seglen)
                stream += seglen
                seg += stride
    return stream - packed


@njit(cache=True)
def typemap_copy(base, offs, lens, count, extent, packed, skip, limit, to_packed):
    """Copy between `count` elements of a typemap at address `base` and contiguous bytes at
    address `packed`.

    Element k's segment s is at base + k*extent + offs[s], lens[s] bytes long; the packed stream
    is those segments back to back. The first `skip` bytes of the stream are passed over (a
    partial element already done), and at most `limit` bytes are copied (a receive that brought
    fewer elements than the type describes unpacks only what arrived). to_packed: 1 packs
    (typemap -> stream), 0 unpacks. Returns the number of bytes copied."""
    nseg = offs.shape[0]
    if skip == 0 and limit >= count * _stream_bytes(lens):
        return _whole(base, offs, lens, count, extent, packed, to_packed)
    pos = 0  # position in the packed stream
    done = 0
    end = skip + limit
    for k in range(count):
        elem = base + k * extent
        for s in range(nseg):
            n = lens[s]
            if pos + n <= skip:
                pos += n
                continue
            lo = skip - pos if pos < skip else 0
            hi = n if pos + n <= end else end - pos
            if hi > lo:
                typed = elem + offs[s] + lo
                stream = packed + pos + lo - skip
                if to_packed:
                    memcpy(stream, typed, hi - lo)
                else:
                    memcpy(typed, stream, hi - lo)
                done += hi - lo
            pos += n
            if pos >= end:
                return done
    return done
