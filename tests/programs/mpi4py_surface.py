"""mpi4py API beyond the basics, written as a plain mpi4py program (`from mpi4py import MPI`):
persistent requests, ready and buffered sends, error handlers, the Intracomm copy constructor,
float ranks, Alloc_mem, DLPack-only arrays, get_vendor, MPI.pickle. Run under `toro-mpirun --mpi4py` and under
mpiexec; every rank prints `rank line` results that must match. Needs at least 2 ranks."""

import sys

import numpy as np
from _dlpack_producer import NumpyDL
from mpi4py import MPI

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
NEXT, PREV = (RANK + 1) % SIZE, (RANK - 1) % SIZE


def out(*words):
    # One write per line: with PYTHONUNBUFFERED print() writes each word apart, and the ranks
    # share the launcher's stdout.
    sys.stdout.write(" ".join(map(str, (RANK, *words))) + "\n")
    sys.stdout.flush()


def persistent():
    send = np.zeros(4, np.int64)
    recv = np.zeros(4, np.int64)
    reqs = [COMM.Send_init(send, NEXT, tag=3), COMM.Recv_init(recv, PREV, tag=3)]
    got = []
    for step in range(3):
        send[:] = np.arange(4) + 100 * RANK + step
        MPI.Prequest.Startall(reqs)
        MPI.Request.Waitall(reqs)
        got.append(int(recv.sum()))
    out("persistent", got, all(r != MPI.REQUEST_NULL for r in reqs))
    st = MPI.Status()
    reqs[1].Start()
    reqs[0].Start()
    reqs[1].Wait(st)
    reqs[0].Wait()
    out("persistent status", st.Get_source() == PREV, st.Get_tag(), st.Get_count(MPI.INT64_T))
    out("distinct", reqs.index(reqs[1]), reqs[0] == reqs[1])
    for r in reqs:
        r.Free()
    out("freed", all(r == MPI.REQUEST_NULL for r in reqs))
    one = np.ones(1)
    a, b = COMM.Isend(one, NEXT, tag=9), COMM.Isend(one, NEXT, tag=9)
    # (Whether two live send requests compare equal is the MPI library's business: OpenMPI hands
    # out one handle for sends that completed at once, so only the identities are checked.)
    out("isend handles", a == a, a != MPI.REQUEST_NULL)
    for _ in range(2):
        COMM.Recv(np.zeros(1), PREV, tag=9)
    MPI.Request.Waitall([a, b])
    out("completed", a == b, a == MPI.REQUEST_NULL)


def modes():
    data = np.arange(5, dtype=np.float64) * (RANK + 1)
    got = np.zeros(5)
    rreq = COMM.Irecv(got, PREV, tag=4)
    COMM.Barrier()  # the receive is posted everywhere: a ready send is legal now
    COMM.Rsend(data, NEXT, tag=4)
    rreq.Wait()
    out("rsend", got.tolist())
    MPI.Attach_buffer(bytearray((1 << 16) + MPI.BSEND_OVERHEAD))
    COMM.Bsend(data, NEXT, tag=5)
    req = COMM.Ibsend(data * 2, NEXT, tag=6)
    req.Wait()
    a, b = np.zeros(5), np.zeros(5)
    COMM.Recv(a, PREV, tag=5)
    COMM.Recv(b, PREV, tag=6)
    MPI.Detach_buffer()
    out("bsend", a.tolist(), b.tolist())


def handles():
    eh = COMM.Get_errhandler()
    out("errhandler", eh == MPI.ERRORS_RETURN, eh != MPI.ERRHANDLER_NULL)
    COMM.Set_errhandler(MPI.ERRORS_RETURN)
    eh.Free()

    class Wrapped(MPI.Intracomm):
        def __new__(cls, comm):
            return super().__new__(cls, comm)

    w = Wrapped(COMM)
    out("copy", w.Get_rank(), w.Get_size(), w.allreduce(RANK + 1))
    buf = np.array([RANK], np.int32)
    peer = np.zeros(1, np.int32)
    COMM.Sendrecv(buf, dest=float(NEXT), sendtag=7.0, recvbuf=peer, source=float(PREV), recvtag=7)
    out("float ranks", int(peer[0]) == PREV)
    mem = MPI.Alloc_mem(16)
    mem[:] = bytes(range(16))
    back = bytearray(16)
    COMM.Sendrecv([mem, MPI.BYTE], dest=NEXT, sendtag=8, recvbuf=[back, MPI.BYTE], source=PREV, recvtag=8)
    MPI.Free_mem(mem)
    out("alloc_mem", list(back) == list(range(16)))
    dl_send, dl_recv = np.arange(3.0) + RANK, np.zeros(3)
    COMM.Sendrecv(NumpyDL(dl_send), dest=NEXT, sendtag=10, recvbuf=NumpyDL(dl_recv), source=PREV,
                  recvtag=10)
    out("dlpack", dl_recv.tolist())
    name, version = MPI.get_vendor()
    out("vendor", type(name).__name__, len(version))
    blob = MPI.pickle.dumps({"rank": RANK})
    out("pickle", MPI.pickle.loads(blob) == {"rank": RANK}, MPI.pickle.PROTOCOL >= 5)
    out("thread main", MPI.Is_thread_main())


persistent()
modes()
handles()
COMM.Barrier()
out("ok")
