"""The transport interface the MPI layer talks to, and its virtio-bus implementation.

The MPI layer sees only `Transport`: push fragments of a message to a peer, match or resume a
message from a peer, read a rendezvous payload, and a few job-control words. A second transport
(e.g. OpenMPI between nodes) implements the same dozen methods. The shared heap (MPI.Alloc_mem
memory that peers read straight from the sender) is three optional methods: a transport without
one keeps their defaults and every message travels its ordinary way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import posix_ipc

from . import layout as L
from . import ring
from .atomics import IS_X86
from .doorbell import Doorbell
from .heap import Heap, HeapError, PeerHeap, published
from .peer_memory import vm_access_supported, vm_copy
from .segment import Segment


class Transport(ABC):
    """What the point-to-point engine needs from a transport between ranks.

    The hot path is three functions and a handle per peer, so the engine reaches the
    transport's code in one call (for the virtio-bus: straight into a jitted kernel):

    - ``push_fn(tx_handles[dest], kind | flags << 16, tag, ctx, total, cookie, arr, sent)``
      sends more fragments of a message and returns the payload bytes sent so far
      (see ring.tx_push for the protocol);
    - ``match_fn(rx_handles[src], tag, ctx, arr, info)`` consumes the head message from src
      into arr if it matches (see ring.rx_match);
    - ``resume_fn(rx_handles[src], arr)`` continues an active fragmented message
      (see ring.rx_continue);
    - ``specialise(kind, dtype)`` returns a faster one of these for 1-D arrays of `dtype`;
      kind "wait" is match with a trailing spin budget (see ring.rx_wait), kind "send" a whole
      plain eager message in one call (see ring.tx_send), kind "recv" match without the info
      argument, leaving the header in ``rx_info(src)`` (see ring.rx_recv).

    Optionally ``rx_scanner(handles, ready)`` marks which of the given rx handles have something
    to drain and returns how many (see ring.rx_scan); without it every queue is drained each pass.
    """

    rank: int
    size: int
    tx_handles: list[int]
    rx_handles: list[int]
    # Handles of the collective plane: queues only the collective interpreter uses.
    coll_tx_handles: list[int]
    coll_rx_handles: list[int]
    push_fn: Callable[..., int]
    match_fn: Callable[..., int]
    resume_fn: Callable[..., int]

    def specialise(self, kind: str, dtype: np.dtype) -> Callable[..., int]:
        """A faster push/match/resume function for 1-D C-contiguous arrays of `dtype`."""
        fns = {"push": self.push_fn, "match": self.match_fn, "resume": self.resume_fn}
        if kind == "wait":
            match = self.match_fn
            return lambda h, tag, ctx, arr, info, spins: match(h, tag, ctx, arr, info)
        if kind == "send":
            push = self.push_fn
            return lambda h, tag, ctx, arr: push(h, 1, tag, ctx, arr.nbytes, 0, arr, -1)
        if kind == "recv":
            match = self.match_fn
            by_handle = {h: self.rx_info(src) for src, h in enumerate(self.rx_handles)}
            return lambda h, tag, ctx, arr: match(h, tag, ctx, arr, by_handle[h])
        return fns[kind]

    def rx_info(self, src: int) -> np.ndarray:
        """int64[INFO_LEN] where the "recv" function leaves the header of what it took from src."""
        infos = self.__dict__.setdefault("_rx_infos", {})
        return infos.setdefault(src, np.zeros(L.INFO_LEN, np.int64))

    @abstractmethod
    def read_remote(self, src: int, pid: int, address: int, arr: np.ndarray, nbytes: int) -> None:
        """Copy nbytes from rank src's memory (process pid) into arr (rendezvous single copy)."""

    # -- the shared heap (optional) -----------------------------------------------------
    def alloc_shared(self, nbytes: int) -> np.ndarray | None:
        """nbytes (zeroed uint8) of memory that peers can read in place (MPI.Alloc_mem), or None
        when this transport has no such memory or none is left."""
        return None

    def heap_descriptor(self, arr: np.ndarray, nbytes: int) -> np.ndarray | None:
        """If arr's first nbytes lie in memory from alloc_shared: the 16-byte payload (int64[2]) of
        a KIND_HEAP message that lets the receiver copy them with read_heap; else None."""
        return None

    def read_heap(self, src: int, aux0: int, aux1: int, arr: np.ndarray, nbytes: int) -> None:
        """Copy nbytes described by a KIND_HEAP payload (aux0, aux1) from rank src into arr.
        Raises OSError when the memory cannot be reached."""
        raise OSError("this transport has no shared heap")

    @abstractmethod
    def abort_code(self) -> int:
        """Non-zero once the job is being aborted."""

    @abstractmethod
    def set_abort(self, code: int) -> None:
        """Ask the whole job to abort."""

    @abstractmethod
    def set_blocked(self, call: int, peer: int, tag: int) -> None:
        """Record which call this rank is blocked in (read by the launcher on timeout)."""

    def doorbell(self) -> Doorbell | None:
        """What this process sleeps on when it has nothing to run, that peers ring when they send
        to it (None: no doorbell; the scheduler then sleeps in growing steps)."""
        return None

    def set_idle(self, idle: bool) -> None:  # noqa: B027 - optional: a no-op where nobody checks
        """Record whether this rank's process is backing off with nothing to do (deadlock check)."""

    @abstractmethod
    def peer_finished(self, rank: int) -> bool:
        """True once `rank` has finalized (it will send nothing more)."""

    @abstractmethod
    def finish(self) -> None:
        """Mark this rank finalized."""

    @property
    @abstractmethod
    def rendezvous_ok(self) -> bool:
        """Whether read_remote works between ranks on this machine."""


