"""One cell of the fault matrix: the last rank fails with FAULT at POINT while the others work.

FAULT: exception | sigkill | sigsegv | exit3 (the failing rank) or sigint | sigterm (sent to the
launcher by the runner when the failing rank prints "fault now"). POINT: startup | midsend |
recv | collective | after. Every rank prints its pid; the failing rank prints "fault now <time>"
just before the fault. toro_mpi only.
"""

import os
import signal
import sys
import threading
import time

FAULT, POINT = sys.argv[1], sys.argv[2]


def say(line: str) -> None:
    """One write(2) per line, so the lines of concurrent ranks never interleave."""
    os.write(1, f"{RANK} {line}\n".encode())


def fault() -> None:
    say(f"fault now {time.time():.3f}")
    if FAULT == "exception":
        raise RuntimeError(f"injected fault at {POINT}")
    if FAULT == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if FAULT == "sigsegv":
        os.kill(os.getpid(), signal.SIGSEGV)
    if FAULT == "exit3":
        os._exit(3)
    # sigint / sigterm: the runner signals the launcher; this rank just keeps waiting.
    time.sleep(30)
    say("slept 30 s")  # only if the launcher did not stop this rank (the runner checks)


RANK = int(os.environ.get("TORO_MPI_RANK", "0"))
say(f"pid {os.getpid()}")
LAST = int(os.environ.get("TORO_MPI_SIZE", "1")) - 1
if POINT == "startup" and RANK == LAST:
    fault()

import numpy as np  # noqa: E402

from toro_mpi import MPI  # noqa: E402

COMM = MPI.COMM_WORLD

if POINT == "midsend":
    big = np.ones(64 << 20, np.uint8)
    if RANK == LAST:
        # Fault while a 64 MiB message is half way through the bus.
        timer = threading.Timer(0.05, fault) if FAULT in ("sigkill", "sigsegv", "exit3") else None
        if timer is not None:
            timer.start()
            for _ in range(1000):
                COMM.Send(big, dest=0, tag=1)
        else:
            COMM.Send(big, dest=0, tag=1)
            fault()
    elif RANK == 0:
        for _ in range(1000):
            COMM.Recv(big, source=LAST, tag=1)
    else:
        COMM.Recv(np.zeros(1), source=LAST, tag=2)
elif POINT == "recv":
    if RANK == LAST:
        time.sleep(0.3)
        fault()
    else:
        COMM.Recv(np.zeros(1), source=LAST, tag=3)
elif POINT == "collective":
    # Barriers and 4 MiB ring allreduces; a killed rank dies inside one (the allreduce takes
    # nearly all the time), a raising rank between two calls.
    data = np.ones(1 << 19)
    total = np.empty_like(data)
    timer = None
    if RANK == LAST and FAULT in ("sigkill", "sigsegv", "exit3"):
        timer = threading.Timer(0.3, fault)
        timer.start()
    for i in range(100000):
        if RANK == LAST and timer is None and i == 20:
            fault()
        COMM.Barrier()
        COMM.Allreduce(data, total)
elif POINT == "after":
    COMM.Barrier()
    if RANK == LAST:
        fault()
elif POINT != "startup":
    raise SystemExit(f"unknown point {POINT}")
if RANK != LAST:
    # Survivors of an "after" fault end normally; others are stopped by the launcher first.
    time.sleep(0.2)
