"""The collectives' hot call sites: the records that let a repeated call skip argument parsing.

One job: own the hot paths' state and its invariants. The state is created here
(`HotCallSites._init_hot_sites`), read by the hot halves of Barrier, Bcast, Reduce and Allreduce
here, filled here (`_remember_*`, called by the checked paths of mpi/collectives.py and the
hosted dispatch of mpi/hosted.py) and dropped here (`_forget_hot_sites`: plan-cache overflow,
`Comm.Free`).

The hot paths (Barrier, Bcast, Reduce, Allreduce) remember, per call site's arrays, the plan
that ran: Comm._fast[kind] maps id(send array) to a coll.engine.HotRun (the plan bound to the
arrays' addresses, with op and root), checked by identity on every call. The record holds the
arrays themselves, so their ids cannot be reused while it exists, and an array object keeps its
memory, size and contiguity; its dtype can be reassigned in place, so that is checked (its
shape too, but the flat memory a collective moves stays the same). Not seen: memory moved
under a live array by `resize(refcheck=False)` or strides assigned in place (deprecated in
NumPy 2.4), both of which numpy itself calls unsafe. The dtypes they serve are
the ones whose interpreter the launcher warms; others take the general path. A Barrier's
record becomes the communicator's own `Barrier` attribute: the jitted call, bound to its words
(_HotBarrier), so a completed barrier runs no Python at all.

Each of Bcast, Reduce and Allreduce also keeps the record of its last hot call
(Comm._last_bcast, ...), checked first by identity: a loop over one buffer then skips `id()`
(which boxes a new int) and the table's lookup, about 110 of a hot Bcast's 525 ns measured in
one process (one rank, no message).

The data-movement calls (Gather, Scatter, Allgather, Alltoall) keep their records by both
buffer objects (Comm._moves, `_move_hit`), and a hosted group leader keeps its runs of the
processes' part (Comm._leader_runs, by call and id of the group buffer). When a communicator is
freed every record is marked, so a record someone kept (b = comm.Barrier) raises ERR_COMM.

A record is built at the second call with the same array objects, not at the first: a program
that passes new arrays every call (`comm.Allreduce(np.ones(1), out)`) would otherwise pay for a
record (a private copy of the plan words, a registration) that is never used again, about half
of such a call's cost (measured: 21 -> 11 us of CPU per call, one rank). The first sighting is
noted as a weak reference to the send (and receive) array by call kind and id, so a freed array
whose id is reused by the next new one is no second sighting.

The state lives in the communicator's own attributes, not in an object of its own: the hot
paths read it with one attribute load each, which is most of what a hot call costs in Python.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any

import numpy as np

from ..coll.elementwise import OP_USER
from ..coll.engine import Plan, barrier_entry, hot_entry
from ..coll.interpreter import HOT_DTYPES
from .buffers import plain_array, plain_spec
from .errhandler import install_call, remove_call
from .ops import SUM, Op

FAST_DTYPES = HOT_DTYPES  # the dtypes with a compiled one-argument run_at (coll/interpreter.py)
FAST_LIMIT = 64  # remembered call sites per communicator (they keep their arrays alive)
SIGHTINGS_LIMIT = 256  # first sightings noted per communicator (weak: they keep nothing alive)
# Hot-path kinds: the index of each call's table in Comm._fast.
BARRIER = 0
BCAST = 1
REDUCE = 2
ALLREDUCE = 3
# Data-movement calls with a hot path keyed by both buffers (see _move_hit).
GATHER = 10
SCATTER = 11
ALLGATHER = 12
ALLTOALL = 13


class _NoHotCall:
    """The last-call slots' value when there is no hot record: its send matches no argument."""

    __slots__ = ()
    send = object()


NO_HOT_CALL = _NoHotCall()


class _HotBarrier(functools.partial):
    """A communicator's Barrier once its plan is hot: interpreter.barrier_at bound to the plan
    words' address (a C-level call), holding the HotRun that owns the words (so they live as
    long as the call does) and completes stopped runs."""

    __slots__ = ("hot",)


