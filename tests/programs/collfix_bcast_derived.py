"""Issue #19: Bcast of a derived datatype with ranks hosted as green threads.

mpi4py's test_cco_buf.py testBcastTypeIndexed: every rank broadcasts `(buf, 1, indexed_block)`
from each root in turn. The root's packed elements are typed (int32, ...) while the other ranks
receive into raw bytes; ranks sharing a process must still meet on the same bytes. Each rank
prints what it received and checks it against the expected pattern; then a collective after it
(an Exscan, as the test file runs next) shows every rank left the Bcast.
"""

from __future__ import annotations

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

for code in ("i", "l", "f", "d", "b", "h"):
    base = MPI.Datatype.fromcode(code)
    for root in range(SIZE):
        for first in (0, 1):  # even, then odd, elements
            buf = np.arange(10, dtype=code) if RANK == root else np.full(10, -1, dtype=code)
            newtype = base.Create_indexed_block(1, list(range(first, 10, 2))).Commit()
            COMM.Bcast((buf, 1, newtype), root=root)
            newtype.Free()
            want = np.array([i if i % 2 == first else -1 for i in range(10)], dtype=code)
            if RANK == root:
                want = np.arange(10, dtype=code)
            good = bool((buf == want).all())
            out(code, "root", root, "first", first, "good" if good else "BAD", " ".join(map(str, buf.tolist())))

# A plain int32 broadcast against a derived type of the same signature at the root.
for root in range(SIZE):
    buf = np.arange(6, dtype="i") if RANK == root else np.zeros(6, dtype="i")
    spec = (buf, 1, MPI.INT.Create_contiguous(6).Commit()) if RANK == root else [buf, MPI.INT]
    COMM.Bcast(spec, root=root)
    out("mixed root", root, " ".join(map(str, buf.tolist())))

x = np.array([RANK + 1], dtype="i")
y = np.zeros(1, dtype="i")
COMM.Exscan(x, y, MPI.SUM)
out("exscan", int(y[0]) if RANK else "-")
done()
