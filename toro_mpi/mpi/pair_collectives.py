"""A large blocking Bcast between the two processes of a 2-rank communicator, as one rendezvous.

On the collective plane a Bcast moves root's buffer through the pair's ring: the root copies it
in, the other rank copies it out, 32 KiB at a time, two copies. Point-to-point messages of
`[bus] rendezvous_threshold` bytes or more between two processes take one: the receiver reads
the sender's buffer itself (process_vm_readv, bus/layout.py "Rendezvous"), as the reference's
shared-memory transport does with CMA. A 2-rank Bcast is exactly one such message, so from that
size it goes as one: a blocking Send from the root, a blocking Recv on the other rank.
Measured on the Intel host (2 ranks, a barrier between calls, the leaf's time, us, 64 KiB -
1 MiB): through the ring 7.3 / 13.5 / 24.8 / 43.0 / 82.0, as a rendezvous 4.4 / 7.3 / 12.1 /
23.7 / 68.6, the reference's Bcast 3.8 / 6.5 / 10.0 / 20.0 / 77.2 (BENCHMARKS.md, "Large Bcast
between two processes").

Only where point-to-point itself goes by rendezvous: one process per rank (green-thread ranks
never do), both ranks on this node, the message at least the threshold (and under
PAIR_MAX_BYTES). The message travels on
the communicator's collective context under PAIR_TAG, which no other traffic there uses (user
point-to-point has its own context, nonblocking collectives a spare one), in the order both
ranks call their collectives, as MPI requires of them. Both sides move bytes (wire type 0), as
the collective plane does: a Bcast whose ranks describe the same bytes with different element
types is not an error. Reduce is not routed so: its root would have to read the other rank's
data into scratch and combine it in a second pass, which measured no faster than combining the
segments where they arrive in the ring (bus/held.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ERR_COMM, ERR_INTERN, MPIException

# The tag of a routed Bcast on the collective context: with the other reserved tags there
# ((1 << 30) + 0, 1, 8, 9, 10, from 16 on), above any tag a program may use (TAG_MAX is
# 2**31 - 1 but those go on the point-to-point context).
PAIR_TAG = (1 << 30) + 4
# Up to this many bytes (exclusive). From 2 MiB the ring's pipeline, a copy on each core, kept
# up with the single copy, whose source and destination no longer fit the reader's L2 (osu_bcast
# 2 MiB: 197 us routed against 167 through the ring; 4 MiB the same), as for point-to-point
# (BENCHMARKS.md, "Rendezvous in the receive kernel").
PAIR_MAX_BYTES = 1 << 21


def pair_peer(comm: Any, nbytes: int) -> int | None:
    """The other rank's world rank when a Bcast of nbytes on comm goes as one rendezvous (see
    the module's text), else None."""
    if comm.size != 2:
        return None
    e = comm._engine
    if not e.rndv_limit <= nbytes < PAIR_MAX_BYTES or e.host_of is not None:
        return None
    peer = comm._ranks[1 - comm.rank]
    if e.remote[peer]:
        return None
    return peer


class PairBcast:
    """One routed Bcast call, its arguments resolved: the checked path builds one per call and
    keeps it as the call site's hot record when the caller passed a plain array (the hot tables'
    convention, as coll.engine.HotRun and hosted.TwoLevelSite: `call(addr)` returns 0)."""

    __slots__ = ("comm", "peer", "root", "send", "dtype", "data", "is_root", "freed", "addr", "call")

    def __init__(self, comm: Any, peer: int, root: int, buf: np.ndarray) -> None:
        self.comm, self.peer, self.root = comm, peer, root
        self.send, self.dtype = buf, buf.dtype  # what the hot path compares a call against
        self.data = buf.reshape(-1).view(np.uint8)
        self.is_root = comm.rank == root
        self.freed = False
        self.addr, self.call = self, PairBcast.run

    def free(self) -> None:
        """The communicator is freed: a record kept from before raises ERR_COMM."""
        self.freed = True

    def stop(self, st: int) -> None:
        """Never needed (run returns 0); part of the hot record's interface."""
        raise MPIException(ERR_INTERN, f"a Bcast between two processes stopped with code {st}")

    def run(self) -> int:
        """Send root's bytes, or receive them; 0 (done). Raises what Send / Recv raise
        (ERR_TRUNCATE when this rank's buffer is shorter than root's)."""
        if self.freed:
            raise MPIException(ERR_COMM, "the communicator has been freed")
        comm = self.comm
        e, data, ctx = comm._engine, self.data, comm._coll_ctx
        if self.is_root:
            if not e.send_fast(data, data.nbytes, self.peer, PAIR_TAG, ctx):
                e.wait_send(e.isend(data, data.nbytes, self.peer, PAIR_TAG, ctx), "Bcast")
        elif not e.recv_fast(data, self.peer, PAIR_TAG, ctx):
            e.wait_recv(e.irecv(data, data.nbytes, self.peer, PAIR_TAG, ctx), "Bcast")
        return 0
