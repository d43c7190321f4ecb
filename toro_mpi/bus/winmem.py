"""Memory of MPI windows: the shared-memory object a window lives in, and access to a peer's
private memory.

A window is one POSIX shared-memory object, created by the window's first rank:
``/toro_mpi.<launcher pid>.win<rank>.<token>`` with O_EXCL, mode 0600 and a random 64-bit
token, like the job segment and the heaps (so the launcher's teardown and ``toro-mpirun
--cleanup`` remove it if the job dies). It holds every rank's control block (locks, counters)
and, for Win.Allocate / Win.Allocate_shared, every rank's memory. The other ranks map it after
checking owner, mode and the size they expect; once all have mapped it the creator unlinks the
name, so a fault afterwards can leave nothing in /dev/shm.

A window over a rank's own memory (Win.Create, Create_dynamic) is read and written by its peers
with process_vm_readv / process_vm_writev: one system call per operation, which the kernel allows
between processes of one user that may ptrace each other (``vm_access_supported``).
"""

from __future__ import annotations

import ctypes
import functools
import mmap
import os
import secrets
import stat

import numpy as np
import posix_ipc

from .segment import NAME_PREFIX

IOV_MAX = 1024  # iovecs per process_vm_* call (Linux UIO_MAXIOV)


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


# -- peers' private memory ------------------------------------------------------------------

class _IOVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


_libc = ctypes.CDLL(None, use_errno=True)
_vm_calls = {}
for _name in ("process_vm_readv", "process_vm_writev"):
    _fn = getattr(_libc, _name, None)
    if _fn is not None:
        _fn.restype = ctypes.c_ssize_t
        _fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                        ctypes.c_ulong]
        _vm_calls[_name] = _fn


def _vm(call: str, pid: int, local: int, remote: np.ndarray) -> None:
    """Move bytes between the contiguous local memory at `local` and the remote segments
    (an (n, 2) uint64 array of address, length) of process pid."""
    fn = _vm_calls.get(call)
    if fn is None:
        raise WinMemError(f"{call} is not available on this system")
    pos = local
    for first in range(0, remote.shape[0], IOV_MAX):
        chunk = np.ascontiguousarray(remote[first: first + IOV_MAX], dtype=np.uint64)
        want = int(chunk[:, 1].sum())
        if want == 0:
            continue
        liov = _IOVec(pos, want)
        got = fn(pid, ctypes.addressof(liov), 1, chunk.ctypes.data, chunk.shape[0], 0)
        if got != want:
            err = ctypes.get_errno() if got < 0 else 0
            raise WinMemError(err, f"{call} with pid {pid}: "
                                   f"{os.strerror(err) if err else f'moved {got} of {want} bytes'}")
        pos += want


_LIOV = _IOVec()
_RIOV = _IOVec()


def vm_copy(pid: int, remote: int, local: int, nbytes: int, write: bool) -> None:
    """One contiguous run: nbytes between local memory and address remote of pid (the hot path
    of a Put or Get to another process's Win.Create memory: no iovec arrays to build)."""
    fn = _vm_calls.get("process_vm_writev" if write else "process_vm_readv")
    if fn is None:
        raise WinMemError("process_vm_readv/writev are not available on this system")
    done = 0
    while done < nbytes:
        _LIOV.iov_base, _LIOV.iov_len = local + done, nbytes - done
        _RIOV.iov_base, _RIOV.iov_len = remote + done, nbytes - done
        got = fn(pid, ctypes.addressof(_LIOV), 1, ctypes.addressof(_RIOV), 1, 0)
        if got <= 0:
            err = ctypes.get_errno()
            raise WinMemError(err, f"process_vm_{'writev' if write else 'readv'} with pid {pid}: {os.strerror(err)}")
        done += got


def vm_read(pid: int, remote: np.ndarray, local: int) -> None:
    """Read the remote segments of pid back to back into local memory at address local."""
    _vm("process_vm_readv", pid, local, remote)


def vm_write(pid: int, remote: np.ndarray, local: int) -> None:
    """Write local memory at address local into the remote segments of pid."""
    _vm("process_vm_writev", pid, local, remote)


@functools.cache
def vm_access_supported() -> bool:
    """Whether process_vm_readv/writev work here (sibling processes of one user may ptrace
    each other): checked once, on this process's own memory."""
    if len(_vm_calls) < 2:
        return False
    if os.geteuid() != 0:
        try:
            with open("/proc/sys/kernel/yama/ptrace_scope") as fh:
                if int(fh.read().strip() or "0") != 0:
                    return False
        except (OSError, ValueError):
            pass
    probe = np.arange(64, dtype=np.uint8)
    out = np.zeros(64, dtype=np.uint8)
    try:
        vm_read(os.getpid(), np.array([[probe.ctypes.data, 64]], np.uint64), out.ctypes.data)
    except OSError:
        return False
    return bool((out == probe).all())
