"""The shared heap's allocator on its own. MPI.Alloc_mem memory in jobs: tests/test_heap.py."""

from __future__ import annotations

import os

import pytest

from toro_mpi.bus.heap import Heap

pytestmark = pytest.mark.usefixtures("shm_clean")


def test_allocator() -> None:
    """First fit with merging, in one process: random allocations and releases never overlap,
    keep their contents, start zeroed, and all merge back into one free block; a failing
    posix_fallocate (a full /dev/shm) gives None and leaks nothing."""
    import random

    h = Heap(os.getpid(), 0, 1 << 20)
    try:
        blocks = []
        rnd = random.Random(1)
        for step in range(3000):
            if blocks and rnd.random() < 0.5:
                blocks.pop(rnd.randrange(len(blocks)))
            else:
                b = h.alloc(rnd.randrange(1, 50000))
                if b is not None:
                    assert (b == 0).all()
                    b[:] = step % 251
                    blocks.append((b, step % 251))
                del b
            intact = all((b == v).all() for b, v in blocks[-3:])
            assert intact
        spans = sorted((b.ctypes.data - h.base, b.nbytes) for b, _ in blocks)
        apart = all(o1 + n1 <= o2 for (o1, n1), (o2, _) in zip(spans, spans[1:], strict=False))
        assert apart
        blocks.clear()
        assert h.free_bytes() == 1 << 20 and h._free == [(0, 1 << 20)] and h.in_use == 0
        real = os.posix_fallocate
        os.posix_fallocate = lambda *a: (_ for _ in ()).throw(OSError(28, "No space left on device"))
        try:
            assert h.alloc(100) is None
        finally:
            os.posix_fallocate = real
        assert h._free == [(0, 1 << 20)] and h.in_use == 0
    finally:
        h.unlink()
