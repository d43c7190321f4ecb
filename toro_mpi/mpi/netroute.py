"""The route to ranks of other nodes: their virtqueues in this node's segment, bridged to the network.

A node's segment holds a virtqueue (both planes) for every ordered pair of world ranks. For a
peer r on another node, the queues me -> r and r -> me exist here too, and the engine and the
collective interpreter use them exactly as they use a local peer's: all matching (ANY_SOURCE,
order per pair, probes, synchronous sends and their acknowledgements, truncation, type checks)
stays the engine's, whoever the sender is. This module is the far end of those queues:

- out: it is the device of me -> r. It takes each whole message (header and payload) out of the
  ring and sends it to r as one network item (net/link.py, an mpi4py Isend); barrier signals
  posted on the queue travel as an item too, after the messages posted before them;
- in: it is the driver of r -> me. Items from r are pushed into that ring with r's own header,
  in the order r sent them (one FIFO per source and plane); a ring that is full keeps the
  rest waiting until the engine has drained it;
- each plane is a channel of the link of its own (MPI keeps order per channel, not across);
- a rank that finalizes sends a FIN item on both channels to every remote peer after its last
  message: once both are in, the receiver counts that peer finished (for this rank only, see
  VirtioBus.route_remote).

A message of at least `direct_min` bytes to another node does not pass through the rings: the
engine starts its payload at once from the user's buffer (`send_bulk`: an Isend on the link's
bulk context, under a tag derived from the message's cookie) and queues a rendezvous request
(KIND_RNDV) whose aux words name that tag and size. The request travels like any message; the
receiving engine matches it as usual and, through VirtioBus.read_remote, takes the payload with
a receive straight into the matched buffer (`read_bulk`), then acknowledges, which completes
the send. (Rendezvous between ranks of one node stays off in a job of several nodes.)

A send from the shared heap (MPI.Alloc_mem) cannot be read from another node: its payload is
read here from this rank's own heap and travels as a synchronous eager message with the same
cookie, whose acknowledgement (sent by the receiver when it matches) completes the send as the
heap read's would.

The engine calls `pump` in every progress pass and `flush(dest)` right after pushing to a remote
peer, so a message leaves the node as soon as it is in the ring, not at the next blocking call.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from ..bus import layout as L
from ..bus import ring
from ..errors import ERR_INTERN, ERR_PROC_ABORTED, MPIException
from ..net.board import attach as attach_board
from .buffers import byte_view
from .net_take import NOT_TAKEN as _NOT_TAKEN
from .net_take import entry_point as take_entry

HDR = 64  # bytes of an item's header: 8 int64 words
ITEM_MSG = 1  # a message: kind word, tag, ctx, total, cookie, then the payload
ITEM_SIGNALS = 2  # word 6 signals posted on the queue
ITEM_FIN = 3  # the sender finalized: nothing more will come from it

# Messages to another node of at least this many bytes go direct (above). Open MPI's TCP
# transport sends up to 64 KiB eagerly; from there on its own rendezvous makes one copy less
# than the rings would (sender's ring, receiver's ring).
DIRECT_MIN = 65536
_BULK_TAG_MASK = 0x3FFFFFFF  # within every MPI's TAG_UB (at least 32767; Open MPI's is 2^31-1)

_EMPTY = np.empty(0, np.uint8)
_HEADER = struct.Struct("8q")  # an item's header words, written in one call
_ITEM_P2P = ITEM_MSG | L.P2P_PLANE << 8
_U8 = np.dtype(np.uint8)
_PLANES = (L.P2P_PLANE, L.COLL_PLANE)
_UNLOADED = object()  # a dtype whose take_item entry point was not asked for yet


class NetRoute:
    """The bridge between this rank's queues to and from remote peers and the network link."""

    def __init__(self, transport: Any, link: Any, rank: int, node_of: list[int]) -> None:
        self.t = transport
        self.link = link
        self.rank = rank
        size = len(node_of)
        self.remote = [node_of[p] != node_of[rank] for p in range(size)]
        self.peers = [p for p in range(size) if self.remote[p]]
        self.finished: set[int] = set()  # remote peers whose FIN arrived (and was applied)
        self._out = {p: (transport.tx_handles[p], transport.coll_tx_handles[p]) for p in self.peers}
        self._in = {p: (transport.rx_handles[p], transport.coll_rx_handles[p]) for p in self.peers}
        self._coll_out = [self._out[p][1] for p in self.peers]  # handles of our collective queues out
        self._coll_peer = {self._out[p][1]: p for p in self.peers}
        self._out_handles = np.array([h for p in self.peers for h in self._out[p]], np.int64)
        self._out_ready = np.zeros(len(self._out_handles), np.uint8)
        self._scan = ring.rx_scanner()
        self._signals = ring.signals_waiting_reader()
        self._match = transport.specialise("match", _U8)
        self._resume = transport.specialise("resume", _U8)
        self._push = transport.specialise("push", _U8)
        self._info = np.zeros(L.INFO_LEN, np.int64)
        self._active: dict[tuple[int, int], np.ndarray] = {}  # (peer, plane) -> item being taken out
        self._p2p_key = {p: (p, L.P2P_PLANE) for p in self.peers}
        self._fifo: dict[int, tuple[deque, deque]] = {p: (deque(), deque()) for p in self.peers}
        self._waiting: set[int] = set()  # sources with items not yet in their rings
        self._fins: dict[int, int] = {}  # source -> FIN items applied (one per plane)
        self.direct_min = DIRECT_MIN
        # Passes of a blocking receive from a remote peer before the general path (recv_wait).
        # The general path (a posted receive, the scheduler's loop) costs far more than the
        # polls it saves: 8-byte ping-pong between nodes, --nodes 2 -n 2, 3000 round trips,
        # under load 13-17, 4 alternating pairs: with 16 passes 93-98% of receives fell through
        # to it, with 256 1-4%; one-way 256 / 16: 0.63 0.25 1.10 0.60. Yielding the core every
        # 16 passes was 2-3x worse (a receive that yields waits a whole time slice).
        self.spin = 256
        self._tag_mask = min(_BULK_TAG_MASK, link.tag_ub)
        self._reads: list[tuple[Any, np.ndarray, np.ndarray, int, Callable[[], None]]] = []
        # The engine's send kernels by dtype and how to load one (bind_engine): see send_now.
        self._send_eps: dict[Any, Any] | None = None
        self._load_send: Callable[[np.ndarray], Any] | None = None
        # recv_from: the engine's (bind_receive), and take_item's entry points by dtype.
        self._info_out = np.zeros(L.INFO_LEN, np.int64)
        self._load_recv: Callable[[np.ndarray], Any] = lambda arr: transport.specialise("recv", arr.dtype)
        self._rx_info: list[Any] = [transport.rx_info(p) for p in range(size)]
        self._takes: dict[Any, Any] = {}
        self._kinds: dict[Any, int] = {}  # send_now: the kind word of an eager message by dtype
        self._rbuf_addr = link.rbuf_address  # where an arrival is (Link.poll_raw)
        # bind_sched: since when the rank sleeps between polls (0.0: it does not), and the bounds
        # of its doorbell sleep.
        self._sched: Any = None
        self._idle_since = 0.0
        self._doze_floor = self._doze_cap = 0.0
        transport.route_remote(self.remote, self.finished)
        # The launcher's deadlock board (toro-mpirun --nodes), when it made one.
        self.board = attach_board(rank, size, link)
        if self.board is not None:
            self.board.hook(transport, lambda: bool(self._reads or self._waiting or self._active))

    def bind_engine(self, send_eps: dict[Any, Any], load_send: Callable[[np.ndarray], Any]) -> None:
        """Know the engine's table of send kernels by dtype and how to load one into it.

        Comm.Send takes its flat hot path only for a dtype whose send kernel is in that table,
        and only a push into a ring loads one. A send that always leaves by send_now never
        pushes, so without this every Send to another node took the checked path (about 1 us
        more: argument checks, rank and tag conversion)."""
        self._send_eps = send_eps
        self._load_send = load_send

    def bind_receive(self, info: np.ndarray, load_recv: Callable[[np.ndarray], Any], rx_info: list[Any]) -> None:
        """Know where the engine wants the header of a received message (`info`), how it loads
        its receive kernel for an array, and where that kernel leaves a header, by source
        (`rx_info`): recv_from takes messages for the engine's blocking receives."""
        self._info_out = info
        self._load_recv = load_recv
        self._rx_info = rx_info

    def bind_sched(self, sched: Any, floor_us: int, cap_us: int) -> None:
        """Bound the doorbell sleep of the rank's scheduler by how long it has been idle.

        A network arrival rings no futex, so an idle rank must wake on its own to look at the
        network; waking every floor_us (0.5 ms) costs the core it shares with a busy rank: on
        `--nodes 2 -n 3` (ranks 0 and 2 on core 0), rank 2 waiting in a Barrier while ranks 0-1
        ping-pong took 2.6-8% of that core against 1.6-2.6% in a one-node job, whose idle rank
        sleeps up to 10 ms. Here the bound is an eighth of the time the rank has slept so far,
        between floor_us and cap_us: a wait of T notices a network arrival at most about T/8
        late (at least floor_us), and a long idle wakes 1e6/cap_us times a second, as on one node."""
        self._sched = sched
        self._doze_floor = floor_us * 1e-6
        self._doze_cap = max(cap_us, floor_us) * 1e-6
        sched.doze_max = self._doze_floor
        told = sched.on_idle

        def on_idle(idle: bool) -> None:
            if idle:
                self._idle_since = time.monotonic()
            else:
                self._idle_since = 0.0
                sched.doze_max = self._doze_floor
            told(idle)

        sched.on_idle = on_idle

    def _doze(self, moved: bool) -> None:
        """After a pump while the rank sleeps between polls: its next sleep's bound (bind_sched)."""
        sched = self._sched
        if moved:
            self._idle_since = 0.0  # busy again (on_idle(False) follows, unless a wait raised)
            sched.doze_max = self._doze_floor
            return
        if self.outstanding():
            # A transfer is in flight (a large payload arriving, sends to complete): Open MPI
            # moves it only when polled, so keep the short bound. Growing it here cut osu_bw
            # 1 MiB between nodes from 3.8-3.9 to 1.5-3.5 GB/s (3 rounds, raw mpi4py 4.2-4.4).
            sched.doze_max = self._doze_floor
            return
        slept = time.monotonic() - self._idle_since
        sched.doze_max = min(self._doze_cap, max(self._doze_floor, slept * 0.125))

    # -- out: rings -> network -------------------------------------------------------------
    def send_bulk(self, dest: int, arr: np.ndarray, nbytes: int, cookie: int) -> np.ndarray:
        """Start sending nbytes of arr (uint8) to dest direct; return the aux words of the
        rendezvous request that announces it: [bulk tag, nbytes]."""
        tag = cookie & self._tag_mask
        try:
            self.link.send_bulk(dest, arr[:nbytes], tag)
        except self.link.Error as exc:
            raise self._link_failed(exc) from None
        aux = np.empty(2, np.int64)
        aux[0] = tag
        aux[1] = nbytes
        return aux

    def read_bulk(self, src: int, tag: int, total: int, arr: np.ndarray, nbytes: int,
                  done: Callable[[], None]) -> None:
        """Start receiving the direct payload of `total` bytes src sent under tag, keeping its
        first nbytes in arr (a shorter receive buffer: the engine then reports ERR_TRUNCATE);
        `done()` is called from a later pump once it is in."""
        dst = byte_view(arr)
        fits = dst.nbytes >= total
        whole = dst[:total] if fits else np.empty(total, np.uint8)
        try:
            req = self.link.irecv_bulk(src, whole, tag)
        except self.link.Error as exc:
            raise self._link_failed(exc) from None
        self._reads.append((req, whole, dst, -1 if fits else nbytes, done))
        if self.board is not None:
            self.board.counts()  # work under way: this may run in a look that marks nobody busy

    def _finish_reads(self) -> bool:
        """Complete the direct payloads that are in; True if any."""
        reads = self._reads
        done = self.link.MPI.Request.Testsome([r[0] for r in reads])
        if not done:
            return False
        for i in sorted(done, reverse=True):
            _, whole, dst, keep, callback = reads.pop(i)
            if keep >= 0:
                dst[:keep] = whole[:keep]
            callback()
        return True

    def send_now(self, dest: int, tag: int, ctx: int, arr: np.ndarray, nbytes: int) -> bool:
        """Send a whole eager message (cookie 0) of nbytes from arr to dest as one network item at
        once, without passing it through the ring to dest: True if sent, False if the ring holds
        a message of ours still being taken out (order per pair: the caller then uses the ring).

        Every push of the engine to a remote peer's ring is followed by `flush`, which empties
        that ring unless a message is still partly in it (then in `_active`), so this one check
        is all per-pair order needs. Skipping the ring saves two kernel calls and a copy."""
        if self._active and self._p2p_key[dest] in self._active:
            return False
        kind = self._kinds.get(arr.dtype)
        if kind is None:
            kind = self._kind_of(arr)
        # bytes, not a numpy array: two C calls build the whole item.
        item = _HEADER.pack(_ITEM_P2P, kind, tag, ctx, nbytes, 0, 0, 0) + (
            arr.tobytes() if arr.nbytes == nbytes else byte_view(arr)[:nbytes].tobytes())
        try:
            self.link.send(dest, item)
        except self.link.Error as exc:
            raise self._link_failed(exc) from None
        return True

    def _kind_of(self, arr: np.ndarray) -> int:
        """The kind word of an eager message of arr's dtype (its element type in the flags),
        noted for send_now; the first time a dtype is seen, the engine's send kernel for it is
        loaded too (bind_engine)."""
        if self._load_send is not None and self._send_eps is not None and arr.dtype not in self._send_eps:
            self._load_send(arr)  # Comm.Send's hot path from now on
        dtype = arr.dtype
        wire = L.wire_type(dtype.str[1:]) if dtype.byteorder in "=|" else 0
        kind = self._kinds[dtype] = L.KIND_EAGER | (wire << L.FLAG_TYPE_SHIFT) << 16
        return kind

    def recv_from(self, src: int, tag: int, ctx: int, arr: np.ndarray) -> int:
        """A blocking receive from remote peer src with nothing else to do, whose queue from src
        was just found empty: pump and look for the message up to `spin` times; return the
        receive kernel's status (RX_EMPTY: nothing came, take the general path). For any other
        status the engine's `info` (bind_receive) holds the header of what was taken.

        This skips the scheduler's loop for the common case of one receive from another node
        (a ping-pong): about 0.5 us a pass while nothing comes (one MPI test), so `spin` passes
        bound the wait to a few hundred microseconds before the general path takes over.
        A plain message from src that arrives while src's queue is empty and nothing of src's
        waits to enter it (so nothing can be ahead of it) goes straight from the link's buffer
        into arr (mpi/net_take.py): one kernel call instead of a push into the queue and the
        receive kernel's take out of it: with Link.poll_raw, 2.1 -> 1.3 us of CPU for the
        route's part of a Recv of an arrived 8 B (a whole Comm.Recv: 4.2-4.9 -> 2.5-4.0 us)."""
        take = self._takes.get(arr.dtype, _UNLOADED) if arr.ndim == 1 else None
        if take is _UNLOADED:
            take = self._takes[arr.dtype] = take_entry(arr.dtype)
        link = self.link
        poll = link.poll_raw
        addr = self._rbuf_addr
        info = self._info_out
        waiting = self._waiting
        recv = None
        # Mostly the network alone, one arrival at a time: nothing of this rank runs meanwhile
        # to put more in our own queues to other nodes, so the rest of a pump (sending what they
        # hold, completing sends, items waiting to enter a queue) is done every 8th pass only,
        # and by the general path after; a pass where it moved something looks at src's queue
        # before it polls again. So whenever a poll runs, src's queue is empty: at entry, and
        # after every pass that ends in a look at it.
        try:
            for i in range(self.spin):
                if i & 7 == 7:
                    moved = self._pump_out()
                    if waiting:
                        for s in list(waiting):
                            if self._apply(s):
                                moved = True
                    if moved and self.board is not None:
                        self.board.counts()
                if i & 7 != 7 or not moved:
                    got = poll()
                    if got is None:
                        continue
                    sender, n = got
                    # (Of 16 bytes: an announcement of a large item, not the item.)
                    if sender == src and n != 16 and take is not None and src not in waiting:
                        status = take(addr, n, tag, ctx, arr, info)
                        if status != _NOT_TAKEN:
                            return status
                    self._take(link.item(sender, n))
                    if waiting:
                        for s in list(waiting):
                            self._apply(s)
                if recv is None:
                    recv = self._load_recv(arr)
                status = recv(self._in[src][0], tag, ctx, arr)
                if status != L.RX_EMPTY:
                    info[:] = self._rx_info[src]
                    return status
        except self.link.Error as exc:
            raise self._link_failed(exc) from None
        return L.RX_EMPTY

    def flush(self, dest: int) -> None:
        """Send what this rank has put in its point-to-point queue to dest (a remote peer) so far.

        The engine calls this after each push of its own, which is always on the point-to-point
        plane; the collective plane (the interpreter's pushes, barrier signals) is sent by the
        next pump. Looking at one plane instead of two keeps two kernel calls off every send."""
        try:
            self._drain_out(dest, L.P2P_PLANE)
        except self.link.Error as exc:
            raise self._link_failed(exc) from None

    def _drain_out(self, dest: int, plane: int) -> bool:
        h = self._out[dest][plane]
        info = self._info
        moved = False
        while True:
            key = (dest, plane)
            item = self._active.get(key)
            if item is not None:
                status = self._resume(h, item[HDR:])
                if status == L.RX_PARTIAL:
                    break
                if status < 0:
                    raise self._corrupt(status, dest)
                del self._active[key]
                self.link.send(dest, item)
                moved = True
                continue
            status = self._match(h, L.ANY, L.PEEK, _EMPTY, info)
            if status == L.RX_EMPTY:
                break
            if status < 0:
                raise self._corrupt(status, dest)
            moved = True
            kind, flags, total = int(info[L.INFO_KIND]), int(info[L.INFO_FLAGS]), int(info[L.INFO_TOTAL])
            heap = kind == L.KIND_HEAP
            rndv = kind == L.KIND_RNDV  # a direct payload's announcement (send_bulk): aux words
            item = np.empty(HDR + (16 if rndv else total if kind == L.KIND_EAGER or heap else 0), np.uint8)
            if rndv:
                aux = item[HDR:].view(np.int64)
                aux[0] = info[L.INFO_AUX0]
                aux[1] = info[L.INFO_AUX1]
            if heap:
                # Our own heap: copy its bytes now; the receiver's ack (FLAG_SYNC) completes the send.
                aux0 = int(info[L.INFO_AUX0])
                if total:
                    ring.copy_from(item[HDR:].ctypes.data, self.t.heap.base + aux0, total)
                kind, flags = L.KIND_EAGER, flags | L.FLAG_SYNC
            _HEADER.pack_into(item, 0, ITEM_MSG | plane << 8, kind | flags << 16, int(info[L.INFO_TAG]),
                              int(info[L.INFO_CTX]), total, int(info[L.INFO_COOKIE]), 0, 0)
            status = self._match(h, L.ANY, L.ANY, _EMPTY if heap or rndv else item[HDR:], info)
            if status == L.RX_PARTIAL:
                self._active[key] = item
                break
            if status < 0:
                raise self._corrupt(status, dest)
            self.link.send(dest, item)
        if plane == L.COLL_PLANE:
            n = self._signals(h)
            if n > 0:
                for _ in range(n):
                    ring.rx_signal(h)
                item = np.zeros(HDR, np.uint8)
                words = item.view(np.int64)
                words[0] = ITEM_SIGNALS | plane << 8
                words[6] = n
                self.link.send(dest, item)
                moved = True
        return moved

    # -- in: network -> rings -----------------------------------------------------------------
    def pump(self) -> bool:
        """One pass: send what our queues to remote peers hold, take what the network brought
        and push it into the queues from those peers. True if anything moved.

        A failure of the network (a rank of another node died: its sockets closed) aborts the
        job on this node (its ranks stop with one line) and raises ERR_PROC_ABORTED here."""
        try:
            return self._pump()
        except self.link.Error as exc:
            raise self._link_failed(exc) from None

    def _link_failed(self, exc: BaseException) -> MPIException:
        self.t.segment.set_abort(L.ABORT_RANK_FAILED, -1)
        return MPIException(ERR_PROC_ABORTED, f"the job is being aborted (the network to another node failed: {exc})")

    def _pump(self) -> bool:
        # The hot loop of a rank waiting on another node: every line here costs on each pass.
        moved = self._pump_out()
        poll = self.link.poll
        while True:
            got = poll()
            if got is None:
                break
            moved = True
            self._take(got)
        if self._waiting:
            for src in list(self._waiting):
                if self._apply(src):
                    moved = True
        if moved and self.board is not None:
            self.board.counts()
        if self._idle_since:
            self._doze(moved)
        return moved

    def _pump_out(self) -> bool:
        """A pump's part that looks at no arrival: the direct payloads that are in, what our
        queues to other nodes hold, the sends to complete. True if anything moved."""
        moved = bool(self._reads) and self._finish_reads()
        if self._scan(self._out_handles, self._out_ready):
            ready = self._out_ready
            for i, p in enumerate(self.peers):
                if ready[2 * i] and self._drain_out(p, L.P2P_PLANE):
                    moved = True
                if ready[2 * i + 1] and self._drain_out(p, L.COLL_PLANE):
                    moved = True
        signals = self._signals
        for h in self._coll_out:  # signals are not in the rings' indices: looked at apart
            if signals(h) > 0:
                moved = self._drain_out(self._coll_peer[h], L.COLL_PLANE) or moved
        link = self.link
        if link._sends or link._bulk_sends:
            link.pending_sends()
        return moved

    def _take(self, got: tuple[int, int, Any, Any]) -> None:
        """An arrival from the link: into its sender's queue at once if it can, else queued."""
        src, head, item, req = got
        plane = head >> 8 & 0xFF
        fifos = self._fifo.get(src)
        if fifos is None or plane not in _PLANES:
            raise MPIException(ERR_INTERN, f"network item from rank {src} (plane {plane}) that is "
                                           "not on another node")
        fifo = fifos[plane]
        if req is None and not fifo and head & 0xFF == ITEM_MSG:
            # The common case: a message with nothing from src before it, still in the link's
            # buffer: into src's queue at once, copied only if the ring is full.
            sent = self._push_item(src, plane, item, L.TX_NOT_STARTED)
            if sent == item.nbytes - HDR:
                return
            fifo.append([item.copy(), None, sent])
        else:
            held = req is None and item.base is self.link._rbuf  # the link reuses that buffer
            fifo.append([item.copy() if held else item, req, L.TX_NOT_STARTED])
        self._waiting.add(src)

    def _apply(self, src: int) -> bool:
        """Push the items from src that have fully arrived into its queues, in order; True if any."""
        moved = False
        fifos = self._fifo[src]
        for plane in _PLANES:
            q = fifos[plane]
            h = self._in[src][plane]
            while q:
                entry = q[0]
                if entry[1] is not None:
                    if not entry[1].Test():
                        break
                    entry[1] = None
                item = entry[0]
                words = item[:HDR].view(np.int64)
                what = int(words[0]) & 0xFF
                if what == ITEM_MSG:
                    payload = item[HDR:]
                    sent = self._push_item(src, plane, item, entry[2])
                    if sent != entry[2]:
                        moved = True
                    entry[2] = sent
                    if sent != payload.nbytes:
                        break  # the ring is full: the rest when the engine has drained it
                elif what == ITEM_SIGNALS:
                    for _ in range(int(words[6])):
                        ring.tx_signal(h)
                elif what == ITEM_FIN:
                    fins = self._fins[src] = self._fins.get(src, 0) + 1
                    if fins == len(_PLANES):
                        self.finished.add(src)
                else:
                    raise MPIException(ERR_INTERN, f"network item of unknown type {what} from rank {src}")
                q.popleft()
                moved = True
        if not fifos[0] and not fifos[1]:
            self._waiting.discard(src)
        return moved

    def _push_item(self, src: int, plane: int, item: np.ndarray, sent: int) -> int:
        """Push (the rest of) a message item from src into src's queue of plane; return how
        much of its payload is in (the push kernel's count)."""
        w = _HEADER.unpack_from(item, 0)
        sent = self._push(self._in[src][plane], w[1], w[2], w[3], w[4], w[5], item[HDR:], sent)
        if sent < L.TX_NOT_STARTED:
            raise self._corrupt(sent - L.TX_ERR_BASE, src)
        return sent

    # -- the end ---------------------------------------------------------------------------------
    def finish(self) -> None:
        """After this rank's last message: send what is left in our queues, then FIN to every
        remote peer."""
        for p in self.peers:
            try:
                for plane in _PLANES:
                    self._drain_out(p, plane)
            except self.link.Error as exc:
                raise self._link_failed(exc) from None
            for plane in _PLANES:
                item = np.zeros(HDR, np.uint8)
                item.view(np.int64)[0] = ITEM_FIN | plane << 8
                self.link.send(p, item)
        if self.board is not None:
            self.board.finished()

    def close(self) -> None:
        """Complete the network sends (before MPI_Finalize)."""
        try:
            self.link.close()
        except self.link.Error as exc:
            raise self._link_failed(exc) from None

    def abort(self, code: int) -> None:
        """End the job on every node with exit status `code` (MPI.Comm.Abort)."""
        self.link.abort(code)

    def outstanding(self) -> bool:
        """Whether network work is in flight: sends not completed, items not yet in rings."""
        return bool(self.link.pending_sends() or self._waiting or self._active or self._reads)

    def _corrupt(self, code: int, peer: int) -> MPIException:
        what = L.ERR_MESSAGES.get(code, f"code {code}")
        return MPIException(ERR_INTERN, f"bus corruption on the queue with rank {peer} (network route): {what}")
