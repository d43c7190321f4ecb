"""DLPack-only arrays as the buffers of every buffer call, from three producers: a ctypes one
whose capsules own their managed tensors (versioned, and a DLPack 0.x one whose capsules are
unversioned; see _dlpack_producer.py) and numpy's own export behind a wrapper.

After each call (its requests and arrays gone) every capsule made so far must have had its
deleter run exactly once, and numpy's exports must have given back their reference to the array.
Each case prints `<producer> <call> <digest of what this rank holds>`; refused buffers (a
read-only array to receive into, an array that is not contiguous) print the Python exception
classes they raised. Run with 2 ranks under toro-mpirun and under mpiexec + mpi4py: same lines.
"""

import gc
import weakref

import numpy as np
from _dlpack_producer import CtypesDL, NumpyDL, check_ledger
from _mpi import COMM, MPI, RANK, SIZE, digest, done, out

PEER = (RANK + 1) % SIZE
PREV = (RANK - 1) % SIZE
N = 6
KEPT: list[np.ndarray] = []  # arrays under numpy exports, checked for leaked references


def make(kind: str, array: np.ndarray):
    """A DLPack-only view of array from producer kind."""
    if kind == "ctypes-v1":
        return CtypesDL(array)
    if kind == "ctypes-v0":
        return CtypesDL(array, legacy=True)
    KEPT.append(array)
    return NumpyDL(array)


def data(salt: int, n: int = N, dtype=np.float64) -> np.ndarray:
    return (np.arange(n) * 10 + salt + 100 * RANK).astype(dtype)


def p2p(k: str) -> dict:
    """Point-to-point calls, rank r sending to r+1 and receiving from r-1; each returns the arrays
    this rank received into."""
    def blocking(send, value: int, tag: int):
        """A blocking send `send` (Send, Ssend) to the next rank and a Recv from the previous,
        rank 0 sending first."""
        def run():
            r = np.zeros(N)
            if RANK == 0:
                send(make(k, data(value)), dest=PEER, tag=tag)
                COMM.Recv(make(k, r), source=PREV, tag=tag)
            else:
                COMM.Recv(make(k, r), source=PREV, tag=tag)
                send(make(k, data(value)), dest=PEER, tag=tag)
            return r
        return run

    send_recv = blocking(COMM.Send, 1, 1)
    ssend_recv = blocking(COMM.Ssend, 2, 2)

    def isend_irecv():
        r = np.zeros(N)
        rr = COMM.Irecv(make(k, r), source=PREV, tag=3)
        sr = COMM.Isend(make(k, data(3)), dest=PEER, tag=3)
        MPI.Request.Waitall([sr, rr])
        return r

    def issend_irecv():
        r = np.zeros(N)
        rr = COMM.Irecv(make(k, r), source=PREV, tag=4)
        sr = COMM.Issend(make(k, data(4)), dest=PEER, tag=4)
        sr.Wait()
        rr.Wait()
        return r

    def sendrecv():
        r = np.zeros(N)
        COMM.Sendrecv(make(k, data(5)), dest=PEER, sendtag=5, recvbuf=make(k, r), source=PREV, recvtag=5)
        return r

    def sendrecv_replace():
        r = data(6)
        COMM.Sendrecv_replace(make(k, r), dest=PEER, sendtag=6, source=PREV, recvtag=6)
        return r

    def persistent(init):
        def run():
            r = np.zeros(N)
            s = data(7)
            sreq = init(make(k, s), dest=PEER, tag=7)
            rreq = COMM.Recv_init(make(k, r), source=PREV, tag=7)
            got = []
            for step in range(2):
                s[:] = data(7 + step)
                MPI.Prequest.Startall([rreq, sreq])
                MPI.Request.Waitall([rreq, sreq])
                got.append(r.copy())
            sreq.Free()
            rreq.Free()
            return np.concatenate(got)
        return run

    return {"Send/Recv": send_recv, "Ssend/Recv": ssend_recv, "Isend/Irecv": isend_irecv,
            "Issend/Irecv": issend_irecv, "Sendrecv": sendrecv, "Sendrecv_replace": sendrecv_replace,
            "Send_init/Recv_init": persistent(COMM.Send_init), "Ssend_init/Recv_init": persistent(COMM.Ssend_init)}


