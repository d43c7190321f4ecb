"""The hot paths of one-sided calls (mpi/rma.py's records) under toro_mpi and under mpi4py +
Open MPI, same output.

    python rma_fastpaths.py MODE      MODE: ops | errors | bounds | concurrent

ops: Put, Get, Accumulate, Get_accumulate, Fetch_and_op and Compare_and_swap, each repeated with
the same buffers (so the second and later calls run from their record), with every hot dtype,
every predefined operation the hot kernels apply plus NO_OP and a bitwise one (general path), to
several target displacements and ranks, on every kind of window (Create, Allocate,
Allocate_shared, Create_dynamic); the windows' contents are printed as digests.
errors: a call that ran hot once, then the same buffers past the window's end, to a bad rank,
into a read-only buffer, after Free: the same error classes as the reference (bounds: the same on
an Allocate window, where Open MPI checks nothing).
concurrent: every rank accumulates into the same elements of rank 0 (SUM, hot) and takes tickets
from a Fetch_and_op counter and a Compare_and_swap spin lock; the totals are exact.
"""

from __future__ import annotations

import sys

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, out

DTYPES = ("u1", "i4", "i8", "f4", "f8", "i2")  # i2: not a hot dtype (the general path)
OPS = ("SUM", "PROD", "MIN", "MAX", "REPLACE", "NO_OP")
N = 16  # elements per window (and per rank)


def values(dtype: str, salt: int, count: int = N) -> np.ndarray:
    """Small deterministic values (products and sums stay exact in every dtype)."""
    rng = np.random.default_rng([salt, sum(map(ord, dtype))])
    return rng.integers(1, 4, count).astype(dtype)


def make(kind: str, dtype: str) -> tuple[object, np.ndarray, int]:
    """(window, local numpy view, disp unit) of N elements of dtype per rank."""
    itemsize = np.dtype(dtype).itemsize
    if kind == "create":
        mem = values(dtype, RANK)
        return MPI.Win.Create(mem, itemsize, MPI.INFO_NULL, COMM), mem, itemsize
    if kind == "dynamic":
        win = MPI.Win.Create_dynamic(MPI.INFO_NULL, COMM)
        mem = values(dtype, RANK)
        win.Attach(mem)
        return win, mem, itemsize
    maker = MPI.Win.Allocate if kind == "allocate" else MPI.Win.Allocate_shared
    win = maker(N * itemsize, itemsize, MPI.INFO_NULL, COMM)
    mem = np.frombuffer(win.tomemory(), dtype, N)
    win.Lock(RANK)
    mem[:] = values(dtype, RANK)
    win.Unlock(RANK)
    return win, mem, itemsize


def base_of(win: object, kind: str, mem: np.ndarray, target: int) -> int:
    """The target displacement of element 0 of `target`'s part (its address: dynamic)."""
    if kind != "dynamic":
        return 0
    return COMM.allgather(MPI.Get_address(mem))[target]


def ops(kind: str) -> None:
    """Every call kind, dtype and op, each call made three times with the same buffers."""
    for dtype in DTYPES:
        win, mem, _ = make(kind, dtype)
        COMM.Barrier()
        right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE
        bases = {t: base_of(win, kind, mem, t) for t in sorted({right, left})}
        unit = np.dtype(dtype).itemsize if kind == "dynamic" else 1  # dynamic: byte addresses

        def at(t: int, k: int, bases: dict = bases, unit: int = unit) -> int:
            return bases[t] + k * unit

        a = values(dtype, 100 + RANK, 2)
        b = values(dtype, 200 + RANK, 2)
        got = np.zeros(2, dtype)
        res = np.zeros(1, dtype)
        log = []
        win.Lock(right, MPI.LOCK_SHARED)
        if left != right:
            win.Lock(left, MPI.LOCK_SHARED)
        a1, b1, cmp1 = a[:1], b[:1], np.zeros(1, dtype)  # kept: a record matches the same objects
        for _rep in range(3):
            for disp, (buf, t) in enumerate(((a, right), (b, left), (a, left))):
                for _ in range(2):  # the second call runs from the first one's record
                    win.Put(buf, t, at(t, 2 * disp))
                win.Flush(t)
            COMM.Barrier()  # the Gets below read what the neighbours put
            for disp, t in enumerate((right, left)):
                for _ in range(2):
                    win.Get(got, t, at(t, 2 * disp + 1))
                win.Flush_local(t)
                log.append(digest(got))
            for k, name in enumerate(OPS):
                op = getattr(MPI, name)
                for _ in range(2):
                    if op != MPI.NO_OP:  # MPI allows NO_OP in the fetching calls only
                        win.Accumulate(a, right, at(right, 6 + k % 3 * 2), op)
                    win.Get_accumulate(b, got, right, at(right, 12), op)
                    log.append(digest(got))
                for _ in range(2):
                    win.Fetch_and_op(a1, res, left, at(left, 14 + k % 2), op)
                    log.append(digest(res))
            if dtype in ("u1", "i4", "i2"):
                # Not a hot op. (Open MPI 5.0's Win.Create and dynamic windows leave zeros for a
                # 64-bit BXOR here, its Allocate windows do not: i8 is left out.)
                win.Accumulate(a, right, at(right, 6), MPI.BXOR)
            for _ in range(2):
                win.Get_accumulate(b, got, right, at(right, 12), MPI.NO_OP)
            log.append(digest(got))
            old = np.zeros(1, dtype)
            if dtype[0] not in "iu":
                continue  # MPI defines Compare_and_swap on integers only
            cmp1[:] = got[:1]
            for _ in range(2):  # swaps once, then compares unequal
                win.Compare_and_swap(b1, cmp1, old, right, at(right, 12))
                log.append(digest(old))
            for _ in range(2):
                win.Compare_and_swap(a1, a1, old, right, at(right, 13))
                log.append(digest(old))
        win.Unlock(right)
        if left != right:
            win.Unlock(left)
        COMM.Barrier()
        out(kind, dtype, "calls", digest(np.array(log)))
        win.Lock(RANK)
        out(kind, dtype, "memory", mem.tolist())
        win.Unlock(RANK)
        COMM.Barrier()
        if kind == "dynamic":
            win.Detach(mem)
        win.Free()


