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

from numba import carray, njit

from .atomics import (
    array_address,
    compare_exchange_i64,
    cpu_relax,
    fetch_add_i64,
    load_acquire_i64,
    memcpy,
    store_release_i64,
    typed_pointer,
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


@njit(cache=True)
def put_array(dst, arr):
    """Copy a contiguous array's bytes to address dst (a Put into mapped memory)."""
    memcpy(dst, array_address(arr), arr.size * arr.itemsize)


@njit(cache=True)
def get_array(arr, src):
    """Copy bytes at address src into a contiguous array (a Get from mapped memory)."""
    memcpy(array_address(arr), src, arr.size * arr.itemsize)


# The operations accumulate_array applies (the others take the general path, mpi/rma.py).
ACC_SUM, ACC_PROD, ACC_MIN, ACC_MAX, ACC_REPLACE = 1, 2, 3, 4, 5


@njit(cache=True)
def accumulate_array(lock, owner, spins, dst, arr, op):
    """Under the spinlock at lock: dst[i] = arr[i] op dst[i] for the elements at address dst
    (typed as arr's). Returns False, having done nothing, if the lock was not free within spins."""
    if not spin_lock(lock, owner, spins):
        return False
    n = arr.size
    if n:
        out = carray(typed_pointer(dst, arr[0]), n)
        if op == ACC_SUM:
            for i in range(n):
                out[i] = arr[i] + out[i]
        elif op == ACC_PROD:
            for i in range(n):
                out[i] = arr[i] * out[i]
        elif op == ACC_MIN:
            for i in range(n):
                if arr[i] < out[i]:
                    out[i] = arr[i]
        elif op == ACC_MAX:
            for i in range(n):
                if arr[i] > out[i]:
                    out[i] = arr[i]
        else:
            for i in range(n):
                out[i] = arr[i]
    spin_unlock(lock)
    return True
