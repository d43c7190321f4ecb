"""Sends from MPI.Alloc_mem memory (the rank's shared heap). toro_mpi only: it also checks that
the heap path was taken (the receiver mapped the sender's heap) and the allocator's bookkeeping.

Modes (argv[1]):
  mixed    random heap / numpy / small messages from every rank to every other, ANY_SOURCE
  main     sizes around the threshold and up to 4 MiB in several dtypes, buffer reuse after Send,
           Isend/Issend/Irecv/Test, unexpected + Probe, truncation, element types, ANY_SOURCE
           (3+ ranks), object sends, Sendrecv, Free_mem and reuse
  exhaust  run with a small bus.heap_size: Alloc_mem beyond it gives plain memory that still sends
  off      run with bus.heap_size = 0: Alloc_mem is plain memory
  orphan   rank 1 finalizes without receiving a heap send: rank 0's Wait fails, no hang
  kill     rank 1 is SIGKILLed while rank 0 is blocked in a heap Send to it: the job ends, and
           nothing of the heaps stays in /dev/shm
"""

import os
import sys
import time

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, error_class, out, pattern

from toro_mpi.runtime import world

MODE = sys.argv[1]
E = world().engine
T = E.heap_threshold


def heap():
    return E.t.heap


def in_heap(arr) -> bool:
    h = heap()
    return h is not None and h.offset(arr.ctypes.data, arr.nbytes) >= 0


def alloc(dtype: str, count: int):
    """(MPI.buffer, array over it) of count elements from Alloc_mem."""
    mem = MPI.Alloc_mem(count * np.dtype(dtype).itemsize)
    return mem, np.frombuffer(mem, dtype)


def mapped(src: int) -> bool:
    """Whether this rank has mapped src's heap (a heap message from src came in)."""
    return src in E.t._peer_heaps


def check_not_heap_below_threshold() -> None:
    """A small Alloc_mem message and a large numpy one travel the ordinary way."""
    if RANK == 0:
        mem, a = alloc("uint8", T - 1)
        a[:] = 7
        assert in_heap(a)
        COMM.Send(a, dest=1, tag=1)
        COMM.Send(np.full(T * 2, 3, np.uint8), dest=1, tag=2)
        del a
        MPI.Free_mem(mem)
    elif RANK == 1:
        b = np.zeros(T - 1, np.uint8)
        COMM.Recv(b, source=0, tag=1)
        c = np.zeros(T * 2, np.uint8)
        COMM.Recv(c, source=0, tag=2)
        assert (b == 7).all() and (c == 3).all()
        out("ordinary below threshold", not mapped(0))


def check_sizes_and_dtypes() -> None:
    for dtype in ("uint8", "int32", "float64", "complex128", "bool"):
        item = np.dtype(dtype).itemsize
        for nbytes in (T, T + 8 * item, 100_000 * item, (1 << 20) + 16, 4 << 20):
            count = nbytes // item
            tag = 10
            if RANK == 0:
                mem, a = alloc(dtype, count)
                a[:] = pattern(dtype, count)
                COMM.Send(a, dest=1, tag=tag)
                a[:] = pattern(dtype, count, salt=1)  # reuse as soon as Send returned
                COMM.Send(a, dest=1, tag=tag + 1)
                del a
                MPI.Free_mem(mem)
            elif RANK == 1:
                b = np.empty(count, dtype)
                st = MPI.Status()
                COMM.Recv(b, source=0, tag=tag, status=st)
                assert (b == pattern(dtype, count)).all(), (dtype, count)
                assert st.Get_count(MPI.BYTE) == count * item
                COMM.Recv(b, source=0, tag=tag + 1)
                assert (b == pattern(dtype, count, salt=1)).all(), (dtype, count, "second")
        if RANK == 1:
            out("sizes", dtype, mapped(0))


def check_read_only_view() -> None:
    """A read-only array over heap memory sends the same way."""
    n = 2 * T
    if RANK == 0:
        mem, a = alloc("uint8", n)
        a[:] = 11
        ro = np.frombuffer(mem, np.uint8)
        ro.flags.writeable = False
        COMM.Send([ro, MPI.BYTE], dest=1, tag=15)
        del a, ro
        MPI.Free_mem(mem)
    elif RANK == 1:
        b = np.zeros(n, np.uint8)
        COMM.Recv(b, source=0, tag=15)
        out("read-only view", bool((b == 11).all()))


