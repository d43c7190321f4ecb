"""A rank's shared heap: the memory MPI.Alloc_mem hands out, which peers read without the ring.

One POSIX shared-memory object per rank, created by the rank itself on its first Alloc_mem:
``/toro_mpi.<launcher pid>.heap<rank>.<token>`` with O_EXCL, mode 0600 and a random 64-bit
token. The name carries the launcher's pid like the job segment's, so the launcher's teardown
and ``toro-mpirun --cleanup`` remove it if the rank dies; the rank unlinks it itself when it
finalizes (by then every send from it has been acknowledged). The rank publishes the heap's size
and token in its rank slot (layout.SLOT_HEAP_*); a peer maps the heap read-only, on the first
KIND_HEAP message it gets from that rank, after checking owner, mode and size.

Allocation is first-fit over a sorted free list, in 64-byte units, with neighbours merged on
free. A block goes back to the free list once nothing can reach it any more: Alloc_mem returns a
memoryview of a per-block numpy array, and every view derived from it (numpy arrays, slices)
keeps that array alive, so Free_mem of memory still in use (an Isend in flight, an array over
it) can never hand the bytes to another allocation.
"""

from __future__ import annotations

import bisect
import mmap
import os
import secrets
import stat
import weakref

import numpy as np
import posix_ipc

from . import layout as L
from .segment import NAME_PREFIX

ALIGN = 64


class HeapError(OSError):
    """A peer's heap cannot be mapped (gone, foreign, of another size)."""


def heap_name(launcher_pid: int, rank: int, token: int) -> str:
    """The shared-memory name of rank's heap in the job of launcher_pid."""
    return f"{NAME_PREFIX}{launcher_pid}.heap{rank}.{token:016x}"


class Heap:
    """This rank's heap: created and mapped read-write, carved up by a first-fit allocator."""

    def __init__(self, launcher_pid: int, rank: int, size: int) -> None:
        self.size = size
        self.token = secrets.randbits(63) | 1
        self.name = heap_name(launcher_pid, rank, self.token)
        shm = posix_ipc.SharedMemory(self.name, flags=posix_ipc.O_CREX, mode=0o600, size=size)
        try:
            # No MAP_POPULATE: tmpfs pages exist only once allocated, so a large heap costs only
            # what is handed out (alloc() reserves and touches each block).
            self._map = mmap.mmap(shm.fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            shm.close_fd()
            self.unlink()
            raise
        # Kept open: alloc() reserves each block's pages with posix_fallocate, so a full /dev/shm
        # is an error there (Alloc_mem falls back to plain memory), not a SIGBUS on first touch.
        self._fd = shm.fd
        self._bytes = np.frombuffer(self._map, np.uint8)
        self.base = self._bytes.ctypes.data
        self._free: list[tuple[int, int]] = [(0, size)]  # (offset, length), sorted by offset
        self._freed: list[tuple[int, int]] = []  # returned by finalizers, merged on the next call
        self.in_use = 0

    def alloc(self, nbytes: int) -> np.ndarray | None:
        """A zeroed uint8 array of nbytes inside the heap, or None when no free block is that big
        (or /dev/shm has no room left for its pages)."""
        self._collect()
        need = max(ALIGN, (nbytes + ALIGN - 1) // ALIGN * ALIGN)
        for i, (off, length) in enumerate(self._free):
            if length >= need:
                if length == need:
                    del self._free[i]
                else:
                    self._free[i] = (off + need, length - need)
                break
        else:
            return None
        try:
            os.posix_fallocate(self._fd, off, need)
        except OSError:
            self._insert(off, need)
            return None
        block = self._bytes[off: off + nbytes]
        block[:] = 0  # faults the pages in now, and gives Alloc_mem's usual zeroed memory
        self.in_use += need
        fin = weakref.finalize(block, self._freed.append, (off, need))
        fin.atexit = False
        return block

    def _collect(self) -> None:
        """Merge blocks whose last reference went away into the free list."""
        while self._freed:
            off, length = self._freed.pop()
            self.in_use -= length
            self._insert(off, length)

    def _insert(self, off: int, length: int) -> None:
        """Put a block back into the free list, merged with its free neighbours."""
        i = bisect.bisect(self._free, (off, length))
        if i < len(self._free) and off + length == self._free[i][0]:
            length += self._free[i][1]
            del self._free[i]
        if i > 0 and self._free[i - 1][0] + self._free[i - 1][1] == off:
            off, length = self._free[i - 1][0], self._free[i - 1][1] + length
            del self._free[i - 1]
            i -= 1
        self._free.insert(i, (off, length))

    def free_bytes(self) -> int:
        """Bytes not allocated (after merging what was released)."""
        self._collect()
        return sum(length for _, length in self._free)

    def offset(self, address: int, nbytes: int) -> int:
        """Offset of [address, address + nbytes) in the heap, or -1 if it is not all inside."""
        off = address - self.base
        return off if 0 <= off and off + nbytes <= self.size else -1

    def unlink(self) -> None:
        """Remove the name (peers' mappings and ours stay valid; so does our descriptor, which
        alloc() still needs). Idempotent."""
        try:
            posix_ipc.unlink_shared_memory(self.name)
        except posix_ipc.ExistentialError:
            pass


class PeerHeap:
    """A peer's heap mapped read-only."""

    def __init__(self, launcher_pid: int, rank: int, token: int, size: int) -> None:
        self.token = token
        name = heap_name(launcher_pid, rank, token)
        try:
            shm = posix_ipc.SharedMemory(name, read_only=True)
        except posix_ipc.ExistentialError:
            raise HeapError(f"the heap of rank {rank} ({name}) does not exist (rank gone?)") from None
        try:
            st = os.fstat(shm.fd)
            if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
                raise HeapError(f"the heap of rank {rank} ({name}) has owner {st.st_uid} and mode "
                                f"{stat.S_IMODE(st.st_mode):o}; refusing")
            if st.st_size != size or size <= 0:
                raise HeapError(f"the heap of rank {rank} is {st.st_size} bytes, its slot says {size}")
            self._map = mmap.mmap(shm.fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
        finally:
            shm.close_fd()
        self.size = size
        self.base = np.frombuffer(self._map, np.uint8).ctypes.data


def published(words_reader, rank: int) -> tuple[int, int]:
    """(token, size) of rank's heap from its slot; token 0 when it has none."""
    token = words_reader(L.HEADER_SIZE + L.SLOT_SIZE * rank + L.SLOT_HEAP_TOKEN)
    size = words_reader(L.HEADER_SIZE + L.SLOT_SIZE * rank + L.SLOT_HEAP_SIZE) if token else 0
    return token, size
