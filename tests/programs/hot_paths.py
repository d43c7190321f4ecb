"""The collectives' hot paths: a call site that repeats with the same arrays runs its remembered
plan (a Barrier becomes the jitted call itself). Each case below gets there, then makes the hot
call stop for Python: a late peer, a message of another communicator waiting in the queue, an
array whose dtype was reassigned in place, a kept Barrier and a hot Bcast of a freed communicator.

    python tests/programs/hot_paths.py [foreign] [expect-hot] | fault | mismatch

Prints rank-prefixed result lines (compared with the reference) and `ok`. `foreign` adds the case
of another communicator's message (it needs a non-synchronizing Bcast: one process per rank, or
the reference; ranks hosted as green threads synchronise a Bcast within their process, and MPI
lets them). `expect-hot` (toro_mpi, one process per rank) also checks that the Barrier attribute
became the jitted call. With `fault`, rank 1 raises after some hot barriers while the other ranks
go on calling Barrier: the job must end. With `mismatch` (toro_mpi only: the standard leaves it
undefined), rank 0 calls Barrier while rank 1 calls Bcast on the same communicator: rank 0 must get
an error naming both calls (a barrier's signals carry no kind), not wait forever.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, out

HOT = 5  # calls that make a call site hot (the first one builds the plan)


def repeated() -> None:
    """Many calls of each hot path on one call site: every result right every time."""
    c8, d8 = np.zeros(8, np.uint8), np.zeros(8, np.uint8)
    f1, g1, h1 = np.zeros(1), np.zeros(1), np.zeros(1)
    b4 = np.zeros(4, np.int32)
    r4 = np.zeros(4, np.int32)
    bad = 0
    for i in range(200):
        if COMM.Barrier() is not None:
            bad += 1
        c8[:] = (RANK + i) % 7
        COMM.Allreduce(c8, d8, MPI.SUM)
        bad += int(d8.tolist() != [sum((r + i) % 7 for r in range(SIZE))] * 8)
        f1[0] = RANK * 0.5 + i
        COMM.Allreduce(f1, g1, MPI.MAX)
        bad += int(g1[0] != (SIZE - 1) * 0.5 + i)
        # A float SUM: hosted ranks combine it in the one-level grouping (exact here anyway).
        COMM.Allreduce(f1, h1, MPI.SUM)
        bad += int(h1[0] != sum(r * 0.5 + i for r in range(SIZE)))
        root = i % SIZE
        b4[:] = i if RANK == root else -1
        COMM.Bcast(b4, root=root)
        bad += int(b4.tolist() != [i] * 4)
        r4[:] = RANK + i
        COMM.Reduce(b4 * 0 + RANK + i, r4, MPI.SUM, root=0)  # a new send array: the checked path
        COMM.Reduce(b4, r4, MPI.SUM, root=0)
        if RANK == 0:
            bad += int(r4.tolist() != [SIZE * i] * 4)
    out("repeated wrong", bad)
    if "expect-hot" in sys.argv[1:]:
        kind = type(COMM.Barrier).__name__
        assert kind == "_HotBarrier", f"COMM_WORLD.Barrier is a {kind}, not the jitted call"


def late_peer() -> None:
    """A hot Barrier and Allreduce whose peer comes 0.2 s late: the call blocks and completes."""
    s, r = np.array([RANK + 1], np.int64), np.zeros(1, np.int64)
    for _ in range(HOT):
        COMM.Barrier()
        COMM.Allreduce(s, r, MPI.SUM)
    if RANK == SIZE - 1:
        time.sleep(0.2)
    COMM.Barrier()
    if RANK == 0:
        time.sleep(0.2)
    COMM.Allreduce(s, r, MPI.SUM)
    out("late-peer", int(r[0]))


def foreign_first() -> None:
    """Rank 1 roots a Bcast on `other` before a Barrier on COMM_WORLD; the others call them the
    other way round, so rank 0's hot Barrier finds `other`'s message first (set aside), and its hot
    Bcast then starts with that message waiting for it. (A program MPI calls unsafe: it relies on
    Bcast not synchronising, as eager implementations do.)"""
    other = COMM.Dup()
    x = np.zeros(3, np.int64)
    for _ in range(HOT):
        COMM.Barrier()
        other.Bcast(x, root=1)
    x[:] = [7, 8, 9] if RANK == 1 else 0
    if RANK == 1:
        other.Bcast(x, root=1)
        COMM.Barrier()
    else:
        COMM.Barrier()
        other.Bcast(x, root=1)
    out("foreign-first", x.tolist())
    other.Free()


def dtype_reassigned() -> None:
    """A hot Allreduce's arrays get another dtype in place: the sum follows the new dtype."""
    s, r = np.zeros(8, np.uint8), np.zeros(8, np.uint8)
    for _ in range(HOT):
        s[:] = 200
        COMM.Allreduce(s, r, MPI.SUM)
    first = r.tolist()
    s.dtype = np.int32
    r.dtype = np.int32
    s[:] = 1_000_000 + RANK
    COMM.Allreduce(s, r, MPI.SUM)
    out("dtype-reassigned", first, r.tolist())


def _after_free(call) -> str:
    """What call() raised: "ERR_COMM", another error class, or "no error"."""
    try:
        call()
    except MPI.Exception as e:
        return "ERR_COMM" if e.Get_error_class() == MPI.ERR_COMM else f"class {e.Get_error_class()}"
    return "no error"


def kept_after_free() -> None:
    """Barrier kept from a communicator, called after Free: ERR_COMM, no message sent."""
    dup = COMM.Dup()
    for _ in range(HOT):
        dup.Barrier()
    kept = dup.Barrier
    dup.Free()
    out("kept-after-free", _after_free(kept))
    # A hot Bcast's record (also its call's last-call slot) must not outlive Free either.
    dup = COMM.Dup()
    x = np.zeros(2, np.int64)
    for _ in range(HOT):
        dup.Bcast(x, root=0)
    dup.Free()
    out("bcast-after-free", _after_free(lambda: dup.Bcast(x, root=0)))


def fault() -> None:
    """Rank 1 raises between hot barriers; the others must not wait for it forever."""
    for i in range(1000):
        if RANK == 1 and i == 300:
            raise RuntimeError("rank 1 fails between hot barriers")
        COMM.Barrier()
    out("fault: the barrier loop finished (it must not)")


def mismatch() -> None:
    """Barrier on rank 0 against Bcast on rank 1, after hot barriers; rank 1 stays alive (in a
    Recv) until rank 0 has its error, so it is the mismatch that is found, not a finished peer."""
    for _ in range(HOT):
        COMM.Barrier()
    if RANK == 0:
        try:
            COMM.Barrier()
            got = "no error"
        except MPI.Exception as e:
            got = str(e)
        out("mismatch", got)
        COMM.Send(np.zeros(1), dest=1, tag=7)
    elif RANK == 1:
        COMM.Bcast(np.zeros(4), root=1)
        COMM.Recv(np.zeros(1), source=0, tag=7)


def main() -> None:
    """Run the cases (or the fault) and print `ok`."""
    if "fault" in sys.argv[1:]:
        fault()
        return
    if "mismatch" in sys.argv[1:]:
        mismatch()
        out("ok")
        return
    repeated()
    late_peer()
    if SIZE > 1 and "foreign" in sys.argv[1:]:
        foreign_first()
    dtype_reassigned()
    kept_after_free()
    COMM.Barrier()
    out("ok")


if __name__ == "__main__":
    main()
