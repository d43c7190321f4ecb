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

import os

import numpy as np
from numba import njit, types

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
from .compiling import compile_once
from .views import pointer_view

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


# The operations the hot accumulates apply (the others take the general path, mpi/rma.py).
ACC_SUM, ACC_PROD, ACC_MIN, ACC_MAX, ACC_REPLACE, ACC_NO_OP = 1, 2, 3, 4, 5, 6
# The word two after the accumulate lock (16 bytes on) counts the origins of other processes waiting
# for it in their scheduler: a holder rings their doorbells on release only when it is non-zero.
ACC_WAITERS = 16


@njit(cache=True)
def accumulate_array(lock, owner, spins, dst, arr, op):
    """Under the spinlock at lock: dst[i] = arr[i] op dst[i] for the elements at address dst
    (typed as arr's). Returns False, having done nothing, if the lock was not free within spins."""
    if not spin_lock(lock, owner, spins):
        return False
    n = arr.size
    if n:
        out = pointer_view(typed_pointer(dst, arr[0]), n)
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


@njit(cache=True)
def acc_release(lock, owner):
    """Release the accumulate lock held by owner; 2 if origins wait for it (ring their
    doorbells), else 1. The release is a locked read-modify-write, a full barrier: a waiter that
    counted itself in after our load of the count sees the lock free on its next try."""
    fetch_add_i64(lock, -owner)
    return 2 if load_acquire_i64(lock + ACC_WAITERS) else 1


@njit(inline="always")
def _combine(out, inp, n, op):
    """out[i] = inp[i] op out[i] for the n elements (NO_OP: nothing)."""
    if op == ACC_SUM:
        for i in range(n):
            out[i] = inp[i] + out[i]
    elif op == ACC_PROD:
        for i in range(n):
            out[i] = inp[i] * out[i]
    elif op == ACC_MIN:
        for i in range(n):
            if inp[i] < out[i]:
                out[i] = inp[i]
    elif op == ACC_MAX:
        for i in range(n):
            if inp[i] > out[i]:
                out[i] = inp[i]
    elif op == ACC_REPLACE:
        for i in range(n):
            out[i] = inp[i]


# A hot record's parameter block (mpi/rma.py): int64 words the record owns, its kernel's one
# argument. One argument instead of seven or eight: the compiled entry point unboxes each Python
# int argument (CPU per call, measured: 1 int 30 ns, 7 ints 63 ns; bound with functools.partial
# 55 vs 99 ns). B_SPINS is the only word that changes after the record is made (the retry).
B_LOCK, B_OWNER, B_DST, B_SRC, B_RES, B_CMP, B_N, B_OP, B_SPINS = range(9)
BLOCK_WORDS = 16  # two cache lines' worth of int64, aligned by numpy's allocator


def block(lock, owner, dst, src=0, res=0, cmp=0, n=0, op=0, spins=0):
    """A parameter block for the hot kernels: the accumulate lock's address and owner, the
    target, origin, result and compare addresses, the element count, the operation, the spins."""
    b = np.zeros(BLOCK_WORDS, np.int64)
    b[:9] = (lock, owner, dst, src, res, cmp, n, op, spins)
    return b


def _hot_kernels(element):
    """The accumulate-class kernels for elements of one numpy type, on raw addresses only (no
    array to unbox: the hot paths of mpi/rma.py call them with the address of a parameter
    block, `block`). Each returns 0 having done nothing if the accumulate lock was not free within
    B_SPINS passes, else acc_release's 1 or 2. numba caches each closure on disk apart (its index
    keys a closure by the values it closes over); the launcher warms them (warm_hot)."""

    @njit(cache=True)
    def acc_at(p):
        """dst[:n] = src[:n] op dst[:n], atomically with every other accumulate to the target."""
        b = pointer_view(typed_pointer(p, np.int64(0)), BLOCK_WORDS)
        lock, owner, n = b[B_LOCK], b[B_OWNER], b[B_N]
        if not spin_lock(lock, owner, b[B_SPINS]):
            return 0
        if n:
            _combine(pointer_view(typed_pointer(b[B_DST], element(0)), n),
                     pointer_view(typed_pointer(b[B_SRC], element(0)), n), n, b[B_OP])
        return acc_release(lock, owner)

    @njit(cache=True)
    def get_acc_at(p):
        """res[:n] = dst[:n], then dst[:n] = src[:n] op dst[:n], atomically (Get_accumulate,
        Fetch_and_op)."""
        b = pointer_view(typed_pointer(p, np.int64(0)), BLOCK_WORDS)
        lock, owner, n = b[B_LOCK], b[B_OWNER], b[B_N]
        if not spin_lock(lock, owner, b[B_SPINS]):
            return 0
        if n:
            out = pointer_view(typed_pointer(b[B_DST], element(0)), n)
            old = pointer_view(typed_pointer(b[B_RES], element(0)), n)
            for i in range(n):
                old[i] = out[i]
            _combine(out, pointer_view(typed_pointer(b[B_SRC], element(0)), n), n, b[B_OP])
        return acc_release(lock, owner)

    @njit(cache=True)
    def cas_at(p):
        """res = dst; dst = src if dst's bits equal cmp's, atomically (Compare_and_swap: element
        is the unsigned integer of the datatype's width, so floats compare bit for bit)."""
        b = pointer_view(typed_pointer(p, np.int64(0)), BLOCK_WORDS)
        lock, owner = b[B_LOCK], b[B_OWNER]
        if not spin_lock(lock, owner, b[B_SPINS]):
            return 0
        out = pointer_view(typed_pointer(b[B_DST], element(0)), 1)
        old = out[0]
        pointer_view(typed_pointer(b[B_RES], element(0)), 1)[0] = old
        if old == pointer_view(typed_pointer(b[B_CMP], element(0)), 1)[0]:
            out[0] = pointer_view(typed_pointer(b[B_SRC], element(0)), 1)[0]
        return acc_release(lock, owner)

    return acc_at, get_acc_at, cas_at