class RndvKernels(NamedTuple):
    """The compiled kernels of the rendezvous protocol (bus/layout.py "Rendezvous")."""

    send: Callable[..., int]  # ring.tx_rndv: a request, with a spin for its acknowledgement
    poll: Callable[..., int]  # ring.tx_rndv_poll: which of a window of requests are acknowledged
    ack: Callable[..., None]  # ring.rx_rndv_ack: acknowledge a request read by Python
    read: Callable[..., int]  # ring.rx_rndv_read: read a request's payload and acknowledge it


def rendezvous_supported() -> bool:
    """Whether ranks (sibling processes of one user) may read each other's memory here."""
    return vm_access_supported()


class VirtioBus(Transport):
    """Transport over the job's shared-memory virtqueues (one per ordered pair of ranks)."""

    def __init__(self, segment: Segment, rank: int, use_rendezvous: bool, heap_size: int = 0,
                 process_of: list[int] | None = None, stream_threshold: int = 0, stream_probe: bool = False) -> None:
        self.segment = segment
        self.rank = rank
        self.size = segment.nranks
        self.base = segment.base
        n = self.size
        # Queue addresses by peer; the entry for ourselves is unused (self-sends skip the bus).
        self.tx_handles = [segment.handle(rank, p) if p != rank else 0 for p in range(n)]
        self.rx_handles = [segment.handle(p, rank) if p != rank else 0 for p in range(n)]
        self.coll_tx_handles = [segment.handle(rank, p, L.COLL_PLANE) if p != rank else 0 for p in range(n)]
        self.coll_rx_handles = [segment.handle(p, rank, L.COLL_PLANE) if p != rank else 0 for p in range(n)]
        self.push_fn = ring.tx_push
        self.match_fn = ring.rx_match
        self.resume_fn = ring.rx_continue
        self._rendezvous = use_rendezvous and rendezvous_supported()
        if self._rendezvous:
            # The receive kernels read a rendezvous payload themselves, from the queue's sender
            # only (layout.py, "Rendezvous"): each queue's handle names its sender's pid word.
            for p in range(n):
                if p != rank:
                    segment.handle_words(p, rank)[L.H_SENDER_PID // 8] = segment.base + segment.slot(p, L.SLOT_PID)
                    segment.handle_words(rank, p)[L.H_SENDER_PID // 8] = segment.base + segment.slot(rank, L.SLOT_PID)
        self._rndv_kernels: RndvKernels | None = None
        self._shares: dict[int, bool] = {}  # hosts_others' answers, by rank
        self._slot = segment.slot(rank, 0)
        self._slot_addr = segment.base + self._slot
        self._store_blocked = ring.blocked_writer()
        self.rx_scanner = ring.rx_scanner()
        self.heap_size = heap_size
        self.heap: Heap | None = None  # created on the first alloc_shared
        self._heap_failed = False
        self._peer_heaps: dict[int, PeerHeap] = {}
        self._addr_fns: dict[np.dtype, Callable[[np.ndarray], int]] = {}
        # process_of: the process hosting each rank (None: one process per rank).
        self.bell = segment.enable_doorbells(process_of, rank)
        # The trials are timed with x86's time-stamp counter: elsewhere nothing streams anyway.
        segment.stream_from(stream_threshold, process_of, rank, stream_probe and IS_X86)
        # Ranks of other nodes (a job of several nodes, see route_remote): their slots in this
        # node's segment are nobody's, so whether they finished is known from the network route.
        self._remote: list[bool] | None = None
        self._remote_finished: set[int] = set()

    def route_remote(self, remote: list[bool], finished: set[int]) -> None:
        """Say which ranks live on other nodes and the set (kept up to date by the network
        route, mpi/netroute.py) of those that finished: their FIN reached this rank after their
        last message to it. Each rank of a node keeps its own, since each gets its own FIN."""
        self._remote = remote
        self._remote_finished = finished
        # The queues to a rank of another node are read by this process's network route, not by
        # another core: streaming their fragments would only push them out of our own cache.
        for r, far in enumerate(remote):
            if far and r != self.rank:
                self.segment.handle_words(r, self.rank)[L.H_SENDER_PID // 8] = 0  # no process here to read
                self.segment.handle_words(self.rank, r)[L.H_SENDER_PID // 8] = 0
                for plane in range(L.PLANES):
                    self.segment.handle_words(self.rank, r, plane)[L.H_STREAM_MIN // 8] = 0
                    self.segment.handle_words(self.rank, r, plane)[L.H_STREAM_PROBE // 8] = 0

    @property
    def rendezvous_ok(self) -> bool:
        """Whether rendezvous reads are enabled."""
        return self._rendezvous

    def hosts_others(self, rank: int) -> bool:
        """Whether rank's process hosts other ranks of the job too (green-thread ranks): another
        rank's pid word holds its pid. For a rank that takes part in a call with this one (its
        process registered all its ranks before any of them could)."""
        known = self._shares.get(rank)
        if known is None:
            seg = self.segment
            pid = seg.read_word(seg.slot(rank, L.SLOT_PID))
            known = self._shares[rank] = any(
                r != rank and seg.read_word(seg.slot(r, L.SLOT_PID)) == pid for r in range(self.size))
        return known

    def specialise(self, kind, dtype):
        """The kernel's compiled entry point for 1-D arrays of dtype (skips numba's dispatcher)."""
        kernel = {"push": ring.tx_push, "match": ring.rx_match, "resume": ring.rx_continue,
                  "wait": ring.rx_wait, "send": ring.tx_send, "recv": ring.rx_recv,
                  "send_rndv": ring.tx_send_rndv, "isend_rndv": ring.tx_isend_rndv}[kind]
        return ring.entry_point(kernel, dtype)

    def rx_info(self, src):
        """The H_INFO words of the handle of queue src -> us (rx_recv writes the header there)."""
        if src == self.rank:
            return np.zeros(L.INFO_LEN, np.int64)
        return self.segment.handle_words(src, self.rank)[L.H_INFO // 8: L.H_INFO // 8 + L.INFO_LEN]

    def set_rndv_defer(self, word: int) -> None:
        """Point the queues this rank receives on at `word`, the address of an int64 that is
        non-zero while their kernels must leave rendezvous payloads unread (H_RNDV_DEFER_AT)."""
        for p in range(self.size):
            if p != self.rank:
                self.segment.handle_words(p, self.rank)[L.H_RNDV_DEFER_AT // 8] = word

    def set_rndv_spins(self, spins: int) -> None:
        """How many polls a blocking Send by rendezvous makes for its acknowledgement in jitted
        code (ring.tx_send_rndv) before it waits the general way."""
        for p in range(self.size):
            if p != self.rank:
                self.segment.handle_words(self.rank, p)[L.H_RNDV_SPINS // 8] = spins

    def rndv_kernels(self) -> RndvKernels:
        """The compiled kernels of the rendezvous protocol, loaded at first use."""
        if self._rndv_kernels is None:
            self._rndv_kernels = RndvKernels(*ring.rndv_entries())
        return self._rndv_kernels

    def read_remote(self, src, pid, address, arr, nbytes):
        """process_vm_readv nbytes from (pid, address) into arr, if pid really is rank src."""
        # The pid comes from a message header in shared memory: only read from the process
        # that registered itself as `src`, never from whatever pid a scribbled header names.
        registered = self.segment.read_word(self.segment.slot(src, L.SLOT_PID))
        if pid != registered:
            raise OSError(f"rendezvous request names pid {pid}, but rank {src} is pid {registered}")
        vm_copy(pid, address, arr.ctypes.data, nbytes, write=False)

    # -- the shared heap ----------------------------------------------------------------
    def alloc_shared(self, nbytes):
        """A block of this rank's heap (created on first use), or None: heap off or full."""
        if self.heap is None:
            if self.heap_size <= 0 or self._heap_failed:
                return None
            launcher = self.segment.read_word(L.HDR_LAUNCHER_PID)
            try:
                self.heap = Heap(launcher, self.rank, self.heap_size)
            except (OSError, ValueError, posix_ipc.Error):
                self._heap_failed = True  # e.g. /dev/shm full: Alloc_mem falls back to plain memory
                return None
            # Size first, then the token with a release store: a peer that sees the token sees
            # the size, and it sees both before any KIND_HEAP message (published later).
            self.segment.write_word(self._slot + L.SLOT_HEAP_SIZE, self.heap_size)
            self.segment.write_word(self._slot + L.SLOT_HEAP_TOKEN, self.heap.token)
        return self.heap.alloc(nbytes)

    def address(self, arr: np.ndarray) -> int:
        """Data address of a C-contiguous array, through a compiled kernel (~50 ns)."""
        fn = self._addr_fns.get(arr.dtype)
        if fn is None:
            dtype = arr.dtype
            fn = ring.compiled_or_none(ring.address_reader, dtype)
            if fn is None:
                u8 = ring.address_reader(np.dtype(np.uint8))
                fn = lambda a: u8(a.reshape(-1).view(np.uint8))  # noqa: E731
            self._addr_fns[dtype] = fn
        return fn(arr if arr.ndim == 1 else arr.reshape(-1))

    def heap_descriptor(self, arr, nbytes):
        """[offset in our heap, heap token] when arr's bytes lie in our heap, else None."""
        heap = self.heap
        if heap is None:
            return None
        off = heap.offset(self.address(arr), nbytes)
        if off < 0:
            return None
        aux = np.empty(2, np.int64)
        aux[0] = off
        aux[1] = heap.token
        return aux

    def read_heap(self, src, aux0, aux1, arr, nbytes):
        """memcpy nbytes at offset aux0 of rank src's heap (token aux1) into arr."""
        peer = self._peer_heaps.get(src)
        if peer is None or peer.token != aux1:
            token, size = published(self.segment.read_word, src)
            if token == 0 or token != aux1:
                raise HeapError(f"rank {src} has no heap with token {aux1:#x} (its slot says {token:#x})")
            peer = self._peer_heaps[src] = PeerHeap(self.segment.read_word(L.HDR_LAUNCHER_PID), src,
                                                    token, size)
        if aux0 < 0 or nbytes < 0 or aux0 + nbytes > peer.size:
            raise HeapError(f"heap message from rank {src} names bytes {aux0}..{aux0 + nbytes}, "
                            f"outside its heap of {peer.size}")
        if nbytes:
            ring.copy_from(self.address(arr), peer.base + aux0, nbytes)

    def abort_code(self):
        """The job's abort word."""
        return self.segment.abort_code()

    def abort_rank(self) -> int:
        """The rank that caused the abort (-1: the launcher)."""
        return self.segment.read_word(L.HDR_ABORT_RANK)

    def set_abort(self, code):
        """Set the job's abort word, naming this rank."""
        self.segment.set_abort(code, self.rank)

    def set_blocked(self, call, peer, tag):
        """Write this rank's blocked-call fields for the launcher."""
        self._store_blocked(self._slot_addr, call, peer, tag)

    def set_idle(self, idle):
        """Make the slot's idle count odd (idle) or even (busy), release-storing each change."""
        addr = self._slot + L.SLOT_IDLE
        count = self.segment.peek_word(addr)
        if bool(count & 1) != idle:
            self.segment.write_word(addr, count + 1)

    def doorbell(self):
        """This process's futex doorbell (None where futexes are unknown)."""
        return Doorbell(self.bell) if self.bell else None

    def peer_finished(self, rank):
        """True once rank has finalized."""
        if self._remote is not None and self._remote[rank]:
            return rank in self._remote_finished
        return self.segment.read_word(self.segment.slot(rank, L.SLOT_STATE)) == L.RANK_FINISHED

    def finish(self):
        """Mark this rank finalized; remove our heap's name (mappings stay valid)."""
        if self.heap is not None:
            self.heap.unlink()
        self.segment.write_word(self._slot + L.SLOT_STATE, L.RANK_FINISHED)
        if self.bell:
            # A peer blocked on us (a receive from us, a send we will never take) learns it from
            # our state: wake the sleeping ones so they see it now.
            others = np.array([b for b in self.segment.bells if b != self.bell], np.int64)
            ring.ring_bells(others)
