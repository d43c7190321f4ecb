"""Point-to-point semantics between every ordered pair of ranks, local or on another node (toro_mpi).

For each pair (a, b) in turn: a message too long for b's buffer raises ERR_TRUNCATE and the
next one still arrives; float64 elements into an int64 buffer raise ERR_TYPE (toro_mpi's check);
a synchronous send is not complete before b posts its receive and completes after; Probe and
Mprobe report the size of a 1 MiB + 1 message; a send from Alloc_mem memory (the shared heap's
descriptor path locally) arrives whole; PROC_NULL completes at once. Prints `R ok` when all held,
else `R error ...` lines. Also prints which node each rank is on.
"""

import os
import time

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE

errors: list[str] = []


def check(cond: bool, what: str) -> None:
    if not cond:
        errors.append(what)


def error_class(fn) -> int:
    try:
        fn()
    except MPI.Exception as exc:
        return exc.Get_error_class()
    return MPI.SUCCESS


def pair(a: int, b: int) -> None:
    where = f"{a}->{b}"
    if RANK == a:
        COMM.Send(np.arange(10, dtype=np.int32), b, tag=1)
        COMM.Send(np.arange(3, dtype=np.int32), b, tag=2)
        COMM.Send(np.ones(4, np.float64), b, tag=3)
        r = COMM.Issend(np.full(5, 7, np.int64), b, tag=4)
        early = [r.Test() for _ in range(20) if time.sleep(0.005) is None]
        check(not any(early), f"{where}: Issend completed before the receive was posted")
        COMM.Send(np.zeros(1, np.int8), b, tag=5)  # go
        r.Wait()
        big = np.arange((1 << 20) + 1, dtype=np.uint8)
        COMM.Send(big, b, tag=6)
        COMM.Send(big, b, tag=7)
        COMM.Send(np.arange(30000, dtype=np.int32), b, tag=9)  # 120 KB into 60 KB: truncated
        COMM.Send(np.arange(3, dtype=np.int32), b, tag=10)
        r = COMM.Issend(np.full(20000, 3, np.int64), b, tag=11)  # 160 KB, synchronous
        early = [r.Test() for _ in range(20) if time.sleep(0.005) is None]
        check(not any(early), f"{where}: large Issend completed before the receive was posted")
        COMM.Send(np.zeros(1, np.int8), b, tag=12)  # go
        r.Wait()
        mem = MPI.Alloc_mem(1 << 19)
        heap = np.frombuffer(mem, np.uint8)
        heap[:] = np.arange(heap.size) % 251
        COMM.Send(heap, b, tag=8)
        MPI.Free_mem(mem)
    elif RANK == b:
        small = np.empty(5, np.int32)
        check(error_class(lambda: COMM.Recv(small, a, tag=1)) == MPI.ERR_TRUNCATE, f"{where}: no ERR_TRUNCATE")
        nxt = np.empty(3, np.int32)
        COMM.Recv(nxt, a, tag=2)
        check(list(nxt) == [0, 1, 2], f"{where}: message after a truncated one: {nxt}")
        ints = np.empty(4, np.int64)
        check(error_class(lambda: COMM.Recv(ints, a, tag=3)) == MPI.ERR_TYPE, f"{where}: no ERR_TYPE")
        COMM.Recv(np.empty(1, np.int8), a, tag=5)
        got = np.empty(5, np.int64)
        COMM.Recv(got, a, tag=4)
        check(list(got) == [7] * 5, f"{where}: synchronous payload {got}")
        st = MPI.Status()
        COMM.Probe(a, 6, st)
        check(st.Get_count(MPI.BYTE) == (1 << 20) + 1, f"{where}: Probe count {st.Get_count(MPI.BYTE)}")
        big = np.empty((1 << 20) + 1, np.uint8)
        COMM.Recv(big, a, 6)
        check(bool((big == np.arange(big.size, dtype=np.uint8)).all()), f"{where}: 1 MiB + 1 payload")
        msg = COMM.Mprobe(a, 7, st)
        check(st.Get_count(MPI.BYTE) == big.size, f"{where}: Mprobe count")
        big[:] = 0
        msg.Recv(big)
        check(bool((big == np.arange(big.size, dtype=np.uint8)).all()), f"{where}: Mrecv payload")
        half = np.empty(15000, np.int32)
        check(error_class(lambda: COMM.Recv(half, a, tag=9)) == MPI.ERR_TRUNCATE, f"{where}: no large ERR_TRUNCATE")
        check(bool((half == np.arange(15000)).all()), f"{where}: truncated large payload's first part")
        COMM.Recv(nxt, a, tag=10)
        check(list(nxt) == [0, 1, 2], f"{where}: message after a truncated large one: {nxt}")
        COMM.Recv(np.empty(1, np.int8), a, tag=12)
        got = np.empty(20000, np.int64)
        COMM.Recv(got, a, tag=11)
        check(bool((got == 3).all()), f"{where}: large synchronous payload")
        heap = np.empty(1 << 19, np.uint8)
        COMM.Recv(heap, a, 8)
        check(bool((heap == np.arange(heap.size) % 251).all()), f"{where}: Alloc_mem payload")
    COMM.Barrier()


print(RANK, "node", os.environ.get("TORO_MPI_NODE", "0"))
COMM.Send(np.zeros(1), MPI.PROC_NULL, 0)
st = MPI.Status()
COMM.Recv(np.zeros(1), MPI.PROC_NULL, 0, st)
check(st.Get_source() == MPI.PROC_NULL, "PROC_NULL status")
for a in range(SIZE):
    for b in range(SIZE):
        if a != b:
            pair(a, b)
for e in errors:
    print(RANK, "error", e)
if not errors:
    print(RANK, "ok")
