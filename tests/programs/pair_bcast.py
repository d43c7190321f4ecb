"""Large Bcasts at 2 ranks, which go between two processes as one rendezvous
(toro_mpi/mpi/pair_collectives.py), next to everything that shares their queue and context:
sizes around the rendezvous threshold from either root, a repeated call (its hot record), a
program's point-to-point traffic on the same tags in between, a receive of any source and tag
posted across a Bcast, ranks describing the same bytes with different types, a derived type,
a split communicator, and a Bcast on a 3-rank communicator (never routed). Prints checksums."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

for size in (1000, 4095, 4096, 100_000, 1 << 18):  # float64: 8 KB, 32 KB - 8, 32 KB, 800 KB, 2 MiB
    for root in range(SIZE):
        for rep in range(3):
            buf = np.arange(size, dtype=np.float64) * (rep + 1) if RANK == root else np.zeros(size)
            COMM.Bcast(buf, root)
            assert (buf == np.arange(size) * (rep + 1)).all(), (size, root, rep)
        out("bcast", size, root, float(buf.sum()))

# The same array again and again, point-to-point on tag 5 of the same communicator in between,
# and a receive of any source and tag posted before the Bcast and matched after it.
buf = np.zeros(1 << 16)
if SIZE == 2:
    for i in range(20):
        req = COMM.Irecv(got := np.zeros(4), MPI.ANY_SOURCE, MPI.ANY_TAG) if RANK == 1 else None
        if RANK == 0:
            buf[:] = i
        COMM.Bcast(buf, 0)
        if RANK == 0:
            COMM.Send(np.full(4, float(i)), 1, tag=5)
        else:
            st = MPI.Status()
            req.Wait(st)
            assert (got == i).all() and st.Get_tag() == 5 and st.Get_source() == 0
        assert (buf == i).all()
    out("repeated", float(buf.sum()))

# The same bytes, typed differently on the two ranks; a derived type on both.
if RANK == 0:
    a = np.arange(8192, dtype=np.int64)
else:
    a = np.zeros(8192, dtype=np.float64)
COMM.Bcast(a, 0)
out("retyped", int(a.view(np.int64).sum()))
vec = MPI.DOUBLE.Create_vector(4096, 1, 2).Commit()
m = np.arange(8192, dtype=np.float64) if RANK == 0 else np.zeros(8192)
COMM.Bcast([m, 1, vec], 0)
vec.Free()
out("vector", float(m.sum()))

sub = COMM.Split(0, SIZE - 1 - RANK)
x = np.full(1 << 16, sub.Get_rank(), np.float32)
sub.Bcast(x, sub.Get_size() - 1)
out("split", float(x.sum()))
sub.Free()
done()
