"""toro_mpi only: a message matched by Mprobe in one green thread is not received by another
green thread's receive, even one posted (ANY_SOURCE, ANY_TAG) while the first thread has not
received it yet, and a synchronous send completes only on the Message's receive."""

import numpy as np
from _mpi import COMM, IMPL, MPI, RANK, done, out

import toro_mpi

assert IMPL == "toro", "green threads are a toro_mpi feature"

if RANK == 0:
    log = []

    def prober() -> int:
        m = COMM.Mprobe(1, MPI.ANY_TAG)
        log.append("probed")
        for _ in range(20):
            toro_mpi.yield_()  # the other thread posts its receive and polls meanwhile
        buf = np.empty(300000, np.uint8)  # large enough to be fragmented
        st = MPI.Status()
        m.Recv(buf, st)
        assert np.all(buf == 1), "the matched message's payload"
        return st.Get_tag()

    def receiver() -> int:
        while "probed" not in log:
            toro_mpi.yield_()
        buf = np.empty(300000, np.uint8)
        st = MPI.Status()
        COMM.Recv(buf, MPI.ANY_SOURCE, MPI.ANY_TAG, st)
        assert np.all(buf == 2), "the second message's payload"
        return st.Get_tag()

    a, b = toro_mpi.spawn(prober), toro_mpi.spawn(receiver)
    out("prober got tag", a.join(), "receiver got tag", b.join())
    COMM.Send(np.zeros(1), dest=1, tag=9)
elif RANK == 1:
    COMM.Ssend(np.full(300000, 1, np.uint8), dest=0, tag=1)
    COMM.Send(np.full(300000, 2, np.uint8), dest=0, tag=2)
    COMM.Recv(np.empty(1), source=0, tag=9)
done()
