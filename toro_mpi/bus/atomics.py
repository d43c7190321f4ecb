"""Memory-ordering primitives for jitted code: raw-address loads/stores, memcpy, pause.

Everything here works on raw integer addresses inside the shared segment. numba hoists a
plain load out of a spin loop (the loop then never sees the other core's store), so every
word that another process writes and we poll is read with an atomic *acquire* load, and
every index we publish is written with an atomic *release* store. On x86 both compile to
plain moves; on weaker machines (aarch64) LLVM emits the barriers the C11 model requires.

Plain (non-atomic) accessors are for data that is ordered by an acquire/release pair on an
index: payload bytes, descriptor fields, message headers.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_IS_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
IS_X86 = _IS_X86  # for the Python side: whether the x86-only paths (time-stamp counter, streaming) exist

_INT_TYPES = {
    16: (types.uint16, ir.IntType(16)),
    32: (types.uint32, ir.IntType(32)),
    64: (types.int64, ir.IntType(64)),
}


def _pointer(builder, addr, width):
    """Turn an int64 address into an iN* pointer."""
    return builder.inttoptr(addr, ir.IntType(width).as_pointer())


def _widen(builder, value, width):
    """Zero-extend a loaded iN to the int64 that jitted code computes with."""
    if width == 64:
        return value
    return builder.zext(value, ir.IntType(64))


def _make_load(width: int, ordering: str | None):
    @intrinsic
    def load(typingctx, addr):
        def codegen(context, builder, sig, args):
            ptr = _pointer(builder, args[0], width)
            if ordering is None:
                val = builder.load(ptr, align=width // 8)
            else:
                val = builder.load_atomic(ptr, ordering, align=width // 8)
            return _widen(builder, val, width)

        return types.int64(types.int64), codegen

    return load


def _make_store(width: int, ordering: str | None):
    @intrinsic
    def store(typingctx, addr, value):
        def codegen(context, builder, sig, args):
            ptr = _pointer(builder, args[0], width)
            val = context.cast(builder, args[1], sig.args[1], types.int64)
            if width != 64:
                val = builder.trunc(val, ir.IntType(width))
            if ordering is None:
                builder.store(val, ptr, align=width // 8)
            else:
                builder.store_atomic(val, ptr, ordering, align=width // 8)
            return context.get_dummy_value()

        return types.void(types.int64, value), codegen

    return store


# Acquire loads / release stores for polled and published words.
load_acquire_u16 = _make_load(16, "acquire")
load_acquire_u32 = _make_load(32, "acquire")
load_acquire_i64 = _make_load(64, "acquire")
store_release_u16 = _make_store(16, "release")
store_release_u32 = _make_store(32, "release")
store_release_i64 = _make_store(64, "release")
# Atomic but unordered (a plain move on x86): a seqlock's odd mark, ordered by the fence after it.
store_relaxed_i64 = _make_store(64, "monotonic")

# Plain accessors for data ordered by an index handshake.
load_u16 = _make_load(16, None)
load_u32 = _make_load(32, None)
load_i64 = _make_load(64, None)
store_u16 = _make_store(16, None)
store_u32 = _make_store(32, None)
store_i64 = _make_store(64, None)


@intrinsic
def fetch_add_i64(typingctx, addr, value):
    """Atomically add `value` to the int64 at `addr` (seq_cst); return the old value."""

    def codegen(context, builder, sig, args):
        ptr = _pointer(builder, args[0], 64)
        val = context.cast(builder, args[1], sig.args[1], types.int64)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return types.int64(types.int64, value), codegen


@intrinsic
def compare_exchange_i64(typingctx, addr, expected, desired):
    """Atomically replace `expected` by `desired` at `addr`; return the value seen before."""

    def codegen(context, builder, sig, args):
        ptr = _pointer(builder, args[0], 64)
        exp = context.cast(builder, args[1], sig.args[1], types.int64)
        des = context.cast(builder, args[2], sig.args[2], types.int64)
        pair = builder.cmpxchg(ptr, exp, des, "seq_cst", "seq_cst")
        return builder.extract_value(pair, 0)

    return types.int64(types.int64, expected, desired), codegen


@intrinsic
def fence_seq_cst(typingctx):
    """A full (sequentially consistent) fence: no load after it is done before a store before it.

    The doorbell needs it on both sides (a store-then-load handshake, which acquire/release
    alone does not order): see ring.ring_peer."""

    def codegen(context, builder, sig, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def fence_release(typingctx):
    """A release fence: no load or store before it is reordered with a store after it. On x86
    an ordering for the compiler alone (stores leave in program order); a seqlock's writer
    needs it between marking the line odd and writing what the mark guards."""

    def codegen(context, builder, sig, args):
        builder.fence("release")
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def fence_acquire(typingctx):
    """An acquire fence: no load before it is reordered with a load or store after it (x86: the
    compiler alone); a seqlock's reader needs it between its copy and the second look at the mark."""

    def codegen(context, builder, sig, args):
        builder.fence("acquire")
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def fence_after_rmw(typingctx):
    """fence_seq_cst for code that has just done a seq_cst read-modify-write: nothing on x86,
    where the locked instruction is itself a full barrier (and cheaper than mfence: a 2-rank
    signal exchange measured 290-308 ns against 358-391 ns with store + mfence), a fence on
    other machines."""

    def codegen(context, builder, sig, args):
        if not _IS_X86:
            builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def memcpy(typingctx, dst, src, nbytes):
    """Copy `nbytes` from address `src` to address `dst` with llvm.memcpy (libc speed)."""

    def codegen(context, builder, sig, args):
        i8p = ir.IntType(8).as_pointer()
        d = builder.inttoptr(args[0], i8p)
        s = builder.inttoptr(args[1], i8p)
        n = context.cast(builder, args[2], sig.args[2], types.int64)
        cgutils.raw_memcpy(builder, d, s, n, 1)
        return context.get_dummy_value()

    return types.void(types.int64, types.int64, nbytes), codegen


