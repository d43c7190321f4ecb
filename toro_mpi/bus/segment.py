"""The job's shared-memory segment: create (launcher), attach (ranks), unlink, close.

Lifetime rules, after CPython's multiprocessing.shared_memory:
- the launcher creates the name with O_CREX and mode 0600, a random part plus its pid;
- each rank maps it and adds one to the header's `attached` counter;
- once the counter reaches nranks the launcher unlinks the name: mappings stay valid, and
  from then on a crash of anyone can leave nothing behind in /dev/shm;
- `close()` drops this process's mapping, `unlink()` removes the name; both are safe to call
  on a half-built object and more than once.

The launcher starts the ranks before it creates the segment (their imports, ~0.3 s of CPU
each, overlap its own work), so a rank started for a segment (TORO_MPI_SEGMENT names it) waits
in `attach` until the name exists and its header is complete, as long as the launcher lives.
The launcher's side (create, header words, abort, doorbells, unlink) needs no numpy: its import
was a third of the launcher's start-up; header and geometry words are read and written with
struct, and numpy is imported only for the rank's handle table and `view()`.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import stat
import struct
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import posix_ipc

from . import layout as L

if TYPE_CHECKING:
    import numpy as np

NAME_PREFIX = "/toro_mpi."
# How long a rank waits in attach for a launcher that is alive but has not created its segment.
ATTACH_WAIT = 120.0
ATTACH_POLL = 0.001  # seconds between looks meanwhile
_WORD = struct.Struct("<q")
_HALF = struct.Struct("<H")
_GEOMETRY = struct.Struct("<8q")


class SegmentError(RuntimeError):
    """The segment cannot be created or attached (missing, foreign, other layout)."""


def make_name(launcher_pid: int | None = None) -> str:
    """A fresh unguessable segment name that carries the launcher's pid."""
    pid = os.getpid() if launcher_pid is None else launcher_pid
    # os.urandom is what secrets.token_hex reads; secrets itself imports hmac and OpenSSL's
    # hashlib (3 ms of every launch).
    return f"{NAME_PREFIX}{pid}.{os.urandom(12).hex()}"


def launcher_pid_of(name: str) -> int | None:
    """The launcher pid encoded in a segment name, or None if it is not one of ours."""
    base = name.lstrip("/")
    prefix = NAME_PREFIX.lstrip("/")
    if not base.startswith(prefix):
        return None
    pid_part = base[len(prefix):].split(".", 1)[0]
    return int(pid_part) if pid_part.isdigit() else None


