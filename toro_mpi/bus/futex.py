"""The futex system call's numbers, and a wake that needs no numba (the launcher's).

The doorbell protocol itself (who sets what, in which order) is documented with the slot words
in layout.py; the ranks ring and wait from jitted code (ring.ring_bell, ring.doze_wait).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import platform
import sys

# Linux's numbers; 0 elsewhere (other systems number their calls differently): doorbells are then
# off and an idle process sleeps in steps.
_LINUX_NUMBERS = {"x86_64": 202, "aarch64": 98}
SYS_FUTEX = _LINUX_NUMBERS.get(platform.machine().lower(), 0) if sys.platform.startswith("linux") else 0
FUTEX_WAIT = 0
FUTEX_WAKE = 1
WAKE_ALL = 0x7FFFFFFF

_libc: ctypes.CDLL | None = None


@functools.cache
def usable() -> bool:
    """Whether FUTEX_WAIT works here: one 1-us wait on a private word must time out (a sandbox
    that refuses the call, ENOSYS or EPERM, would turn every doorbell sleep into a busy loop)."""
    global _libc
    if not SYS_FUTEX:
        return False
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    word = ctypes.c_int32(0)
    timeout = (ctypes.c_long * 2)(0, 1000)
    ctypes.set_errno(0)
    _libc.syscall(ctypes.c_long(SYS_FUTEX), ctypes.byref(word), ctypes.c_int(FUTEX_WAIT), ctypes.c_int(0),
                  timeout, None, ctypes.c_int(0))
    return ctypes.get_errno() in (errno.ETIMEDOUT, errno.EINTR)


def wake_all(address: int) -> None:
    """FUTEX_WAKE every waiter on the 32-bit word at `address` (a no-op where futexes are unknown)."""
    global _libc
    if not SYS_FUTEX:
        return
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    _libc.syscall(ctypes.c_long(SYS_FUTEX), ctypes.c_void_p(address), ctypes.c_int(FUTEX_WAKE),
                  ctypes.c_int(WAKE_ALL), None, None, ctypes.c_int(0))