def err_name(exc: BaseException) -> str:
    """The error class's name (the one-sided ones included), or the exception's type."""
    if isinstance(exc, MPI.Exception):
        code = exc.Get_error_class()
        for name in ("ERR_RMA_RANGE", "ERR_RMA_SYNC", "ERR_WIN", "ERR_RANK", "ERR_BUFFER", "ERR_ARG", "ERR_DISP",
                     "ERR_TYPE", "ERR_OP", "ERR_OTHER"):
            if code == getattr(MPI, name):
                return name
        return "ERR_?"
    return type(exc).__name__


def errors(kind: str) -> None:
    """Errors after the same buffers ran hot: kind "create" (a Win.Create window, compared with
    the reference, which checks bounds there) or "allocate" (toro_mpi only: Open MPI does not
    check an Allocate window's bounds)."""
    mem = np.zeros(N, np.int32)
    if kind == "create":
        win = MPI.Win.Create(mem, 4, MPI.INFO_NULL, COMM)
    else:
        win = MPI.Win.Allocate(N * 4, 4, MPI.INFO_NULL, COMM)
        mem = np.frombuffer(win.tomemory(), np.int32, N)
    win.Set_errhandler(MPI.ERRORS_RETURN)
    t = (RANK + 1) % SIZE
    a = np.ones(2, np.int32)
    r = np.zeros(2, np.int32)
    one, res = np.ones(1, np.int32), np.zeros(1, np.int32)
    ro = np.zeros(2, np.int32)
    ro.flags.writeable = False
    win.Lock(t)
    for _ in range(2):
        win.Put(a, t, 3)
        win.Get(r, t, 3)
        win.Accumulate(a, t, 3, MPI.SUM)
        win.Get_accumulate(a, r, t, 3, MPI.SUM)
        win.Fetch_and_op(one, res, t, 3, MPI.SUM)
        win.Compare_and_swap(one, one, res, t, 3)
    cases = [
        ("put past end", lambda: win.Put(a, t, N - 1)),
        ("put negative", lambda: win.Put(a, t, -1)),
        ("get past end", lambda: win.Get(r, t, N - 1)),
        ("acc past end", lambda: win.Accumulate(a, t, N - 1, MPI.SUM)),
        ("get_acc past end", lambda: win.Get_accumulate(a, r, t, N - 1, MPI.SUM)),
        ("fop past end", lambda: win.Fetch_and_op(one, res, t, N, MPI.SUM)),
        ("cas past end", lambda: win.Compare_and_swap(one, one, res, t, N)),
        ("put bad rank", lambda: win.Put(a, SIZE, 3)),
        ("acc bad rank", lambda: win.Accumulate(a, SIZE + 1, 3, MPI.SUM)),
        ("get read-only", lambda: win.Get(ro, t, 3)),
        ("get_acc read-only", lambda: win.Get_accumulate(a, ro, t, 3, MPI.SUM)),
        ("get negative", lambda: win.Get(r, t, -1)),
        ("acc negative", lambda: win.Accumulate(a, t, -2, MPI.SUM)),
        ("fop negative", lambda: win.Fetch_and_op(one, res, t, -1, MPI.SUM)),
        ("acc NO_OP", lambda: win.Accumulate(a, t, 3, MPI.NO_OP)),
        ("racc NO_OP", lambda: win.Raccumulate(a, t, 3, MPI.NO_OP).Wait()),
        ("get_acc None origin", lambda: win.Get_accumulate(None, r, t, 3, MPI.NO_OP)),
        ("fop None origin", lambda: win.Fetch_and_op(None, res, t, 3, MPI.NO_OP)),
    ]
    if kind == "allocate":
        cases.append(("flush unlocked", lambda: win.Flush(RANK if RANK != t else t + 100)))
    for what, call in cases:
        # BufferError and TypeError first: toro_mpi's are MPI.Exception subclasses too, mpi4py's not.
        try:
            call()
            out(what, "no error")
        except BufferError:
            out(what, "buffer error")
        except TypeError:
            out(what, "type error")
        except MPI.Exception as exc:
            name = err_name(exc)
            if name in ("ERR_RMA_RANGE", "ERR_ARG"):
                name = "out of range"
            out(what, name)
    win.Put(a, t, 3)  # the window still works (and the record still serves)
    win.Unlock(t)
    COMM.Barrier()
    win.Lock(RANK)
    out("memory", mem.tolist())
    win.Unlock(RANK)
    COMM.Barrier()
    handle = win
    win.Free()
    try:
        handle.Put(a, t, 3)
        out("put after free", "no error")
    except (MPI.Exception, ValueError) as exc:
        out("put after free", err_name(exc))


