"""Jitted atomics for one-sided communication (MPI windows): the words of a window's control
block, and the copies an origin makes straight into a target's mapped memory.

A window's control block (mpi/window.py lays it out) lives in POSIX shared memory that every
rank of the window maps. Its words are only ever touched through these kernels: polled words with
atomic loads (a plain load in a spin loop is hoisted and never reloads), read-modify-writes with
seq_cst cmpxchg / fetch-add.

The passive-target lock word holds EXCLUSIVE (bit 40) when one origin holds the window of that
target exclusively, else the number of shared holders. The accumulate lock is a plain spinlock
(0 free, else the holder's rank + 1): every accumulate-class operation on a target takes it, so
accumulates to one location from many ranks are atomic per element, as MPI requires.
"""

from __future__ import annotations

from numba import njit

from .atomics import (
    compare_exchange_i64,
    cpu_relax,
    fetch_add_i64,
    load_acquire_i64,
    memcpy,
    store_release_i64,
)

EXCLUSIVE = 1 << 40


@njit(cache=True)
def try_lock_exclusive(addr):
    """Take the passive-target lock at addr exclusively if nobody holds it; True on success."""
    return compare_exchange_i64(addr, 0, EXCLUSIVE) == 0


@njit(cache=True)
def try_lock_shared(addr):
    """Join the shared holders of the lock at addr unless it is held exclusively."""
    for _ in range(64):
        seen = load_acquire_i64(addr)
        if seen & EXCLUSIVE:
            return False
        if compare_exchange_i64(addr, seen, seen + 1) == seen:
            return True
        cpu_relax()
    return False


@njit(cache=True)
def unlock_exclusive(addr):
    """Release an exclusive hold."""
    fetch_add_i64(addr, -EXCLUSIVE)


@njit(cache=True)
def unlock_shared(addr):
    """Leave the shared holders."""
    fetch_add_i64(addr, -1)


@njit(cache=True)
def spin_lock(addr, owner, spins):
    """Try to take the spinlock at addr for owner (> 0) for up to `spins` passes; True if taken.

    The holder never blocks while it holds it (the critical sections are a copy and a combine),
    so a short spin almost always wins; the caller backs off through the scheduler otherwise."""
    for _ in range(spins):
        if load_acquire_i64(addr) == 0 and compare_exchange_i64(addr, 0, owner) == 0:
            return True
        cpu_relax()
    return False


@njit(cache=True)
def spin_unlock(addr):
    """Release the spinlock at addr."""
    store_release_i64(addr, 0)


@njit(cache=True)
def load_word(addr):
    """Acquire-load the int64 at addr."""
    return load_acquire_i64(addr)


@njit(cache=True)
def add_word(addr, value):
    """Atomically add value to the int64 at addr; return the old value."""
    return fetch_add_i64(addr, value)


@njit(cache=True)
def copy_bytes(dst, src, nbytes):
    """memcpy between two raw addresses (a contiguous Put or Get into mapped memory)."""
    memcpy(dst, src, nbytes)
