"""Ranks hosted as green threads keep apart what they must: checks run under any mode.

Each rank's `__main__` globals, the program's own modules (`_mpi` caches COMM_WORLD at import),
`MPI.COMM_WORLD`, stdout, pickling of classes defined in `__main__` between ranks of one process,
toro_mpi.spawn threads owned by their rank, sys.exit(0) in one rank while the others go on.
Argument: "exit0" makes the last rank leave early with sys.exit(0) after the checks.
"""

import sys

import _mpi
import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

STATE = {"rank": RANK}  # a __main__ global: must stay this rank's


class Point:
    """Defined in __main__: pickled between ranks that may share a process."""

    def __init__(self, x: int) -> None:
        self.x = x


def main() -> None:
    assert MPI.COMM_WORLD.Get_rank() == RANK == _mpi.RANK == COMM.rank, (MPI.COMM_WORLD.rank, RANK)
    assert MPI.COMM_WORLD is COMM
    # Every rank's view of the world: each reports its rank once, in an allgather.
    ranks = COMM.allgather(RANK)
    assert ranks == list(range(SIZE)), ranks
    # __main__ classes travel between ranks (same process or not).
    right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE
    got = COMM.sendrecv(Point(RANK), dest=right, source=left)
    assert isinstance(got, Point) and got.x == left, (type(got), getattr(got, "x", None))
    assert type(got) is Point
    # Interleave: every rank blocks in between, then checks its globals are still its own.
    for _ in range(3):
        COMM.Barrier()
        assert STATE["rank"] == RANK and _mpi.RANK == RANK, (STATE, _mpi.RANK)
    # Green threads of a rank belong to it: their sends come from this rank.
    if toro_spawn is not None and SIZE > 1:
        task = toro_spawn(lambda: COMM.send(("from", RANK), dest=right, tag=5))
        msg = COMM.recv(source=left, tag=5)
        task.join()
        assert msg == ("from", left), msg
    total = np.zeros(1, np.int64)
    COMM.Allreduce(np.array([RANK], np.int64), total)
    out("sum", int(total[0]), "main", __name__)
    if len(sys.argv) > 1 and sys.argv[1] == "exit0" and RANK == SIZE - 1:
        out("ok")
        sys.exit(0)
    COMM.Barrier() if not (len(sys.argv) > 1 and sys.argv[1] == "exit0") else None
    done()


try:
    from toro_mpi import spawn as toro_spawn
except ImportError:
    toro_spawn = None
if _mpi.IMPL != "toro":
    toro_spawn = None

main()