def check_send_waits_for_the_copy() -> None:
    """A heap Send returns only once the receiver has copied (so the buffer may be reused).

    Shown by message order, not by a clock: rank 0 sends a notice (tag 22) once its Send has
    returned; rank 1 sees the heap message arrive, polls a while for the notice (it must not come
    before rank 1 receives), then receives."""
    n = 1 << 20
    if RANK == 0:
        mem, a = alloc("uint8", n)
        a[:] = 5
        COMM.Send(a, dest=1, tag=20)
        COMM.Send(np.zeros(1, np.uint8), dest=1, tag=22)  # notice: the heap Send returned
        a[:] = 6
        out("Send waited for the receiver", True)  # rank 1 checked it; a failure ends the job
        del a
        MPI.Free_mem(mem)
    elif RANK == 1:
        deadline = time.monotonic() + 60  # only turns a hang into a failure naming what never came
        while not COMM.Iprobe(source=0, tag=20):
            assert time.monotonic() < deadline, "the heap message never arrived"
            time.sleep(0.001)
        # 0.3 s of polling only gives an early return time to show; it is not a bound.
        end = time.monotonic() + 0.3
        while time.monotonic() < end:
            assert not COMM.Iprobe(source=0, tag=22), "the heap Send returned before the receiver copied"
            time.sleep(0.005)
        b = np.zeros(n, np.uint8)
        COMM.Recv(b, source=0, tag=20)
        assert (b == 5).all()
        COMM.Recv(np.zeros(1, np.uint8), source=0, tag=22)


def check_nonblocking() -> None:
    n = 300_000
    if RANK == 0:
        m1, a1 = alloc("float64", n)
        m2, a2 = alloc("float64", n)
        a1[:] = pattern("float64", n, 2)
        a2[:] = pattern("float64", n, 3)
        r1 = COMM.Isend(a1, dest=1, tag=30)
        r2 = COMM.Issend(a2, dest=1, tag=31)
        early = r1.Test() or r2.Test()
        COMM.Barrier()
        MPI.Request.Waitall([r1, r2])
        a1[:] = 0
        out("Isend/Issend pending until received", not early, r1 == MPI.REQUEST_NULL)
        del a1, a2
        MPI.Free_mem(m1), MPI.Free_mem(m2)
    elif RANK == 1:
        COMM.Barrier()
        b1, b2 = np.zeros(n), np.zeros(n)
        reqs = [COMM.Irecv(b2, source=0, tag=31), COMM.Irecv(b1, source=0, tag=30)]
        MPI.Request.Waitall(reqs)
        assert (b1 == pattern("float64", n, 2)).all() and (b2 == pattern("float64", n, 3)).all()
    else:
        COMM.Barrier()


def check_unexpected_and_probe() -> None:
    n = 200_000
    if RANK == 0:
        mem, a = alloc("int32", n)
        a[:] = pattern("int32", n, 4)
        req = COMM.Isend(a, dest=1, tag=40)
        COMM.Barrier()
        req.Wait()
        del a
        MPI.Free_mem(mem)
    elif RANK == 1:
        COMM.Barrier()
        time.sleep(0.1)
        st = MPI.Status()
        COMM.Probe(source=0, tag=40, status=st)
        b = np.zeros(n, np.int32)
        COMM.Recv(b, source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG)
        assert (b == pattern("int32", n, 4)).all()
        out("probe count", st.Get_count(MPI.INT))
    else:
        COMM.Barrier()


