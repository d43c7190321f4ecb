"""A receiver idle long past its spin phase must sleep (not burn its core) and still get the
message: rank 0 waits WAIT seconds, then sends to the last rank, which reports the share of CPU
its process used while it waited and whether its doorbell was rung. toro_mpi only.

argv: WAIT (seconds, default 0.6)."""

import sys
import time

import numpy as np
from _mpi import COMM, RANK, SIZE, out

from toro_mpi import runtime

WAIT = float(sys.argv[1]) if len(sys.argv) > 1 else 0.6
last = SIZE - 1
COMM.Barrier()
if RANK == 0:
    time.sleep(WAIT)  # in a green thread this holds the whole process, which is fine here
    COMM.Send(np.arange(8, dtype=np.int64), dest=last, tag=5)
elif RANK == last:
    world = runtime.world()
    seg = world.segment
    bell_at = world.engine.t.bell - seg.base  # this process's doorbell (the first hosted rank's slot)
    rung = seg.read_word(bell_at)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    buf = np.zeros(8, np.int64)
    COMM.Recv(buf, source=0, tag=5)
    share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    assert (buf == np.arange(8)).all(), buf
    out("cpu-share", f"{share:.3f}")
    out("rung", seg.read_word(bell_at) - rung)
COMM.Barrier()
out("ok")
