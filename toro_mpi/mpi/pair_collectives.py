"""Large blocking collectives between the two processes of a 2-rank communicator, as rendezvous.

On the collective plane a Bcast, Scatter, Allgather or Alltoall moves its blocks through the
pair's ring: the sender copies each in, the other rank copies it out, 32 KiB at a time, two
copies. Point-to-point messages of `[bus] rendezvous_threshold` bytes or more between two
processes take one: the receiver reads the sender's buffer itself (process_vm_readv,
bus/layout.py "Rendezvous"), as the reference's shared-memory transport does with CMA. At 2
ranks each of these collectives is at most one such message each way and a local copy of this
rank's own block, so from that size it goes so:

| call | root (Allgather, Alltoall: each rank) | the other rank |
|---|---|---|
| Bcast | Send its buffer | Recv it |
| Scatter | copy its block, Send the other's | Recv its block |
| Allgather | copy its block; send it and receive the other's (Engine.exchange_rndv) | the same |
| Alltoall | copy block `me`; send block `peer`, receive into block `peer` | the same |

Measured on the Intel host (osu_* -m 16384:2097152, 2 ranks, against the ring; BENCHMARKS.md,
"Large collectives between two processes"): Bcast 0.63-0.92x of the ring's time from 32 KiB to
1 MiB; Scatter 0.65-0.95 from 64 KiB; Allgather 0.57-0.93 and Alltoall 0.64-0.92 from 64 KiB.
What stays on the ring, measured:
- Gather: its root reading the other's block took 1.1-1.8x the ring's time from 32 KiB (the
  ring overlaps the leaf's copy in with the root's copy out; the single copy leaves the leaf
  waiting for the root's read);
- Allgather and Alltoall below EXCHANGE_MIN_BYTES (at 32 KiB an Alltoall took 1.2x);
- from PAIR_MAX_BYTES, where the ring's pipeline, a copy on each core, keeps up with a single
  copy whose source and destination no longer fit the reader's L2 (as for point-to-point);
- Reduce: its root would have to read the other rank's data into scratch and combine it in a
  second pass, which measured no faster than combining the segments where they arrive in the
  ring (bus/held.py).

Only where point-to-point itself goes by rendezvous: one process per rank (green-thread ranks
never do, nor a rank whose peer is one), both ranks on this node, a block of at least the
threshold. Both ranks decide from the block size, which MPI requires them to agree on; a
program whose ranks disagree gets ERR_TRUNCATE when both sizes are routed, as on the ring, but
waits (until the launcher reports a deadlock) when only one is: one rank on the ring, the other
here. The messages travel on the communicator's collective context under PAIR_TAG, which no
other traffic there uses (user point-to-point has its own context, nonblocking collectives a
spare one), in the order both ranks call their collectives, as MPI requires of them. Both
sides move bytes (wire type 0), as the collective plane does: ranks that describe the same
bytes with different element types are not in error.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ERR_COMM, ERR_INTERN, ERR_TRUNCATE, MPIException

# The tag of a routed call's messages on the collective context: with the other reserved tags there
# ((1 << 30) + 0, 1, 8, 9, 10, from 16 on), above any tag a program may use (TAG_MAX is
# 2**31 - 1 but those go on the point-to-point context).
PAIR_TAG = (1 << 30) + 4
# Up to this many bytes (exclusive). From 2 MiB the ring's pipeline, a copy on each core, kept
# up with the single copy, whose source and destination no longer fit the reader's L2 (osu_bcast
# 2 MiB: 197 us routed against 167 through the ring; 4 MiB the same), as for point-to-point
# (BENCHMARKS.md, "Rendezvous in the receive kernel").
PAIR_MAX_BYTES = 1 << 21
# Allgather and Alltoall from this block size (the other routed calls from the rendezvous
# threshold): at 32 KiB the two-way step measured 0.96x (Allgather) and 1.20x (Alltoall) of the
# ring's time, from 64 KiB 0.57-0.93.
EXCHANGE_MIN_BYTES = 1 << 16


def pair_route(comm: Any, nbytes: int, least: int = 0) -> int | None:
    """The other rank's world rank when a collective whose blocks are nbytes long goes as
    rendezvous on comm (see the module's text; from `least` bytes if that is above the
    rendezvous threshold), else None."""
    if comm.size != 2:
        return None
    e = comm._engine
    if not max(e.rndv_limit, least) <= nbytes < PAIR_MAX_BYTES or e.host_of is not None:
        return None
    peer = comm._ranks[1 - comm.rank]
    if e.remote[peer] or e.t.hosts_others(peer):
        # (A peer that shares its process with other ranks has no rendezvous of its own: a
        # process of green-thread ranks started by hand, whose map this process does not know.)
        return None
    return peer


class PairRoute:
    """One routed call, its byte views resolved: what this rank sends (`out`), receives
    (`into`) and copies locally (`local`, a (source, destination) pair). The checked path builds
    one per call and keeps it as the call site's hot record when the caller passed plain arrays
    (the hot tables' convention, as coll.engine.HotRun and hosted.TwoLevelSite: `call(addr)`
    returns 0; `send`, `dtype` and `root` are what Bcast's hot path compares a call against)."""

    __slots__ = ("comm", "peer", "name", "out", "into", "local", "send", "dtype", "root", "freed", "addr", "call")

    def __init__(self, comm: Any, peer: int, name: str, out: np.ndarray | None, into: np.ndarray | None,
                 local: tuple[np.ndarray, np.ndarray] | None = None, send: Any = None, root: int = 0) -> None:
        self.comm, self.peer, self.name = comm, peer, name
        self.out, self.into, self.local = out, into, local
        self.send, self.root = send, root
        self.dtype = None if send is None else send.dtype
        self.freed = False
        self.addr, self.call = self, PairRoute.run

    def free(self) -> None:
        """The communicator is freed: a record kept from before raises ERR_COMM."""
        self.freed = True

    def stop(self, st: int) -> None:
        """Never needed (run returns 0); part of the hot record's interface."""
        raise MPIException(ERR_INTERN, f"a {self.name} between two processes stopped with code {st}")

    def run(self) -> int:
        """Copy the local block, send and receive the other; 0 (done). Raises what Send and
        Recv raise (ERR_TRUNCATE when this rank's block is shorter than what the other sent)."""
        if self.freed:
            raise MPIException(ERR_COMM, "the communicator has been freed")
        comm = self.comm
        e, ctx, peer, out, into = comm._engine, comm._coll_ctx, self.peer, self.out, self.into
        if self.local is not None:
            src, dst = self.local
            dst[:] = src
        if into is None:
            e.send_blocking(out, peer, PAIR_TAG, ctx, self.name)
            return 0
        if out is None:
            got = e.recv_counted(into, peer, PAIR_TAG, ctx, self.name)
        else:
            # Both ways (Allgather, Alltoall): the send must not wait for its read before this
            # rank reads the other's, which is waiting for the same.
            got = e.exchange_rndv(out, into, peer, PAIR_TAG, ctx, self.name)
        if got != into.nbytes:  # (more than into raised ERR_TRUNCATE already)
            raise MPIException(ERR_TRUNCATE, f"{self.name}: the other rank sent {got} bytes, this rank expects "
                               f"{into.nbytes} (counts or datatypes differ between ranks)")
        return 0


def pair_bcast(comm: Any, peer: int, root: int, buf: np.ndarray) -> PairRoute:
    """A routed Bcast of buf (the caller's array, or a byte view of it) from root."""
    data = buf.reshape(-1).view(np.uint8)
    if comm.rank == root:
        return PairRoute(comm, peer, "Bcast", data, None, send=buf, root=root)
    return PairRoute(comm, peer, "Bcast", None, data, send=buf, root=root)


def pair_scatter(comm: Any, peer: int, root: int, send: np.ndarray, recv: np.ndarray, count: int,
                 in_place: bool) -> PairRoute:
    """A routed Scatter of count bytes a rank (byte views; send is empty away from the root)."""
    if comm.rank != root:
        return PairRoute(comm, peer, "Scatter", None, recv)
    local = None if in_place else (send[root * count: (root + 1) * count], recv[:count])
    return PairRoute(comm, peer, "Scatter", send[(1 - root) * count: (2 - root) * count], None, local)


def pair_exchange(comm: Any, peer: int, name: str, send: np.ndarray, recv: np.ndarray, count: int,
                  blocked: bool, in_place: bool) -> PairRoute:
    """A routed Allgather (blocked False: this rank's send is its block for both) or Alltoall
    (blocked True: send holds one block per rank) of count bytes a block (byte views)."""
    me, other = comm.rank, 1 - comm.rank
    mine = send[me * count: (me + 1) * count] if blocked else send
    out = send[other * count: (other + 1) * count] if blocked else send
    local = None if in_place else (mine, recv[me * count: (me + 1) * count])
    return PairRoute(comm, peer, name, out, recv[other * count: (other + 1) * count], local)