@intrinsic
def memcpy_stream(typingctx, dst, src, nbytes):
    """memcpy with non-temporal (streaming) stores: the copy goes to memory, not into this core's
    caches, and is ordered before any later store (an sfence ends it).

    For ring fragments that another core will read: a line the receiver reads after a plain store
    must come out of the sender's cache, one line transfer each, and when the two cores share no
    cache (another die or socket) those transfers made the two-copy pipeline up to 10x slower
    (BENCHMARKS.md, "Large messages"). Streamed lines are read from memory at the prefetchers'
    pace instead. 32-byte vector stores from the first 32-byte boundary of dst; plain memcpy for
    the unaligned head and the tail, and for everything on machines other than x86."""

    def codegen(context, builder, sig, args):
        i8p = ir.IntType(8).as_pointer()
        i64 = ir.IntType(64)
        d = context.cast(builder, args[0], sig.args[0], types.int64)
        s = context.cast(builder, args[1], sig.args[1], types.int64)
        n = context.cast(builder, args[2], sig.args[2], types.int64)
        if not _IS_X86:
            cgutils.raw_memcpy(builder, builder.inttoptr(d, i8p), builder.inttoptr(s, i8p), n, 1)
            return context.get_dummy_value()
        # head: up to the first 32-byte boundary of dst (at most n bytes)
        head = builder.and_(builder.sub(ir.Constant(i64, 0), d), ir.Constant(i64, 31))
        head = builder.select(builder.icmp_signed("<", n, head), n, head)
        cgutils.raw_memcpy(builder, builder.inttoptr(d, i8p), builder.inttoptr(s, i8p), head, 1)
        d2 = builder.add(d, head)
        s2 = builder.add(s, head)
        rest = builder.sub(n, head)
        blocks = builder.lshr(rest, ir.Constant(i64, 5))
        vec = ir.VectorType(i64, 4)
        nontemporal = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
        with cgutils.for_range(builder, blocks) as loop:
            off = builder.shl(loop.index, ir.Constant(i64, 5))
            v = builder.load(builder.inttoptr(builder.add(s2, off), vec.as_pointer()), align=1)
            st = builder.store(v, builder.inttoptr(builder.add(d2, off), vec.as_pointer()), align=32)
            st.set_metadata("nontemporal", nontemporal)
        body = builder.shl(blocks, ir.Constant(i64, 5))
        cgutils.raw_memcpy(builder, builder.inttoptr(builder.add(d2, body), i8p),
                           builder.inttoptr(builder.add(s2, body), i8p), builder.sub(rest, body), 1)
        fnty = ir.FunctionType(ir.VoidType(), [])
        builder.call(cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse.sfence"), [])
        return context.get_dummy_value()

    return types.void(types.int64, types.int64, nbytes), codegen


@intrinsic
def read_cycles(typingctx):
    """The time-stamp counter (x86 `rdtsc`) after an `lfence` (earlier loads have completed);
    0 on other machines."""

    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        if not _IS_X86:
            return ir.Constant(i64, 0)
        builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                    "llvm.x86.sse2.lfence"), [])
        return builder.call(cgutils.get_or_insert_function(builder.module, ir.FunctionType(i64, []),
                                                           "llvm.readcyclecounter"), [])

    return types.int64(), codegen


