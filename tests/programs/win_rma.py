"""One-sided communication (MPI.Win) under toro_mpi and under mpi4py + Open MPI, same output.

    python win_rma.py MODE      MODE: counter | accumulate | halo | locking | shared | pscw |
                                      errors | dynamic | fence_fault | create_fault

Each mode prints rank-prefixed lines whose content does not depend on timing, then `ok`.
"""

from __future__ import annotations

import sys

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, out

TASKS = 300


def counter() -> None:
    """A Fetch_and_op work counter on rank 0: every task is handed out exactly once."""
    win = MPI.Win.Allocate(8 if RANK == 0 else 0, 8, MPI.INFO_NULL, COMM)
    if RANK == 0:
        win.Lock(0)
        np.frombuffer(win.tomemory(), np.int64)[:] = 0
        win.Unlock(0)
    COMM.Barrier()
    one, got, mine = np.ones(1, np.int64), np.zeros(1, np.int64), []
    while True:
        win.Lock(0, MPI.LOCK_SHARED)
        win.Fetch_and_op(one, got, 0, 0, MPI.SUM)
        win.Unlock(0)
        if got[0] >= TASKS:
            break
        mine.append(int(got[0]))
    every = COMM.gather(mine, root=0)
    if RANK == 0:
        flat = sorted(t for part in every for t in part)
        out("each task once", flat == list(range(TASKS)))
        final = np.zeros(1, np.int64)
        win.Lock(0)
        win.Get(final, 0)
        win.Unlock(0)
        out("final count", int(final[0]))
    win.Free()