class _MoveRun:
    """A data-movement call site's record: its HotRun and the caller's buffer objects (held, so
    their ids stay theirs while the record lives), checked by identity on every call."""

    __slots__ = ("hot", "sendbuf", "recvbuf", "root")

    def __init__(self, hot: Any, sendbuf: Any, recvbuf: Any, root: Any) -> None:
        self.hot, self.sendbuf, self.recvbuf, self.root = hot, sendbuf, recvbuf, root


def _aliases(buf: Any) -> bool:
    """Whether a byte view made from buf now stays a view of buf's memory: a C-contiguous array
    (or no buffer at all). Anything else was copied or parsed, and must be parsed every call."""
    return buf is None or (type(buf) is np.ndarray and buf.flags.c_contiguous and buf.flags.writeable)


class HotCallSites:
    """The hot halves of Barrier, Bcast, Reduce and Allreduce, and the records they run; mixed
    into Comm. A call without a matching record goes to its checked half (`_barrier_checked`,
    `_bcast_checked`, `_reduce_checked`, `_allreduce_checked`: mpi/collectives.py)."""

    def _init_hot_sites(self) -> None:
        """Create the (empty) hot-path state of a new communicator."""
        # One table per kind (Bcast, Reduce, Allreduce) by id of the send array, and Barrier's
        # one plan; the fifth: a hosted group leader's runs of the processes' part, by (call, id
        # of its array). Slot 0 is unused (Barrier's record is _fast_barrier).
        self._fast: list[dict[Any, Any]] = [{}, {}, {}, {}, {}]
        # The same tables under their own names: one attribute load on the hot path, not three steps.
        self._hot_bcast, self._hot_reduce, self._hot_allreduce, self._leader_runs = self._fast[1:]
        self._fast_barrier: Any = None
        # The record of each call's last hot run, checked before its table.
        self._last_bcast = self._last_reduce = self._last_allreduce = NO_HOT_CALL
        # Data-movement hot paths by (call, send id, recv id, root), and each call's last one by call.
        self._moves: dict[Any, Any] = {}
        # Call sites seen once on the checked path: key -> weak references to its arrays.
        self._sightings: dict[Any, tuple[Any, ...]] = {}

    def _seen_before(self, key: Any, *arrays: Any) -> bool:
        """Whether these very array objects were seen under key by an earlier call (the second
        sighting: now worth a record); notes them otherwise. None stands for itself; objects
        without weak references count as seen: their records are built at once, as before."""
        noted = self._sightings.get(key)
        if noted is not None and all(arr is None if ref is None else ref() is arr
                                     for ref, arr in zip(noted, arrays, strict=True)):
            del self._sightings[key]
            return True
        try:
            refs = tuple(None if arr is None else weakref.ref(arr) for arr in arrays)
        except TypeError:
            return True
        if len(self._sightings) >= SIGHTINGS_LIMIT:
            self._sightings.clear()
        self._sightings[key] = refs
        return False

    # -- the hot halves ----------------------------------------------------------------------
    def Barrier(self) -> None:
        """Block until every rank of the communicator has called Barrier."""
        # Reached with a hot plan only by green-thread ranks (elsewhere it is the attribute).
        hot = self._fast_barrier
        if hot is not None:
            st = hot.call(hot.addr)
            if st:
                hot.stop(st)
            return
        self._barrier_checked()

    def Bcast(self, buf: Any, root: int = 0) -> None:
        """Broadcast root's buffer to every rank."""
        hot = self._last_bcast
        if hot.send is not buf:
            if (type(buf) is list or type(buf) is tuple) and (data := plain_array(buf)) is not None:
                # [data, MPI.DOUBLE] is data: its record serves (this class's own method: a
                # program's subclass sees one call).
                return HotCallSites.Bcast(self, data, root)
            hot = self._hot_bcast.get(id(buf))  # a hit holds buf itself (keyed by its id)
            if hot is None:
                self._bcast_checked(buf, root)
                return
            self._last_bcast = hot
        if hot.root == root and buf.dtype is hot.dtype:
            st = hot.call(hot.addr)
            if st:
                hot.stop(st)
            return
        self._bcast_checked(buf, root)

    def Reduce(self, sendbuf: Any, recvbuf: Any, op: Op = SUM, root: int = 0) -> None:
        """Combine every rank's sendbuf with op into root's recvbuf."""
        hot = self._last_reduce
        if hot.send is not sendbuf:
            if ((type(sendbuf) is list or type(sendbuf) is tuple) and (data := plain_array(sendbuf)) is not None
                    and not (isinstance(op, Op) and op.code == OP_USER)):  # (a user operator sees
                # the spec's own datatype: the checked path parses it)
                return HotCallSites.Reduce(self, data, plain_spec(recvbuf), op, root)  # (see Bcast)
            hot = self._hot_reduce.get(id(sendbuf))  # a hit holds sendbuf itself (keyed by its id)
            if hot is None:
                self._reduce_checked(sendbuf, recvbuf, op, root)
                return
            self._last_reduce = hot
        if hot.op is op and hot.root == root and sendbuf.dtype is hot.dtype:
            recv = hot.recv
            if (recv is recvbuf or self.rank != root) and recv.dtype is hot.recv_dtype:
                st = hot.call(hot.addr)
                if st:
                    hot.stop(st)
                return
        self._reduce_checked(sendbuf, recvbuf, op, root)

    def Allreduce(self, sendbuf: Any, recvbuf: Any, op: Op = SUM) -> None:
        """Combine every rank's sendbuf with op into every rank's recvbuf."""
        hot = self._last_allreduce
        if hot.send is not sendbuf:
            if ((type(sendbuf) is list or type(sendbuf) is tuple) and (data := plain_array(sendbuf)) is not None
                    and not (isinstance(op, Op) and op.code == OP_USER)):  # (see Reduce)
                return HotCallSites.Allreduce(self, data, plain_spec(recvbuf), op)  # (see Bcast)
            hot = self._hot_allreduce.get(id(sendbuf))  # a hit holds sendbuf itself (keyed by its id)
            if hot is None:
                self._allreduce_checked(sendbuf, recvbuf, op)
                return
            self._last_allreduce = hot
        if (hot.recv is recvbuf and hot.op is op and sendbuf.dtype is hot.dtype
                and recvbuf.dtype is hot.recv_dtype):
            st = hot.call(hot.addr)
            if st:
                hot.stop(st)
            return
        self._allreduce_checked(sendbuf, recvbuf, op)

    def _move_hit(self, call: int, sendbuf: Any, recvbuf: Any, root: Any) -> bool:
        """Run the plan remembered for these very buffer objects (views of their memory were kept,
        so no argument parsing); True if it ran, False to take the checked path. The call's last
        record (under the key `call` itself) is tried first: a loop over the same buffers then
        builds no key tuple and boxes no ids."""
        moves = self._moves
        hit = moves.get(call)
        if hit is None or hit.sendbuf is not sendbuf or hit.recvbuf is not recvbuf or hit.root != root:
            hit = moves.get((call, id(sendbuf), id(recvbuf), root))
            if hit is None or hit.sendbuf is not sendbuf or hit.recvbuf is not recvbuf:
                return False
            moves[call] = hit
        hot = hit.hot
        # One jitted call with the plan words' address (the arrays' addresses are in them): no
        # unboxing of four arrays. Stashed messages stop it with NEED_PENDING (see run_at).
        st = hot.call(hot.addr)
        if st:
            hot.stop(st)
        return True

    # -- filling the records (from the checked paths) ----------------------------------------
    def _remember_run(self, fast: tuple[int, int], plan: Plan, send: np.ndarray, recv: np.ndarray,
                      tmp: np.ndarray, op: Any) -> None:
        """Keep the plan that just ran as the hot record of its call site; fast = (hot-path kind,
        root), send and recv the caller's own arrays. Only for the warmed dtypes and predefined
        operators (a user operator's steps run in Python anyway)."""
        if (op is not None and op.code == OP_USER) or send.dtype not in FAST_DTYPES:
            return
        which, root = fast
        if which != BARRIER:
            # The objects the hot half checks: away from the root a Reduce's recv is a new empty
            # view every call, and a Bcast has none.
            checked = recv if which == ALLREDUCE or (which == REDUCE and self.rank == root) else None
            if not self._seen_before((which, id(send)), send, checked):
                hot_entry(send.dtype)  # its kernel, for the record the next call builds (preload.py)
                return
        hot = self._coll.hot(plan, send, recv, tmp, op, root)
        if which != BARRIER:
            self._remember_hot(which, send, hot)
        else:
            self._fast_barrier = hot
            if self._engine.host_of is None:
                # Not for green-thread ranks: a stop there switches threads, and a switch
                # should not happen under a jitted frame (objmode).
                bound = _HotBarrier(barrier_entry(), hot.addr)
                bound.hot = hot
                install_call(self, "Barrier", bound)  # under an error handler's guard, if any

    def _remember_site(self, which: int, send: np.ndarray, site: Any) -> None:
        """Keep a hosted two-level call (a TwoLevelSite, mpi/hosted.py) as its call site's hot
        record, for the warmed dtypes (as a plan's record)."""
        if send.dtype in FAST_DTYPES:
            self._remember_hot(which, send, site)

    def _remember_hot(self, which: int, send: np.ndarray, hot: Any) -> None:
        """Keep a call site's hot record (a HotRun or a hosted TwoLevelSite) in its call's table."""
        table = self._fast[which]
        if len(table) >= FAST_LIMIT:
            table.clear()
        table[id(send)] = hot
        if which == BCAST:
            self._last_bcast = hot
        elif which == REDUCE:
            self._last_reduce = hot
        elif which == ALLREDUCE:
            self._last_allreduce = hot

    def _remember_move(self, move: tuple, plan: Plan, send: np.ndarray, recv: np.ndarray, tmp: np.ndarray) -> None:
        """Keep a data-movement call's plan for _move_hit; move = (call, sendbuf, recvbuf, root),
        the caller's buffer objects, whose byte views send and recv must be (see _aliases)."""
        if self._may_keep_move(move, send):
            self._keep_move(move, self._coll.hot(plan, send, recv, tmp))

    def _remember_move_site(self, move: tuple, send: np.ndarray, site: Any) -> None:
        """Keep a routed data-movement call (a PairRoute, mpi/pair_collectives.py) for _move_hit,
        as _remember_move keeps a plan."""
        if self._may_keep_move(move, send):
            self._keep_move(move, site)

    def _may_keep_move(self, move: tuple, send: np.ndarray) -> bool:
        # A record only for buffers whose byte views alias them (see _aliases), on the second
        # sighting of the same objects.
        call, sendbuf, recvbuf, root = move
        if send.dtype not in FAST_DTYPES or not _aliases(sendbuf) or not _aliases(recvbuf):
            return False
        return self._seen_before((call, id(sendbuf), id(recvbuf), root), sendbuf, recvbuf)

    def _keep_move(self, move: tuple, hot: Any) -> None:
        call, sendbuf, recvbuf, root = move
        if len(self._moves) >= FAST_LIMIT:
            self._moves.clear()
        hit = _MoveRun(hot, sendbuf, recvbuf, root)
        self._moves[(call, id(sendbuf), id(recvbuf), root)] = self._moves[call] = hit

    def _remember_leader_run(self, key: tuple, plan: Plan, send: np.ndarray, recv: np.ndarray, tmp: np.ndarray,
                             code: int) -> None:
        """Keep a hosted group leader's run of the processes' part (mpi/hosted.py), by call and
        group buffer; the record holds send, so its id stays its own."""
        if send.dtype not in FAST_DTYPES or code == OP_USER:
            return
        runs = self._leader_runs
        if len(runs) >= FAST_LIMIT:
            runs.clear()
        # Keyed by the group buffer too: generations alternate between two sets.
        runs[(key, id(send))] = self._coll.hot(plan, send, recv, tmp)

    def _install_barrier(self, barrier: Any) -> None:
        """Make `barrier` this communicator's Barrier (a hosted rank's local barrier) until the
        records are forgotten."""
        install_call(self, "Barrier", barrier)

    # -- dropping them ---------------------------------------------------------------------------
    def _forget_hot_sites(self, freed: bool = False) -> None:
        """Drop every remembered hot-path plan (plan-cache overflow, Free); when freed, a hot
        Barrier someone kept (b = comm.Barrier) raises ERR_COMM from then on."""
        if freed:
            for hot in [self._fast_barrier, *(h for table in self._fast for h in table.values())]:
                if hot is not None:
                    hot.free()
        self._fast_barrier = None
        self._last_bcast = self._last_reduce = self._last_allreduce = NO_HOT_CALL
        remove_call(self, "Barrier")
        for table in self._fast:
            table.clear()
        self._moves.clear()
        self._sightings.clear()
