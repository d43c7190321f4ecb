"""A shared array from Win.Allocate_shared + Shared_query (issue #22): the ranks of a node
(COMM_TYPE_SHARED) allocate parts of different sizes of one shared segment, each maps every
part with Shared_query, writes its own and reads the others' with plain numpy (no MPI call moves
a byte), synchronising with Barrier + Sync in a Lock_all epoch as MPI's unified model allows.
Also: the window's attributes (model, disp_unit, size) and a contiguous view of the whole array
(parts are contiguous by default)."""

import numpy as np
from _mpi import COMM, MPI, done, out

node = COMM.Split_type(MPI.COMM_TYPE_SHARED)
rank, size = node.Get_rank(), node.Get_size()
count = 8 * (rank + 1)  # a part of a different size per rank
win = MPI.Win.Allocate_shared(count * 8, 8, comm=node)
out("model unified", win.Get_attr(MPI.WIN_MODEL) == MPI.WIN_UNIFIED, "disp_unit",
    win.Get_attr(MPI.WIN_DISP_UNIT), "size", win.Get_attr(MPI.WIN_SIZE))

parts = []
for r in range(size):
    mem, unit = win.Shared_query(r)
    parts.append(np.frombuffer(mem, np.float64))
    out("part", r, "elements", len(parts[r]), "disp_unit", unit)

win.Lock_all()
parts[rank][:] = rank + np.arange(count) / 100
win.Sync()
node.Barrier()
win.Sync()
sums = [float(p.sum()) for p in parts]
out("sums", [f"{s:.2f}" for s in sums])

# Parts follow each other: a view from part 0's start spans the whole array.
total = sum(8 * (r + 1) for r in range(size))
base, _ = win.Shared_query(0)
whole = np.frombuffer(base, np.float64, total) if len(base) >= total * 8 else None
if whole is None:
    whole = np.concatenate(parts)  # an implementation may report only part 0's length
out("whole", total, f"{whole.sum():.2f}", whole[::8].tolist())

# Neighbour writes into my part directly, then everyone reads it.
node.Barrier()
right = (rank + 1) % size
parts[right][0] = 1000 + rank
win.Sync()
node.Barrier()
win.Sync()
out("my first from my left", parts[rank][0])
win.Unlock_all()
node.Barrier()
del parts, whole, base, mem
win.Free()
node.Free()
done()
