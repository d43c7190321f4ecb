"""The node leaders' part of a two-level collective: byte messages between one rank per node
over mpi4py nonblocking calls.

The algorithms run over a list of world ranks (`peers`, one per node, this rank at index `me`)
on a private duplicate of the real COMM_WORLD, under one tag per toro_mpi communicator (its
collective context), so MPI's non-overtaking rule keeps each pair's messages of successive
collectives of one communicator in order, and two communicators never match each other's.
Every step starts its sends and receives as `Isend`/`Irecv` and hands the requests to `wait`,
which the caller provides: the rank's scheduler, so the rank keeps making progress on its bus
and its network route (and the deadlock and timeout machinery sees it blocked) meanwhile.

The grouping of the reductions is fixed and documented (mpi/net_collectives.py relies on it
for bit-identical float sums): `reduce` is a binomial tree, nearest child first, and
`allreduce` is recursive doubling when the number of leaders is a power of two (else a
reduction to index 0 then a broadcast). Nothing here knows toro_mpi's communicators.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

TAG_BASE = 0x10000  # leaders' tags: TAG_BASE + context id, wrapped under the MPI's TAG_UB

Wait = Callable[[list[Any]], None]
Combine = Callable[[np.ndarray, np.ndarray], None]  # combine(incoming, acc): acc = incoming op acc

_current: Leaders | None = None


class Leaders:
    """Nonblocking point-to-point among node leaders on a communicator of their own."""

    def __init__(self, mpi: Any, comm: Any, link: Any) -> None:
        self.MPI = mpi
        self.comm = comm
        self.link = link  # counts messages sent and received, as the route's (a deadlock check reads them)
        self.Error = mpi.Exception
        self.tag_ub = int(comm.Get_attr(mpi.TAG_UB))
        self._byte = mpi.BYTE
        self._one = np.zeros(1, np.uint8)  # a barrier's message
        self._sink = np.zeros(1, np.uint8)

    def tag(self, ctx: int) -> int:
        """The tag of a toro_mpi communicator's leader messages (by its collective context)."""
        span = max(1, self.tag_ub - TAG_BASE)
        return TAG_BASE + ctx % span if self.tag_ub > TAG_BASE else ctx % (self.tag_ub + 1)

    def _send(self, buf: np.ndarray, dest: int, tag: int) -> Any:
        self.link.sent += 1
        return self.comm.Isend([buf, self._byte], dest, tag)

    def _recv(self, buf: np.ndarray, src: int, tag: int) -> Any:
        return self.comm.Irecv([buf, self._byte], src, tag)

    def _wait(self, wait: Wait, reqs: list[Any], recvs: int) -> None:
        """Wait for a step's requests, then count its receives as received: a deadlock check
        (all quiet, as many items received as sent) must not count a receive nobody sent to."""
        wait(reqs)
        self.link.received += recvs

    def barrier(self, peers: list[int], me: int, tag: int, wait: Wait) -> None:
        """Dissemination barrier among peers."""
        m = len(peers)
        k = 1
        while k < m:
            self._wait(wait, [self._send(self._one, peers[(me + k) % m], tag),
                              self._recv(self._sink, peers[(me - k) % m], tag)], 1)
            k <<= 1

    def bcast(self, peers: list[int], me: int, root: int, buf: np.ndarray, tag: int, wait: Wait) -> None:
        """Binomial-tree broadcast of buf (bytes) from peers[root]."""
        m = len(peers)
        vr = (me - root) % m
        mask = 1
        while mask < m:
            if vr & mask:
                self._wait(wait, [self._recv(buf, peers[(vr - mask + root) % m], tag)], 1)
                break
            mask <<= 1
        mask >>= 1
        reqs = []
        while mask > 0:  # farthest child (largest subtree) first
            if vr + mask < m:
                reqs.append(self._send(buf, peers[(vr + mask + root) % m], tag))
            mask >>= 1
        if reqs:
            wait(reqs)

    def reduce(self, peers: list[int], me: int, root: int, acc: np.ndarray, tmp: np.ndarray, tag: int,
               combine: Combine, wait: Wait) -> None:
        """Binomial-tree reduction (commutative operator) of every peer's acc into root's acc;
        nearest child first, so index 0 of 4 computes (a0 op a1) op (a2 op a3). tmp: scratch
        of acc's size and dtype."""
        m = len(peers)
        vr = (me - root) % m
        mask = 1
        while mask < m:
            if vr & mask:
                wait([self._send(_bytes(acc), peers[(vr - mask + root) % m], tag)])
                return
            if vr + mask < m:
                self._wait(wait, [self._recv(_bytes(tmp), peers[(vr + mask + root) % m], tag)], 1)
                combine(tmp, acc)
            mask <<= 1

    def allreduce(self, peers: list[int], me: int, acc: np.ndarray, tmp: np.ndarray, tag: int,
                  combine: Combine, wait: Wait) -> None:
        """Every peer's acc combined (commutative operator) into every peer's acc: recursive
        doubling over a power of two of peers, else reduce to index 0 and broadcast."""
        m = len(peers)
        if m & (m - 1):
            self.reduce(peers, me, 0, acc, tmp, tag, combine, wait)
            self.bcast(peers, me, 0, _bytes(acc), tag, wait)
            return
        mask = 1
        while mask < m:
            partner = peers[me ^ mask]
            self._wait(wait, [self._send(_bytes(acc), partner, tag), self._recv(_bytes(tmp), partner, tag)], 1)
            combine(tmp, acc)
            mask <<= 1

    def allgather(self, peers: list[int], me: int, parts: list[np.ndarray], tag: int, wait: Wait) -> None:
        """Every peer's part (bytes; parts[me] is this rank's, filled) into every peer's parts:
        all sends and receives posted at once (a few leaders: one round)."""
        m = len(peers)
        reqs = [self._send(parts[me], peers[j], tag) for j in range(m) if j != me]
        reqs += [self._recv(parts[j], peers[j], tag) for j in range(m) if j != me]
        if reqs:
            self._wait(wait, reqs, m - 1)

    def exchange(self, sends: list[tuple[np.ndarray, int]], recvs: list[tuple[np.ndarray, int]], tag: int,
                 wait: Wait) -> None:
        """Send each (bytes, world rank) and receive each (bytes, world rank), all posted at once
        (a root's part of Gather and Scatter: one message to or from every other node)."""
        reqs = [self._send(buf, dest, tag) for buf, dest in sends]
        reqs += [self._recv(buf, src, tag) for buf, src in recvs]
        if reqs:
            self._wait(wait, reqs, len(recvs))


def _bytes(arr: np.ndarray) -> np.ndarray:
    return arr.reshape(-1).view(np.uint8)


def attach(mpi: Any, link: Any) -> None:
    """Create the leaders' communicator (a duplicate of the link's, collective over every rank
    of the job: the start-up entry calls this once, right after creating the link)."""
    global _current
    comm = link.comm.Dup()
    comm.Set_errhandler(mpi.ERRORS_RETURN)  # a dead peer raises here; the caller aborts the job
    _current = Leaders(mpi, comm, link)


def current() -> Leaders | None:
    """The process's leaders' network, or None (a job of one node)."""
    return _current
