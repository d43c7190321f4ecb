"""Drive collective programs: build (and cache) the plan, run the interpreter, handle its stops.

The fast path is one jitted call: fill nothing, reset two words, run. Everything the interpreter
cannot do alone comes back here: back off when it is blocked (through the rank's scheduler, so
aborts and dead peers turn into errors), apply a Python reduction operator, deliver a message
that arrived for another communicator's collective, report a mismatch.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from ..bus import held, ring
from ..bus import layout as L
from ..bus.compiling import numba_visible
from ..errors import ERR_COMM, ERR_INTERN, ERR_OTHER, ERR_TRUNCATE, MPIException
from . import interpreter as I
from .schedules import Program

# Collective kinds: the tag of their messages on the collective plane, and (plus
# L.COLL_CALL_BASE) the blocked-call code the launcher reports.
KINDS = ("Barrier", "Bcast", "Reduce", "Allreduce", "Gather", "Gatherv", "Scatter", "Scatterv",
         "Allgather", "Allgatherv", "Alltoall", "Alltoallv", "Scan", "Exscan", "Reduce_scatter_block")
KIND_TAG = {name: i + 1 for i, name in enumerate(KINDS)}

_U8 = np.dtype(np.uint8)
_EMPTY_U8 = np.empty(0, np.uint8)


class Plan:
    """One rank's compiled collective: its plan words (see interpreter.py) and scratch array."""

    __slots__ = ("words", "tmp_count", "kind", "n", "ranks", "rows", "itemsize")

    def __init__(self, words: np.ndarray, tmp_count: int, kind: str, ranks: list[int], rows: np.ndarray) -> None:
        self.words = words
        self.tmp_count = tmp_count
        self.kind = kind
        self.n = len(ranks)
        self.ranks = ranks
        self.rows = rows
        self.itemsize = 1  # of the arrays of the current run (progress of sends is in bytes)


class HotRun:
    """A plan bound to one call site's arrays, for the hot paths of Barrier, Bcast, Reduce and
    Allreduce: a private copy of the plan words with the arrays' addresses in them, so a call is
    `call(addr)` (interpreter.entry_point_at; addr is the words' address), or barrier_at(addr),
    instead of unboxing four arrays. Holding the arrays keeps those addresses valid, and keeps
    their ids (by which the MPI layer finds a call site's record) from being reused; `stop`
    completes a run the interpreter stopped."""

    __slots__ = ("engine", "plan", "words", "addr", "send", "recv", "tmp", "dtype", "recv_dtype", "op", "root",
                 "call", "fn", "__weakref__")

    def __init__(self, engine: CollEngine, plan: Plan, send: np.ndarray, recv: np.ndarray, tmp: np.ndarray,
                 op: Any, root: int) -> None:
        words = plan.words.copy()
        for at, arr in ((I.P_SEND_AT, send), (I.P_RECV_AT, recv), (I.P_TMP_AT, tmp)):
            words[at] = arr.ctypes.data
            words[at + 1] = arr.size
        self.engine = engine
        self.plan = Plan(words, plan.tmp_count, plan.kind, plan.ranks, plan.rows)
        self.words = words
        self.addr = words.ctypes.data
        self.send, self.recv, self.tmp = send, recv, tmp
        self.dtype, self.recv_dtype = send.dtype, recv.dtype
        self.op, self.root = op, root
        self.call = _hot_entry(send.dtype)
        self.fn = engine.entry(send.dtype)
        I.register_hot_stop(words, self)

    def stop(self, st: int) -> None:
        """Complete a hot run the interpreter stopped with code st (back off, deliver, raise)."""
        self.engine.finish(self.plan, self.fn, st, self.send, self.recv, self.tmp)

    def free(self) -> None:
        """The communicator is freed: a hot call kept from before raises ERR_COMM."""
        self.words[I.P_FREED] = 1


@functools.cache
def _hot_entry(dtype: np.dtype) -> Callable[..., int]:
    return I.entry_point_at(dtype)


def hot_entry(dtype: np.dtype) -> Callable[..., int]:
    """The hot record's kernel for dtype (loaded at its first call, then kept)."""
    return _hot_entry(dtype)