# The hot dtypes (mpi/rma.py) -> their kernels; Compare_and_swap by width (unsigned integers).
HOT_KERNELS = {np.dtype(c): _hot_kernels(getattr(np, np.dtype(c).name)) for c in ("u1", "i4", "i8", "f4", "f8")}
CAS_KERNELS = {1: HOT_KERNELS[np.dtype("u1")][2], 4: _hot_kernels(np.uint32)[2], 8: _hot_kernels(np.uint64)[2]}
_I64 = types.int64


def acc_entry(dtype):
    """The compiled acc_at for dtype: fn(block address)."""
    return compile_once(HOT_KERNELS[dtype][0], (_I64,))


def get_acc_entry(dtype):
    """The compiled get_acc_at for dtype: fn(block address)."""
    return compile_once(HOT_KERNELS[dtype][1], (_I64,))


def cas_entry(width):
    """The compiled cas_at for elements of `width` bytes: fn(block address)."""
    return compile_once(CAS_KERNELS[width], (_I64,))


def copy_entry():
    """The compiled copy_bytes: fn(dst, src, nbytes)."""
    return compile_once(copy_bytes, (_I64,) * 3)


# process_vm_readv/writev for bus/peer_memory.VmRun: the system call from a jitted kernel on a
# block of int64 words the caller owns. libc's `syscall` as an external function keeps the
# kernel cacheable (as bus/ring.py's futex calls).
_syscall = types.ExternalFunction("syscall", types.int64(types.int64, types.int64, types.int64, types.int64,
                                                         types.int64, types.int64, types.int64))
# process_vm_readv / process_vm_writev by machine (elsewhere VmRun takes the ctypes path).
SYS_VM = {"x86_64": (310, 311), "aarch64": (270, 271)}.get(os.uname().machine)
# Block words: the local and remote iovec (scratch, rewritten per call), then the call's arguments.
V_PID, V_SYS, V_LOCAL, V_REMOTE, V_N = 4, 5, 6, 7, 8
V_WORDS = 16


@njit(cache=True)
def vm_run(p):
    """The copy described by the block at p: n bytes between local and remote of pid with the
    system call number in the block. Returns the bytes moved, or -1 if a call failed (the caller
    repeats it through ctypes to report errno)."""
    b = pointer_view(typed_pointer(p, np.int64(0)), V_WORDS)
    n, local, remote = b[V_N], b[V_LOCAL], b[V_REMOTE]
    done = 0
    while done < n:
        b[0] = local + done
        b[1] = n - done
        b[2] = remote + done
        b[3] = n - done
        got = _syscall(b[V_SYS], b[V_PID], p, 1, p + 16, 1, 0)
        if got <= 0:
            return -1
        done += got
    return done


def vm_run_entry():
    """The compiled vm_run: fn(block address)."""
    return compile_once(vm_run, (types.int64,))


def warm_hot():
    """Load (compiling the first time) every hot-path kernel (the launcher's warm-up)."""
    copy_entry()
    vm_run_entry()
    compile_once(acc_release, (_I64,) * 2)
    for dtype in HOT_KERNELS:
        acc_entry(dtype)
        get_acc_entry(dtype)
    for width in CAS_KERNELS:
        cas_entry(width)
