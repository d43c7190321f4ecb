"""Memory of MPI windows: the shared-memory object a window lives in.

A window is one POSIX shared-memory object, created by the window's first rank:
``/toro_mpi.<launcher pid>.win<rank>.<token>`` with O_EXCL, mode 0600 and a random 64-bit
token, like the job segment and the heaps (so the launcher's teardown and ``toro-mpirun
--cleanup`` remove it if the job dies). It holds every rank's control block (locks, counters)
and, for Win.Allocate / Win.Allocate_shared, every rank's memory. The other ranks map it after
checking owner, mode and the size they expect; once all have mapped it the creator unlinks the
name, so a fault afterwards can leave nothing in /dev/shm.

A window over a rank's own memory (Win.Create, Create_dynamic) is read and written by its peers
with process_vm_readv / process_vm_writev (peer_memory.py).
"""

from __future__ import annotations

import mmap
import os
import secrets
import stat

import numpy as np
import posix_ipc

from .segment import NAME_PREFIX


class WinMemError(OSError):
    """A window's shared memory cannot be created or mapped, or a peer's memory accessed."""


def win_name(launcher_pid: int, rank: int, token: int) -> str:
    """The shared-memory name of a window created by rank in the job of launcher_pid."""
    return f"{NAME_PREFIX}{launcher_pid}.win{rank}.{token:016x}"


class WinShm:
    """One window's shared-memory object, mapped read-write."""

    def __init__(self, name: str, size: int, create: bool) -> None:
        self.name = name
        self.size = size
        self._created = create
        if create:
            shm = posix_ipc.SharedMemory(name, flags=posix_ipc.O_CREX, mode=0o600, size=size)
        else:
            try:
                shm = posix_ipc.SharedMemory(name)
            except posix_ipc.ExistentialError:
                raise WinMemError(f"window memory {name} does not exist (creator gone?)") from None
        try:
            st = os.fstat(shm.fd)
            if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) & 0o077:
                raise WinMemError(f"window memory {name} has owner {st.st_uid} and mode "
                                  f"{stat.S_IMODE(st.st_mode):o}; refusing")
            if st.st_size != size:
                raise WinMemError(f"window memory {name} is {st.st_size} bytes, expected {size}")
            if create:
                # Reserve the pages now: a full /dev/shm is an error here, not a SIGBUS later.
                os.posix_fallocate(shm.fd, 0, size)
            self._map = mmap.mmap(shm.fd, size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            shm.close_fd()
            if create:
                self.unlink()
            raise
        shm.close_fd()
        self.bytes = np.frombuffer(self._map, np.uint8)
        self.base = self.bytes.ctypes.data

    @classmethod
    def create(cls, launcher_pid: int, rank: int, size: int) -> WinShm:
        """A new window object of size bytes (zeroed, as tmpfs gives it)."""
        token = secrets.randbits(63) | 1
        return cls(win_name(launcher_pid, rank, token), size, True)

    def unlink(self) -> None:
        """Remove the name (mappings stay valid). Idempotent."""
        try:
            posix_ipc.unlink_shared_memory(self.name)
        except posix_ipc.ExistentialError:
            pass

    def close(self) -> None:
        """Drop this process's mapping (views over it must be gone: numpy keeps the mmap alive
        through them, so this only drops our reference)."""
        self.bytes = None  # type: ignore[assignment]
        self._map = None  # type: ignore[assignment]