@functools.lru_cache(maxsize=1)
def barrier_entry() -> Callable[[int], None]:
    """The compiled interpreter.barrier_at (bind it to a HotRun's addr), its objmode stop warmed.

    The warm-up (interpreter.warm_objmode_stop: numba compiles the objmode block at its first
    run, about 0.1 s of CPU, and needs numba importable then) happens here, at the first hot
    Barrier, with numba made visible for it, rather than at every rank's start: a program that
    never calls Barrier twice does not pay it."""
    fn = I.barrier_entry()
    with numba_visible():
        I.warm_objmode_stop()
    return fn


@functools.lru_cache(maxsize=256)
def local_reducer(code: int, n: int, dtype: np.dtype) -> tuple[np.ndarray, Callable[..., int]]:
    """(plan words, entry point) of a one-row program b = a op b over n elements of dtype, built
    once per shape; call fn(words, a, b, empty) with 1-D contiguous arrays (the plan is ready
    again after every DONE)."""
    prog = Program()
    prog.reduce((0, 0), (1, 0), (1, 0), n)
    words = plan_words(prog.array(), 1, [0], [0], 0, 0, code, 0)
    words[I.P_WSTART] = -1
    return words, I.entry_point(dtype)


def local_reduce(code: int, a: np.ndarray, b: np.ndarray) -> None:
    """b = a op b with a predefined operator, through the same jitted kernels (Reduce_local)."""
    a1 = np.ascontiguousarray(a).reshape(-1)
    b1 = b.reshape(-1)
    words, fn = local_reducer(code, a1.size, a1.dtype)
    st = fn(words, a1, b1, b1[:0])
    assert st == I.DONE


def _signal_rounds_only(rows: np.ndarray) -> bool:
    """Whether a program is one or more rounds of SIGNAL, AWAIT, WAIT (interpreter.P_ROUNDS)."""
    if len(rows) == 0 or len(rows) % 3:
        return False
    return all(tuple(rows[i: i + 3, 0]) == (I.SIGNAL, I.AWAIT, I.WAIT) for i in range(0, len(rows), 3))


def plan_words(rows: np.ndarray, n: int, txh: list[int], rxh: list[int], ctx: int, tag: int,
               op: int, spins: int) -> np.ndarray:
    """The interpreter's plan words for a compiled program (rows) over n ranks: the program, its
    queue handles (txh, rxh), context, tag, operator and first spin count, laid out as
    interpreter.P_* says. Public because the warm-up (toro_mpi.warm) and the probes build plans
    by hand."""
    nsteps = len(rows)
    layout = {}
    at = I.P_HEADER
    for name, size in (("prog", nsteps * I.ROW), ("progress", nsteps), ("txh", n), ("rxh", n),
                       ("pending", n), ("info", L.INFO_LEN), ("busy", 2 * n)):
        layout[name] = at
        at += size
    w = np.zeros(at, np.int64)
    w[I.P_LEN] = at
    w[I.P_NSTEPS] = nsteps
    w[I.P_ROUNDS] = int(_signal_rounds_only(rows))
    w[I.P_CTX] = ctx
    w[I.P_TAG] = tag
    w[I.P_OP] = op
    w[I.P_SPINS] = spins
    w[I.P_N] = n
    w[I.P_PROG] = layout["prog"]
    w[I.P_PROGRESS] = layout["progress"]
    w[I.P_TXH] = layout["txh"]
    w[I.P_RXH] = layout["rxh"]
    w[I.P_PENDING] = layout["pending"]
    w[I.P_INFO] = layout["info"]
    w[I.P_BUSY] = layout["busy"]
    if nsteps:
        w[layout["prog"]: layout["prog"] + nsteps * I.ROW] = rows.reshape(-1)
    w[layout["txh"]: layout["txh"] + n] = txh
    w[layout["rxh"]: layout["rxh"] + n] = rxh
    return w