def collectives(k: str) -> dict:
    n = SIZE
    counts = [i + 1 for i in range(n)]
    displs = [sum(counts[:i]) for i in range(n)]

    def bcast():
        b = data(10) if RANK == 0 else np.zeros(N)
        COMM.Bcast(make(k, b), root=0)
        return b

    def reduce():
        r = np.zeros(N)
        COMM.Reduce(make(k, data(11)), make(k, r) if RANK == 0 else None, op=MPI.SUM, root=0)
        return r

    def allreduce():
        r = np.zeros(N, np.int64)
        COMM.Allreduce(make(k, data(12, dtype=np.int64)), make(k, r), op=MPI.MAX)
        return r

    def gather():
        r = np.zeros(N * n)
        COMM.Gather(make(k, data(13)), make(k, r) if RANK == 0 else None, root=0)
        return r

    def scatter():
        r = np.zeros(N)
        COMM.Scatter(make(k, data(14, N * n)) if RANK == 0 else None, make(k, r), root=0)
        return r

    def allgather():
        r = np.zeros(N * n, np.int32)
        COMM.Allgather(make(k, data(15, dtype=np.int32)), make(k, r))
        return r

    def alltoall():
        r = np.zeros(N * n)
        COMM.Alltoall(make(k, data(16, N * n)), make(k, r))
        return r

    def gatherv():
        r = np.zeros(sum(counts))
        COMM.Gatherv(make(k, data(17, counts[RANK])), [make(k, r), (counts, displs), MPI.DOUBLE] if RANK == 0
                     else None, root=0)
        return r

    def scatterv():
        r = np.zeros(counts[RANK])
        COMM.Scatterv([make(k, data(18, sum(counts))), counts, displs, MPI.DOUBLE] if RANK == 0 else None,
                      make(k, r), root=0)
        return r

    def allgatherv():
        r = np.zeros(sum(counts))
        COMM.Allgatherv(make(k, data(19, counts[RANK])), [make(k, r), counts])
        return r

    def alltoallv():
        sc = [RANK + 1] * n
        rc = [j + 1 for j in range(n)]
        r = np.zeros(sum(rc))
        COMM.Alltoallv([make(k, data(20, sum(sc))), sc], [make(k, r), rc])
        return r

    def scan():
        r = np.zeros(N)
        COMM.Scan(make(k, data(21)), make(k, r), op=MPI.SUM)
        return r

    def reduce_scatter_block():
        r = np.zeros(N)
        COMM.Reduce_scatter_block(make(k, data(22, N * n)), make(k, r), op=MPI.SUM)
        return r

    return {"Bcast": bcast, "Reduce": reduce, "Allreduce": allreduce, "Gather": gather, "Scatter": scatter,
            "Allgather": allgather, "Alltoall": alltoall, "Gatherv": gatherv, "Scatterv": scatterv,
            "Allgatherv": allgatherv, "Alltoallv": alltoallv, "Scan": scan,
            "Reduce_scatter_block": reduce_scatter_block}


def classes(exc: BaseException) -> str:
    """The Python exception classes an error is an instance of (what a program would catch)."""
    names = [c.__name__ for c in (TypeError, ValueError, BufferError, KeyError) if isinstance(exc, c)]
    return "+".join(names) or ("MPI.Exception" if isinstance(exc, MPI.Exception) else type(exc).__name__)


def refused(k: str) -> dict:
    """Buffers that must be refused on this rank alone (a self Sendrecv, so a buffer wrongly
    accepted cannot leave a message behind). numpy's capsules only: see _dlpack_producer.py."""
    def readonly_recv():
        ro = np.zeros(N)
        ro.flags.writeable = False
        COMM.Sendrecv(data(30), dest=RANK, sendtag=30, recvbuf=make(k, ro), source=RANK, recvtag=30)

    def not_contiguous():
        COMM.Sendrecv(make(k, data(31, 2 * N)[::2]), dest=RANK, sendtag=31, recvbuf=np.zeros(N), source=RANK,
                      recvtag=31)

    return {"read-only array as receive buffer": readonly_recv, "non-contiguous array": not_contiguous} \
        if k == "numpy" else {}


def check_released(what: str) -> None:
    """Every capsule made so far was released once, and nothing holds the arrays numpy exported
    (a numpy capsule whose deleter never ran keeps its array alive)."""
    arrays = [weakref.ref(a) for a in KEPT]
    KEPT.clear()
    gc.collect()
    wrong = check_ledger()
    assert not wrong, f"{what}: {wrong}"
    alive = sum(a() is not None for a in arrays)
    assert not alive, f"{what}: {alive} arrays behind numpy DLPack exports are still referenced"


def main() -> None:
    for k in ("ctypes-v1", "ctypes-v0", "numpy"):
        calls = {**p2p(k), **collectives(k)}
        for name, fn in calls.items():
            got = fn()
            line = (k, name, digest(got), got.tolist()[:3])
            del got
            check_released(f"{k} {name}")
            out(*line)
            COMM.Barrier()
        for name, fn in refused(k).items():
            try:
                fn()
                what = "accepted"
            except Exception as exc:  # noqa: BLE001 - the classes are what is printed
                what = classes(exc)
            check_released(f"{k} {name}")
            out(k, name, what)
    done()


main()
