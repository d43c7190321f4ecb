"""Per-call CPU (process_time) of collectives with new numpy arrays every call against the same
arrays every call: a benchmark (BENCHMARKS.md "Collectives called with new arrays every time"),
not a test. Usage: fresh_cost.py N [Kind,Kind...], under toro-mpirun or mpiexec, any rank count;
rank 0 prints one line per kind (the better of two rounds of N calls each)."""
import sys
import time

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
n = int(sys.argv[1])
kinds = sys.argv[2].split(",") if len(sys.argv) > 2 else [
    "Allreduce", "Bcast", "Reduce", "Allgather", "Gather", "Scatter", "Alltoall", "allreduce"]
size = comm.size


def call(kind: str, fresh: bool, a: np.ndarray, b: np.ndarray) -> None:
    """One call of `kind`; with `fresh`, on arrays made for this call."""
    if fresh:
        a = np.ones(1) if kind not in ("Scatter", "Alltoall") else np.ones(size)
        b = np.empty(size if kind in ("Allgather", "Gather", "Alltoall") else 1)
    if kind == "Allreduce":
        comm.Allreduce(a, b)
    elif kind == "Bcast":
        comm.Bcast(a, 0)
    elif kind == "Reduce":
        comm.Reduce(a, b, MPI.SUM, 0)
    elif kind == "Allgather":
        comm.Allgather(a, b)
    elif kind == "Gather":
        comm.Gather(a, b, 0)
    elif kind == "Scatter":
        comm.Scatter(a, b, 0)
    elif kind == "Alltoall":
        comm.Alltoall(a, b)
    elif kind == "allreduce":
        comm.allreduce(1.0)


for kind in kinds:
    res = {}
    for fresh in (False, True, False, True):
        a = np.ones(1) if kind not in ("Scatter", "Alltoall") else np.ones(size)
        b = np.empty(size if kind in ("Allgather", "Gather", "Alltoall") else 1)
        for _ in range(200):
            call(kind, fresh, a, b)
        comm.Barrier()
        t = time.process_time()
        w = time.perf_counter()
        for _ in range(n):
            call(kind, fresh, a, b)
        cpu = (time.process_time() - t) / n * 1e6
        wall = (time.perf_counter() - w) / n * 1e6
        res.setdefault(fresh, []).append((cpu, wall))
    if comm.rank == 0:
        rep = min(res[False])
        fr = min(res[True])
        print(f"{kind:10s} repeated cpu {rep[0]:6.2f} wall {rep[1]:6.2f} us | fresh cpu {fr[0]:6.2f} "
              f"wall {fr[1]:6.2f} us", flush=True)
