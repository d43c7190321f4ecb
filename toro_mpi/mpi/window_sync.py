"""Synchronisation of MPI windows: Fence, Lock/Unlock, Lock_all/Unlock_all, the Flush calls,
Sync, and post-start-complete-wait (Post, Start, Complete, Wait, Test).

Every data call completes before it returns (rma.py), so closing an epoch only has to order the
ranks: Fence is a barrier on the window's private communicator; Flush* and Sync have nothing to
wait for. Passive-target locks are a word in the target's control block taken with cmpxchg
(bus/rma_kernels.py); post/complete are counters there: a target's Post adds one to the "posted"
counter it holds in each origin's block, Start waits until it sees a post it has not consumed
from each target; Complete adds one to the "completed" counter in each target's block, which
Wait/Test consume.

Every wait goes through the rank's cooperative scheduler (Scheduler.wait): other green threads
(hosted ranks) run meanwhile, and a peer's death or the job's abort ends it with MPI.Exception
(ERR_PROC_ABORTED) instead of a hang.
"""

from __future__ import annotations

from typing import Any

from ..bus import rma_kernels as K
from ..errors import ERR_ARG, ERR_LOCKTYPE, ERR_RANK, ERR_RMA_SYNC, MPIException
from .constants import LOCK_EXCLUSIVE, LOCK_SHARED, MODE_NOCHECK

PROC_NULL = -2
FLUSH_POLL = 256  # with no other green thread to run, Flush makes progress once in this many calls
FLUSH_CHECK = 64  # Flush calls between two looks at the scheduler while no other green thread exists
_MODES = 1 | 2 | 4 | 8 | 16  # MODE_NOCHECK | NOPRECEDE | NOPUT | NOSTORE | NOSUCCEED


def _check_assertion(assertion: Any) -> int:
    assertion = int(assertion)
    if assertion & ~_MODES:
        from ..errors import ERR_ASSERT

        raise MPIException(ERR_ASSERT, f"invalid assertion {assertion:#x}")
    return assertion


