"""Blocking receives from another node, the cases the route's direct take (mpi/net_take.py) must
get right or leave to the engine: dtypes and sizes up to the largest eager item, ANY_TAG and
the Status, a receive whose tag matches a later message (the earlier one waits its turn),
truncation, Ssend, a 2-D buffer, per-pair order under ANY_SOURCE with a local and a remote
sender. Run on 3 ranks, 2 nodes (ranks 0-1 on one, rank 2 on the other) and under mpiexec alike:
the lines must be the same.

`nodes_lat3.py doze` (toro_mpi only): rank 2 waits 0.6 s in a Recv from rank 0; its idle
doorbell sleep must grow past the network floor meanwhile and be back at the floor once the
message is in (NetRoute.bind_sched). Prints `2 doze grew True`, `2 doze reset True`.
"""

import sys
import time

import numpy as np
from _mpi import COMM, IMPL, MPI, RANK, SIZE, digest, out

A, L, B = 0, 1, SIZE - 1  # A and L on one node, B on the other
mode = sys.argv[1] if len(sys.argv) > 1 else "p2p"


def status_line(label: str, st: MPI.Status, dtype: MPI.Datatype) -> None:
    out(label, "source", st.Get_source(), "tag", st.Get_tag(), "count", st.Get_count(dtype))


if mode == "doze":
    if IMPL != "toro":
        raise SystemExit("doze: toro_mpi only")
    x = np.zeros(1, np.float64)
    if RANK in (A, B):
        COMM.Sendrecv(x, B if RANK == A else A, 1, np.zeros(1), B if RANK == A else A, 1)
    if RANK == A:
        time.sleep(0.6)
        COMM.Send(x + 1, B, 2)
    elif RANK == B:
        route = COMM._engine.net
        sched = COMM._engine.sched
        seen = [0.0]
        doze = route._doze

        def watch(moved: bool) -> None:
            doze(moved)
            seen[0] = max(seen[0], sched.doze_max)

        route._doze = watch
        COMM.Recv(x, A, 2)
        out("got", x[0])
        out("doze grew", seen[0] > route._doze_floor)
        out("doze reset", sched.doze_max == route._doze_floor)
    COMM.Barrier()
    out("ok")
    raise SystemExit(0)

# 1. dtypes and sizes (the largest is just under the route's direct size: still one eager item).
for i, (dt, mpit) in enumerate(((np.uint8, MPI.BYTE), (np.int32, MPI.INT), (np.float64, MPI.DOUBLE),
                                (np.complex128, MPI.C_DOUBLE_COMPLEX))):
    for count in (0, 1, 3, 1000, 65535 // np.dtype(dt).itemsize):
        tag = 10 + i
        if RANK == A:
            COMM.Send(np.arange(count).astype(dt), B, tag)
            COMM.Recv(np.zeros(1, np.int32), B, 99)  # B is waiting in Recv when the next comes
        elif RANK == B:
            buf = np.zeros(count + 2, dt)  # larger than the message: the Status says how much came
            st = MPI.Status()
            COMM.Recv(buf, A, tag, st)
            status_line(f"dtype {np.dtype(dt).name} n {count}", st, mpit)
            out("data", digest(buf))
            COMM.Send(np.zeros(1, np.int32), A, 99)

# 2. ANY_TAG; a tag that matches the third message first (the first two wait their turn).
if RANK == A:
    for tag in (7, 1, 2, 3):
        COMM.Send(np.array([tag * 1.5]), B, tag)
elif RANK == B:
    st = MPI.Status()
    x = np.zeros(1)
    COMM.Recv(x, A, MPI.ANY_TAG, st)
    status_line(f"any_tag {x[0]}", st, MPI.DOUBLE)
    for tag in (3, 1, 2):
        COMM.Recv(x, A, tag, st)
        status_line(f"tag {tag} value {x[0]}", st, MPI.DOUBLE)

# 3. Truncation, then the pair goes on.
if RANK == A:
    COMM.Send(np.arange(10, dtype=np.float64), B, 20)
    COMM.Send(np.arange(4, dtype=np.float64), B, 21)
elif RANK == B:
    small = np.zeros(5)
    try:
        COMM.Recv(small, A, 20)
        out("truncate", "no error")
    except MPI.Exception as exc:
        out("truncate", exc.Get_error_class() == MPI.ERR_TRUNCATE)
    after = np.zeros(4)
    COMM.Recv(after, A, 21)
    out("after truncate", after.tolist())

# 4. Ssend (answered by the receiver's match), a 2-D receive buffer.
if RANK == A:
    COMM.Ssend(np.arange(6, dtype=np.int64), B, 30)
    COMM.Send(np.arange(12, dtype=np.float64), B, 31)
elif RANK == B:
    y = np.zeros(6, np.int64)
    COMM.Recv(y, A, 30)
    out("ssend", y.tolist())
    z = np.zeros((3, 4))
    st = MPI.Status()
    COMM.Recv(z, A, 31, st)
    status_line(f"2d {z.sum()}", st, MPI.DOUBLE)

# 5. Order per pair: A (remote to B) and L (local to A, remote to B) each send 300 numbered
# messages with random tags; B takes them from ANY_SOURCE with ANY_TAG.
rng = np.random.default_rng(5 + RANK)
N = 300
if RANK in (A, L):
    for seq in range(N):
        COMM.Send(np.array([RANK, seq], np.int64), B, int(rng.integers(0, 3)))
elif RANK == B:
    last = {A: -1, L: -1}
    bad = 0
    m = np.zeros(2, np.int64)
    st = MPI.Status()
    for _ in range(2 * N):
        COMM.Recv(m, MPI.ANY_SOURCE, MPI.ANY_TAG, st)
        src, seq = int(m[0]), int(m[1])
        bad += src != st.Get_source() or seq != last[src] + 1
        last[src] = seq
    out("order", bad, last[A], last[L])

# 6. One remote source by tag (the direct take's case): tag 2 asked first, so the two messages
# before it must wait in order, neither lost nor taken by the wrong receive.
if RANK == A:
    for seq in range(N):
        COMM.Send(np.array([seq], np.int64), B, seq % 3)
elif RANK == B:
    m = np.zeros(1, np.int64)
    bad = 0
    for first in range(0, N, 3):
        for tag in (2, 0, 1):
            COMM.Recv(m, A, tag)
            bad += int(m[0]) != first + tag
    out("by tag", bad)
COMM.Barrier()
out("ok")
