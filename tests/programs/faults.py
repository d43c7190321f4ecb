"""A rank fails while the others are blocked: rank 1 raises, SIGKILLs itself or os._exit(3)s
after its peers entered Recv from it. Argument: raise | kill | exit3 | raise_green."""

import os
import sys
import time

import numpy as np
from _mpi import COMM, IMPL, MPI, RANK, out

MODE = sys.argv[1]


def main() -> None:
    out("pid", os.getpid())
    COMM.Barrier()
    if RANK == 1:
        time.sleep(0.5)  # the others are in Recv by now
        out("failing at", f"{time.time():.3f}")
        if MODE == "raise":
            raise RuntimeError("boom from rank 1")
        if MODE == "kill":
            os.kill(os.getpid(), 9)
        if MODE == "exit3":
            os._exit(3)
        if MODE == "raise_green":
            assert IMPL == "toro"
            import toro_mpi

            toro_mpi.spawn(lambda: COMM.Recv(np.zeros(1), source=0, tag=99))
            toro_mpi.yield_()  # the green thread is now blocked in Recv
            raise RuntimeError("boom from rank 1 with a green thread blocked")
        raise SystemExit(f"unknown mode {MODE}")
    source = 1 if RANK == 0 else MPI.ANY_SOURCE
    COMM.Recv(np.zeros(1), source=source, tag=5)
    raise AssertionError("the Recv returned although rank 1 never sent")


main()