class SyncMixin:
    """The synchronisation calls of Win."""

    # -- active target: fence --------------------------------------------------------------
    def Fence(self, assertion: int = 0) -> None:
        """End the previous fence epoch and start the next (collective)."""
        w = self._w()
        _check_assertion(assertion)
        w.comm.Barrier()

    # -- passive target --------------------------------------------------------------------
    def _lock_word(self, w: Any, rank: int) -> int:
        return w.lock_word(rank)

    def _take(self, w: Any, rank: int, take: Any, call: str) -> None:
        """Take rank's passive-target lock with take(address); if it is held, wait through the
        scheduler counted among the lock's waiters, so that an unlock rings the doorbells of
        the processes only when someone waits (an Unlock that always rang woke a target asleep
        in a Barrier on every epoch: osu_get_acc_latency -s lock 40 us per epoch)."""
        addr = self._lock_word(w, rank)
        if take(addr):
            return
        waiters = w.lock_waiters(rank)
        # A locked add: ordered before our next try, as the release is before its load of the count.
        K.add_word(waiters, 1)
        try:
            w.engine.sched.wait(lambda: take(addr), (call, w.world_ranks[rank], 0))
        finally:
            K.add_word(waiters, -1)

    def _wake_lock_waiters(self, w: Any, ranks: Any) -> None:
        """After releasing the locks of ranks: ring the doorbells if an origin waits for one."""
        for r in ranks:
            if K.load_word(w.lock_waiters(r)):
                w.wake_peers()
                return

    def _rank(self, w: Any, rank: Any, call: str) -> int:
        rank = int(rank)
        if not 0 <= rank < w.n:
            raise MPIException(ERR_RANK, f"{call}: rank {rank} is not in the window's group of {w.n}")
        return rank

    def Lock(self, rank: int, lock_type: int = LOCK_EXCLUSIVE, assertion: int = 0) -> None:
        """Start an access epoch on rank's window (LOCK_EXCLUSIVE or LOCK_SHARED)."""
        w = self._w()
        if int(rank) == PROC_NULL:
            return
        rank = self._rank(w, rank, "Win.Lock")
        if lock_type not in (LOCK_EXCLUSIVE, LOCK_SHARED):
            raise MPIException(ERR_LOCKTYPE, f"Win.Lock: invalid lock type {lock_type!r}")
        assertion = _check_assertion(assertion)
        if rank in w.locks or w.lock_all:
            raise MPIException(ERR_RMA_SYNC, f"Win.Lock: rank {rank} is locked already")
        if not assertion & MODE_NOCHECK:
            self._take(w, rank, K.try_lock_exclusive if lock_type == LOCK_EXCLUSIVE else K.try_lock_shared, "Win.Lock")
        w.locks[rank] = lock_type if not assertion & MODE_NOCHECK else 0

    def Unlock(self, rank: int) -> None:
        """End the access epoch on rank's window."""
        w = self._w()
        if int(rank) == PROC_NULL:
            return
        rank = self._rank(w, rank, "Win.Unlock")
        if rank not in w.locks:
            raise MPIException(ERR_RMA_SYNC, f"Win.Unlock: rank {rank} is not locked")
        kind = w.locks.pop(rank)
        if kind == LOCK_EXCLUSIVE:
            K.unlock_exclusive(self._lock_word(w, rank))
            self._wake_lock_waiters(w, (rank,))
        elif kind == LOCK_SHARED:
            K.unlock_shared(self._lock_word(w, rank))
            self._wake_lock_waiters(w, (rank,))

    def Lock_all(self, assertion: int = 0) -> None:
        """A shared access epoch on every rank of the window."""
        w = self._w()
        assertion = _check_assertion(assertion)
        if w.lock_all or w.locks:
            raise MPIException(ERR_RMA_SYNC, "Win.Lock_all: the window is locked already")
        if not assertion & MODE_NOCHECK:
            taken = []
            try:
                for r in range(w.n):
                    self._take(w, r, K.try_lock_shared, "Win.Lock_all")
                    taken.append(r)
            except BaseException:
                for r in taken:
                    K.unlock_shared(self._lock_word(w, r))
                self._wake_lock_waiters(w, taken)
                raise
        w.lock_all = 1 if not assertion & MODE_NOCHECK else 2

    def Unlock_all(self) -> None:
        """End the epoch of Lock_all."""
        w = self._w()
        if not w.lock_all:
            raise MPIException(ERR_RMA_SYNC, "Win.Unlock_all: no Lock_all epoch")
        if w.lock_all == 1:
            for r in range(w.n):
                K.unlock_shared(self._lock_word(w, r))
            self._wake_lock_waiters(w, range(w.n))
        w.lock_all = False

    def _check_passive(self, w: Any, rank: Any, call: str) -> None:
        if int(rank) != PROC_NULL:
            rank = self._rank(w, rank, call)
            if rank not in w.locks and not w.lock_all:
                raise MPIException(ERR_RMA_SYNC, f"{call}: rank {rank} is not locked")

    # The operations are complete when their calls return, so Flush* and Sync only let the
    # other green threads of this process run: a program polling window memory between them
    # (mpi4py.util.sync's spin loops) must not starve a hosted rank that would write it. With no
    # other green thread, every FLUSH_POLL-th Flush still makes progress (pushes queued sends,
    # drains the queues), so a program that loops on Flush never stalls its own messages.
    # The fast path tests the epoch and a countdown only: the checked path looks at the
    # scheduler once in FLUSH_CHECK calls when this green thread is alone (the others can only
    # become runnable through a call of ours into the scheduler, so at worst FLUSH_CHECK Flush
    # calls pass before they run), and on every call while other green threads exist.
    def Flush(self, rank: int) -> None:
        """Complete the operations to rank (they are complete already)."""
        try:
            w = self._ref.state
            if w.flush_ticks and rank in w.locks:
                w.flush_ticks -= 1
                return
        except AttributeError:  # WIN_NULL: the checked path says so
            pass
        self._flush(rank, "Win.Flush")

    def Flush_local(self, rank: int) -> None:
        """Complete the operations to rank locally (they are complete already)."""
        try:
            w = self._ref.state
            if w.flush_ticks and rank in w.locks:
                w.flush_ticks -= 1
                return
        except AttributeError:
            pass
        self._flush(rank, "Win.Flush_local")

    def _flush(self, rank: Any, call: str) -> None:
        """Flush's checked path: the epoch, then the scheduler (see above)."""
        w = self._w()
        self._check_passive(w, rank, call)
        sched = w.sched
        if sched.ready or sched.waiting:
            w.flush_ticks = 0  # every Flush lets the other green threads run
            sched.pause()
            return
        w.flush_ticks = FLUSH_CHECK
        if w.flush_rounds:
            w.flush_rounds -= 1
            return
        w.flush_rounds = FLUSH_POLL // FLUSH_CHECK - 1
        sched.pause()

    def Flush_all(self) -> None:
        """Complete every operation (they are complete already)."""
        w = self._w()
        if not w.locks and not w.lock_all:
            raise MPIException(ERR_RMA_SYNC, "Win.Flush_all: no passive-target epoch")
        w.engine.sched.pause()

    def Flush_local_all(self) -> None:
        """Complete every operation locally (they are complete already)."""
        self.Flush_all()

    def Sync(self) -> None:
        """Synchronise the public and private copies: one memory here (WIN_UNIFIED)."""
        self._w().engine.sched.pause()

    # -- general active target: post / start / complete / wait -----------------------------------
    def _group_ranks(self, w: Any, group: Any, call: str) -> list[int]:
        """The window ranks of a group's members."""
        from .groups import Group

        if not isinstance(group, Group):
            raise TypeError(f"{call}: expected a Group, got {type(group).__name__}")
        ranks = []
        for wr in group._ranks:
            if wr not in w.world_ranks:
                raise MPIException(ERR_ARG, f"{call}: rank {wr} of the group is not in the window")
            ranks.append(w.world_ranks.index(wr))
        return ranks

    def _counter(self, w: Any, owner: int, kind: int, about: int) -> int:
        """Address of owner's posted (kind 0) or completed (kind 1) counter about rank `about`."""
        from .window import W_HEAD

        return w.ctl(owner) + (W_HEAD + kind * w.n + about) * 8

    def Post(self, group: Any, assertion: int = 0) -> None:
        """Start an exposure epoch for the origins in group."""
        w = self._w()
        _check_assertion(assertion)
        if w.post_group is not None:
            raise MPIException(ERR_RMA_SYNC, "Win.Post: an exposure epoch is open already")
        ranks = self._group_ranks(w, group, "Win.Post")
        for o in ranks:
            K.add_word(self._counter(w, o, 0, w.rank), 1)
        w.wake_peers()
        w.post_group = ranks

    def Start(self, group: Any, assertion: int = 0) -> None:
        """Start an access epoch to the targets in group (waits for their Post)."""
        w = self._w()
        _check_assertion(assertion)
        if w.start_group is not None:
            raise MPIException(ERR_RMA_SYNC, "Win.Start: an access epoch is open already")
        ranks = self._group_ranks(w, group, "Win.Start")
        for t in ranks:
            addr = self._counter(w, w.rank, 0, t)
            seen = w.posts_seen[t]
            w.engine.sched.wait(lambda a=addr, s=seen: K.load_word(a) > s, ("Win.Start", w.world_ranks[t], 0))
            w.posts_seen[t] = seen + 1
        w.start_group = ranks

    def Complete(self) -> None:
        """End the access epoch of Start."""
        w = self._w()
        if w.start_group is None:
            raise MPIException(ERR_RMA_SYNC, "Win.Complete: no access epoch (Start)")
        for t in w.start_group:
            K.add_word(self._counter(w, t, 1, w.rank), 1)
        w.wake_peers()
        w.start_group = None

    def _completed(self, w: Any) -> bool:
        return all(K.load_word(self._counter(w, w.rank, 1, o)) > w.completes_seen[o] for o in w.post_group)

    def _consume_completes(self, w: Any) -> None:
        for o in w.post_group:
            w.completes_seen[o] += 1
        w.post_group = None

    def Wait(self) -> None:
        """End the exposure epoch of Post (waits for every origin's Complete)."""
        w = self._w()
        if w.post_group is None:
            raise MPIException(ERR_RMA_SYNC, "Win.Wait: no exposure epoch (Post)")
        w.engine.sched.wait(lambda: self._completed(w), ("Win.Wait", -1, 0))
        self._consume_completes(w)

    def Test(self) -> bool:
        """Whether every origin has called Complete (then the exposure epoch ends)."""
        w = self._w()
        if w.post_group is None:
            raise MPIException(ERR_RMA_SYNC, "Win.Test: no exposure epoch (Post)")
        if not self._completed(w):
            w.engine.sched.pause()  # let hosted origins run, as a polling Test must
            return False
        self._consume_completes(w)
        return True
