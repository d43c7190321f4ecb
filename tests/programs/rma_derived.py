"""Derived datatypes on the origin and the target of one-sided calls (issue #22): Put of a
matrix column (a vector type) into contiguous memory, Put of contiguous data into every other
element (a vector target type), Get with an indexed target type, Accumulate(SUM) with vector types
on both sides, Get_accumulate with a contiguous type, and a subarray origin, in fence
epochs on a window of doubles."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

N = 8
win_mem = np.zeros(4 * N, np.float64)
win = MPI.Win.Create(win_mem, 8, comm=COMM)
right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE

column = MPI.DOUBLE.Create_vector(N, 1, N).Commit()  # one column of an N x N matrix
every_other = MPI.DOUBLE.Create_vector(N, 1, 2).Commit()
picks = MPI.DOUBLE.Create_indexed([1, 2, 1], [0, 3, 7]).Commit()  # 4 scattered doubles
pair = MPI.DOUBLE.Create_contiguous(2).Commit()
sub = MPI.DOUBLE.Create_subarray([4, 4], [2, 2], [1, 1]).Commit()  # centre of a 4 x 4 block

matrix = np.arange(N * N, dtype=np.float64).reshape(N, N) + 100 * RANK

# 1. Put column 2 of my matrix into the right neighbour's window[0:N] (origin vector).
win.Fence()
win.Put([matrix.reshape(-1)[2:], 1, column], right, (0, N, MPI.DOUBLE))
win.Fence()
out("column from left", win_mem[:N].tolist())

# 2. Put N contiguous values into every other element of window[N:3N] (target vector).
win.Fence()
win.Put([np.arange(N, dtype=np.float64) + 10 * RANK, MPI.DOUBLE], right, (N, 1, every_other))
win.Fence()
out("every other from left", win_mem[N:3 * N].tolist())

# 3. Get four scattered doubles of the left neighbour (target indexed).
got = np.zeros(4, np.float64)
win.Fence()
win.Get([got, MPI.DOUBLE], left, (N, 1, picks))
win.Fence()
out("indexed get from left", got.tolist())

# 4. Accumulate SUM from every rank into every other element of rank 0's window[2N:3N], with a
# strided origin (every other element of my matrix's first row) and a strided target.
strided = MPI.DOUBLE.Create_vector(N // 2, 1, 2).Commit()
win.Fence()
win.Accumulate([matrix[0], 1, strided], 0, (2 * N, 1, strided), MPI.SUM)
win.Fence()
if RANK == 0:
    out("accumulated vector", win_mem[2 * N:3 * N].tolist())

# 5. Get_accumulate with a contiguous pair type: add 1 to rank 0's [3N, 3N+2), fetch the old.
old = np.zeros(2, np.float64)
win.Fence()
win.Get_accumulate([np.ones(2), 1, pair], [old, 1, pair], 0, (3 * N, 1, pair), MPI.SUM)
win.Fence()
if RANK == 0:
    out("get_acc pair final", win_mem[3 * N:3 * N + 2].tolist())

# 6. Subarray origin: the centre 2 x 2 of a 4 x 4 block to the right neighbour's [3N+4, 3N+8).
block = np.arange(16, dtype=np.float64).reshape(4, 4) + RANK
win.Fence()
win.Put([block, 1, sub], right, (3 * N + 4, 4, MPI.DOUBLE))
win.Fence()
out("subarray from left", win_mem[3 * N + 4:3 * N + 8].tolist())

for t in (column, every_other, picks, pair, sub, strided):
    t.Free()
win.Free()
done()