class CollEngine:
    """One rank's collective engine over the collective plane of a transport."""

    def __init__(self, transport: Any, rank: int, sched: Any, spins: int, alone_spins: int = 0) -> None:
        self.t = transport
        self.rank = rank
        self.sched = sched
        # Polls without progress inside one interpreter call before it returns BLOCKED: first
        # call (a collective that is about to complete should not leave jitted code) and later.
        self.first_spins = spins
        # Polls per later attempt, once the first one blocked. Hosted with other ranks (spins of
        # 1), the scheduler's other ranks are the likelier senders: never spin there.
        self.later_spins = 64 if spins > 1 else 1
        # Hosted: polls a blocked collective makes inside jitted code when no other green thread
        # of the process can run before it moves (Scheduler.alone), e.g. the last rank into a
        # local group waiting for the other processes: no one here to give the core to.
        self.alone_spins = alone_spins
        self._entries: dict[np.dtype, Callable[..., int]] = {}
        # Messages that arrived on the collective plane for a communicator other than the one
        # whose collective was running: (context, world source) -> [(tag, payload)].
        self.stash: dict[tuple[int, int], deque[tuple[int, np.ndarray]]] = {}
        # len(stash), where the hot paths' jitted code can read it (interpreter P_STASH_AT).
        self.stash_count = np.zeros(1, np.int64)

    # -- plans ---------------------------------------------------------------------------
    def make_plan(self, kind: str, prog: Program, ranks: list[int], ctx: int, op: int) -> Plan:
        """Lay out a program for the interpreter, with the comm's collective-plane handles."""
        me = ranks.index(self.rank)
        if self.t is not None and len(ranks) > 1:
            txh = [self.t.coll_tx_handles[w] if i != me else 0 for i, w in enumerate(ranks)]
            rxh = [self.t.coll_rx_handles[w] if i != me else 0 for i, w in enumerate(ranks)]
        else:
            txh = rxh = [0] * len(ranks)
        rows = prog.array()
        words = plan_words(rows, len(ranks), txh, rxh, ctx, KIND_TAG[kind], op, self.first_spins)
        words[I.P_WSTART] = -1
        words[I.P_STASH_AT] = self.stash_count.ctypes.data
        return Plan(words, prog.tmp, kind, ranks, rows)

    def hot(self, plan: Plan, send: np.ndarray, recv: np.ndarray, tmp: np.ndarray, op: Any = None,
            root: int = 0) -> HotRun:
        """A hot-path record of plan bound to these arrays (see HotRun)."""
        return HotRun(self, plan, send, recv, tmp, op, root)

    def run_lone(self, hot: HotRun) -> None:
        """Run a hot record for the last rank into a hosted group (the processes' part): when no
        other green thread can run meanwhile, its first call spins alone_spins polls in jitted
        code, instead of stopping at once and coming back through the scheduler's wait (which
        cost a fifth of an 8-rank hosted barrier: finish, the poll, the alone check)."""
        lone = self.alone_spins and self.sched.none_runnable()
        hot.words[I.P_SPINS] = self.alone_spins if lone else self.first_spins
        st = hot.call(hot.addr)
        if st:
            hot.stop(st)

    def entry(self, dtype: np.dtype) -> Callable[..., int]:
        """The interpreter's compiled entry point for arrays of dtype."""
        fn = self._entries.get(dtype)
        if fn is None:
            fn = self._entries[dtype] = I.entry_point(dtype)
        return fn

    # -- running -------------------------------------------------------------------------
    def execute(self, plan: Plan, send: np.ndarray, recv: np.ndarray, tmp: np.ndarray,
                user_op: Any = None, datatype: Any = None) -> None:
        """Run a plan to completion: send, recv and tmp are 1-D C-contiguous arrays of one dtype."""
        words = plan.words
        if self.stash:
            self._fill_pending(plan)
        fn = self._entries.get(send.dtype) or self.entry(send.dtype)
        st = fn(words, send, recv, tmp)
        if st != I.DONE:
            self.finish(plan, fn, st, send, recv, tmp, user_op, datatype)

    def finish(self, plan: Plan, fn: Callable[..., int], st: int, send: np.ndarray, recv: np.ndarray,
               tmp: np.ndarray, user_op: Any = None, datatype: Any = None) -> None:
        """Complete a run the interpreter stopped (st): back off, call Python, or raise."""
        plan.itemsize = send.itemsize
        try:
            self._slow(plan, fn, st, send, recv, tmp, user_op, datatype)
        except BaseException:
            self._release_held(plan)
            raise
        finally:
            # Whatever happened, the plan starts from scratch next time.
            words = plan.words
            words[I.P_PC] = 0
            words[I.P_WSTART] = -1
            words[I.P_SPINS] = self.first_spins
            base = int(words[I.P_PENDING])
            words[base: base + plan.n] = 0

    @staticmethod
    def _release_held(plan: Plan) -> None:
        """Hand back to their senders the messages a failed run still holds at the heads of their
        rings (a Reduce's segments, interpreter RX_HELD): as the copying path would have
        consumed them, and the next collective on those queues must not find them there."""
        words = plan.words
        rows = plan.rows
        progress = int(words[I.P_PROGRESS])
        state = words[progress: progress + len(rows)]
        for i in np.flatnonzero((rows[:, 0] == I.RECV) & (state == I.RX_HELD)):
            held.release_held(int(words[int(words[I.P_RXH]) + int(rows[i, 1])]))
            state[i] = 0

    def _slow(self, plan: Plan, fn: Callable[..., int], st: int, send: np.ndarray, recv: np.ndarray,
              tmp: np.ndarray, user_op: Any, datatype: Any) -> None:
        words = plan.words
        arrays = (send, recv, tmp)
        while st != I.DONE:
            if st == I.BLOCKED:
                st = self._wait_blocked(plan, fn, arrays)
                continue
            if st == I.NEED_REDUCE:
                self._python_reduce(plan, arrays, user_op, datatype)
                words[I.P_PC] += 1
            elif st == I.NEED_STASH:
                self._deliver_stashed(plan, arrays)
            elif st == I.FOREIGN:
                self._take_foreign(plan)
            elif st == I.MISMATCH:
                raise self._mismatch(plan, arrays)
            elif st == I.NEED_PENDING:
                self._fill_pending(plan)
            elif st == I.FREED:
                raise MPIException(ERR_COMM, f"{plan.kind}: the communicator has been freed")
            elif st == I.ERR_BAD_PROGRAM:
                raise MPIException(ERR_INTERN, f"{plan.kind}: internal error: a program row reaches outside "
                                   f"its buffers ({plan.rows[int(words[I.P_PC])].tolist()})")
            else:
                what = L.ERR_MESSAGES.get(st, f"code {st}")
                raise MPIException(ERR_INTERN, f"{plan.kind}: bus corruption on the collective plane: {what}")
            st = fn(words, send, recv, tmp)

    def _wait_blocked(self, plan: Plan, fn: Callable[..., int], arrays: tuple[np.ndarray, ...]) -> int:
        words = plan.words
        if self.alone_spins and self.sched.alone():
            words[I.P_SPINS] = self.alone_spins
            st = fn(words, *arrays)
            if st != I.BLOCKED:
                return st
        words[I.P_SPINS] = self.later_spins
        result = [I.BLOCKED]
        polls = [0]

        def progressed() -> bool:
            at = words[I.P_PC] + words[I.P_MOVED]
            st = fn(words, *arrays)
            if st == I.BLOCKED:
                if words[I.P_PC] + words[I.P_MOVED] != at:
                    self.sched.progressed = True  # moved on without finishing: not idle
                polls[0] += 1
                if polls[0] % 256 == 0 and self._finished_peers(plan):
                    # A rank publishes its last message before it marks itself finished: look
                    # once more before calling the collective hopeless.
                    st = fn(words, *arrays)
                    if st == I.BLOCKED and self._finished_peers(plan):
                        raise self._orphaned(plan)
                if polls[0] % 256 == 0:
                    self._check_signal_peers(plan)
            result[0] = st
            return st != I.BLOCKED

        def blocked() -> tuple[str, int, int]:
            # Worked out only if someone reads it (the process goes idle): not on every wait.
            peer = self._blocked_peer(plan)
            return (plan.kind, plan.ranks[peer] if peer >= 0 else -2, 0)

        self.sched.wait(progressed, blocked)
        return result[0]

    # -- stops -----------------------------------------------------------------------------
    def _pending_rows(self, plan: Plan) -> list[int]:
        """Rows of the open window that are not complete yet."""
        words = plan.words
        lo, hi = int(words[I.P_WSTART]), int(words[I.P_PC])
        prog_progress = int(words[I.P_PROGRESS])
        out = []
        for i in range(max(lo, 0), hi):
            row = plan.rows[i]
            state = int(words[prog_progress + i])
            if (row[0] == I.RECV or row[0] == I.AWAIT) and state != 2 and state != I.RX_HELD:
                out.append(i)
            elif row[0] == I.SEND and (state < 0 or state < row[4] * plan.itemsize):
                out.append(i)
        return out

    def _blocked_peer(self, plan: Plan) -> int:
        rows = self._pending_rows(plan)
        return int(plan.rows[rows[0]][1]) if rows else -1

    def _finished_peers(self, plan: Plan) -> list[int]:
        """World ranks that have finalized although an open send or receive of the plan needs them."""
        if self.t is None:
            return []
        peers = {plan.ranks[int(plan.rows[i][1])] for i in self._pending_rows(plan)}
        return sorted(w for w in peers if self.t.peer_finished(w))

    def _check_signal_peers(self, plan: Plan) -> None:
        """A barrier waits for a peer's signal: if that peer's next collective message on this
        communicator is already in the queue, the peer called another collective than this one
        (a signal it posts in this barrier would have come before that message). Unless that
        signal is there by now: it may have arrived, with the message after it, since the plan
        last polled (the peer finished this barrier and went on), so it is looked for after the
        message, whose acquire makes everything the peer posted before it visible."""
        if self.t is None:
            return
        info = np.zeros(L.INFO_LEN, np.int64)
        peek = ring.entry_point(ring.rx_match, _U8)
        for i in self._pending_rows(plan):
            row = plan.rows[i]
            if row[0] != I.AWAIT:
                continue
            world = plan.ranks[int(row[1])]
            h = self.t.coll_rx_handles[world]
            st = peek(h, L.ANY, L.PEEK, _EMPTY_U8, info)
            if st == L.RX_NO_MATCH and info[L.INFO_CTX] == plan.words[I.P_CTX]:
                if ring.signals_waiting_reader()(h) > 0:
                    continue  # the plan takes it at its next poll
                raise self._kind_mismatch(plan, world, int(info[L.INFO_TAG]))

    def _orphaned(self, plan: Plan) -> MPIException:
        """A collective waiting on a rank that has finalized can never complete: fail it."""
        who = ", ".join(map(str, self._finished_peers(plan)))
        return MPIException(ERR_OTHER, f"{plan.kind}: rank {who} has finalized; this collective can never complete")

    def _fill_pending(self, plan: Plan) -> None:
        words = plan.words
        base = int(words[I.P_PENDING])
        ctx = int(words[I.P_CTX])
        for i, w in enumerate(plan.ranks):
            q = self.stash.get((ctx, w))
            words[base + i] = len(q) if q else 0

    def _target(self, plan: Plan, i: int, arrays: tuple[np.ndarray, ...]) -> np.ndarray:
        row = plan.rows[i]
        arr = arrays[min(int(row[2]), 2)]
        return arr[int(row[3]): int(row[3]) + int(row[4])]

    def _deliver_stashed(self, plan: Plan, arrays: tuple[np.ndarray, ...]) -> None:
        words = plan.words
        i = int(words[I.P_DETAIL])
        peer = int(plan.rows[i][1])
        world = plan.ranks[peer]
        ctx = int(words[I.P_CTX])
        q = self.stash[(ctx, world)]
        tag, payload = q.popleft()
        if not q:
            del self.stash[(ctx, world)]
            self.stash_count[0] = len(self.stash)
        words[int(words[I.P_PENDING]) + peer] -= 1
        target = self._target(plan, i, arrays)
        if tag != words[I.P_TAG]:
            raise self._kind_mismatch(plan, world, tag)
        if payload.nbytes != target.nbytes:
            raise MPIException(ERR_TRUNCATE, f"{plan.kind}: rank {world} sent {payload.nbytes} bytes, "
                               f"this rank expects {target.nbytes} (counts or datatypes differ between ranks)")
        target.view(np.uint8)[:] = payload
        words[int(words[I.P_PROGRESS]) + i] = 2

    def _take_foreign(self, plan: Plan) -> None:
        """Move the head message of a peer's collective queue (another communicator's) to the stash."""
        words = plan.words
        i = int(words[I.P_DETAIL])
        peer = int(plan.rows[i][1])
        world = plan.ranks[peer]
        h = self.t.coll_rx_handles[world]
        info = np.zeros(L.INFO_LEN, np.int64)
        match = ring.entry_point(ring.rx_match, _U8)
        match(h, L.ANY, L.PEEK, _EMPTY_U8, info)
        ctx, tag, total = int(info[L.INFO_CTX]), int(info[L.INFO_TAG]), int(info[L.INFO_TOTAL])
        if ctx == words[I.P_CTX]:
            raise self._kind_mismatch(plan, world, tag)
        payload = np.empty(total, np.uint8)
        st = match(h, L.ANY, L.ANY, payload, info)
        if st == L.RX_PARTIAL:
            resume = ring.entry_point(ring.rx_continue, _U8)
            # The rest of this message is on its way (its sender pushes as we drain).
            self.sched.wait(lambda: resume(h, payload) != L.RX_PARTIAL, (plan.kind, world, tag))
        elif st < 0:
            raise MPIException(ERR_INTERN, f"{plan.kind}: bus corruption: {L.ERR_MESSAGES.get(st, st)}")
        self.stash.setdefault((ctx, world), deque()).append((tag, payload))
        self.stash_count[0] = len(self.stash)

    def _kind_mismatch(self, plan: Plan, world: int, tag: int) -> MPIException:
        theirs = KINDS[tag - 1] if 1 <= tag <= len(KINDS) else f"tag {tag}"
        return MPIException(ERR_OTHER, f"collective mismatch on this communicator: rank {world} "
                            f"called {theirs} while this rank called {plan.kind}")

    def _mismatch(self, plan: Plan, arrays: tuple[np.ndarray, ...]) -> MPIException:
        words = plan.words
        i = int(words[I.P_DETAIL])
        info = words[int(words[I.P_INFO]): int(words[I.P_INFO]) + L.INFO_LEN]
        world = plan.ranks[int(plan.rows[i][1])]
        want = self._target(plan, i, arrays).nbytes
        return MPIException(ERR_TRUNCATE, f"{plan.kind}: rank {world} sent {int(info[L.INFO_TOTAL])} bytes, "
                            f"this rank expects {want} (counts or datatypes differ between ranks)")

    def _python_reduce(self, plan: Plan, arrays: tuple[np.ndarray, ...], user_op: Any, datatype: Any) -> None:
        """A REDUCE row with a user operator: out = a op b, calling fn(invec, inoutvec, datatype)."""
        row = plan.rows[int(plan.words[I.P_DETAIL])]
        _, abuf, aoff, bbuf, boff, obuf, ooff, count = (int(v) for v in row)
        if bbuf >= I.HELD:
            # The message of a RECV row: never held for a Python operator, so where it landed.
            recv_row = plan.rows[bbuf - I.HELD]
            bbuf, boff = int(recv_row[2]), int(recv_row[3])
        a = arrays[abuf][aoff: aoff + count]
        b = arrays[bbuf][boff: boff + count]
        out = arrays[obuf][ooff: ooff + count]
        # Buffers alias when they are the same array (MPI.IN_PLACE passes recv as send).
        if arrays[obuf] is arrays[bbuf] and ooff == boff:
            user_op.apply_buffers(a, out, datatype)
        elif arrays[obuf] is arrays[abuf] and ooff == aoff:
            inout = b.copy()
            user_op.apply_buffers(a, inout, datatype)
            out[:] = inout
        else:
            out[:] = b
            user_op.apply_buffers(a, out, datatype)