@intrinsic
def cpu_relax(typingctx):
    """Spin-wait hint (x86 `pause`); a compiler barrier elsewhere."""

    def codegen(context, builder, sig, args):
        if _IS_X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause")
            builder.call(fn, [])
        else:
            builder.fence("seq_cst")
        return context.get_dummy_value()

    return types.void(), codegen


def _make_prefetch(write: int):
    @intrinsic
    def prefetch(typingctx, addr):
        def codegen(context, builder, sig, args):
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            # (declare_intrinsic mangles the name for the pointer type as this LLVM spells it)
            fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], fnty)
            # (read or write, highest locality: keep it in every level, a data prefetch)
            builder.call(fn, [builder.inttoptr(args[0], i8p), ir.Constant(i32, write), ir.Constant(i32, 3),
                              ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(types.int64), codegen

    return prefetch


# prefetch(addr): a hint that the line at `addr` will be read soon (x86 `prefetcht0`): the load
# starts now and the instruction retires at once, so a line another core wrote moves into this
# core's cache while the caller does other work. prefetch_write(addr): the same for a line about
# to be written (`prefetchw` where the machine has it): the line is taken exclusive now, so the
# stores later find it owned instead of waiting for it (a fence drains them). Neither faults;
# machines without the instruction drop the hint.
prefetch = _make_prefetch(0)
prefetch_write = _make_prefetch(1)


@intrinsic
def array_address(typingctx, arr):
    """Address of the first element of an array (its data pointer as int64)."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.ptrtoint(ary.data, ir.IntType(64))

    return types.int64(arr), codegen


@intrinsic
def int64_pointer(typingctx, addr):
    """The address as an int64* (for numba.carray over process-private words)."""

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return types.CPointer(types.int64)(types.int64), codegen


@intrinsic
def uint8_pointer(typingctx, addr):
    """The address as a uint8* (for numba.carray: a byte view of any array's elements)."""

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return types.CPointer(types.uint8)(types.int64), codegen


@intrinsic
def typed_pointer(typingctx, addr, proto):
    """The address as a pointer to elements of proto's type (for numba.carray over an array
    whose address was stored, e.g. a collective's buffers in its plan words)."""
    if not isinstance(proto, (types.Integer, types.Float, types.Complex)):
        return None

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))

    return types.CPointer(proto)(types.int64, proto), codegen