def accumulate() -> None:
    """Every rank accumulates into the same elements of every other rank at once."""
    n = 64
    for dtype, op in (("int64", MPI.SUM), ("int32", MPI.MAX), ("float64", MPI.SUM), ("uint8", MPI.BXOR),
                      ("int16", MPI.MIN), ("float32", MPI.PROD)):
        mem = np.full(n, 1, dtype)
        win = MPI.Win.Create(mem, mem.itemsize, MPI.INFO_NULL, COMM)
        win.Fence()
        for _ in range(20):
            for target in range(SIZE):
                src = (np.arange(n) % 7 + RANK + 1).astype(dtype)
                if op == MPI.PROD:
                    src = np.full(n, 1.5 if RANK % 2 else 0.5, dtype)
                win.Accumulate(src, target, None, op)
        win.Fence()
        out("accumulate", dtype, op == MPI.SUM and "SUM" or "other", digest(mem))
        win.Free()
    # Passive target, all ranks on the same elements of rank 0, no fence in between.
    win = MPI.Win.Allocate(8 * 16, 8, MPI.INFO_NULL, COMM)
    mem = np.frombuffer(win.tomemory(), np.int64)
    mem[:] = 0
    COMM.Barrier()
    win.Lock_all()
    for i in range(200):
        win.Accumulate(np.arange(16, dtype=np.int64) + i, 0, 0, MPI.SUM)
    win.Unlock_all()
    COMM.Barrier()
    if RANK == 0:
        expect = SIZE * (200 * np.arange(16) + 199 * 200 // 2)
        out("lock_all accumulate", bool((mem == expect).all()))
    # A derived target datatype: every other element.
    vec = MPI.DOUBLE.Create_vector(8, 1, 2).Commit()
    win.Fence()
    mem[:] = 0
    win.Fence()
    win.Accumulate(np.full(8, float(RANK + 1)), 0, (0, 1, vec), MPI.SUM)
    win.Fence()
    if RANK == 0:
        out("vector accumulate", mem.view(np.float64).tolist())
    vec.Free()
    win.Free()
    # Get_accumulate / Compare_and_swap / REPLACE / NO_OP on one element of rank 0.
    win = MPI.Win.Allocate(8, 8, MPI.INFO_NULL, COMM)
    np.frombuffer(win.tomemory(), np.int64)[:] = 0
    COMM.Barrier()
    mine, result = np.zeros(1, np.int64), np.zeros(1, np.int64)
    wins = 0
    for _ in range(50):
        win.Lock(0, MPI.LOCK_SHARED)
        win.Get_accumulate(np.ones(1, np.int64), mine, 0, 0, MPI.NO_OP)
        win.Compare_and_swap(mine + 1, mine, result, 0, 0)
        win.Unlock(0)
        wins += int(result[0] == mine[0])
    total = COMM.allreduce(wins)
    win.Lock(0)
    win.Get(result, 0)
    win.Unlock(0)
    out("cas increments", total == int(result[0]))
    COMM.Barrier()
    win.Fence()
    if RANK == SIZE - 1:
        win.Accumulate(np.array([77], np.int64), 0, 0, MPI.REPLACE)
    win.Fence()
    win.Get(result, 0)
    win.Fence()
    out("replace", int(result[0]))
    win.Free()


def halo() -> None:
    """A 1-D halo exchange with Put + Fence, over a Create window and an Allocate one."""
    n = 6
    for flavor in ("create", "allocate"):
        if flavor == "create":
            u = np.zeros(n + 2)
            win = MPI.Win.Create(u, 8, MPI.INFO_NULL, COMM)
        else:
            win = MPI.Win.Allocate((n + 2) * 8, 8, MPI.INFO_NULL, COMM)
            u = np.frombuffer(win.tomemory(), np.float64)
            u[:] = 0
        u[1:-1] = RANK * 10 + np.arange(n)
        left, right = (RANK - 1) % SIZE, (RANK + 1) % SIZE
        for _ in range(5):
            win.Fence()
            win.Put(u[1:2].copy(), left, n + 1)
            win.Put(u[n:n + 1].copy(), right, 0)
            win.Fence()
            u[1:-1] = 0.5 * u[1:-1] + 0.25 * (u[:-2] + u[2:])
        win.Fence()
        out("halo", flavor, [round(float(x), 9) for x in u])
        win.Free()


def locking() -> None:
    """Exclusive locks make a Get + Put read-modify-write of rank 0's counter safe."""
    win = MPI.Win.Allocate(8, 8, MPI.INFO_NULL, COMM)
    np.frombuffer(win.tomemory(), np.int64)[:] = 0
    COMM.Barrier()
    val = np.zeros(1, np.int64)
    for _ in range(100):
        win.Lock(0, MPI.LOCK_EXCLUSIVE)
        win.Get(val, 0)
        win.Flush(0)
        val += 1
        win.Put(val, 0)
        win.Unlock(0)
    COMM.Barrier()
    if RANK == 0:
        win.Lock(0, MPI.LOCK_SHARED)
        win.Get(val, 0)
        win.Unlock(0)
        out("locked increments", int(val[0]) == 100 * SIZE)
    # Lock / Flush / Flush_all / Lock_all cycles on every rank.
    for t in range(SIZE):
        win.Lock(t, MPI.LOCK_SHARED)
        win.Flush_local(t)
        win.Unlock(t)
    win.Lock_all()
    win.Flush_all()
    win.Flush_local_all()
    win.Sync()
    win.Unlock_all()
    win.Free()
    out("lock cycles done")


def shared() -> None:
    """Allocate_shared: one array, every rank's part visible to all, contiguous in rank order."""
    node = COMM.Split_type(MPI.COMM_TYPE_SHARED)
    me, size = node.Get_rank(), node.Get_size()
    part = 4 + me
    win = MPI.Win.Allocate_shared(part * 8, 8, MPI.INFO_NULL, node)
    mine = np.frombuffer(win.tomemory(), np.float64)
    win.Fence()
    mine[:] = me + np.arange(part) / 10
    win.Fence()
    base0, _ = win.Shared_query(0)
    addr0 = MPI.Get_address(base0)
    total = 0
    views = []
    for r in range(size):
        mem, unit = win.Shared_query(r)
        view = np.frombuffer(mem, np.float64)
        views.append(view.tolist())
        if MPI.Get_address(mem) != addr0 + 8 * total:
            out("not contiguous at", r)
        total += len(view)
    out("shared parts", views, unit)
    whole = np.frombuffer(MPI.memory.fromaddress(addr0, 8 * total), np.float64)
    out("whole array", whole.tolist())
    win.Fence()
    if me == 0:
        whole[:] = -1  # a store to the one array is every rank's
    win.Fence()
    out("after store", mine.tolist())
    win.Free()
    node.Free()


def pscw() -> None:
    """Post/Start/Complete/Wait: rank 0 reads from all, then all write into rank 0."""
    mem = np.full(4, RANK, np.int32)
    win = MPI.Win.Create(mem, 4, MPI.INFO_NULL, COMM)
    group = win.Get_group()
    others = group.Excl([0])
    zero = group.Incl([0])
    for _ in range(3):
        if RANK == 0:
            win.Start(others)
            bufs = [np.zeros(4, np.int32) for _ in range(1, SIZE)]
            for t in range(1, SIZE):
                win.Get(bufs[t - 1], t)
            win.Complete()  # the Gets are complete only now
            acc = [b.tolist() for b in bufs]
            win.Post(others)
            win.Wait()
        else:
            win.Post(zero)
            win.Wait()
            win.Start(zero)
            win.Put(np.full(1, RANK, np.int32), 0, RANK % 4)
            win.Complete()
    if RANK == 0:
        out("pscw read", acc)
        out("pscw written", sorted(mem.tolist()[1:]) if SIZE > 1 else [])
    # Test: false until the origin completed, then true (the exposure epoch ends).
    if RANK == 0:
        win.Start(others)
        COMM.Barrier()
        win.Complete()
        COMM.Barrier()
    else:
        win.Post(zero)
        before = win.Test()
        COMM.Barrier()
        COMM.Barrier()
        after = win.Test()
        out("test before/after complete", before, after)
    out("test done")
    others.Free(), zero.Free(), group.Free()
    win.Free()


def errors() -> None:
    """Bounds and argument errors raise, and the window still works afterwards."""
    mem = np.zeros(8, np.int32)
    win = MPI.Win.Create(mem, 4, MPI.INFO_NULL, COMM)
    win.Set_errhandler(MPI.ERRORS_RETURN)
    target = (RANK + 1) % SIZE
    win.Lock(target)
    for what, call in (
        ("put past end", lambda: win.Put(np.zeros(4, np.int32), target, 6)),
        ("get past end", lambda: win.Get(np.zeros(9, np.int32), target, 0)),
        ("negative disp", lambda: win.Put(np.zeros(1, np.int32), target, -1)),
        ("accumulate past end", lambda: win.Accumulate(np.zeros(2, np.int32), target, 7, MPI.SUM)),
        ("fetch past end", lambda: win.Fetch_and_op(np.zeros(1, np.int32), np.zeros(1, np.int32), target, 8)),
    ):
        try:
            call()
            out(what, "no error")
        except MPI.Exception as exc:
            out(what, "MPI.Exception", exc.Get_error_class() in (MPI.ERR_RMA_RANGE, MPI.ERR_ARG, MPI.ERR_DISP))
    # A user handler runs on the error (then the call raises), whichever handle of the window
    # set it.
    seen = []
    handler = MPI.Win.Create_errhandler(
        lambda w, code: seen.append(MPI.Get_error_class(code) in (MPI.ERR_RMA_RANGE, MPI.ERR_ARG, MPI.ERR_DISP)))
    MPI.Win(win).Set_errhandler(handler)
    try:
        win.Put(np.zeros(4, np.int32), target, 6)
        out("user handler", "no error")
    except MPI.Exception:
        out("user handler", "raised after", seen)
    out("same handler on the window", win.Get_errhandler() == handler)
    win.Set_errhandler(MPI.ERRORS_RETURN)
    handler.Free()
    win.Put(np.full(2, 5, np.int32), target, 6)
    win.Unlock(target)
    COMM.Barrier()
    out("last two", mem[-2:].tolist())
    try:
        win.Unlock(target)
        out("unlock twice", "no error")
    except MPI.Exception as exc:
        out("unlock twice", exc.Get_error_class() == MPI.ERR_RMA_SYNC)
    win.Free()
    out("freed", win == MPI.WIN_NULL)


def dynamic() -> None:
    """Create_dynamic + Attach: peers address the memory by its address."""
    win = MPI.Win.Create_dynamic(MPI.INFO_NULL, COMM)
    mem = MPI.Alloc_mem(64)
    arr = np.frombuffer(mem, np.int64)
    arr[:] = RANK
    win.Attach(mem)
    addrs = COMM.allgather(MPI.Get_address(mem))
    win.Fence()
    target = (RANK + 1) % SIZE
    win.Put(np.array([100 + RANK], np.int64), target, addrs[target] + 8)
    win.Fence()
    got = np.zeros(8, np.int64)
    win.Get(got, target, addrs[target])
    win.Fence()
    out("dynamic", arr.tolist(), got.tolist())
    win.Detach(mem)
    win.Free()
    del arr
    MPI.Free_mem(mem)


def fence_fault() -> None:
    """Rank 1 dies while the others wait in Fence: they must get an error, never hang."""
    import os

    win = MPI.Win.Allocate(64, 1, MPI.INFO_NULL, COMM)
    win.Fence()
    if RANK == 1:
        os._exit(7)
    win.Fence()
    out("fence passed a dead rank")


def create_fault() -> None:
    """Rank 1 dies while the others create a window: its shared memory must not outlive the job."""
    import os

    COMM.Barrier()
    if RANK == 1:
        os._exit(7)
    win = MPI.Win.Allocate_shared(1 << 20, 1, MPI.INFO_NULL, COMM)
    out("created a window without rank 1", win)


if __name__ == "__main__":
    {"counter": counter, "accumulate": accumulate, "halo": halo, "locking": locking, "shared": shared,
     "pscw": pscw, "errors": errors, "dynamic": dynamic, "fence_fault": fence_fault,
     "create_fault": create_fault}[sys.argv[1]]()
    out("ok")
