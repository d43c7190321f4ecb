"""Deterministic output for the --compare tests: each rank passes numbers and an object to its
right neighbour in a ring and prints what it got from its left one (floats and lists included),
then the environment variable COMPARE_WORD (so -x must reach both sides).

Runs with any number of ranks; point-to-point calls only.
"""

import os

import numpy as np
from _mpi import COMM, RANK, SIZE, done, out


def main() -> None:
    right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE
    send = np.arange(4, dtype=np.float64) * (RANK + 1) / 3
    recv = np.empty_like(send)
    COMM.Sendrecv(send, dest=right, sendtag=5, recvbuf=recv, source=left, recvtag=5)
    out("from", left, "sum", float(recv.sum()), recv.tolist())
    got = COMM.sendrecv({"rank": RANK, "square": RANK * RANK}, dest=right, sendtag=6, source=left, recvtag=6)
    out("object", sorted(got.items()))
    out("word", os.environ.get("COMPARE_WORD"))
    done()


if __name__ == "__main__":
    main()
