"""The futex system call's numbers, and a wake that needs no numba (the launcher's).

The doorbell protocol itself (who sets what, in which order) is documented with the slot words
in layout.py; the ranks ring and wait from jitted code (ring.ring_bell, ring.doze_wait).
"""

from __future__ import annotations

import ctypes
import platform

# 0 where we do not know the number: doorbells are then off and an idle process sleeps in steps.
SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}.get(platform.machine().lower(), 0)
FUTEX_WAIT = 0
FUTEX_WAKE = 1
WAKE_ALL = 0x7FFFFFFF

_libc: ctypes.CDLL | None = None


def wake_all(address: int) -> None:
    """FUTEX_WAKE every waiter on the 32-bit word at `address` (a no-op where futexes are unknown)."""
    global _libc
    if not SYS_FUTEX:
        return
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    _libc.syscall(ctypes.c_long(SYS_FUTEX), ctypes.c_void_p(address), ctypes.c_int(FUTEX_WAKE),
                  ctypes.c_int(WAKE_ALL), None, None, ctypes.c_int(0))