class Segment:
    """A mapped virtio-bus segment; `base` is its address for the jitted kernels."""

    def __init__(self) -> None:
        self.name: str | None = None
        self._map: mmap.mmap | None = None
        self._view: np.ndarray | None = None  # numpy view of the mapping, made on first view()
        self.base = 0
        self.size = 0
        self.nranks = 0
        self.queue_size = 0
        self.buffer_size = 0
        self.coll_queue_size = 0
        self.regions: dict[str, int] = {}
        self.planes: list[tuple[int, int, int]] = []
        # Process-private queue handles (layout.H_*): the kernels read geometry only from here.
        self._handles: np.ndarray | None = None
        self.bells: list[int] = []  # every process's doorbell address, once enable_doorbells ran
        self._doorbells: tuple[tuple, int] | None = None  # (process map, own doorbell) it ran with

    # -- construction -----------------------------------------------------------------
    @classmethod
    def create(cls, nranks: int, queue_size: int, buffer_size: int, name: str | None = None,
               coll_queue_size: int | None = None,
               stream_advice: Mapping[tuple[int, int, int], int] | None = None) -> Segment:
        """Create, size, pre-fault and initialise a new segment (launcher side).

        `stream_advice` maps (plane, src, dst) to the advice queue src -> dst starts with
        (preset_stream_advice), written before the segment is published: a rank that attaches
        early never sees the queue unmeasured."""
        cq = queue_size if coll_queue_size is None else coll_queue_size
        L.validate_geometry(nranks, queue_size, buffer_size)
        L.validate_geometry(nranks, cq, buffer_size)
        seg = cls()
        seg.name = name or make_name()
        size = L.segment_size(nranks, queue_size, buffer_size, cq)
        try:
            shm = posix_ipc.SharedMemory(seg.name, flags=posix_ipc.O_CREX, mode=0o600, size=size)
        except posix_ipc.ExistentialError as exc:
            raise SegmentError(f"segment {seg.name} already exists: {exc}") from None
        try:
            seg._map_fd(shm.fd, size)
        except BaseException:
            shm.close_fd()
            seg.unlink()
            raise
        shm.close_fd()
        seg._write_header(nranks, queue_size, buffer_size, cq, size)
        seg._load_geometry()
        for (plane, src, dst), advice in (stream_advice or {}).items():
            seg.preset_stream_advice(src, dst, plane, advice)
        # The magic goes last: a segment without it is not initialised yet (a rank that maps it
        # earlier waits, see attach; x86 keeps these plain stores in order).
        seg._put(L.HDR_MAGIC, struct.unpack("<q", struct.pack("<Q", L.MAGIC))[0])
        return seg

    @classmethod
    def attach(cls, name: str) -> Segment:
        """Map an existing segment after checking owner, mode, magic, version and size.

        A process started for this segment (TORO_MPI_SEGMENT is `name`) may run before the
        launcher has created it: it waits while the name is missing or its header incomplete,
        as long as the launcher (whose pid the name carries) lives, up to ATTACH_WAIT."""
        waiting = os.environ.get("TORO_MPI_SEGMENT") == name
        deadline = time.monotonic() + ATTACH_WAIT
        while True:
            try:
                return cls._attach_once(name)
            except _NotReady as exc:
                if not (waiting and time.monotonic() < deadline and _alive(launcher_pid_of(name))):
                    raise SegmentError(str(exc)) from None
            time.sleep(ATTACH_POLL)

    @classmethod
    def _attach_once(cls, name: str) -> Segment:
        seg = cls()
        seg.name = name
        try:
            shm = posix_ipc.SharedMemory(name)
        except posix_ipc.ExistentialError:
            raise _NotReady(f"segment {name} does not exist (launcher gone, or wrong name)") from None
        try:
            st = os.fstat(shm.fd)
            if st.st_uid != os.geteuid():
                raise SegmentError(f"segment {name} belongs to uid {st.st_uid}, not to us ({os.geteuid()})")
            if stat.S_IMODE(st.st_mode) & 0o077:
                raise SegmentError(f"segment {name} has mode {stat.S_IMODE(st.st_mode):o}; refusing wider than 600")
            if st.st_size < L.HEADER_SIZE:
                # Created but not sized yet (shm_open and ftruncate are two calls), or not ours.
                raise _NotReady(f"segment {name} is {st.st_size} bytes, too small for a header")
            seg._map_fd(shm.fd, st.st_size)
        finally:
            shm.close_fd()
        try:
            seg._check_header(st.st_size)
            seg._load_geometry()
        except BaseException:
            seg.close()
            raise
        return seg

    def _map_fd(self, fd: int, size: int) -> None:
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        self._map = mmap.mmap(fd, size, flags=flags, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        # The mapping's address; the ctypes object (an export of the buffer) goes at once, so
        # that close() can unmap.
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self._map))
        self.size = size

    def _get(self, offset: int) -> int:
        """A plain load of the int64 word at offset."""
        assert self._map is not None
        return int(_WORD.unpack_from(self._map, offset)[0])

    def _put(self, offset: int, value: int) -> None:
        """A plain store of the int64 word at offset."""
        assert self._map is not None
        _WORD.pack_into(self._map, offset, value)

    def _write_header(self, nranks: int, queue_size: int, buffer_size: int, coll_queue_size: int,
                      size: int) -> None:
        regions = L.queue_regions(queue_size, buffer_size)
        planes = L.plane_offsets(nranks, queue_size, buffer_size, coll_queue_size)
        mem = self._map
        assert mem is not None
        for offset, value in (
            (L.HDR_VERSION, L.LAYOUT_VERSION),
            (L.HDR_NRANKS, nranks),
            (L.HDR_QSIZE, queue_size),
            (L.HDR_BUFSIZE, buffer_size),
            (L.HDR_QSTRIDE, regions["stride"]),
            (L.HDR_QOFFSET, L.queues_offset(nranks)),
            (L.HDR_TOTAL, size),
            (L.HDR_LAUNCHER_PID, os.getpid()),
            (L.HDR_OWNER_UID, os.geteuid()),
            (L.HDR_AVAIL_OFF, regions["avail"]),
            (L.HDR_USED_OFF, regions["used"]),
            (L.HDR_TXPRIV_OFF, regions["txpriv"]),
            (L.HDR_RXPRIV_OFF, regions["rxpriv"]),
            (L.HDR_BUF_OFF, regions["buffers"]),
            (L.HDR_ABORT_RANK, -1),
            (L.HDR_COLL_QSIZE, coll_queue_size),
            (L.HDR_COLL_QSTRIDE, planes[L.COLL_PLANE][1]),
            (L.HDR_COLL_QOFFSET, planes[L.COLL_PLANE][2]),
        ):
            self._put(offset, value)
        # We poll: neither side ever wants a notification.
        for qsize, stride, qoff in planes:
            r = L.queue_regions(qsize, buffer_size)
            for qi in range(nranks * (nranks - 1)):
                q = qoff + qi * stride
                _GEOMETRY.pack_into(mem, q, qsize, buffer_size, r["avail"], r["used"], r["txpriv"], r["rxpriv"],
                                    r["buffers"], q)
                mem[q + r["avail"]] = L.VIRTQ_AVAIL_F_NO_INTERRUPT
                mem[q + r["used"]] = L.VIRTQ_USED_F_NO_NOTIFY

    def _check_header(self, size: int) -> None:
        magic = self._get(L.HDR_MAGIC) & 0xFFFFFFFFFFFFFFFF
        if magic == 0:
            raise _NotReady(f"segment {self.name} is not initialised yet")
        if magic != L.MAGIC:
            raise SegmentError(f"segment {self.name} is not a toro_mpi bus (magic {magic:#x})")
        get = self._get
        words = _Words(get)
        version = int(words[L.HDR_VERSION // 8])
        if version != L.LAYOUT_VERSION:
            raise SegmentError(
                f"segment {self.name} has layout version {version}, this toro_mpi speaks {L.LAYOUT_VERSION}"
            )
        nranks, qsize, bsize = (int(words[o // 8]) for o in (L.HDR_NRANKS, L.HDR_QSIZE, L.HDR_BUFSIZE))
        try:
            L.validate_geometry(nranks, qsize, bsize)
        except ValueError as exc:
            raise SegmentError(f"segment {self.name} has a bad geometry: {exc}") from None
        cq = int(words[L.HDR_COLL_QSIZE // 8])
        try:
            L.validate_geometry(nranks, cq, bsize)
        except ValueError as exc:
            raise SegmentError(f"segment {self.name} has a bad collective geometry: {exc}") from None
        expected = L.segment_size(nranks, qsize, bsize, cq)
        planes = L.plane_offsets(nranks, qsize, bsize, cq)
        if (int(words[L.HDR_COLL_QSTRIDE // 8]), int(words[L.HDR_COLL_QOFFSET // 8])) != planes[L.COLL_PLANE][1:]:
            raise SegmentError(f"segment {self.name} has an inconsistent collective plane offset")
        if int(words[L.HDR_TOTAL // 8]) != expected or size < expected:
            raise SegmentError(f"segment {self.name} is {size} bytes, its geometry needs {expected}")
        regions = L.queue_regions(qsize, bsize)
        for offset, key in ((L.HDR_AVAIL_OFF, "avail"), (L.HDR_USED_OFF, "used"),
                            (L.HDR_TXPRIV_OFF, "txpriv"), (L.HDR_RXPRIV_OFF, "rxpriv"),
                            (L.HDR_BUF_OFF, "buffers"), (L.HDR_QSTRIDE, "stride")):
            if int(words[offset // 8]) != regions[key]:
                raise SegmentError(f"segment {self.name} has an inconsistent {key} offset")
        for plane, (pq, stride, qoff) in enumerate(planes):
            r = L.queue_regions(pq, bsize)
            for qi in range(nranks * (nranks - 1)):
                q = qoff + qi * stride
                assert self._map is not None
                geom = _GEOMETRY.unpack_from(self._map, q)
                if geom != (pq, bsize, r["avail"], r["used"], r["txpriv"], r["rxpriv"], r["buffers"], q):
                    raise SegmentError(
                        f"segment {self.name}: virtqueue {qi} of plane {plane} has a corrupt geometry line")

    def _load_geometry(self) -> None:
        words = _Words(self._get)
        self.nranks = int(words[L.HDR_NRANKS // 8])
        self.queue_size = int(words[L.HDR_QSIZE // 8])
        self.buffer_size = int(words[L.HDR_BUFSIZE // 8])
        self.coll_queue_size = int(words[L.HDR_COLL_QSIZE // 8])
        self.regions = L.queue_regions(self.queue_size, self.buffer_size)
        self.planes = L.plane_offsets(self.nranks, self.queue_size, self.buffer_size, self.coll_queue_size)

    def _table(self) -> np.ndarray:
        """The handle table (built on first use: the launcher never needs it, nor numpy)."""
        if self._handles is None:
            if self._map is None:
                raise ValueError("the segment is closed")
            self._handles = self._build_handles()
        return self._handles

    def _build_handles(self) -> np.ndarray:
        import numpy as np

        n = self.nranks
        handles = np.zeros((L.PLANES * n * n, L.HANDLE_WORDS), np.int64)
        for plane, src, dst, qoff, qsize, r in self._queues():
            row = handles[(plane * n + src) * n + dst]
            for field, value in ((L.H_QADDR, self.base + qoff), (L.H_QOFF, qoff),
                                 (L.H_QSIZE, qsize), (L.H_BSIZE, self.buffer_size),
                                 (L.H_AVAIL, r["avail"]), (L.H_USED, r["used"]),
                                 (L.H_TXPRIV, r["txpriv"]), (L.H_RXPRIV, r["rxpriv"]),
                                 (L.H_BUFFERS, r["buffers"]), (L.H_SIGNALS, r["signals"]),
                                 (L.H_SEEN, r["seen"]), (L.H_ACKS, r["acks"])):
                row[field // 8] = value
        return handles

    def _queues(self) -> Iterator[tuple[int, int, int, int, int, dict[str, int]]]:
        """(plane, src, dst, queue offset, queue size, queue regions) of every virtqueue."""
        n = self.nranks
        for plane, (qsize, _, _) in enumerate(self.planes):
            r = L.queue_regions(qsize, self.buffer_size)
            for src in range(n):
                for dst in range(n):
                    if src != dst:
                        yield plane, src, dst, self.queue_offset(src, dst, plane), qsize, r

    # -- queues and header words ------------------------------------------------------
    def queue_offset(self, src: int, dst: int, plane: int = L.P2P_PLANE) -> int:
        """Offset (from base) of the virtqueue src -> dst of a plane."""
        qi = L.queue_index(src, dst, self.nranks)
        _, stride, first = self.planes[plane]
        return first + qi * stride

    def queue_address(self, src: int, dst: int, plane: int = L.P2P_PLANE) -> int:
        """Address of the virtqueue src -> dst in this process."""
        return self.base + self.queue_offset(src, dst, plane)

    def handle_words(self, src: int, dst: int, plane: int = L.P2P_PLANE) -> np.ndarray:
        """The private handle record of virtqueue src -> dst as int64 words (a view)."""
        self.handle(src, dst, plane)  # validates
        return self._table()[(plane * self.nranks + src) * self.nranks + dst]

    def handle(self, src: int, dst: int, plane: int = L.P2P_PLANE) -> int:
        """The kernels' handle of virtqueue src -> dst: address of its private geometry record."""
        if src == dst or not (0 <= src < self.nranks and 0 <= dst < self.nranks) or not 0 <= plane < L.PLANES:
            raise ValueError(f"no virtqueue {src} -> {dst} (plane {plane}) in a bus of {self.nranks} ranks")
        row = (plane * self.nranks + src) * self.nranks + dst
        return self._table().ctypes.data + row * L.HANDLE_WORDS * 8

    def view(self) -> np.ndarray:
        """The whole segment as a uint8 array (tests, diagnostics)."""
        if self._view is None:
            import numpy as np

            assert self._map is not None
            self._view = np.frombuffer(self._map, dtype=np.uint8)
        return self._view

    def read_word(self, offset: int) -> int:
        """Acquire-load an int64 header word."""
        from .ring import load_acquire

        return int(load_acquire(self.base + offset))

    def write_word(self, offset: int, value: int) -> None:
        """Release-store an int64 header word."""
        from .ring import store_release

        store_release(self.base + offset, value)

    def slot(self, rank: int, field: int) -> int:
        """Offset of a field in a rank's slot."""
        return L.HEADER_SIZE + L.SLOT_SIZE * rank + field

    def register(self, rank: int) -> int:
        """Record this process as `rank` and count it attached; return the new count."""
        from .ring import fetch_add

        self.write_word(self.slot(rank, L.SLOT_PID), os.getpid())
        self.write_word(self.slot(rank, L.SLOT_STATE), L.RANK_ATTACHED)
        return int(fetch_add(self.base + L.HDR_ATTACHED, 1)) + 1

    def peek_word(self, offset: int) -> int:
        """A plain load of an int64 word, for the launcher's reports (advisory, no numba)."""
        return self._get(offset)

    def bus_quiet(self) -> bool:
        """Whether every virtqueue of both planes is empty: each avail.idx equals its used.idx and
        each SIGNALS count its SEEN count.

        Plain loads, for the launcher's deadlock check: it calls a job deadlocked only when this
        holds and every rank's idle count is odd and unchanged over two looks a while apart."""
        mem = self._map
        assert mem is not None
        for _, _, _, q, _, r in self._queues():
            avail = _HALF.unpack_from(mem, q + r["avail"] + 2)[0]
            used = _HALF.unpack_from(mem, q + r["used"] + 2)[0]
            if avail != used:
                return False
            if self._get(q + r["signals"]) != self._get(q + r["seen"]):
                return False
        return True

    def attached(self) -> int:
        """How many ranks have attached so far (an advisory plain load, see below)."""
        # The launcher polls this to decide when to unlink the name. A stale value only delays
        # the unlink by one poll, and an aligned 8-byte load is never torn, so a plain load is
        # enough here, which spares the launcher importing numba (~0.4 s) on every start.
        return self._get(L.HDR_ATTACHED)

    def abort_code(self) -> int:
        """The job's abort code (0 while it runs)."""
        return self.read_word(L.HDR_ABORT)

    def set_abort(self, code: int, rank: int) -> None:
        """Mark the job aborted (the first caller wins); blocked ranks notice at their next back-off."""
        from .ring import compare_exchange

        # Claim the abort with a CAS on the rank word, so two racing aborters cannot leave a
        # code from one and a culprit from the other; then publish the code (release).
        if compare_exchange(self.base + L.HDR_ABORT_RANK, -1, rank) == -1 or rank == -1:
            if self.read_word(L.HDR_ABORT) == 0:
                self.write_word(L.HDR_ABORT_RANK, rank)
                self.write_word(L.HDR_ABORT, code)

    def post_abort(self, code: int, rank: int) -> None:
        """set_abort for the launcher, without numba: plain aligned stores, culprit first.

        The launcher must not spend seconds importing numba on a loaded machine at the moment a
        rank dies (it SIGTERMs the ranks right after; the word only turns calls that are still
        blocked into errors). The ranks poll the code with acquire loads; the culprit word is
        used only for the message, so a reader that sees the code first names "the launcher"."""
        if self._get(L.HDR_ABORT) == 0:
            self._put(L.HDR_ABORT_RANK, rank)
            self._put(L.HDR_ABORT, code)
        self.ring_all()  # sleeping ranks see the code now, not at their next timeout

    # -- stream advice (layout: SEEN_ADVICE, "Streaming stores") -------------------------
    def _advice_offset(self, src: int, dst: int, plane: int) -> int:
        qsize = self.planes[plane][0]
        return self.queue_offset(src, dst, plane) + L.queue_regions(qsize, self.buffer_size)["seen"] + L.SEEN_ADVICE

    def stream_advice(self, src: int, dst: int, plane: int) -> int:
        """The stream advice (STREAM_*) the receiver of queue src -> dst last published.

        A plain load, for the launcher after the ranks have ended (an aligned word is never torn)."""
        return self._get(self._advice_offset(src, dst, plane))

    def preset_stream_advice(self, src: int, dst: int, plane: int, advice: int) -> None:
        """Start queue src -> dst with `advice` (STREAM_ON or STREAM_OFF) instead of unmeasured.

        The advice a past job's trials reached on the same pair of cores (Segment.create's
        stream_advice). Trials still run and each decision replaces it (layout.py)."""
        if advice not in (L.STREAM_ON, L.STREAM_OFF):
            raise ValueError(f"stream advice {advice} is neither STREAM_ON nor STREAM_OFF")
        self._put(self._advice_offset(src, dst, plane), advice)

    # -- doorbells (layout: SLOT_BELL) ---------------------------------------------------
    def enable_doorbells(self, process_of: list[int] | None, rank: int) -> int:
        """Point the queue handles of rank's process at the doorbell of the process at each queue's
        other end; return that process's own doorbell address (0: doorbells off on this machine).

        `process_of[r]` is the process hosting rank r (None: one process per rank). Each process
        sleeps on the doorbell in the slot of its first rank. Idempotent for one process."""
        from .futex import usable

        n = self.nranks
        procs = list(range(n)) if process_of is None else list(process_of)
        if len(procs) != n:
            raise ValueError(f"process map of {len(procs)} ranks for a bus of {n}")
        key = (tuple(procs), procs[rank])
        if self._doorbells is not None and self._doorbells[0] == key:
            return self._doorbells[1]  # the process's other hosted ranks: already done
        lead: dict[int, int] = {}
        for r, p in enumerate(procs):
            lead.setdefault(p, r)
        self.bells = [self.base + self.slot(lead[p], L.SLOT_BELL) for p in sorted(lead)]
        if not usable():
            return 0
        mine = procs[rank]
        table = self._table()
        for plane in range(L.PLANES):
            for src in range(n):
                for dst in range(n):
                    ps, pd = procs[src], procs[dst]
                    if src == dst or (ps == mine) == (pd == mine):
                        continue  # not ours, or both ends in this process: nobody to wake
                    other = pd if ps == mine else ps
                    table[(plane * n + src) * n + dst][L.H_PEER_BELL // 8] = \
                        self.base + self.slot(lead[other], L.SLOT_BELL)
        own = self.base + self.slot(lead[mine], L.SLOT_BELL)
        self._doorbells = (key, own)
        return own

    def stream_from(self, nbytes: int, process_of: list[int] | None, rank: int, probe: bool = False) -> None:
        """Have this process write messages of at least `nbytes` into the queues it sends on to
        other processes with streaming stores (layout: H_STREAM_MIN; 0: never); with `probe`,
        streamed or plain as their receivers find cheaper by trial (H_STREAM_PROBE, layout.py
        "Streaming stores"), else streamed whenever the size says so.

        Queues between two ranks of this same process keep plain stores: their receiver runs on
        this core and reads the fragment from its cache, which a streaming store would evict."""
        n = self.nranks
        procs = list(range(n)) if process_of is None else list(process_of)
        if len(procs) != n:
            raise ValueError(f"process map of {len(procs)} ranks for a bus of {n}")
        if nbytes < 0:
            raise ValueError(f"stream threshold {nbytes} is negative")
        import numpy as np

        where = np.asarray(procs)
        mine = where[rank]
        # (src, dst) pairs sending from this process to another one; one numpy pass, since every
        # hosted rank of a process calls this (n = 256: 17 ms a call as a Python loop).
        ours = (where[:, None] == mine) & (where[None, :] != mine)
        table = self._table().reshape(L.PLANES, n, n, L.HANDLE_WORDS)
        table[:, ours, L.H_STREAM_MIN // 8] = nbytes
        table[:, ours, L.H_STREAM_PROBE // 8] = 1 if probe and nbytes > 0 else 0

    def ring_all(self) -> None:
        """Wake every process sleeping on its doorbell (the launcher, on an abort).

        Bumps each doorbell word with a plain store (the launcher has no atomics without numba):
        a bump lost to a racing peer's own is harmless, as FUTEX_WAKE wakes whoever already
        sleeps and a process about to sleep re-checks the abort word and gives up within
        sched.doze_max_us at most."""
        from .futex import wake_all

        assert self._map is not None
        for rank in range(self.nranks):
            at = self.slot(rank, L.SLOT_BELL)
            self._put(at, self._get(at) + 1)
            wake_all(self.base + at)

    # -- teardown ---------------------------------------------------------------------
    def unlink(self) -> None:
        """Remove the name from /dev/shm (mappings stay valid). Idempotent."""
        if self.name is None:
            return
        try:
            posix_ipc.unlink_shared_memory(self.name)
        except posix_ipc.ExistentialError:
            pass

    def close(self) -> None:
        """Drop this process's mapping. Idempotent; the kernels must not run afterwards."""
        self._view = None
        self._handles = None
        self.base = 0
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                # A numpy view still exports the buffer; the mapping goes with the process.
                pass
            self._map = None


class _NotReady(SegmentError):
    """Missing, unsized or not yet initialised: what a rank started early waits out (attach)."""


class _Words:
    """Header words by index (`words[offset // 8]`) over a word loader, for the checks."""

    def __init__(self, get: Any) -> None:
        self._get = get

    def __getitem__(self, index: int) -> int:
        return int(self._get(index * 8))


def _alive(pid: int | None) -> bool:
    """Whether process pid exists (the launcher that is to create a segment)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_segments() -> list[str]:
    """Names of toro_mpi segments currently in /dev/shm."""
    try:
        entries = os.listdir("/dev/shm")
    except OSError:
        return []
    prefix = NAME_PREFIX.lstrip("/")
    return ["/" + e for e in entries if e.startswith(prefix)]
