"""Ping-pong large messages between ranks 0 and 1 for several trial decisions, then print the
stream advice on the queue each rank sends on, published by the other rank's receiver
(layout.py, "Streaming stores"). With the argument `plain` each rank first sets the advice of the queue it sends on to
STREAM_OFF, so the pair starts with plain stores instead of streaming (STREAM_UNMEASURED)."""

import ctypes
import sys

import numpy as np
from _mpi import COMM, RANK, done, out

from toro_mpi.bus import layout as L
from toro_mpi.runtime import world

NBYTES = 512 * 1024
ITERS = 200  # 16 fragments of 32 KiB a message: 3200 a direction, the first trial window is 768


def advice_word(peer: int) -> ctypes.c_int64:
    """The advice word of the point-to-point queue RANK -> peer (written by peer's receiver)."""
    words = world().segment.handle_words(RANK, peer, L.P2P_PLANE)
    return ctypes.c_int64.from_address(int(words[L.H_QADDR // 8]) + int(words[L.H_SEEN // 8]) + L.SEEN_ADVICE)


peer = 1 - RANK
if len(sys.argv) > 1 and sys.argv[1] == "plain":
    advice_word(peer).value = L.STREAM_OFF
COMM.Barrier()
buf = np.full(NBYTES, RANK, np.uint8)
got = np.empty(NBYTES, np.uint8)
for i in range(ITERS):
    if RANK == 0:
        COMM.Send(buf, dest=1, tag=i)
        COMM.Recv(got, source=1, tag=i)
    else:
        COMM.Recv(got, source=0, tag=i)
        COMM.Send(buf, dest=0, tag=i)
    assert (got == peer).all()
COMM.Barrier()
names = {L.STREAM_UNMEASURED: "unmeasured", L.STREAM_ON: "on", L.STREAM_OFF: "off"}
out("advice:", names.get(advice_word(peer).value, "corrupt"))
# (For a reader of a failure: the last comparison on the queue this rank receives on, streamed
# cost per mille of plain.)
out("last ratio", int(world().segment.handle_words(peer, RANK, L.P2P_PLANE)[L.H_AB_LAST // 8]))
done()