def check_truncation_and_types() -> None:
    n = 100_000
    if RANK == 0:
        mem, a = alloc("float64", n)
        a[:] = pattern("float64", n, 5)
        COMM.Send(a, dest=1, tag=50)  # into too small a buffer
        COMM.Send(a, dest=1, tag=51)  # into int64: ERR_TYPE
        COMM.Send(a, dest=1, tag=52)  # into bytes: fine
        del a
        MPI.Free_mem(mem)
    elif RANK == 1:
        small = np.zeros(1000)
        st = MPI.Status()
        try:
            COMM.Recv(small, source=0, tag=50, status=st)
            outcome = "none"
        except MPI.Exception as exc:
            outcome = error_class(exc)
        assert (small == pattern("float64", n, 5)[:1000]).all()
        out("truncate", outcome, st.Get_count(MPI.BYTE))
        try:
            COMM.Recv(np.zeros(n, np.int64), source=0, tag=51)
            outcome = "none"
        except MPI.Exception as exc:
            outcome = error_class(exc)
        out("type", outcome)
        raw = np.zeros(n * 8, np.uint8)
        COMM.Recv(raw, source=0, tag=52)
        out("bytes", bool((raw.view(np.float64) == pattern("float64", n, 5)).all()))


def check_any_source() -> None:
    n = 150_000
    if RANK == 0:
        got = {}
        for _ in range(SIZE - 1):
            b = np.zeros(n, np.int64)
            st = MPI.Status()
            COMM.Recv(b, source=MPI.ANY_SOURCE, tag=60, status=st)
            got[st.Get_source()] = bool((b == pattern("int64", n, st.Get_source())).all())
        out("ANY_SOURCE", sorted(got.items()), all(mapped(s) for s in got))
    else:
        mem, a = alloc("int64", n)
        a[:] = pattern("int64", n, RANK)
        COMM.Send(a, dest=0, tag=60)
        del a
        MPI.Free_mem(mem)


def check_objects_and_sendrecv() -> None:
    n = 500_000
    peer = 1 - RANK
    if RANK < 2:
        mem, a = alloc("float64", n)
        a[:] = pattern("float64", n, 10 + RANK)
        if RANK == 0:
            COMM.send({"data": a, "note": "heap"}, dest=1, tag=70)
        else:
            obj = COMM.recv(source=0, tag=70)
            out("object", obj["note"], bool((obj["data"] == pattern("float64", n, 10)).all()))
        back = np.zeros(n)
        COMM.Sendrecv(a, dest=peer, sendtag=71, recvbuf=back, source=peer, recvtag=71)
        assert (back == pattern("float64", n, 10 + peer)).all()
        out("sendrecv", True)
        del a
        MPI.Free_mem(mem)


def check_free_and_reuse() -> None:
    h = heap()
    free0 = h.free_bytes()
    m1 = MPI.Alloc_mem(1 << 20)
    addr1 = np.frombuffer(m1, np.uint8).ctypes.data
    assert h.free_bytes() == free0 - (1 << 20)
    MPI.Free_mem(m1)
    m2 = MPI.Alloc_mem(1 << 20)
    same = np.frombuffer(m2, np.uint8).ctypes.data == addr1
    MPI.Free_mem(m2)
    # Free_mem while an array still views the memory: the block stays out of the free list
    # until the array (and the MPI.buffer Alloc_mem returned) are gone, so the array never sees
    # another allocation's bytes.
    m3 = MPI.Alloc_mem(100)
    a = np.frombuffer(m3, np.uint8)
    MPI.Free_mem(m3)
    held_by_array = h.free_bytes() == free0 - 128
    a[:] = 1
    del a, m3
    m4 = MPI.Alloc_mem(4096)
    part = m4[:10]
    MPI.Free_mem(m4)
    held_by_slice = h.free_bytes() == free0 - 4096
    del part, m4
    out("free", same, held_by_array, held_by_slice, h.free_bytes() == free0)


def main_checks() -> None:
    assert heap() is None
    check_not_heap_below_threshold()
    check_sizes_and_dtypes()
    check_read_only_view()
    check_send_waits_for_the_copy()
    check_nonblocking()
    check_unexpected_and_probe()
    check_truncation_and_types()
    if SIZE >= 3:
        check_any_source()
    check_objects_and_sendrecv()
    check_free_and_reuse()
    out("heap name", heap().name)


