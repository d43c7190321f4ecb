"""A routed 2-rank Allgather (toro_mpi/mpi/pair_collectives.py) while a green thread of the same
rank sends by rendezvous to the same peer, an older rendezvous send still unread: the Allgather's
own send must be completed by its acknowledgement whichever of the other two is read first
(Engine.exchange_rndv keeps the acknowledgement window in order). toro_mpi only (uses
toro_mpi.spawn). Prints "ok" on each rank."""

import time

import numpy as np
from _mpi import COMM, RANK, done, out

import toro_mpi

N = 16384  # 128 KiB float64 blocks: a routed Allgather
big = np.full(2_000_000, 1.0)  # 16 MB: read only after the Allgather
mid = np.full(8192, 3.0)  # 64 KiB: sent by the green thread during the Allgather
one = np.zeros(1)
for rep in range(3):
    if RANK == 0:
        time.sleep(0.05)
        older = COMM.Issend(big, 1, tag=1)

        def green() -> None:
            COMM.Recv(one, 1, tag=2)
            COMM.Issend(mid, 1, tag=3).Wait()

        thread = toro_mpi.spawn(green)
        got = np.zeros(2 * N)
        COMM.Allgather(np.full(N, 7.0), got)
        COMM.Barrier()
        older.Wait()
        thread.join()
    else:
        into = np.zeros(2_000_000)
        first = COMM.Irecv(into, 0, tag=1)  # posted before the older send arrives
        time.sleep(0.1)
        COMM.Send(np.ones(1), 0, tag=2)
        time.sleep(0.1)
        got = np.zeros(2 * N)
        COMM.Allgather(np.full(N, 8.0), got)
        COMM.Barrier()
        COMM.Recv(np.zeros(8192), 0, tag=3)
        first.Wait()
        assert (into == 1.0).all()
    assert (got[:N] == 7.0).all() and (got[N:] == 8.0).all(), rep
out("allgather beside a green thread's sends", rep)
done()
