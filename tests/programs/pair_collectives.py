"""Large Bcast, Scatter, Allgather and Alltoall calls at 2 ranks, which go between two
processes as rendezvous (toro_mpi/mpi/pair_collectives.py), and Gather, which does not, next to
everything that shares their queue and context: sizes around the rendezvous threshold and
EXCHANGE_MIN_BYTES from either root, MPI.IN_PLACE, repeated calls (their hot records), a
program's point-to-point traffic on the same tags in between, a receive of any source and tag
posted across a Bcast, ranks describing the same bytes with different types, a derived type,
a split communicator, and the same calls on a 3-rank communicator (never routed). Prints
checksums."""

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

# Scatter (also in place at the root) and Gather from either root, Allgather and Alltoall (also
# in place): float64 blocks of 32 KiB - 8, 32 KiB, 64 KiB - 8, 64 KiB, 800 KB, 2 MiB.
for size in (4095, 4096, 8191, 8192, 100_000, 1 << 18):
    block = np.arange(size, dtype=np.float64)
    for root in range(SIZE):
        whole = np.concatenate([block + 1000 * k + root for k in range(SIZE)]) if RANK == root else None
        got = np.zeros(size)
        COMM.Scatter(whole, got, root)
        assert (got == block + 1000 * RANK + root).all(), ("scatter", size, root)
        if RANK == root:
            COMM.Scatter(whole, MPI.IN_PLACE, root)
            assert (whole == np.concatenate([block + 1000 * k + root for k in range(SIZE)])).all()
        else:
            got[:] = 0
            COMM.Scatter(None, got, root)
            assert (got == block + 1000 * RANK + root).all(), ("scatter in place", size, root)
        gathered = np.zeros(SIZE * size) if RANK == root else None
        COMM.Gather(got, gathered, root)
        if RANK == root:
            assert (gathered == np.concatenate([block + 1000 * k + root for k in range(SIZE)])).all()
    mine = block + 1000 * RANK
    every = np.zeros(SIZE * size)
    COMM.Allgather(mine, every)
    assert (every == np.concatenate([block + 1000 * k for k in range(SIZE)])).all(), ("allgather", size)
    again = np.zeros(SIZE * size)
    again[RANK * size: (RANK + 1) * size] = mine
    COMM.Allgather(MPI.IN_PLACE, again)
    assert (again == every).all(), ("allgather in place", size)
    blocks = np.concatenate([block + 100 * RANK + k for k in range(SIZE)])
    swapped = np.zeros(SIZE * size)
    COMM.Alltoall(blocks, swapped)
    assert (swapped == np.concatenate([block + 100 * k + RANK for k in range(SIZE)])).all(), ("alltoall", size)
    COMM.Alltoall(MPI.IN_PLACE, blocks)
    assert (blocks == swapped).all(), ("alltoall in place", size)
    out("moved", size, float(got.sum()), float(every.sum()), float(swapped.sum()))

# The same buffers again and again (the calls' hot records), point-to-point on tag 5 of the same
# communicator in between; 64 KiB blocks.
block = np.zeros(8192)
every = np.zeros(SIZE * 8192)
blocks = np.zeros(SIZE * 8192)
swapped = np.zeros(SIZE * 8192)
whole = np.zeros(SIZE * 8192)
for i in range(20):
    block[:] = i + RANK
    COMM.Allgather(block, every)
    assert all((every[k * 8192: (k + 1) * 8192] == i + k).all() for k in range(SIZE)), ("allgather", i)
    blocks[:] = np.repeat(np.arange(SIZE) + 10 * RANK + i, 8192)
    COMM.Alltoall(blocks, swapped)
    assert (swapped == np.repeat(10 * np.arange(SIZE) + RANK + i, 8192)).all(), ("alltoall", i)
    whole[:] = np.repeat(np.arange(SIZE) * i, 8192)
    COMM.Scatter(whole, block, 0)
    assert (block == RANK * i).all(), ("scatter", i)
    if SIZE == 2:
        if RANK == 0:
            COMM.Send(np.full(4, float(i)), 1, tag=5)
        else:
            COMM.Recv(got4 := np.zeros(4), 0, tag=5)
            assert (got4 == i).all()
out("repeated moves", float(every.sum()), float(swapped.sum()), float(block.sum()))

# The same bytes, typed differently on the two ranks; a derived type on both.
if RANK == 0:
    a = np.arange(8192, dtype=np.int64)
else:
    a = np.zeros(8192, dtype=np.float64)
COMM.Bcast(a, 0)
out("retyped", int(a.view(np.int64).sum()))
mixed = np.arange(8192, dtype=np.int64) + RANK if RANK == 0 else np.arange(8192, dtype=np.float64) + RANK
both = np.zeros(2 * 8192, dtype=mixed.dtype) if SIZE == 2 else np.zeros(SIZE * 8192, dtype=mixed.dtype)
COMM.Allgather(mixed, both)
out("retyped allgather", int(both.view(np.int64).sum() % 1000003))
vec = MPI.DOUBLE.Create_vector(4096, 1, 2).Commit()
m = np.arange(8192, dtype=np.float64) if RANK == 0 else np.zeros(8192)
COMM.Bcast([m, 1, vec], 0)
vec.Free()
out("vector", float(m.sum()))

sub = COMM.Split(0, SIZE - 1 - RANK)
x = np.full(1 << 16, sub.Get_rank(), np.float32)
sub.Bcast(x, sub.Get_size() - 1)
y = np.repeat(np.arange(sub.Get_size(), dtype=np.float32) + 10 * sub.Get_rank(), 1 << 15)
z = np.zeros_like(y)
sub.Alltoall(y, z)
assert (z == np.repeat(10 * np.arange(sub.Get_size(), dtype=np.float32) + sub.Get_rank(), 1 << 15)).all()
out("split", float(x.sum()), float(z.sum()))
sub.Free()
done()
