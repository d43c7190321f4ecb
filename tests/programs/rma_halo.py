"""A 1-D halo exchange with Put + Fence (issue #22): each rank owns N cells of a periodic rod
plus one ghost cell at each end, in a window made by Win.Create over its numpy array. Every step
puts its edge cells into the neighbours' ghosts between two fences, then relaxes
u[i] = (u[i-1] + 2 u[i] + u[i+1]) / 4. Fences carry assertions (MODE_NOPRECEDE on the first,
MODE_NOSUCCEED on the last) as real codes do. The same rod is run serially on every rank and
compared, and each rank prints its cells' checksum."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

N = 16
STEPS = 30
left, right = (RANK - 1) % SIZE, (RANK + 1) % SIZE

u = np.zeros(N + 2, np.float64)
u[1:-1] = np.arange(RANK * N, (RANK + 1) * N, dtype=np.float64) ** 1.5  # a rough start
win = MPI.Win.Create(u, MPI.DOUBLE.Get_size(), comm=COMM)

win.Fence(MPI.MODE_NOPRECEDE)
for step in range(STEPS):
    # my first cell -> the left neighbour's right ghost (index N + 1), my last -> right's left ghost (0)
    win.Put([u[1:2], MPI.DOUBLE], left, N + 1)
    win.Put([u[N:N + 1], MPI.DOUBLE], right, 0)
    win.Fence(MPI.MODE_NOSTORE if step % 2 else 0)
    u[1:-1] = (u[:-2] + 2 * u[1:-1] + u[2:]) / 4
    # a second fence: nobody puts into my ghosts while I still read them
    win.Fence(MPI.MODE_NOSUCCEED if step == STEPS - 1 else 0)
win.Free()

# The same rod on one rank, with np.roll for the periodic ghosts.
rod = np.arange(SIZE * N, dtype=np.float64) ** 1.5
for _ in range(STEPS):
    rod = (np.roll(rod, 1) + 2 * rod + np.roll(rod, -1)) / 4
mine = rod[RANK * N:(RANK + 1) * N]
out("matches serial", bool(np.allclose(u[1:-1], mine, rtol=1e-12, atol=0)))
out("checksum", f"{u[1:-1].sum():.6f}", "ghosts", f"{u[0]:.6f}", f"{u[-1]:.6f}")
done()
