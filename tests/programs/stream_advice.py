"""Ping-pong large messages between ranks 0 and 1 for several trial decisions, then print the
stream advice on the queue each rank sends on, published by the other rank's receiver
(layout.py, "Streaming stores"). With the argument `stream` each rank first sets the advice of
the queue it sends on to STREAM_UNMEASURED, so the pair starts streaming, with `plain` to
STREAM_OFF, so it starts with plain stores; with `kept` it leaves the advice the launcher preset
from past jobs (launcher/stream_memory.py) and prints it first, as "start: ..."."""

import ctypes
import sys

import numpy as np
from _mpi import COMM, RANK, done, out

from toro_mpi.bus import layout as L
from toro_mpi.runtime import world

NBYTES = 512 * 1024
ITERS = 400  # 16 fragments of 32 KiB a message: 6400 a direction; with Q = 64 the first trial
# window ends at fragment 768, or, started with an advice, at 4864 (layout.py AB_SETTLED_PASSES)


def advice_word(peer: int) -> ctypes.c_int64:
    """The advice word of the point-to-point queue RANK -> peer (written by peer's receiver)."""
    words = world().segment.handle_words(RANK, peer, L.P2P_PLANE)
    return ctypes.c_int64.from_address(int(words[L.H_QADDR // 8]) + int(words[L.H_SEEN // 8]) + L.SEEN_ADVICE)


peer = 1 - RANK
names = {L.STREAM_UNMEASURED: "unmeasured", L.STREAM_ON: "on", L.STREAM_OFF: "off"}
start = sys.argv[1] if len(sys.argv) > 1 else "kept"
if start == "kept":
    out("start:", names.get(advice_word(peer).value, "corrupt"))
else:
    advice_word(peer).value = {"stream": L.STREAM_UNMEASURED, "plain": L.STREAM_OFF}[start]
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
out("advice:", names.get(advice_word(peer).value, "corrupt"))
# (For a reader of a failure: the last comparison on the queue this rank receives on, streamed
# cost per mille of plain.)
out("last ratio", int(world().segment.handle_words(peer, RANK, L.P2P_PLANE)[L.H_AB_LAST // 8]))
done()
