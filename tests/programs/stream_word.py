"""Print, per rank, the streaming threshold its process set on the queues it sends on to each
peer (point-to-point and collective planes): what `[bus] stream_threshold` became in the bus; and
whether it runs trials of streamed against plain fragments to each peer: what `[bus] stream_probe`
became."""

from _mpi import COMM, RANK, done, out

from toro_mpi.bus import layout as L
from toro_mpi.runtime import world

segment = world().segment
for peer in range(COMM.Get_size()):
    if peer != RANK:
        words = [int(segment.handle_words(RANK, peer, plane)[L.H_STREAM_MIN // 8]) for plane in range(L.PLANES)]
        out(f"stream to {peer}:", *words)
        probes = [int(segment.handle_words(RANK, peer, plane)[L.H_STREAM_PROBE // 8]) for plane in range(L.PLANES)]
        out(f"trials to {peer}:", *("on" if p else "off" for p in probes))
done()
