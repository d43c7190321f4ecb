"""Asymmetric fences for the doorbell: the sleeper pays for the barrier, not every sender.

The doorbell is a store-then-load handshake on both sides (layout.py, SLOT_SLEEPING): a sender
publishes a queue index and then reads the receiver's sleeping word; a receiver about to sleep
stores that word and then looks at its queues once more. Each side needs a full fence between its
store and its load, or both loads can miss both stores and a wake is lost. A sender fences on
every publish; measured here (2 ranks, the root of a 4-byte osu_bcast-style loop) that fence cost
about half of the root's call, 1.36 -> 0.72 us, because it waits for the publish's cache lines to
leave the core while the receiver is reading them.

Linux's membarrier(2) moves that cost to the rare side. A process registered for
MEMBARRIER_CMD_GLOBAL_EXPEDITED lets any process make every CPU that runs it execute a full
memory barrier (an inter-processor interrupt), before the call returns. So:

- every rank process registers at start-up (`enable`);
- a registered sender keeps only a compiler fence between its publish and its read of the
  sleeping word (the compiler must not swap them; the CPU may, for now);
- a sleeper stores its sleeping word, fences, then calls MEMBARRIER_CMD_GLOBAL_EXPEDITED before
  its last look (ring.doze_arm). Each running sender is interrupted at some point of its
  program: a publish before that point is visible to the last look; a read of the sleeping word
  after it sees 1. A sender that is not running passed a context switch, itself a full barrier.

A sleeper sleeps only after spinning and yielding for milliseconds, so one system call of a few
microseconds there (1.9 us measured here) is nothing. Where the call is missing or refused
(another kernel, a seccomp filter), or `bus.membarrier = false`, nothing registers and both sides
keep their fences. All processes of a job run on one kernel under one configuration, so they take
the same branch.
"""

from __future__ import annotations

import ctypes
import functools
import platform
import sys

# Linux's membarrier numbers; 0 elsewhere (no asymmetric fences: everyone fences).
_LINUX_NUMBERS = {"x86_64": 324, "aarch64": 283}
SYS_MEMBARRIER = _LINUX_NUMBERS.get(platform.machine().lower(), 0) if sys.platform.startswith("linux") else 0
CMD_QUERY = 0
CMD_GLOBAL_EXPEDITED = 1 << 1
CMD_REGISTER_GLOBAL_EXPEDITED = 1 << 2


@functools.cache
def enable() -> int:
    """Register this process for global expedited membarriers; the system call's number if that
    worked (a sleeper passes it to ring.doze_arm, a sender may then skip its fence), else 0."""
    if not SYS_MEMBARRIER:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    call = ctypes.c_long(SYS_MEMBARRIER)
    supported = libc.syscall(call, ctypes.c_int(CMD_QUERY), ctypes.c_uint(0), ctypes.c_int(0))
    want = CMD_GLOBAL_EXPEDITED | CMD_REGISTER_GLOBAL_EXPEDITED
    if supported < 0 or supported & want != want:
        return 0
    if libc.syscall(call, ctypes.c_int(CMD_REGISTER_GLOBAL_EXPEDITED), ctypes.c_uint(0), ctypes.c_int(0)) != 0:
        return 0
    return SYS_MEMBARRIER
