"""More than 65536 small messages through one queue (16-bit ring indices wrap around) while the
receiver lags behind: it starts late, then drains slowly at first, so the sender keeps hitting
a full ring. Every message must arrive once, in order. Argument: number of messages."""

import sys
import time

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

N = int(sys.argv[1]) if len(sys.argv) > 1 else 70000


def main() -> None:
    assert SIZE >= 2
    if RANK == 0:
        buf = np.zeros(2, np.int64)
        for i in range(N):
            buf[0] = i
            buf[1] = i * 7 + 3
            COMM.Send(buf, dest=1, tag=i % 5)
        # A second lap with nonblocking sends in batches.
        for start in range(0, 2000, 500):
            reqs = [COMM.Isend(np.array([start + j], np.int64), dest=1, tag=9) for j in range(500)]
            MPI.Request.Waitall(reqs)
        out("sent", N)
    elif RANK == 1:
        time.sleep(1.0)  # lagging receiver: the sender fills the ring and waits
        buf = np.zeros(2, np.int64)
        st = MPI.Status()
        for i in range(N):
            if i < 300:
                time.sleep(0.001)  # slow at first, so the sender sees a full ring again and again
            COMM.Recv(buf, source=0, tag=MPI.ANY_TAG, status=st)
            if buf[0] != i or buf[1] != i * 7 + 3 or st.Get_tag() != i % 5:
                raise AssertionError(f"message {i}: got {buf.tolist()} tag {st.Get_tag()}")
        one = np.zeros(1, np.int64)
        for i in range(2000):
            COMM.Recv(one, source=0, tag=9)
            assert one[0] == i, (i, one[0])
        out("received in order", N, 2000)
    COMM.Barrier()
    done()


main()
