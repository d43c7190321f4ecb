"""Derived datatypes where toro_mpi goes past Open MPI (checked here by value, not against the
reference): predefined reductions over a derived type made of one predefined type (Open MPI
refuses them with ERR_OP), a reduction over a struct refused, and Irecv into a derived type
that gets fewer elements than it describes."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

D = MPI.DOUBLE
rv = D.Create_vector(3, 1, 2).Commit()
x = np.arange(6.0) + RANK
y = np.full(6, -1.0)
COMM.Allreduce([x, 1, rv], [y, 1, rv], MPI.SUM)
s = sum(range(SIZE))
assert y.tolist() == [SIZE * 0 + s, -1, SIZE * 2 + s, -1, SIZE * 4 + s, -1], y
out("allreduce", y.tolist())

z = np.full(6, -1.0)
COMM.Reduce([x, 1, rv], [z, 1, rv] if RANK == 0 else None, MPI.MAX, root=0)
if RANK == 0:
    assert z.tolist() == [SIZE - 1, -1, SIZE + 1, -1, SIZE + 3, -1], z
st = MPI.Datatype.Create_struct([1, 1], [0, 8], [MPI.INT, D]).Commit()
try:
    COMM.Allreduce([np.zeros(16, np.uint8), 1, st], [np.zeros(16, np.uint8), 1, st], MPI.SUM)
    raise AssertionError("a reduction over a struct must be refused")
except MPI.Exception as e:
    assert e.Get_error_class() == MPI.ERR_TYPE, e
    out("struct reduction refused")

other, prev = (RANK + 1) % SIZE, (RANK - 1) % SIZE
v = D.Create_vector(4, 1, 3).Commit()
buf = np.full(12, -1.0)
req = COMM.Irecv([buf, 1, v], prev, 7)
COMM.Send(np.arange(2.0) + 10 * RANK, other, 7)
status = MPI.Status()
req.Wait(status)
assert buf.tolist() == [10.0 * ((RANK - 1) % SIZE), -1, -1, 10.0 * ((RANK - 1) % SIZE) + 1] + [-1.0] * 8, buf
assert status.Get_count(v) == MPI.UNDEFINED and status.Get_elements(v) == 2
out("partial irecv", buf[:4].tolist())
done()