def exhaust_checks() -> None:
    size = E.t.heap_size
    m1, a1 = alloc("uint8", size // 2)
    m2, a2 = alloc("uint8", size // 2)
    m3, a3 = alloc("uint8", 2 * T)  # the heap is full now
    out("exhaust", in_heap(a1), in_heap(a2), in_heap(a3), type(m3.obj).__name__)
    for a in (a1, a3):
        if RANK == 0:
            a[:] = 9
            COMM.Send(a, dest=1, tag=80)
        elif RANK == 1:
            b = np.zeros(a.nbytes, np.uint8)
            COMM.Recv(b, source=0, tag=80)
            assert (b == 9).all()
    del a1, a2, a3
    # One by one: an MPI.buffer also held by a container is given back only when it is collected.
    MPI.Free_mem(m1)
    MPI.Free_mem(m2)
    MPI.Free_mem(m3)
    m4, a4 = alloc("uint8", 2 * T)  # room again
    out("after free", in_heap(a4))


def off_checks() -> None:
    mem, a = alloc("uint8", 4 * T)
    out("off", heap() is None, type(mem.obj).__name__)
    if RANK == 0:
        a[:] = 4
        COMM.Send(a, dest=1, tag=90)
    elif RANK == 1:
        COMM.Recv(a, source=0, tag=90)
        assert (a == 4).all()


def mixed() -> None:
    """Every rank sends every other rank 40 messages of random size, kind and tag: heap buffers
    above and below the threshold, numpy buffers, all as Isends at once; receivers take them with
    ANY_SOURCE and ANY_TAG and check that each source's messages arrive in order and intact."""
    count = 40

    def plan(src: int, dst: int):
        rng = np.random.default_rng([src, dst, 7])
        for i in range(count):
            kind = ("heap", "numpy", "small")[int(rng.integers(0, 3))]
            size = int(rng.integers(T, 3 * T)) if kind != "small" else int(rng.integers(0, 4096))
            yield i, kind, size, int(rng.integers(0, 3))

    def content(src: int, i: int, size: int) -> np.ndarray:
        return (np.arange(size, dtype=np.int64) * 31 + src * 1000 + i).astype(np.uint8)

    keep, reqs = [], []
    for dst in range(SIZE):
        if dst == RANK:
            continue
        for i, kind, size, tag in plan(RANK, dst):
            if kind == "heap":
                mem, a = alloc("uint8", size)
                keep.append(mem)
            else:
                a = np.empty(size, np.uint8)
            a[:] = content(RANK, i, size)
            keep.append(a)
            reqs.append(COMM.Isend(a, dest=dst, tag=tag))
    expected = {src: list(plan(src, RANK)) for src in range(SIZE) if src != RANK}
    buf = np.empty(3 * T, np.uint8)
    bad = 0
    for _ in range(count * (SIZE - 1)):
        st = MPI.Status()
        COMM.Recv(buf, source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
        src = st.Get_source()
        i, kind, size, tag = expected[src].pop(0)
        n = st.Get_count(MPI.BYTE)
        if (n, st.Get_tag()) != (size, tag) or not (buf[:n] == content(src, i, size)).all():
            bad += 1
    MPI.Request.Waitall(reqs)
    out("mixed", bad, all(not v for v in expected.values()), all(mapped(s) for s in expected))


def orphan() -> None:
    if RANK == 0:
        mem, a = alloc("uint8", 4 * T)
        req = COMM.Isend(a, dest=1, tag=95)
        try:
            req.Wait()
            out("orphan", "completed")
        except MPI.Exception as exc:
            out("orphan", error_class(exc))


def kill() -> None:
    mem, a = alloc("uint8", 4 * T)
    out("heap name", heap().name)
    out("pid", os.getpid())
    COMM.Barrier()
    if RANK == 1:
        time.sleep(0.5)  # rank 0 is in Send by now
        os.kill(os.getpid(), 9)
    elif RANK == 0:
        COMM.Send(a, dest=1, tag=99)
        raise AssertionError("the Send returned although rank 1 never received")


{"main": main_checks, "mixed": mixed, "exhaust": exhaust_checks, "off": off_checks, "orphan": orphan,
 "kill": kill}[MODE]()
done()
