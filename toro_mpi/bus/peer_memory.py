"""Access to a peer process's private memory: process_vm_readv / process_vm_writev.

The kernel allows them between processes of one user that may ptrace each other (as root, or
with Yama's ptrace_scope 0): one system call per operation and one copy. Two users: the
rendezvous protocol of large messages (the receiver reads the payload straight out of the
sender, transport.py) and MPI windows over a rank's own memory (Win.Create, rma.py).
"""

from __future__ import annotations

import ctypes
import functools
import os
from functools import partial

import numpy as np

from .rma_kernels import SYS_VM, V_N, V_PID, V_WORDS, vm_run_entry

IOV_MAX = 1024  # iovecs per process_vm_* call (Linux UIO_MAXIOV)


class PeerMemoryError(OSError):
    """A peer's memory cannot be read or written."""


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
        raise PeerMemoryError(f"{call} is not available on this system")
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
            raise PeerMemoryError(err, f"{call} with pid {pid}: "
                                   f"{os.strerror(err) if err else f'moved {got} of {want} bytes'}")
        pos += want


_LIOV = _IOVec()
_RIOV = _IOVec()


def vm_copy(pid: int, remote: int, local: int, nbytes: int, write: bool) -> None:
    """One contiguous run: nbytes between local memory and address remote of pid (the hot path
    of a Put or Get to another process's Win.Create memory: no iovec arrays to build)."""
    fn = _vm_calls.get("process_vm_writev" if write else "process_vm_readv")
    if fn is None:
        raise PeerMemoryError("process_vm_readv/writev are not available on this system")
    done = 0
    while done < nbytes:
        _LIOV.iov_base, _LIOV.iov_len = local + done, nbytes - done
        _RIOV.iov_base, _RIOV.iov_len = remote + done, nbytes - done
        got = fn(pid, ctypes.addressof(_LIOV), 1, ctypes.addressof(_RIOV), 1, 0)
        if got <= 0:
            err = ctypes.get_errno()
            call = "process_vm_writev" if write else "process_vm_readv"
            raise PeerMemoryError(err, f"{call} with pid {pid}: {os.strerror(err)}")
        done += got


def vm_read(pid: int, remote: np.ndarray, local: int) -> None:
    """Read the remote segments of pid back to back into local memory at address local."""
    _vm("process_vm_readv", pid, local, remote)


def vm_write(pid: int, remote: np.ndarray, local: int) -> None:
    """Write local memory at address local into the remote segments of pid."""
    _vm("process_vm_writev", pid, local, remote)


# A prepared copy (VmRun): the system call made from a jitted kernel (rma_kernels.vm_run) on a
# block of int64 words the caller owns, instead of ctypes (whose call converts and checks every
# argument: 3.9 us CPU per 8-byte Put to another process's Win.Create memory with vm_copy, 2.6
# with VmRun, measured with 2 ranks).


class VmRun:
    """One contiguous copy made again and again (a hot Put or Get record on another process's
    Win.Create memory, and the read and write of a hot accumulate there): calling it is
    vm_copy(pid, remote, local, nbytes, write) for a fraction of the CPU."""

    __slots__ = ("args", "block", "run")

    def __init__(self, pid: int, remote: int, local: int, nbytes: int, write: bool) -> None:
        self.args = (pid, remote, local, nbytes, write)
        self.block = np.zeros(V_WORDS, np.int64)
        if SYS_VM is None:
            self.run = None
            return
        self.block[V_PID:V_N + 1] = (pid, SYS_VM[1] if write else SYS_VM[0], local, remote, nbytes)
        self.run = partial(vm_run_entry(), int(self.block.ctypes.data))

    def __call__(self) -> None:
        run = self.run
        if run is None or run() < 0:
            vm_copy(*self.args)  # no kernel here, or a call failed: ctypes, which says why


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
