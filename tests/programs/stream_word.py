"""Print, per rank, the streaming threshold its process set on the queues it sends on to each
peer (point-to-point and collective planes): what `[bus] stream_threshold` became in the bus; and
the bound (cycles) above which it advises each peer to stream to it: what `[bus] stream_far_ns`
became (0: not measured)."""

from _mpi import COMM, RANK, done, out

from toro_mpi.bus import layout as L
from toro_mpi.runtime import world

segment = world().segment
for peer in range(COMM.Get_size()):
    if peer != RANK:
        words = [int(segment.handle_words(RANK, peer, plane)[L.H_STREAM_MIN // 8]) for plane in range(L.PLANES)]
        out(f"stream to {peer}:", *words)
        bounds = [int(segment.handle_words(peer, RANK, plane)[L.H_FAR_NS // 8]) for plane in range(L.PLANES)]
        out(f"measure from {peer}:", *("on" if b > 0 else "off" for b in bounds))
done()
