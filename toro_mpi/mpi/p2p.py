"""Point-to-point engine: matching, unexpected messages, eager / rendezvous / heap / synchronous sends.

MPI semantics kept here:
- messages from one sender on one context are delivered in the order sent when their tags
  match (a virtqueue is FIFO; the unexpected list keeps arrival order; posted receives are
  matched in the order they were posted);
- ANY_SOURCE receives see every peer: each progress pass starts at a rotating peer;
- a receive buffer smaller than the message gets the first bytes and ERR_TRUNCATE naming both
  sizes; the rest of the message is consumed, never left to jam the queue;
- nothing is dropped: a full ring makes the sender wait (backpressure), a message nobody has
  asked for yet is copied to the unexpected list (or, for rendezvous and heap messages, only
  its header is);
- a rendezvous message (at least `rendezvous_threshold` bytes, between processes of this node,
  bus/layout.py "Rendezvous") is read straight out of its sender, by the receive kernel or by
  _slot_read, and acknowledged in a slot that completes the send: a standard send of that size
  completes only once its receiver, inside an MPI call, has read it (as Open MPI's above its
  eager limit). A rank about to go idle reads the ones nobody has asked for yet (read_held), so
  two ranks that both Send before they Recv still finish; not a synchronous send's, which must
  wait for its receive. An Irecv may put its reads off to the next progress pass (rndv_defer);
- a large eager message nobody has asked for yet is *parked*: only its header goes on the
  unexpected list, its payload stays in the ring (the sender's staging area, as Open MPI's
  rendezvous leaves it at the sender) until a receive matches it, which then copies it once,
  straight into its own buffer. The queue is FIFO, so while a parked message is at the head
  nothing behind it can be read: whenever the engine needs to look past it (a receive or probe
  that could take a later message from that sender, an acknowledgement awaited from it, an
  Iprobe, or the queue full behind it for PARK_FULL_PASSES passes, since its sender then waits
  for room that only this rank can make) it *spills* the message, copying it out as any other
  unexpected message, first; a matched probe (Mprobe) spills it too. Nothing is parked while the
  rank is idle (about to sleep or asleep: nobody would spill it), and going idle spills what is
  parked. Off for hosted ranks and queues to other nodes (see park_min);
- a send from the rank's shared heap (MPI.Alloc_mem memory, at least `heap_threshold` bytes)
  travels as a KIND_HEAP descriptor: the receiver copies the payload straight out of its read-only
  mapping of the sender's heap and acknowledges, and only then is the send complete, so the
  buffer may be reused as soon as Send returns or the request completes.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from ..bus import layout as L
from ..bus import ring_at
from ..bus.ring import compiled_or_none, copy_bytes, wire_type_of
from ..bus.transport import Transport, VirtioBus
from ..coll.engine import CollEngine
from ..config import load_config
from ..errors import ERR_INTERN, ERR_OTHER, ERR_PROC_ABORTED, ERR_TRUNCATE, ERR_TYPE, MPIException
from ..sched import Scheduler
from . import preload
from .buffers import byte_view
from .posted_run import NOT_APPLICABLE, PostedRun

ANY_SOURCE = -1
ANY_TAG = -1
PROC_NULL = -2

_EMPTY = np.empty(0, np.uint8)
_U8 = np.dtype(np.uint8)
# Position of the array argument of each transport function kind (see Transport).
_ARRAY_ARG = {"push": 6, "match": 3, "send": 3, "recv": 3, "wait": 3, "resume": 1, "send_rndv": 3, "isend_rndv": 3}
_KIND_EAGER = L.KIND_EAGER
_TX_NOT_STARTED = L.TX_NOT_STARTED
_RX_COMPLETE = L.RX_COMPLETE
_RX_EMPTY = L.RX_EMPTY
_MASK64 = (1 << 64) - 1
_UNKNOWN = object()  # isend's aux argument when the caller has not looked at the heap
_SPILL = object()  # Engine._parked_taker: copy the parked head out
# Progress passes a parked message may keep its queue full (its sender waiting for room) before
# it is spilled: a fraction of a millisecond, enough for a window of receives being posted.
PARK_FULL_PASSES = 200
# Default park threshold (bytes; [bus] park_threshold, whose comment gives the measurements).
PARK_MIN = 4096
# Irecvs from a source that skip putting their rendezvous reads off once deferring did not pay
# (Engine.rndv_defer), before it is tried again.
DEFER_RETRY = 4096
# Words of Engine.jit_state (see there and toro_mpi.jit).
JIT_DIRTY = 0
JIT_SLOW_MIN = 1


_WIRE_TYPES: dict[np.dtype, int] = {}


def type_flags(arr: np.ndarray | None) -> int:
    """Header flags naming the element type of arr (see layout.FLAG_TYPE_SHIFT)."""
    if arr is None:
        return 0
    code = _WIRE_TYPES.get(arr.dtype)
    if code is None:
        code = _WIRE_TYPES[arr.dtype] = wire_type_of(arr)
    return code << L.FLAG_TYPE_SHIFT


def _ravel(arr: np.ndarray) -> np.ndarray:
    """A 1-D view of a C-contiguous array."""
    return arr.reshape(-1)


def _scan_all(handles: np.ndarray, ready: np.ndarray) -> int:
    """rx_scan for a transport without one: every queue may hold something."""
    ready[:] = 1
    return len(ready)


class Msg:
    """A message that arrived before anyone asked for it (the unexpected list)."""

    __slots__ = ("src", "tag", "ctx", "kind", "flags", "cookie", "total", "data", "complete",
                 "aux0", "aux1", "sender", "claimed", "taken", "parked")

    def __init__(self, src: int, tag: int, ctx: int, kind: int, flags: int, cookie: int, total: int) -> None:
        self.src = src
        self.tag = tag
        self.ctx = ctx
        self.kind = kind
        self.flags = flags
        self.cookie = cookie
        self.total = total
        self.data: np.ndarray | None = None
        self.complete = False
        # Payload words of a rendezvous (pid, address) or heap (offset, token) message.
        self.aux0 = 0
        self.aux1 = 0
        self.sender: SendReq | None = None  # a synchronous send to ourselves
        self.claimed: RecvReq | None = None  # a receive that matched it while it was arriving
        self.taken = False  # matched by a matched probe (Mprobe): off the unexpected list
        # Still at the head of its sender's queue, payload unread (Engine.parked): data is None.
        self.parked = False


class SendReq:
    """State of one outgoing message."""

    __slots__ = ("dest", "kind", "flags", "tag", "ctx", "total", "cookie", "arr", "nbytes",
                 "sent", "need_ack", "acked", "done", "error", "keep", "internal", "user_tag", "addr")

    def __init__(self, dest: int, kind: int, flags: int, tag: int, ctx: int, total: int, cookie: int,
                 arr: np.ndarray, nbytes: int, need_ack: bool, keep: Any = None) -> None:
        self.dest = dest
        self.kind = kind
        self.flags = flags
        self.tag = tag
        self.ctx = ctx
        self.total = total
        self.cookie = cookie
        self.arr = arr
        self.nbytes = nbytes
        self.sent = L.TX_NOT_STARTED
        self.need_ack = need_ack
        # A synchronous or rendezvous send is done when it is both fully pushed and acknowledged;
        # the acknowledgement may arrive first (a receiver acks a fragmented message at its head).
        self.acked = False
        self.done = False
        self.error: MPIException | None = None
        self.keep = keep  # the user's buffer, alive until a rendezvous read is acknowledged
        self.internal = False
        self.user_tag = tag  # what blocked-call reports show (an object part travels under another tag)
        self.addr = 0  # a rendezvous request's buffer address (acknowledged in a slot)


# What a nonblocking send that left in one go completes with: shared, never modified.
SENT = SendReq(-1, L.KIND_EAGER, 0, 0, 0, 0, 0, _EMPTY, 0, False)
SENT.done = True


class RecvReq:
    """State of one posted receive."""

    __slots__ = ("src", "tag", "ctx", "arr", "cap", "done", "error", "source", "rtag", "nbytes",
                 "allocate", "on_complete", "parts", "rflags")

    def __init__(self, src: int, tag: int, ctx: int, arr: np.ndarray | None, cap: int) -> None:
        self.src = src
        self.tag = tag
        self.ctx = ctx
        self.arr = arr
        self.cap = cap
        self.allocate = arr is None  # object receives size their buffer on arrival
        self.done = False
        self.error: MPIException | None = None
        self.source = ANY_SOURCE
        self.rtag = ANY_TAG
        self.nbytes = 0
        self.rflags = 0  # header flags of the matched message (its element type)
        # Called as soon as the message is in (inside progress): an object receive posts the
        # receives of its out-of-band buffers here, so their senders can complete at once.
        self.on_complete: Callable[[RecvReq], None] | None = None
        self.parts: list[Any] = []

    def matches(self, src: int, tag: int, ctx: int) -> bool:
        """Whether a message (src, tag, ctx) satisfies this receive."""
        return ctx == self.ctx and (self.src == ANY_SOURCE or self.src == src) and (
            self.tag == ANY_TAG or self.tag == tag)


class Engine:
    """One rank's point-to-point progress engine over a Transport."""

    def __init__(self, transport: Transport | None, rank: int, size: int, settings: dict[str, Any],
                 sched_settings: dict[str, int], coll_settings: dict[str, int] | None = None,
                 sched: Scheduler | None = None) -> None:
        self.t = transport
        self.rank = rank
        self.size = size
        threshold = int(settings.get("rendezvous_threshold", 0))
        # Rendezvous between processes of this node, acknowledged in slots (bus/layout.py
        # "Rendezvous"): not for green-thread ranks, whose blocking send would spin for an
        # acknowledgement that a green thread of their own process may owe.
        use_rndv = (threshold > 0 and isinstance(transport, VirtioBus) and transport.rendezvous_ok
                    and sched is None)
        # Messages of at least this many bytes go by rendezvous (never, when it is off).
        self.rndv_limit = threshold if use_rndv else 1 << 62
        # Sends from the shared heap of at least heap_threshold bytes go as KIND_HEAP
        # descriptors; heap_min stays "never" until this rank has allocated heap memory, so a
        # program that never calls Alloc_mem pays nothing for the membership test.
        self.heap_threshold = max(1, int(settings.get("heap_threshold", 1 << 62)))
        self.heap_min = 1 << 62
        # Messages of at least this many bytes leave the eager fast paths (rendezvous or heap):
        # slow_local between ranks of this node; slow_min is what the callers' inlined fast
        # paths test (0 with ranks on other nodes: every send then passes through send_fast or
        # isend, which hand a remote peer's message to the network at once).
        self.slow_local = self.slow_min = self.rndv_limit
        self.peers = [p for p in range(size) if p != rank]
        self.unexpected: list[Msg] = []
        self.buffered: list[Any] = []  # requests of Bsend/Ibsend copies still on their way
        self.posted: list[RecvReq] = []
        self.probes: list[RecvReq] = []
        # Context blocks 0 and 1 are COMM_WORLD's and COMM_SELF's; Dup/Split agree on the next.
        self.next_context_block = 2  # blocking probes, failed like receives when orphaned
        self.active: dict[int, Any] = {}  # src -> RecvReq or Msg receiving a fragmented message
        self.sendq: list[deque[SendReq]] = [deque() for _ in range(size)]
        self.pending_sends = 0
        self.awaiting_ack: dict[tuple[int, int], SendReq] = {}
        # Rendezvous sends waiting for their slot's acknowledgement, by destination and request
        # number (in the order sent: the first is the oldest), and unexpected rendezvous messages
        # whose payload is still in their sender.
        self.slot_waiting: dict[int, dict[int, SendReq]] = {}
        self.rndv_held: set[Msg] = set()
        # Non-zero while an Irecv posts: the kernels and _single_copy then leave rendezvous
        # payloads unread, in reads_pending (receive, source, pid, address, request number),
        # for the next progress pass, as Open MPI's Irecv leaves its reads to progress: a rank
        # that posts a window of receives and then a window of sends (osu_bibw) sends before it
        # reads, so both ranks read at once instead of one after the other.
        # Only while it pays: a rank that only receives from a source (osu_bw's receiver) would
        # wait to read until its Wait instead of reading while the sender is still sending, so
        # when nothing was sent by rendezvous between the deferral and the reads, deferring
        # stops for that source (defer_off) for DEFER_RETRY of its receives, then is tried again.
        self.rndv_defer = np.zeros(1, np.int64)
        self.reads_pending: list[tuple[RecvReq, int, int, int, int]] = []
        self.rndv_sent = 0  # rendezvous requests sent (the deferral's test)
        self._sent_at_defer = 0
        self.defer_off: dict[int, int] = {}  # source (ANY_SOURCE too) -> receives before trying again
        self._pid = os.getpid()
        self.cookie = 0
        self.info = np.zeros(L.INFO_LEN, np.int64)
        # What jitted callers (toro_mpi.jit) read before they touch a ring themselves:
        # [JIT_DIRTY] is set at every site that queues a send or keeps a message or receive in
        # Python (toro_mpi.jit clears it when it finds all of them empty), [JIT_SLOW_MIN] = slow_min.
        self.jit_state = np.zeros(4, np.int64)
        self.jit_state[JIT_SLOW_MIN] = self.slow_min
        self.rx_rotate = 0
        # Receives posted in a row matched by address (mpi/posted_run.py): shared-memory rings only.
        self._run: PostedRun | None = None
        self._run_ok = isinstance(transport, VirtioBus)
        self._preloaded = False  # mpi/preload.py: the scheduler's wait helpers loaded
        if transport is not None:
            self._txh = transport.tx_handles
            self._rxh = transport.rx_handles
            # Kernels per dtype of 1-D arrays; anything else is flattened to bytes first.
            self._push_by_dtype: dict[np.dtype, Callable[..., int]] = {}
            self._match_by_dtype: dict[np.dtype, Callable[..., int]] = {}
            self._resume_by_dtype: dict[np.dtype, Callable[..., int]] = {}
            self._wait_by_dtype: dict[np.dtype, Callable[..., int]] = {}
            self._send_by_dtype: dict[np.dtype, Callable[..., int]] = {}
            self._recv_by_dtype: dict[np.dtype, Callable[..., int]] = {}
            self._send_rndv_by_dtype: dict[np.dtype, Callable[..., int]] = {}
            self._isend_rndv_by_dtype: dict[np.dtype, Callable[..., int]] = {}
            # Where the "recv" kernels leave the header of the message they took, by source.
            # (memoryviews: the hot paths read a word or two per message, ~0.1 us less each
            # than indexing the array; `engine.info[:] = rx_info[src]` copies them as before)
            self.rx_info = [memoryview(transport.rx_info(p)) for p in range(size)]
            self._match_u8 = transport.specialise("match", _U8)  # _drain's peek/consume
            self._adapters: dict[tuple, Callable[..., int]] = {}  # see _adapted
            # progress(): which peers' queues hold something, found in one kernel call.
            self._rx_scan = getattr(transport, "rx_scanner", None) or _scan_all
            self._rx_peer_handles = np.array([self._rxh[p] for p in self.peers], np.int64)
            # Public: a green-thread host (toro_mpi.hosting) points it into its own scan array.
            self.rx_ready = np.zeros(len(self.peers), np.uint8)
        # A rank alone in its process owns the scheduler; ranks hosted together as green threads
        # (toro_mpi.hosting) share their process's, and each owns its green threads by its engine.
        self.owner: Any = None
        self.blocked_what: Any = None  # the blocking call the rank is in (see _on_block)
        # Hosted ranks (toro_mpi.hosting): the process index of every world rank, and the meeting
        # points of this process's ranks per communicator (mpi/hosted.py); None / unused otherwise.
        self.host_of: list[int] | None = None
        self.local_groups: dict[tuple, Any] = {}
        if sched is None:
            bell = transport.doorbell() if transport is not None and sched_settings.get("doorbell", True) else None
            sched = Scheduler(self.progress, self.idle_check, sched_settings, self._on_block, self.on_idle,
                              doorbell=bell)
        else:
            self.owner = self
        self.sched = sched
        # Polls (with a pause each, inside jitted code) a blocking Recv makes of its one queue
        # before parking in the scheduler: about spin_passes * 16 * 40 ns.
        self.fast_spins = max(1, 16 * int(sched_settings.get("spin_passes", 300)))
        if self.owner is not None:
            self.fast_spins = 1  # hosted: the sender may be a green thread of this process
        if use_rndv:
            transport.set_rndv_spins(self.fast_spins)
            transport.set_rndv_defer(self.rndv_defer.ctypes.data)
        # Collectives run on the transport's collective plane through their own engine; it
        # shares this rank's scheduler (blocked collectives back off and see aborts the same way).
        # Without [coll] settings (tests, tools) the defaults of toro_mpi/default.toml apply.
        self.coll_settings = dict(coll_settings or load_config().coll)
        self.coll = CollEngine(transport, rank, self.sched, self.coll_settings["spin_polls"],
                               self.coll_settings.get("alone_spin_polls", 0))
        # The route to ranks of other nodes (mpi/netroute.py), in a job of several nodes only.
        self.net: Any = None
        self.remote = [False] * size
        # Parked messages (see the module docstring): source -> its Msg, at that queue's head.
        # Only for a rank alone in its process on shared-memory rings: a hosted rank's sender
        # may be a green thread of this very process, blocked on the ring the parked message
        # fills, and the queues to other nodes are filled by this rank's own network pumping.
        self.parked: dict[int, Msg] = {}
        self._idle = False  # between on_idle(True) and on_idle(False): nothing is parked then
        self._pending_at = ring_at.pending_entry()  # fragments waiting in a queue (its fullness)
        self._qsize = transport.segment.queue_size if isinstance(transport, VirtioBus) else 0
        self._full_passes: dict[int, int] = {}  # parked source -> passes its queue has been full
        self.parks = self.spills = 0  # messages parked, and parked ones spilled (tests, profiles)
        park = int(settings.get("park_threshold", PARK_MIN))
        self.park_min = park if park > 0 and self.owner is None and isinstance(transport, VirtioBus) else 1 << 62

    def attach_net(self, route: Any) -> None:
        """Reach the ranks of other nodes through `route` (a NetRoute): their queues stay this
        engine's as a local peer's do; the route carries what enters and leaves them."""
        self.net = route
        self.remote = list(route.remote)
        self.slow_min = 0
        self.jit_state[JIT_SLOW_MIN] = 0  # jitted sends leave every message to this engine

    # -- kernel selection ----------------------------------------------------------------
    def _kernel(self, kind: str, table: dict[np.dtype, Callable[..., int]], arr: np.ndarray) -> Callable[..., int]:
        """The transport's function for this array: per-dtype entry point, or a flattening wrapper.

        A dtype with a wire type code (layout.WIRE_TYPES) always gets its typed kernel, viewed
        1-D for other shapes, so the element type a message carries never depends on the path."""
        fn = table.get(arr.dtype)
        if fn is None:
            dtype = arr.dtype
            fn = compiled_or_none(lambda d: self.t.specialise(kind, d), dtype)
            table[dtype] = fn = fn if fn is not None else self._flat(kind)
            # The first message of a type: load its other kinds and (once) the scheduler's wait
            # now, not at the first wait, inside the caller's loop (mpi/preload.py).
            if not self._preloaded:
                self._preloaded = True
                preload.waits(self)
            preload.kernels_of(self, dtype)
        if arr.ndim == 1:
            return fn
        return self._reshaped(kind, fn)

    def _reshaped(self, kind: str, fn: Callable[..., int]) -> Callable[..., int]:
        """fn behind a wrapper that passes its array argument as a 1-D view (C-contiguous arrays)."""
        return self._adapted(kind, fn, _ravel)

    def _flat(self, kind: str) -> Callable[..., int]:
        """The kind's uint8 kernel behind a wrapper that views its array argument as bytes."""
        return self._adapted(kind, self.t.specialise(kind, _U8), byte_view)

    def _adapted(self, kind: str, fn: Callable[..., int], convert: Callable[[np.ndarray], np.ndarray]
                 ) -> Callable[..., int]:
        """fn behind a wrapper that converts its array argument first; built once per combination
        (these wrappers sit on the per-message path of arrays the kernels do not take directly)."""
        key = (kind, fn, convert)
        wrapper = self._adapters.get(key)
        if wrapper is None:
            pos = _ARRAY_ARG[kind]

            def wrapper(*args: Any) -> int:
                args = list(args)
                args[pos] = convert(args[pos])
                return fn(*args)

            self._adapters[key] = wrapper
        return wrapper

    # -- errors ------------------------------------------------------------------------
    def _corrupt(self, code: int, peer: int) -> MPIException:
        what = L.ERR_MESSAGES.get(code, f"code {code}")
        return MPIException(ERR_INTERN, f"bus corruption on the queue with rank {peer}: {what}")

    def idle_check(self) -> None:
        """Raise when the job is aborting; fail receives that can never complete."""
        if self.t is None:
            return
        if self.posted or self.probes:
            self._fail_orphaned_receives()
        if self.awaiting_ack or self.pending_sends or self.slot_waiting:
            self._fail_orphaned_sends()
        if self.t.abort_code():
            culprit = self.t.abort_rank() if hasattr(self.t, "abort_rank") else -1
            who = f"rank {culprit}" if culprit >= 0 else "the launcher"
            raise MPIException(ERR_PROC_ABORTED, f"the job is being aborted ({who} failed or aborted)")

    @property
    def send_kernels(self) -> dict[np.dtype, Callable[..., int]]:
        """The send kernels loaded so far, by dtype (read by the network route's fast path)."""
        return self._send_by_dtype

    def load_send_kernel(self, arr: np.ndarray) -> Callable[..., int]:
        """The send kernel for arr's dtype, loaded now if it is not yet."""
        return self._kernel("send", self._send_by_dtype, arr)

    def load_wait_words(self) -> None:
        """Load the kernels idle_check reads the segment with, without its effects (it fails
        receives and raises on an abort; mpi/preload.py calls this in the middle of a match),
        and the posted-run table's kernel."""
        if self.t is None:
            return
        self.t.abort_code()
        self.t.peer_finished(self.rank)
        if self._run_ok and self._run is None:
            self._make_run()

    def on_idle(self, idle: bool) -> None:
        """Publish in the rank's slot what it is blocked in, then whether its process is idle
        (the launcher's deadlock check and its timeout and deadlock reports read them)."""
        self._idle = idle
        if idle and self.parked:
            # About to sleep: a sender blocked on a ring a parked message fills would never wake
            # us (nor we it), so nothing stays parked past this point, and _drain parks nothing
            # until the rank runs again (it may look at its queues once more before sleeping).
            self.spill_all()
        if idle and self.rndv_held:
            # The same for rendezvous messages nobody has asked for: their senders wait for the
            # read (two ranks that Send to each other first would wait for ever, where the
            # eager path would have buffered), so read them now as any unexpected message.
            self.read_held()
        if self.t is not None:
            self._publish_blocked()
            self.t.set_idle(idle)

    def _on_block(self, what: Any) -> None:
        # Only noted here: every blocking wait passes by, so the slot is written when the process
        # goes idle or comes back (on_idle), which is when anyone reads it.
        self.blocked_what = what

    def _publish_blocked(self) -> None:
        what = self.blocked_what
        if callable(what):
            what = what()  # a collective's: worked out now that someone reads it
        if what is None:
            self.t.set_blocked(0, -2, 0)
        elif isinstance(what, tuple) and len(what) == 3:
            call, peer, tag = what
            self.t.set_blocked(L.CALL_CODES.get(call, L.CALL_CODES["Wait"]), peer, tag)
        else:
            self.t.set_blocked(L.CALL_CODES["yield"], -2, 0)

    # -- sending -------------------------------------------------------------------------
    def alloc_mem(self, nbytes: int) -> np.ndarray | None:
        """nbytes of the transport's shared heap (MPI.Alloc_mem), or None: no heap or full."""
        arr = self.t.alloc_shared(nbytes) if self.t is not None else None
        if arr is not None and self.heap_min != self.heap_threshold:
            self.heap_min = self.heap_threshold
            self.slow_local = min(self.rndv_limit, self.heap_min)
            self.slow_min = 0 if self.net is not None else self.slow_local
            self.jit_state[JIT_SLOW_MIN] = self.slow_min
        return arr

    def isend(self, arr: np.ndarray, nbytes: int, dest: int, tag: int, ctx: int, sync: bool = False,
              aux: Any = _UNKNOWN) -> SendReq:
        """Start sending nbytes of arr; the request is done once the data left the buffer.

        `aux`: the heap descriptor of arr when the caller already asked for it (None: not heap)."""
        self.cookie += 1
        if dest == self.rank:
            return self._send_self(arr, nbytes, tag, ctx, sync)
        if aux is _UNKNOWN:
            # (Another node cannot map our heap: a remote peer's large message goes direct.)
            aux = self.t.heap_descriptor(arr, nbytes) if nbytes >= self.heap_min and not self.remote[dest] else None
        if aux is not None:
            # The receiver's ack after its copy completes the send (as for rendezvous), and
            # implies the match, so a synchronous send needs nothing more.
            req = SendReq(dest, L.KIND_HEAP, type_flags(arr), tag, ctx, nbytes, self.cookie, aux, 16, True, arr)
        elif nbytes >= self.rndv_limit and not self.remote[dest]:
            # Only the header travels; the receiver reads arr itself and acknowledges in a slot.
            # (FLAG_SYNC: a synchronous one must wait for its receive, not for an idle read.)
            self.rndv_sent += 1
            flags = L.FLAG_ACK_SLOT | (L.FLAG_SYNC if sync else 0) | type_flags(arr)
            req = SendReq(dest, L.KIND_RNDV, flags, tag, ctx, nbytes, 0, arr, 16, True, arr)
            req.addr = self.t.address(arr)
        elif self.remote[dest] and nbytes >= self.net.direct_min:
            # To another node, large: the payload leaves from arr itself over the network (the
            # receiver takes it into its buffer once it has matched the header); the header
            # travels as a rendezvous request whose ack completes the send.
            aux = self.net.send_bulk(dest, byte_view(arr), nbytes, self.cookie)
            req = SendReq(dest, L.KIND_RNDV, type_flags(arr), tag, ctx, nbytes, self.cookie, aux, 16, True, arr)
        else:
            req = SendReq(dest, L.KIND_EAGER, (L.FLAG_SYNC if sync else 0) | type_flags(arr), tag, ctx, nbytes,
                          self.cookie, arr, nbytes, sync)
        if req.need_ack and req.addr == 0:
            # Registered before the first fragment leaves, so an early ack is never dropped.
            self.awaiting_ack[(dest, req.cookie)] = req
        q = self.sendq[dest]
        if not q:
            self._push(req)
            if req.sent == req.nbytes:
                self._pushed(req)
                return req
        q.append(req)
        self.pending_sends += 1
        self.jit_state[JIT_DIRTY] = 1
        return req

    def send_fast(self, arr: np.ndarray, nbytes: int, dest: int, tag: int, ctx: int) -> bool:
        """Blocking-send fast path: the whole eager message fits the ring now, or it goes by heap
        descriptor or rendezvous (asked once, here) with nothing queued ahead. True if sent."""
        if dest == self.rank or self.sendq[dest]:
            return False
        if nbytes >= self.slow_local and not self.remote[dest]:
            aux = self.t.heap_descriptor(arr, nbytes) if nbytes >= self.heap_min else None
            if aux is None and nbytes >= self.rndv_limit:
                self._send_rndv(arr, nbytes, dest, tag, ctx)
                return True
            if aux is not None:
                self.wait_send(self.isend(arr, nbytes, dest, tag, ctx, aux=aux), "Send")
                return True
        if self.remote[dest]:
            if nbytes >= self.net.direct_min:
                self.wait_send(self.isend(arr, nbytes, dest, tag, ctx, aux=None), "Send")
                return True
            # Straight to the network when nothing of ours to dest is still in its ring.
            if self.net.send_now(dest, tag, ctx, arr, nbytes):
                return True
            sent = self._kernel("send", self._send_by_dtype, arr)(self._txh[dest], tag, ctx, arr)
            self.net.flush(dest)
            return sent == nbytes or self.send_rest(arr, nbytes, dest, tag, ctx, sent)
        sent = self._kernel("send", self._send_by_dtype, arr)(self._txh[dest], tag, ctx, arr)
        return sent == nbytes or self.send_rest(arr, nbytes, dest, tag, ctx, sent)

    def _send_rndv(self, arr: np.ndarray, nbytes: int, dest: int, tag: int, ctx: int) -> None:
        """A blocking Send by rendezvous with nothing queued ahead: one kernel call sends the
        request and spins for its acknowledgement (the receiver's read), as a blocking Recv spins
        for its message (ring.tx_send_rndv); the general path only when the receiver is not
        there yet."""
        self.rndv_sent += 1
        if self.reads_pending:
            self.read_pending()  # our peer may be waiting for one of them while we spin
        got = self._kernel("send_rndv", self._send_rndv_by_dtype, arr)(self._txh[dest], tag, ctx, arr)
        if got >= 0 and got & 1:
            return
        self.cookie += 1
        req = SendReq(dest, L.KIND_RNDV, L.FLAG_ACK_SLOT | type_flags(arr), tag, ctx, nbytes, 0, arr, 16, True, arr)
        if got < 0:
            req.addr = self.t.address(arr)  # (pushed again from progress, or sent eager)
        self._push_result(req, got)
        if req.sent != req.nbytes:
            self.sendq[dest].append(req)
            self.pending_sends += 1
            self.jit_state[JIT_DIRTY] = 1
        else:
            self._pushed(req)
        self.wait_send(req)

    def send_rest(self, arr: np.ndarray, nbytes: int, dest: int, tag: int, ctx: int, sent: int) -> bool:
        """After a fast-path push returned `sent` < nbytes: finish the message, or say none left."""
        req = self.send_started(arr, nbytes, dest, tag, ctx, sent)
        if req is None:
            return False
        self.wait_send(req)
        return True

    def send_started(self, arr: np.ndarray, nbytes: int, dest: int, tag: int, ctx: int,
                     sent: int) -> SendReq | None:
        """After a fast-path push returned `sent` < nbytes: the queued request that finishes the
        message (its fragments must stay consecutive), or None if nothing left."""
        if sent == _TX_NOT_STARTED:
            return None
        if sent < _TX_NOT_STARTED:
            raise self._corrupt(sent - L.TX_ERR_BASE, dest)
        req = SendReq(dest, L.KIND_EAGER, type_flags(arr), tag, ctx, nbytes, 0, arr, nbytes, False)
        req.sent = sent
        self.sendq[dest].append(req)
        self.pending_sends += 1
        self.jit_state[JIT_DIRTY] = 1
        return req

    def _push(self, req: SendReq) -> None:
        if req.addr:
            self._push_rndv(req)
            return
        push = self._kernel("push", self._push_by_dtype, req.arr)
        sent = push(self._txh[req.dest], req.kind | req.flags << 16, req.tag, req.ctx, req.total, req.cookie,
                    req.arr, req.sent)
        if sent < L.TX_NOT_STARTED:
            raise self._corrupt(sent - L.TX_ERR_BASE, req.dest)
        req.sent = sent
        if self.net is not None and self.remote[req.dest]:
            self.net.flush(req.dest)

    def _push_rndv(self, req: SendReq) -> None:
        """Send a rendezvous request (bus/layout.py "Rendezvous"); with every acknowledgement
        slot of its queue taken, send the message eager instead."""
        got = self.t.rndv_kernels().send(self._txh[req.dest], L.KIND_RNDV | req.flags << 16, req.tag, req.ctx,
                                        req.total, self._pid, req.addr, 0)
        self._push_result(req, got)

    def _push_result(self, req: SendReq, got: int) -> None:
        """Note what a rendezvous push (tx_rndv, tx_send_rndv, tx_isend_rndv) did with req's request."""
        if got >= 0:
            req.cookie = got >> 1
            req.sent = req.nbytes
            if got & 1:
                req.acked = True
            else:
                self._wait_slot(req)
        elif got == L.TX_NO_SLOT:
            # Unread requests fill every slot (a receiver taking them out of order may keep
            # them so): this message must not wait for theirs, so it goes through the ring.
            req.kind = L.KIND_EAGER
            req.flags &= ~L.FLAG_ACK_SLOT
            req.arr = req.keep
            req.nbytes = req.total
            req.addr = 0
            req.need_ack = bool(req.flags & L.FLAG_SYNC)
            if req.need_ack:
                # A synchronous send stays one: acknowledged with KIND_ACK once matched.
                self.cookie += 1
                req.cookie = self.cookie
                self.awaiting_ack[(req.dest, req.cookie)] = req
            else:
                req.keep = None
            self._push(req)
        elif got < L.TX_NOT_STARTED:
            raise self._corrupt(got - L.TX_ERR_BASE, req.dest)

    def _wait_slot(self, req: SendReq) -> None:
        """Note a rendezvous request that is out, to be completed by its acknowledgement."""
        waiting = self.slot_waiting.get(req.dest)
        if waiting is None:
            waiting = self.slot_waiting[req.dest] = {}
        waiting[req.cookie] = req

    def isend_rndv(self, arr: np.ndarray, nbytes: int, dest: int, tag: int, ctx: int) -> SendReq:
        """Isend by rendezvous (nbytes >= rndv_limit, to a process of this node): one kernel call
        sends the request (ring.tx_isend_rndv); the general isend when it cannot."""
        self.rndv_sent += 1
        if not self.sendq[dest]:
            got = self._kernel("isend_rndv", self._isend_rndv_by_dtype, arr)(self._txh[dest], tag, ctx, arr)
            if got >= 0:
                self.cookie += 1
                req = SendReq(dest, L.KIND_RNDV, 0, tag, ctx, nbytes, 0, arr, 16, True, arr)
                self._push_result(req, got)
                self._pushed(req)
                return req
        return self.isend(arr, nbytes, dest, tag, ctx)

    def exchange_rndv(self, out: np.ndarray, into: np.ndarray, peer: int, tag: int, ctx: int, call: str) -> int:
        """Send out to peer and receive into from it, both by rendezvous (a 2-rank Allgather's or
        Alltoall's one step, mpi/pair_collectives.py): the request goes out first, this rank
        reads the peer's while the peer reads ours, then it waits for its acknowledgement in
        its slot. Without the requests and the scheduler an Isend + Recv + Wait use (about 2 us
        and 3-5 us of a 32 KiB exchange here); those only when the fast path cannot. Returns the
        bytes received."""
        got = -1
        if not self.sendq[peer]:
            got = self._kernel("isend_rndv", self._isend_rndv_by_dtype, out)(self._txh[peer], tag, ctx, out)
        if got < 0:  # ring full, no slot, rendezvous off: the general way
            req = self.isend(out, out.nbytes, peer, tag, ctx)
            nbytes = self.recv_counted(into, peer, tag, ctx, call)
            self.wait_send(req, call)
            return nbytes
        self.rndv_sent += 1
        self.cookie += 1
        seq = got >> 1
        acked = False
        try:
            nbytes = self.recv_counted(into, peer, tag, ctx, call)
            if got & 1:
                acked = True
                return nbytes
            if self.reads_pending:
                self.read_pending()  # (see _send_rndv)
            poll, h = self.t.rndv_kernels().poll, self._txh[peer]
            # The peer reads at the same time as this rank, so the slot is normally set by the
            # time this rank's own read is done. A poll from Python costs about four of a
            # blocking Send's in-kernel ones: the same budget (less when oversubscribed), then
            # progress and the scheduler.
            for _ in range(max(1, self.fast_spins >> 2)):
                if poll(h, seq) & 1:
                    acked = True
                    return nbytes
        finally:
            if not acked:  # (also on an error) out is still to be read: keep it alive
                req = self._await_ack(out, peer, tag, ctx, seq)
        self.wait_send(req, call)
        return nbytes

    def send_blocking(self, arr: np.ndarray, dest: int, tag: int, ctx: int, call: str) -> None:
        """A blocking send of the whole of arr (the fast path, else a request waited for)."""
        if not self.send_fast(arr, arr.nbytes, dest, tag, ctx):
            self.wait_send(self.isend(arr, arr.nbytes, dest, tag, ctx), call)

    def recv_counted(self, arr: np.ndarray, src: int, tag: int, ctx: int, call: str) -> int:
        """A blocking receive into arr (the fast path, else a posted one); the bytes received."""
        if self.recv_fast(arr, src, tag, ctx):
            return int(self.info[L.INFO_TOTAL])
        req = self.irecv(arr, arr.nbytes, src, tag, ctx)
        self.wait_recv(req, call)
        return req.nbytes

    def _await_ack(self, out: np.ndarray, peer: int, tag: int, ctx: int, seq: int) -> SendReq:
        """A request for exchange_rndv's send, sent as rendezvous request seq and not yet seen
        acknowledged, for progress to complete (as isend_rndv's)."""
        req = SendReq(peer, L.KIND_RNDV, 0, tag, ctx, out.nbytes, seq, out, 16, True, out)
        req.sent = req.nbytes
        waiting = self.slot_waiting.get(peer)
        if waiting and next(reversed(waiting)) > seq:
            # Progress sent later requests meanwhile (a nonblocking collective's, a green
            # thread's): poll_acks reads the window from the first request noted, which must
            # stay the oldest whichever is acknowledged first, so the requests stay in order.
            waiting[seq] = req
            self.slot_waiting[peer] = dict(sorted(waiting.items()))
        else:
            self._wait_slot(req)
        return req

    def poll_acks(self) -> bool:
        """Complete the rendezvous sends whose slots say they are read; True if any were."""
        poll = self.t.rndv_kernels().poll
        txh = self._txh
        moved = False
        for dest, waiting in list(self.slot_waiting.items()):
            lo = next(iter(waiting))
            mask = poll(txh[dest], lo) & _MASK64  # (bit 63 makes the int64 negative)
            while mask:
                low = mask & -mask
                mask ^= low
                req = waiting.pop(lo + low.bit_length() - 1, None)
                if req is not None:
                    moved = True
                    req.acked = True
                    if req.sent == req.nbytes:
                        self._pushed(req)
            if not waiting:
                del self.slot_waiting[dest]
        return moved

    def _pushed(self, req: SendReq) -> None:
        if not req.need_ack or req.acked:
            req.done = True
            req.arr = _EMPTY
            req.keep = None

    def _send_self(self, arr: np.ndarray, nbytes: int, tag: int, ctx: int, sync: bool) -> SendReq:
        req = SendReq(self.rank, L.KIND_EAGER, 0, tag, ctx, nbytes, self.cookie, _EMPTY, nbytes, sync)
        data = np.empty(nbytes, np.uint8)
        copy_bytes(data, byte_view(arr), nbytes)
        msg = Msg(self.rank, tag, ctx, L.KIND_EAGER, type_flags(arr), self.cookie, nbytes)
        msg.data = data
        msg.complete = True
        req.sent = nbytes
        for i, r in enumerate(self.posted):
            if r.matches(self.rank, tag, ctx):
                del self.posted[i]
                self.settle_run()
                self._deliver_msg(r, msg)
                req.done = True
                return req
        if sync:
            msg.sender = req
        else:
            req.done = True
        self.unexpected.append(msg)
        self.jit_state[JIT_DIRTY] = 1
        return req

    def _send_ack(self, dest: int, cookie: int) -> None:
        req = SendReq(dest, L.KIND_ACK, 0, 0, 0, 0, cookie, _EMPTY, 0, False)
        req.internal = True
        q = self.sendq[dest]
        if not q:
            self._push(req)
            if req.sent == 0:
                req.done = True
                return
        q.append(req)
        self.pending_sends += 1
        self.jit_state[JIT_DIRTY] = 1

    # -- receiving -----------------------------------------------------------------------
    def irecv(self, arr: np.ndarray | None, cap: int, src: int, tag: int, ctx: int) -> RecvReq:
        """Post a receive; it is matched against the unexpected list first, then arrivals."""
        return self.post(RecvReq(src, tag, ctx, arr, cap))

    def post(self, req: RecvReq) -> RecvReq:
        """Post a prepared receive request (see irecv)."""
        src = req.src
        for i, msg in enumerate(self.unexpected):
            if msg.claimed is None and req.matches(msg.src, msg.tag, msg.ctx):
                if msg.parked:
                    del self.unexpected[i]
                    self._unpark(req, msg)
                elif msg.complete or msg.kind == L.KIND_RNDV or msg.kind == L.KIND_HEAP:
                    del self.unexpected[i]
                    self._deliver_msg(req, msg)
                else:
                    msg.claimed = req  # still arriving: delivered when its last fragment is in
                return req
        if (src >= 0 and src != self.rank and self.t is not None and src not in self.active and not self.posted
                and src not in self.parked):
            # Fast path: nothing queued ahead of us, try the ring head directly.
            if self._try_head(req, src):
                return req
        self.posted.append(req)
        self.jit_state[JIT_DIRTY] = 1
        return req

    def recv_fast(self, arr: np.ndarray, src: int, tag: int, ctx: int) -> bool:
        """Blocking-receive fast path: a plain eager message that fits is at the ring head.

        True when it was received; self.info then holds its header."""
        if src < 0 or src == self.rank or self.unexpected or self.posted or self.active:
            return False
        status = self._kernel("recv", self._recv_by_dtype, arr)(self._rxh[src], tag, ctx, arr)
        if status == _RX_COMPLETE:
            self.info[:] = self.rx_info[src]
            return True
        return self.recv_rest(arr, src, tag, ctx, status, self.rx_info[src])

    def take_frame(self, src: int, tag: int, ctx: int) -> np.ndarray | None:
        """A blocking object receive's fast path (mpi4py's recv from one source): spin in jitted
        code for src's ring head as a blocking Recv does, read its header without taking it,
        and receive it whole into a new byte array of its size; the array, with self.info
        holding the header. None, nothing consumed, when the general path must take it:
        something in Python comes first, the head is not this receive's, or the spin ran out
        (the general path then waits as before)."""
        if (src < 0 or src == self.rank or self.unexpected or self.posted or self.active or self.remote[src]
                or self.owner is not None or self.pending_sends or self.reads_pending or self.sched.ready
                or self.sched.tasks or src in self.parked):
            return None
        info = self.info
        peek = self._kernel("wait", self._wait_by_dtype, _EMPTY)
        if peek(self._rxh[src], tag, L.PEEK, _EMPTY, info, self.fast_spins) != L.RX_NO_MATCH:
            return None  # empty still, or a corrupt queue (the general path reports it)
        head = info.tolist()  # (one conversion: indexing the array costs ~0.1 us a word)
        if (head[L.INFO_CTX] != ctx or head[L.INFO_KIND] == L.KIND_ACK
                or (tag != ANY_TAG and head[L.INFO_TAG] != tag)):
            return None
        frame = np.empty(head[L.INFO_TOTAL], np.uint8)
        return frame if self.recv_fast(frame, src, tag, ctx) else None

    def recv_rest(self, arr: np.ndarray, src: int, tag: int, ctx: int, status: int,
                  header: np.ndarray | None = None) -> bool:
        """After a fast-path poll returned `status`: spin a little, or finish what it consumed.

        Spins on the one queue (bounded, and only while nothing else could need this rank's
        attention). False means nothing was consumed: post the receive the general way.
        `header` is where the poll left the message header if not in self.info; on return
        self.info holds the header of what was received."""
        info = self.info
        if header is not None and status != _RX_EMPTY:
            info[:] = header
        if status == _RX_EMPTY:
            if self.pending_sends or self.reads_pending or self.sched.ready or self.sched.tasks:
                return False
            if self.remote[src]:
                # A remote peer's message reaches its queue only through our own progress:
                # pump a few times and look again before the general path (and its scheduler).
                status = self.net.recv_from(src, tag, ctx, arr)  # the header, if any, in info
                if status == _RX_COMPLETE:
                    return True
                if status == _RX_EMPTY:
                    return False
            else:
                wait = self._kernel("wait", self._wait_by_dtype, arr)
                status = wait(self._rxh[src], tag, ctx, arr, info, self.fast_spins)
                if status == _RX_COMPLETE:
                    return True
                if status == _RX_EMPTY:
                    return False
        if status == L.RX_NO_MATCH:
            return False
        # Consumed but needs the general path (rendezvous, heap, synchronous, truncated, fragmented).
        req = RecvReq(src, tag, ctx, arr, arr.nbytes)
        if status == L.RX_SPECIAL:
            self._arrived(req, src)
        elif status == L.RX_PARTIAL:
            self._partial(req, src)
        else:
            raise self._corrupt(status, src)
        try:
            self.wait_recv(req)
        finally:
            # What the caller's Status reports, also when the wait raised (e.g. ERR_TRUNCATE).
            info[L.INFO_TAG] = req.rtag
            info[L.INFO_TOTAL] = min(req.nbytes, req.cap)
        return True

    def spin_posted(self, req: RecvReq) -> bool:
        """Wait for a receive posted earlier (a nonblocking collective's part) by spinning in
        jitted code on its source's ring head, as a blocking Recv does (recv_rest), instead of
        a Python pass of the scheduler per poll. Only when it is the first receive for its
        source, nothing else of this process could need the core, and nothing is queued to send.
        True if the message was taken (done, or arriving in fragments); False: wait the general way."""
        src = req.src
        arr = req.arr
        if (req.done or arr is None or src < 0 or src == self.rank or self.t is None or self.owner is not None
                or self.pending_sends or self.reads_pending or src in self.active or self.sched.ready
                or self.sched.tasks or src in self.parked or self._first_posted(src) is not req):
            return False
        status = self._kernel("wait", self._wait_by_dtype, arr)(self._rxh[src], req.tag, req.ctx, arr, self.info,
                                                                 self.fast_spins)
        if status == _RX_EMPTY or status == L.RX_NO_MATCH:
            return False
        if status < 0:
            raise self._corrupt(status, src)
        self.posted.remove(req)
        self.settle_run()
        if status == _RX_COMPLETE:
            # A plain eager message that fit (no ack, no single copy): note its header from one
            # conversion (indexing the info array word by word costs ~0.1 us a word).
            h = self.info.tolist()
            req.source = src
            req.rtag = h[L.INFO_TAG]
            req.nbytes = h[L.INFO_TOTAL]
            req.rflags = h[L.INFO_FLAGS]
            self._complete(req)
        elif status == L.RX_PARTIAL:
            self._partial(req, src)
        else:
            self._arrived(req, src)
        return True

    def _try_head(self, req: RecvReq, src: int) -> bool:
        arr = req.arr
        if arr is None:
            return False
        status = self._kernel("match", self._match_by_dtype, arr)(self._rxh[src], req.tag, req.ctx, arr, self.info)
        if status == L.RX_COMPLETE or status == L.RX_SPECIAL:
            self._arrived(req, src)
            return True
        if status == L.RX_PARTIAL:
            self._partial(req, src)
            return True
        if status < 0:
            raise self._corrupt(status, src)
        return False

    def _note_header(self, req: RecvReq, src: int) -> list[int]:
        """Note the header in self.info on req; return the header as a list."""
        h = self.info.tolist()  # one conversion (indexing the array costs ~0.1 us a word)
        req.source = src
        req.rtag = h[L.INFO_TAG]
        req.nbytes = h[L.INFO_TOTAL]
        req.rflags = h[L.INFO_FLAGS]
        return h

    def _partial(self, req: RecvReq, src: int) -> None:
        """The first fragment of a matched message is in; the rest follows through _drain."""
        h = self._note_header(req, src)
        self.active[src] = req
        self.jit_state[JIT_DIRTY] = 1
        if h[L.INFO_FLAGS] & L.FLAG_SYNC:
            self._send_ack(src, h[L.INFO_COOKIE])

    def _arrived_plain(self, req: RecvReq, src: int) -> None:
        """A plain eager message was consumed into req (the kernel said RX_COMPLETE: it fit,
        its element type is the buffer's, no ack is owed): note its header, complete req."""
        self._note_header(req, src)
        req.done = True
        if req.on_complete is not None:
            req.on_complete(req)

    def _arrived(self, req: RecvReq, src: int) -> None:
        """A matched message was consumed from src's queue into req (info holds its header)."""
        h = self._note_header(req, src)
        kind = h[L.INFO_KIND]
        if kind == L.KIND_RNDV or kind == L.KIND_HEAP:
            self._single_copy(req, src, kind, h[L.INFO_AUX0], h[L.INFO_AUX1], h[L.INFO_COOKIE], h[L.INFO_FLAGS])
            return
        if h[L.INFO_FLAGS] & L.FLAG_SYNC:
            self._send_ack(src, h[L.INFO_COOKIE])
        self._complete(req)

    def _complete(self, req: RecvReq) -> None:
        if req.nbytes > req.cap and not req.allocate:
            req.error = MPIException(
                ERR_TRUNCATE, f"message of {req.nbytes} bytes from rank {req.source} (tag {req.rtag}) "
                              f"does not fit the receive buffer of {req.cap} bytes")
        elif req.rflags & L.FLAG_TYPE_MASK and not req.allocate:
            theirs = L.flag_type(req.rflags)
            mine = L.flag_type(type_flags(req.arr))
            if not L.types_match(theirs, mine):
                req.error = MPIException(
                    ERR_TYPE, f"message from rank {req.source} (tag {req.rtag}) carries "
                              f"{L.WIRE_TYPE_NAMES.get(theirs, theirs)} elements, the receive buffer holds "
                              f"{L.WIRE_TYPE_NAMES.get(mine, mine)} (receive into a byte buffer to take raw bytes)")
        req.done = True
        if req.on_complete is not None and req.error is None:
            req.on_complete(req)

    def _single_copy(self, req: RecvReq, src: int, kind: int, aux0: int, aux1: int, cookie: int,
                     flags: int) -> None:
        """Receive a payload that stayed with its sender: copy it once, then acknowledge.

        KIND_RNDV: process_vm_readv from (pid aux0, address aux1), acknowledged in the queue's
        slot (FLAG_ACK_SLOT) or with KIND_ACK (from another node); KIND_HEAP: memcpy from the
        sender's shared heap (offset aux0, heap token aux1). Only min(total, capacity) bytes are
        copied; _complete then reports ERR_TRUNCATE or ERR_TYPE as for any other message."""
        if req.allocate:
            req.arr = np.empty(req.nbytes, np.uint8)
            req.cap = req.nbytes
        n = min(req.nbytes, req.cap)
        if kind == L.KIND_RNDV and self.remote[src]:
            # From another node (mpi/netroute.py): its payload is received straight into
            # req.arr in the background; then the ack and the completion, as below.
            def received() -> None:
                self._send_ack(src, cookie)
                self._complete(req)

            self.net.read_bulk(src, aux0, aux1, req.arr, n, received)
            return
        if kind == L.KIND_RNDV and flags & L.FLAG_ACK_SLOT:
            if self.rndv_defer[0]:
                # An Irecv is posting: read at the next progress pass instead (rndv_defer).
                if not self.reads_pending:
                    self._sent_at_defer = self.rndv_sent
                self.reads_pending.append((req, src, aux0, aux1, cookie))
                return
            self._slot_read(req, src, aux0, aux1, cookie)
            return
        try:
            if n:
                if kind == L.KIND_HEAP:
                    self.t.read_heap(src, aux0, aux1, req.arr, n)
                else:
                    self.t.read_remote(src, aux0, aux1, req.arr, n)
        except OSError as exc:
            what = "heap" if kind == L.KIND_HEAP else "rendezvous"
            req.error = MPIException(ERR_OTHER, f"{what} read from rank {src} failed: {exc}")
        self._ack(src, cookie, flags)
        self._complete(req)

    def _slot_read(self, req: RecvReq, src: int, pid: int, address: int, seq: int) -> None:
        """Read rendezvous request seq's payload into req and acknowledge it in its slot, in
        jitted code (ring.rx_rndv_read); through ctypes, which says why, when that cannot."""
        n = min(req.nbytes, req.cap)
        if n == 0 or not self.t.rndv_kernels().read(self._rxh[src], pid, address, self.t.address(req.arr), n, seq):
            try:
                if n:
                    self.t.read_remote(src, pid, address, req.arr, n)
            except OSError as exc:
                req.error = MPIException(ERR_OTHER, f"rendezvous read from rank {src} failed: {exc}")
            self._ack(src, seq, L.FLAG_ACK_SLOT)
        self._complete(req)

    def read_pending(self) -> bool:
        """Make the rendezvous reads put off while Irecvs were posting; True if there were any."""
        pending = self.reads_pending
        if self.rndv_sent == self._sent_at_defer:
            # Nothing left first: deferring only delayed these reads (see rndv_defer).
            for req, *_ in pending:
                self.defer_off[req.src] = DEFER_RETRY
        while pending:
            # One at a time: a completion callback that raises leaves the rest pending, not lost.
            self._slot_read(*pending.pop(0))
        return True

    def may_defer(self, src: int) -> bool:
        """Whether an Irecv from src (ANY_SOURCE too) should put its rendezvous reads off."""
        left = self.defer_off.get(src)
        if left is None:
            return True
        if left <= 1:
            del self.defer_off[src]
        else:
            self.defer_off[src] = left - 1
        return False

    def _ack(self, src: int, cookie: int, flags: int) -> None:
        """Tell src its single-copy payload is read: in its slot, or with a KIND_ACK message."""
        if flags & L.FLAG_ACK_SLOT:
            self.t.rndv_kernels().ack(self._rxh[src], cookie)
        else:
            self._send_ack(src, cookie)

    def read_held(self) -> None:
        """Read every unexpected rendezvous payload still in its sender into the message and
        acknowledge it: it is then an unexpected eager message like any other."""
        held, self.rndv_held = self.rndv_held, set()
        for msg in held:
            if msg.flags & L.FLAG_SYNC:
                self.rndv_held.add(msg)  # a synchronous send completes only when matched
                continue
            data = np.empty(msg.total, np.uint8)
            if not self.t.rndv_kernels().read(self._rxh[msg.src], msg.aux0, msg.aux1, self.t.address(data), msg.total,
                                            msg.cookie):
                continue  # its receive reads it again and reports why
            msg.kind = L.KIND_EAGER
            msg.flags &= ~L.FLAG_ACK_SLOT
            msg.data = data

    def _deliver_msg(self, req: RecvReq, msg: Msg) -> None:
        """Hand a message from the unexpected list to a receive."""
        req.source = msg.src
        req.rtag = msg.tag
        req.nbytes = msg.total
        req.rflags = msg.flags
        if msg.kind == L.KIND_RNDV or msg.kind == L.KIND_HEAP:
            self.rndv_held.discard(msg)
            self._single_copy(req, msg.src, msg.kind, msg.aux0, msg.aux1, msg.cookie, msg.flags)
            return
        if req.allocate:
            req.arr = msg.data
            req.cap = msg.total
        else:
            n = min(msg.total, req.cap)
            if n:
                copy_bytes(byte_view(req.arr), msg.data, n)
        if msg.sender is not None:
            msg.sender.done = True
        elif msg.flags & L.FLAG_SYNC:
            self._send_ack(msg.src, msg.cookie)
        self._complete(req)

    # -- progress --------------------------------------------------------------------------
    def progress(self) -> bool:
        """One pass: push pending sends, drain the incoming queues that hold something. True if
        anything moved."""
        if self.t is None:
            return False
        moved = False
        if self.pending_sends:
            moved = self.progress_sends()
        if self.slot_waiting and self.poll_acks():
            moved = True
        if self.reads_pending and self.read_pending():
            moved = True
        if self.net is not None and self.net.pump():
            moved = True
        peers = self.peers
        n = len(peers)
        if n == 0:
            return moved
        # One kernel call finds the queues with something in them (most passes: none).
        if self._rx_scan(self._rx_peer_handles, self.rx_ready) == 0:
            return moved
        moved = self.drain_ready() or moved
        if self.parked:  # (a parked queue is never empty: every pass with one comes here)
            pending, full, waits = self._pending_at, self._qsize, self._full_passes
            for src in list(self.parked):
                if pending(self._rxh[src]) < full:
                    waits[src] = 0
                    continue
                # Its sender waits for room behind the parked message, which only a spill or the
                # receive that takes the message makes: give that receive a moment (a window of
                # receives being posted), then spill. Passes of other traffic count too.
                waits[src] = waits.get(src, 0) + 1
                if waits[src] >= PARK_FULL_PASSES:
                    self.spill(src)
                    moved = True
        return moved

    def drain_ready(self) -> bool:
        """Drain the peers whose queues the last scan marked in self.rx_ready, starting at a
        rotating peer (ANY_SOURCE fairness). True if anything moved."""
        peers, ready = self.peers, self.rx_ready
        n = len(peers)
        moved = False
        start = self.rx_rotate
        self.rx_rotate = start + 1 if start + 1 < n else 0
        for k in range(n):
            i = start + k
            i = i if i < n else i - n
            if ready[i] and self._drain(peers[i]):
                moved = True
        return moved

    def poll_once(self) -> None:
        """The progress a nonblocking test makes (Test, Iprobe, ...): one pass; a hosted rank
        also lets the other ready ranks of its process run, since it may be waiting for them."""
        if self.owner is None:
            self.progress()
        else:
            self.sched.pause()

    def progress_sends(self) -> bool:
        """Move queued sends along as far as their rings allow; True if any moved. Public
        because a green-thread host (toro_mpi.hosting) drives it from its own poll hook."""
        moved = False
        for q in self.sendq:
            while q:
                req = q[0]
                before = req.sent
                self._push(req)
                if req.sent != before:
                    moved = True
                if req.sent != req.nbytes:
                    break
                q.popleft()
                self.pending_sends -= 1
                if req.kind == L.KIND_ACK:
                    req.done = True
                else:
                    self._pushed(req)
        return moved

    def _drain(self, src: int) -> bool:
        qa = self._rxh[src]
        match = self._match_u8
        info = self.info
        moved = False
        while True:
            target = self.active.get(src)
            if target is not None:
                arr = target.arr if isinstance(target, RecvReq) else target.data
                status = self._kernel("resume", self._resume_by_dtype, arr)(qa, arr)
                if status < 0:
                    raise self._corrupt(status, src)
                if status == L.RX_PARTIAL:
                    return moved
                moved = True
                del self.active[src]
                if isinstance(target, RecvReq):
                    self._complete(target)  # header noted, sync send acked at the first fragment
                else:
                    self._finish_unexpected(target)
                continue
            if self.parked:
                held = self.parked.get(src)
                if held is not None:
                    # The head is a parked message: leave it unless something needs what is
                    # behind it (or, by another path than post, a receive for it was posted).
                    taker = self._parked_taker(src, held)
                    if taker is None:
                        return moved
                    moved = True
                    if taker is _SPILL:
                        self.spill(src)
                    else:
                        self.posted.remove(taker)
                        self.settle_run()
                        self.unexpected.remove(held)
                        self._unpark(taker, held)
                    continue
            # Receives posted in a row for this source (a window of Irecvs): matched in one
            # kernel call by address (mpi/posted_run.py), what they took completed here.
            posted = self.posted
            first_path = True
            if posted and posted[0].src == src and self._run_ok and not self.remote[src]:
                run = self._run or self._make_run()
                n = len(posted)
                status = run.match(self, src, qa)
                if len(posted) != n:
                    moved = True
                if status == _RX_COMPLETE:
                    continue
                if status == _RX_EMPTY:
                    return moved
                if status != NOT_APPLICABLE and status != L.RX_NO_MATCH:
                    if status < 0:
                        raise self._corrupt(status, src)
                    # Consumed into posted[0], but it needs the general path (ack, single copy,
                    # type or size check, fragments): its header is in the queue's H_INFO words.
                    moved = True
                    req = posted.pop(0)
                    info[:] = self.rx_info[src]
                    if status == L.RX_PARTIAL:
                        self._partial(req, src)
                    else:
                        self._arrived(req, src)
                    continue
                first_path = status == NOT_APPLICABLE  # (RX_NO_MATCH: straight to the peek)
            # Common case first: the head is for the earliest receive posted for this source.
            # Trying that receive directly saves the peek (one kernel call per message); any
            # other head (an ack, another tag or context) takes the general path below.
            first = self._first_posted(src) if first_path else None
            if first is not None:
                arr = first.arr
                status = self._kernel("match", self._match_by_dtype, arr)(qa, first.tag, first.ctx, arr, info)
                if status == L.RX_EMPTY:
                    return moved
                if status != L.RX_NO_MATCH:
                    if status < 0:
                        raise self._corrupt(status, src)
                    moved = True
                    self.posted.remove(first)
                    if status == _RX_COMPLETE:
                        self._arrived_plain(first, src)
                    elif status == L.RX_PARTIAL:
                        self._partial(first, src)
                    else:
                        self._arrived(first, src)
                    continue
            status = match(qa, L.ANY, L.PEEK, _EMPTY, info)
            if status == L.RX_EMPTY:
                return moved
            if status < 0:
                raise self._corrupt(status, src)
            moved = True
            kind = int(info[L.INFO_KIND])
            if kind == L.KIND_ACK:
                match(qa, L.ANY, L.ANY, _EMPTY, info)
                req = self.awaiting_ack.pop((src, int(info[L.INFO_COOKIE])), None)
                if req is not None:
                    req.acked = True
                    if req.sent == req.nbytes:  # else _pushed completes it after the last fragment
                        req.done = True
                        req.keep = None
                continue
            tag = int(info[L.INFO_TAG])
            ctx = int(info[L.INFO_CTX])
            total = int(info[L.INFO_TOTAL])
            req = None
            for i, r in enumerate(self.posted):
                if r.matches(src, tag, ctx):
                    req = r
                    del self.posted[i]
                    self.settle_run()
                    break
            if req is not None:
                if req.allocate and kind == L.KIND_EAGER:
                    req.arr = np.empty(total, np.uint8)
                    req.cap = total
                arr = req.arr if req.arr is not None else _EMPTY
                status = self._kernel("match", self._match_by_dtype, arr)(qa, L.ANY, L.ANY, arr, info)
                if status == L.RX_COMPLETE or status == L.RX_SPECIAL:
                    self._arrived(req, src)
                elif status == L.RX_PARTIAL:
                    self._partial(req, src)
                else:
                    raise self._corrupt(status if status < 0 else L.ERR_CORRUPT_HEADER, src)
                continue
            msg = Msg(src, tag, ctx, kind, int(info[L.INFO_FLAGS]), int(info[L.INFO_COOKIE]), total)
            if (total >= self.park_min and kind == _KIND_EAGER and not self.remote[src] and not self._idle
                    and self._parked_taker(src, msg) is None):
                # Large and unasked for: note its header, leave its payload in the ring for the
                # receive that will match it (module docstring). Nothing behind it is read now.
                # (Not when something already waits for what is behind it: it would be spilled
                # at once.)
                self.parks += 1
                msg.parked = True
                self.parked[src] = msg
                self._full_passes[src] = 0
                self.unexpected.append(msg)
                self.jit_state[JIT_DIRTY] = 1
                return True
            if kind == L.KIND_RNDV or kind == L.KIND_HEAP:
                msg.aux0 = int(info[L.INFO_AUX0])
                msg.aux1 = int(info[L.INFO_AUX1])
                msg.complete = True
                match(qa, L.ANY, L.ANY, _EMPTY, info)
                if msg.flags & L.FLAG_ACK_SLOT:
                    self.rndv_held.add(msg)
            else:
                msg.data = np.empty(total, np.uint8)
                status = match(qa, L.ANY, L.ANY, msg.data, info)
                if status == L.RX_COMPLETE or status == L.RX_SPECIAL:
                    msg.complete = True
                elif status == L.RX_PARTIAL:
                    self.active[src] = msg
                else:
                    raise self._corrupt(status if status < 0 else L.ERR_CORRUPT_HEADER, src)
            self.unexpected.append(msg)
            self.jit_state[JIT_DIRTY] = 1

    # -- parked messages (module docstring) ---------------------------------------------------
    def _parked_taker(self, src: int, msg: Msg) -> RecvReq | object | None:
        """What to do with src's parked head msg: None to leave it parked, _SPILL to copy it out
        (something needs to look past it), or a posted receive that should take it."""
        for r in self.posted:
            if r.src == src or r.src == ANY_SOURCE:
                # The earliest receive that could take a message from src: msg, if it matches
                # (a receive posted by a path that skipped the unexpected list), else a later one.
                return r if r.matches(src, msg.tag, msg.ctx) else _SPILL
        for r in self.probes:
            if (r.src == src or r.src == ANY_SOURCE) and not r.matches(src, msg.tag, msg.ctx):
                return _SPILL
        if self.awaiting_ack:
            for dest, _ in self.awaiting_ack:
                if dest == src:
                    return _SPILL  # its acknowledgement is behind msg in the queue
        return None

    def _unpark(self, req: RecvReq, msg: Msg) -> None:
        """Receive the parked message msg (already off the unexpected list) into req: straight
        from the ring into req's buffer, the general path's way (ack, truncation, type check,
        fragments still to come)."""
        src = msg.src
        del self.parked[src]
        msg.parked = False
        if req.allocate:
            req.arr = np.empty(msg.total, np.uint8)
            req.cap = msg.total
        arr = req.arr if req.arr is not None else _EMPTY
        status = self._kernel("match", self._match_by_dtype, arr)(self._rxh[src], L.ANY, L.ANY, arr, self.info)
        self._check_parked_head(msg, status)
        if status == L.RX_PARTIAL:
            self._partial(req, src)
        else:
            self._arrived(req, src)

    def spill(self, src: int) -> None:
        """Copy src's parked message out of the ring, as any other unexpected message is (it
        keeps its place on the unexpected list, or its Mprobe), so the queue can move on."""
        msg = self.parked.pop(src)
        msg.parked = False
        self.spills += 1
        msg.data = np.empty(msg.total, np.uint8)
        status = self._match_u8(self._rxh[src], L.ANY, L.ANY, msg.data, self.info)
        self._check_parked_head(msg, status)
        if status == L.RX_PARTIAL:
            self.active[src] = msg
        else:
            msg.complete = True
        self.jit_state[JIT_DIRTY] = 1

    def spill_all(self) -> None:
        """Spill every parked message (the rank is about to sleep, or has waited long enough)."""
        for src in list(self.parked):
            self.spill(src)

    def _check_parked_head(self, msg: Msg, status: int) -> None:
        # The head consumed must be the message noted when it was parked (anything else is a
        # broken invariant, never to be delivered as if it were that message).
        info = self.info
        if status < 0:
            raise self._corrupt(status, msg.src)
        if (status not in (L.RX_COMPLETE, L.RX_SPECIAL, L.RX_PARTIAL) or info[L.INFO_TAG] != msg.tag
                or info[L.INFO_CTX] != msg.ctx or info[L.INFO_TOTAL] != msg.total):
            raise MPIException(ERR_INTERN, f"the parked message from rank {msg.src} (tag {msg.tag}) "
                                           "is no longer at the head of its queue")

    def settle_run(self) -> None:
        """A posted receive left the list by another path than the posted-run table: let the
        table drop its copy (and the buffer) if it held it (PostedRun.settle)."""
        run = self._run
        if run is not None and run.mirror:
            run.settle(self.posted)

    def _make_run(self) -> PostedRun:
        """The posted-receive table (made at the first drain that has receives posted)."""
        self._run = PostedRun(ring_at.run_at_entry(), same_kernel=ring_at.run_same_entry())
        return self._run

    def complete_posted(self, src: int) -> None:
        """Match what has arrived from src to the receives posted for it, in posted order, while
        the earliest posted receive is src's and the queue head matches it; stop at anything
        else (nothing is moved to the unexpected list). A new receive from src may then take
        the queue head itself when no posted receive is left (Comm.Irecv's hot path)."""
        posted = self.posted
        if src in self.parked:
            return  # its head is on the unexpected list: only post or _drain may take it
        qa = self._rxh[src]
        info = self.info
        if posted and posted[0].src == src and self._run_ok and not self.remote[src] and src not in self.active:
            # The receives posted in a row for src: one call by address (mpi/posted_run.py).
            run = self._run or self._make_run()
            status = run.match(self, src, qa)
            if status == _RX_EMPTY or status == L.RX_NO_MATCH or status == _RX_COMPLETE:
                return
            if status != NOT_APPLICABLE:
                if status < 0:
                    raise self._corrupt(status, src)
                req = posted.pop(0)  # consumed, it needs the general path (see _drain)
                info[:] = self.rx_info[src]
                if status == L.RX_PARTIAL:
                    self._partial(req, src)
                else:
                    self._arrived(req, src)
                return
        while posted and src not in self.active:
            first = posted[0]
            arr = first.arr
            if first.src != src or arr is None:
                return
            status = self._kernel("match", self._match_by_dtype, arr)(qa, first.tag, first.ctx, arr, info)
            if status == L.RX_EMPTY or status == L.RX_NO_MATCH:
                return
            if status < 0:
                raise self._corrupt(status, src)
            del posted[0]
            if status == L.RX_PARTIAL:
                self._partial(first, src)
                return
            if status == _RX_COMPLETE:
                self._arrived_plain(first, src)
            else:
                self._arrived(first, src)

    def _first_posted(self, src: int) -> RecvReq | None:
        """The earliest posted receive (with its own buffer) that a message from src could match."""
        for r in self.posted:
            if r.src == src or r.src == ANY_SOURCE:
                return r if r.arr is not None else None
        return None

    def _finish_unexpected(self, msg: Msg) -> None:
        msg.complete = True
        if msg.claimed is not None:
            req = msg.claimed
            if not msg.taken:  # a matched-probe message left the list when it was probed
                self.unexpected.remove(msg)
            self._deliver_msg(req, msg)

    # -- matched probes (mpi/message.py) ---------------------------------------------------
    def take(self, msg: Msg) -> None:
        """Take a probed message out of matching (MPI_Mprobe): from now on only recv_taken
        receives it, whatever other receives (or green threads) are posted."""
        self.unexpected.remove(msg)
        msg.taken = True
        if msg.parked:
            # Off the unexpected list, a parked message would leave the queue head unguarded:
            # the receive fast paths (Comm.Recv/Irecv) take the head when that list is empty.
            self.spill(msg.src)

    def recv_taken(self, req: RecvReq, msg: Msg) -> RecvReq:
        """Receive a message taken by `take` into req (MPI_Mrecv): now, or when its last
        fragment is in; a rendezvous or heap payload is copied now, a synchronous send is
        acknowledged now."""
        if msg.complete or msg.kind == L.KIND_RNDV or msg.kind == L.KIND_HEAP:
            self._deliver_msg(req, msg)
        else:
            msg.claimed = req
        return req

    # -- probing and waiting ----------------------------------------------------------------
    def find_unexpected(self, src: int, tag: int, ctx: int) -> Msg | None:
        """The first unexpected message a receive (src, tag, ctx) would match."""
        for msg in self.unexpected:
            if msg.claimed is None and msg.ctx == ctx and (src == ANY_SOURCE or msg.src == src) and (
                    tag == ANY_TAG or msg.tag == tag):
                return msg
        return None

    def iprobe(self, src: int, tag: int, ctx: int) -> Msg | None:
        """Non-blocking probe: drain arrivals, then look for a match."""
        msg = self.find_unexpected(src, tag, ctx)
        if msg is None and self.t is not None:
            if self.parked:
                # The message asked for may be behind a parked one: nothing else would make the
                # queue move on for a program that only Iprobes.
                for p in list(self.parked):
                    if src == ANY_SOURCE or p == src:
                        self.spill(p)
            self.poll_once()
            msg = self.find_unexpected(src, tag, ctx)
        return msg

    def probe(self, src: int, tag: int, ctx: int) -> Msg:
        """Blocking probe: wait until a matching message has arrived; return it (not received)."""
        waiter = RecvReq(src, tag, ctx, None, 0)  # stands for the probe in the orphan checks
        found: list[Msg] = []

        def arrived() -> bool:
            msg = self.find_unexpected(src, tag, ctx)
            if msg is not None:
                found.append(msg)
            return msg is not None or waiter.done

        self.probes.append(waiter)
        try:
            self.sched.wait(arrived, ("Probe", src, tag))
        finally:
            self.probes.remove(waiter)
        if found:
            return found[-1]
        raise waiter.error or MPIException(ERR_OTHER, "probe ended without a message")

    def wait_send(self, req: SendReq, call: str = "Send") -> None:
        """Block until a send request is done."""
        if not req.done:
            self.sched.wait(lambda: req.done, (call, req.dest, req.user_tag))
        if req.error is not None:
            raise req.error

    def wait_recv(self, req: RecvReq, call: str = "Recv") -> None:
        """Block until a receive request is done; raise its error (e.g. ERR_TRUNCATE)."""
        if not req.done:
            self.sched.wait(lambda: req.done, (call, req.src, req.tag))
        if req.error is not None:
            raise req.error

    def _fail_orphaned_receives(self) -> None:
        # A receive whose possible senders have all finalized can never complete: fail it
        # instead of hanging. Drain once more first: a sender's last message is published
        # before its finished state.
        finished = [p for p in self.peers if self.t.peer_finished(p)]
        if not finished:
            return
        self.progress()
        gone = set(finished)
        everyone = len(gone) == len(self.peers)
        for req in list(self.posted) + self.probes:
            if req.done:
                continue
            if req in self.probes and self.find_unexpected(req.src, req.tag, req.ctx) is not None:
                continue
            if (req.src in gone) or (req.src == ANY_SOURCE and everyone and not self._self_possible()):
                if req in self.posted:
                    self.posted.remove(req)
                    self.settle_run()
                who = f"rank {req.src} has" if req.src >= 0 else "all other ranks have"
                what = "probe" if req in self.probes else "receive"
                req.error = MPIException(
                    ERR_OTHER, f"{who} finalized; the {what} (tag {req.tag}) can never complete")
                req.done = True

    def _fail_orphaned_sends(self) -> None:
        # A send that waits for a receiver that has finalized (ring full, or an acknowledgement
        # that will never come) can never complete: fail it instead of hanging.
        finished = {p for p in self.peers if self.t.peer_finished(p)}
        if not finished:
            return
        self.progress()
        orphans = [self.awaiting_ack.pop(key) for key in list(self.awaiting_ack) if key[0] in finished]
        for dest in finished:
            orphans += self.slot_waiting.pop(dest, {}).values()
        for req in orphans:
            req.error = MPIException(
                ERR_OTHER, f"rank {req.dest} finalized without receiving the message (tag {req.tag})")
            req.done = True
        for dest in finished:
            q = self.sendq[dest]
            while q:
                req = q.popleft()
                self.pending_sends -= 1
                self.awaiting_ack.pop((dest, req.cookie), None)
                req.error = MPIException(
                    ERR_OTHER, f"rank {dest} finalized without receiving the message (tag {req.tag})")
                req.done = True

    def _self_possible(self) -> bool:
        # Another green thread of this rank may still send to us.
        return self.sched.owns_tasks(self.owner)

    def finalize(self) -> None:
        """Run the remaining green threads and flush queued sends; mark this rank finished; then
        wait until every other rank has finished too.

        MPI_Finalize is collective: as under Open MPI, a rank leaves it only once all ranks
        reached it, so a rank that exits with an error status after Finalize (a test runner
        reporting failures) cannot end the job while the others are still at work. A peer
        that dies or aborts instead ends the wait with an error (the abort word)."""
        try:
            self.sched.join_all(self.owner)
            if self.reads_pending:
                self.read_pending()  # receives never waited for (Request.Free): their senders wait
            if self.pending_sends or self.awaiting_ack or self.slot_waiting:
                self.sched.wait(lambda: not self.pending_sends and not self.awaiting_ack and not self.slot_waiting,
                                ("Send", -2, 0))
            if self.net is not None:
                self.net.finish()  # after our last message to each remote peer
            if self.parked:
                # Unreceived at Finalize: copied out as before parking, so the queues are left
                # as they were (a sender still pushing behind one sees we finished, as before).
                self.spill_all()
        finally:
            if self.t is not None:
                self.t.finish()
        if self.t is not None and self.peers:
            t = self.t
            self.sched.wait(lambda: all(t.peer_finished(p) for p in self.peers), ("Wait", -1, -1))
        if self.net is not None:
            self.net.close()