ROUNDS = 400


def concurrent() -> None:
    """Every rank accumulates into the same elements of rank 0; tickets from a Fetch_and_op
    counter; a Compare_and_swap spin lock around a non-atomic read-modify-write."""
    n = 8 if RANK == 0 else 0
    win = MPI.Win.Allocate(n * 8, 8, MPI.INFO_NULL, COMM)
    fwin = MPI.Win.Allocate(n * 4, 4, MPI.INFO_NULL, COMM)
    if RANK == 0:
        for w, dt in ((win, np.int64), (fwin, np.float32)):
            w.Lock(0)
            np.frombuffer(w.tomemory(), dt)[:] = 0
            w.Unlock(0)
    COMM.Barrier()
    one = np.ones(2, np.int64)
    half = np.full(2, 0.5, np.float32)
    inc, ticket = np.ones(1, np.int64), np.zeros(1, np.int64)
    unlocked, locked, seen = np.zeros(1, np.int64), np.ones(1, np.int64), np.zeros(1, np.int64)
    total, mine = np.zeros(1, np.int64), []
    win.Lock(0, MPI.LOCK_SHARED)
    fwin.Lock(0, MPI.LOCK_SHARED)
    for _ in range(ROUNDS):
        win.Accumulate(one, 0, 0, MPI.SUM)
        fwin.Accumulate(half, 0, 0, MPI.SUM)
        win.Fetch_and_op(inc, ticket, 0, 2, MPI.SUM)
        mine.append(int(ticket[0]))
        while True:  # spin lock at element 3 guards element 4
            win.Compare_and_swap(locked, unlocked, seen, 0, 3)
            win.Flush(0)
            if seen[0] == 0:
                break
        win.Get(total, 0, 4)
        win.Flush(0)
        total += 1
        win.Put(total, 0, 4)
        win.Flush(0)
        win.Accumulate(unlocked, 0, 3, MPI.REPLACE)
        win.Flush(0)
    win.Unlock(0)
    fwin.Unlock(0)
    # The same on rank 0's private memory (Win.Create: other processes reach it by process_vm_*).
    private = np.zeros(4 if RANK == 0 else 0, np.int64)
    cwin = MPI.Win.Create(private, 8, MPI.INFO_NULL, COMM)
    cwin.Lock(0, MPI.LOCK_SHARED)
    cticket, cmine = np.zeros(1, np.int64), []
    for _ in range(ROUNDS // 4):
        cwin.Accumulate(one, 0, 0, MPI.SUM)
        cwin.Fetch_and_op(inc, cticket, 0, 2, MPI.SUM)
        cmine.append(int(cticket[0]))
        cwin.Get_accumulate(one[:1].copy(), cticket, 0, 3, MPI.SUM)
    cwin.Unlock(0)
    cevery = COMM.gather(cmine, root=0)
    COMM.Barrier()
    if RANK == 0:
        out("private sums", private.tolist())
        out("private tickets each once", sorted(t for p in cevery for t in p) == list(range(ROUNDS // 4 * SIZE)))
    COMM.Barrier()
    cwin.Free()
    every = COMM.gather(mine, root=0)
    COMM.Barrier()
    if RANK == 0:
        w = np.frombuffer(win.tomemory(), np.int64)
        f = np.frombuffer(fwin.tomemory(), np.float32)
        out("sums", w[:2].tolist(), f[:2].tolist())
        out("tickets each once", sorted(t for p in every for t in p) == list(range(ROUNDS * SIZE)))
        out("guarded total", int(w[4]), "lock free", int(w[3]))
    COMM.Barrier()
    win.Free()
    fwin.Free()


def main() -> None:
    mode = sys.argv[1]
    if mode == "ops":
        for kind in ("allocate", "create", "shared", "dynamic"):
            ops(kind)
    elif mode in ("errors", "bounds"):
        errors("create" if mode == "errors" else "allocate")
    elif mode == "concurrent":
        concurrent()
    else:
        raise SystemExit(f"unknown mode {mode}")
    COMM.Barrier()
    out("ok")


if __name__ == "__main__":
    main()
