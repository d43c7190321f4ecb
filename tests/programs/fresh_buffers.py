"""Collectives called with new arrays every call, alternating with calls on the same arrays
(the hot records are built at a call site's second sighting: both paths must give the same
results, and a record must never run on arrays it was not built for). Prints a digest of every
result; the data are small integers, exact in any reduction order.

Run: python tests/programs/fresh_buffers.py (under toro-mpirun or mpiexec).
"""

from __future__ import annotations

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, out

ROUNDS = 12


def data(count: int, step: int, dtype: str = "i8") -> np.ndarray:
    """This rank's operand at a step: small values that depend on the rank and the step."""
    return ((np.arange(count) * (RANK + 1) + step) % 5).astype(dtype)


def pattern(step: int) -> str:
    """Per step: fresh arrays (f), the kept pair (k), or a second kept pair (s), so call sites
    alternate, recur after a fresh call, and new arrays may reuse a freed array's id."""
    return "fkkfsfkskffk"[step % 12]


def main() -> None:
    kept: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for dtype in ("i8", "f8", "i4"):
        for kind in ("Allreduce", "Reduce", "Bcast", "Allgather", "Gather", "Scatter", "Alltoall"):
            for step in range(ROUNDS):
                which = pattern(step)
                count = 3
                nsend = count * SIZE if kind in ("Scatter", "Alltoall") else count
                nrecv = count * SIZE if kind in ("Allgather", "Gather", "Alltoall") else count
                if which == "f":
                    send, recv = np.empty(nsend, dtype), np.zeros(nrecv, dtype)
                else:
                    key = f"{kind}{dtype}{which}"
                    if key not in kept:
                        kept[key] = (np.empty(nsend, dtype), np.zeros(nrecv, dtype))
                    send, recv = kept[key]
                send[:] = data(nsend, step, dtype)
                recv[:] = -1
                root = step % SIZE
                if kind == "Allreduce":
                    COMM.Allreduce(send, recv, MPI.SUM if step % 3 else MPI.MAX)
                elif kind == "Reduce":
                    COMM.Reduce(send, recv, MPI.SUM, root)
                elif kind == "Bcast":
                    COMM.Bcast(send, root)
                    recv[:] = send
                elif kind == "Allgather":
                    COMM.Allgather(send, recv)
                elif kind == "Gather":
                    COMM.Gather(send, recv, root)
                elif kind == "Scatter":
                    COMM.Scatter(send, recv, root)
                else:
                    COMM.Alltoall(send, recv)
                out(f"{kind} {dtype} step {step} {which}", "=", f"d {digest(recv)}")
    for step in range(ROUNDS):
        value = COMM.allreduce(step * (RANK + 1))
        items = COMM.allgather([RANK, step])
        out(f"allreduce step {step}", "=", value, items)
    out("ok")


main()
