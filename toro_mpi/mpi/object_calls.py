"""The lowercase object calls of a communicator, point-to-point and collective (mpi4py's
send/recv/isend/irecv/..., bcast/gather/scatter/allgather/alltoall/reduce/...), all on the one
pickle framing of mpi/objects.py; mixed into Comm.

Point-to-point, an object is its frame plus each large buffer as a message of its own (on the
communicator's object context). Collectively, each rank's frame keeps its buffers in band and
goes through the buffer collectives: lengths first, then the bytes.
"""

from __future__ import annotations

import operator
import warnings
from typing import Any

import numpy as np

from ..bus import layout as L
from ..errors import ERR_ARG, MPIException, MPIValueError
from . import datatypes as D
from . import objects
from .buffers import byte_view, normalise
from .comm_locks import locked
from .comm_requests import CommRequest, MultiSendRequest
from .ops import SUM, Op
from .p2p import ANY_SOURCE, ANY_TAG, PROC_NULL, SENT, RecvReq
from .request import Request, SentRequest, Status, proc_null_request

_EMPTY_U8 = np.empty(0, np.uint8)
# The object collectives move each rank's pickle in a slot of SLOT bytes of one buffer
# collective over arrays the communicator keeps (so the buffer collective's call-site records
# serve every call): an i64 length, then the pickle when it fits (SLOT_ROOM bytes). A longer one
# travels again, in full: by the same collective's general form where every rank learns of it
# (bcast, allgather), or point to point between the two ranks that both know of it (gather,
# scatter, alltoall), on the object context with OVERFLOW_TAG (out-of-band buffers' tags are
# below 2**30).
SLOT = 512
SLOT_ROOM = SLOT - 8
_WORDS = SLOT // 8  # int64 words per slot
OVERFLOW_TAG = 1 << 30


class ObjectCallsMixin:
    """Object point-to-point and collective calls; mixed into Comm (which provides the
    engine, the argument checks and the buffer collectives)."""

    # -- point to point -----------------------------------------------------------------
    def _dumps(self, obj: Any) -> tuple[np.ndarray, list[np.ndarray], int]:
        """obj's frame and out-of-band buffers (objects.dumps) under the next sequence number."""
        self._oob_seq = seq = (self._oob_seq + 1) & 0x3FFFFFFF
        frame, views = objects.dumps(obj, seq)
        return frame, views, seq

    def _send_object(self, obj: Any, dest: int, tag: int, sync: bool, ctx: int | None = None,
                     copy: bool = False, framed: tuple | None = None) -> list[Any]:
        """Start sending obj's frame and out-of-band buffers (on context ctx, default the
        communicator's point-to-point one); the engine's send requests. `copy`: send copies of
        the out-of-band buffers (a buffered send must not see later changes to them). `framed`:
        what _dumps made of obj already."""
        e = self._engine
        frame, views, seq = framed or self._dumps(obj)
        if copy:
            views = [v.copy() for v in views]
        reqs = [e.isend(frame, frame.nbytes, dest, tag, self._ctx if ctx is None else ctx, sync=sync)]
        # Out-of-band buffers follow on the object context, tagged with the frame's sequence
        # number, so no other receive can take them.
        for v in views:
            part = e.isend(v, v.nbytes, dest, seq, self._obj_ctx)
            part.user_tag = tag
            reqs.append(part)
        return reqs

    def _start_object_send(self, obj: Any, dest: int, tag: int, sync: bool, buffered: bool = False,
                           framed: tuple | None = None) -> Request:
        dest = self._dest(dest)
        tag = self._send_tag(tag)
        if dest == PROC_NULL:
            return proc_null_request(send=True)
        e = self._engine
        reqs = self._send_object(obj, dest, tag, sync, copy=buffered, framed=framed)
        if len(reqs) == 1 and not buffered:
            # A plain pickle, one message: its request alone, complete from birth if it left.
            return SentRequest() if reqs[0].done and not sync else Request(e, reqs[0])
        req = MultiSendRequest(e, reqs)
        if not buffered:
            return req
        # Buffered (bsend/ibsend): complete at once; Detach_buffer and finalize wait for it.
        e.buffered.append(req)
        return Request(e, SENT)

    def bsend(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Buffered object send: returns at once, the object is sent in the background."""
        self._start_object_send(obj, dest, tag, False, True).Wait()

    def ibsend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        """Start a buffered object send (its request is complete at once)."""
        return self._start_object_send(obj, dest, tag, False, True)

    def send(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Send a picklable object."""
        world = self._dest(dest)
        tag = self._send_tag(tag)
        if world == PROC_NULL:
            return
        framed = frame, views, _ = self._dumps(obj)
        if not views:
            # A plain pickle is one message, sent as a blocking Send's general path sends (no
            # request per part and no Wait: about 1.5 us against 7). Not through Send itself,
            # whose call-site records are for arrays a program sends again, never a new frame.
            self._engine.send_blocking(frame, world, tag, self._ctx, "Send")
            return
        self._start_object_send(obj, dest, tag, False, framed=framed).Wait()

    def ssend(self, obj: Any, dest: int, tag: int = 0) -> None:
        """Synchronous object send: returns once the receiver has matched it."""
        self._start_object_send(obj, dest, tag, True).Wait()

    def isend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        """Start sending an object; `wait()` returns None."""
        return self._start_object_send(obj, dest, tag, False)

    def issend(self, obj: Any, dest: int, tag: int = 0) -> Request:
        """Start a synchronous object send."""
        return self._start_object_send(obj, dest, tag, True)

    def _post_object_parts(self, req: RecvReq) -> None:
        """On arrival of an object's frame: post the receives of its out-of-band buffers."""
        frame = req.arr[: req.nbytes]
        seq, sizes = objects.oob_sizes(frame)
        e = self._engine
        for size in sizes:
            buf = np.empty(size, np.uint8)
            req.parts.append((buf, e.irecv(buf, size, req.source, seq, self._obj_ctx)))

    def _object_receive(self, source: int, tag: int, buf: Any = None) -> RecvReq:
        """An object receive, not yet posted: into buf (a byte count or a writable buffer; a
        larger message is ERR_TRUNCATE, as in mpi4py), else into a buffer sized on arrival.
        Its out-of-band parts are posted as soon as the frame is in."""
        if buf is None:
            req = RecvReq(source, tag, self._ctx, None, 0)
        else:
            if isinstance(buf, (int, np.integer)) and not isinstance(buf, bool):
                arr = np.empty(operator.index(buf), np.uint8)
            else:
                arr = byte_view(normalise(buf, True).array)
            req = RecvReq(source, tag, self._ctx, arr, arr.nbytes)
        req.on_complete = self._post_object_parts
        return req

    def _irecv_object(self, source: int, tag: int, buf: Any = None) -> RecvReq:
        return self._engine.post(self._object_receive(source, tag, buf))

    @staticmethod
    def _object_size(req: RecvReq) -> int:
        """What a status reports as an object message's size: its pickle's bytes (as mpi4py)."""
        return objects.pickle_size(req.arr[: req.nbytes])

    def _finish_object(self, req: RecvReq) -> Any:
        frame = req.arr[: req.nbytes] if req.arr is not None else np.empty(0, np.uint8)
        e = self._engine
        for _, part in req.parts:
            e.wait_recv(part)
        return objects.loads(frame, [buf for buf, _ in req.parts])

    def recv(self, buf: Any = None, source: int = ANY_SOURCE, tag: int = ANY_TAG,
             status: Status | None = None) -> Any:
        """Receive a picklable object (into buf if given, which mpi4py deprecates)."""
        if buf is not None:
            warnings.warn("the 'buf' argument is deprecated", UserWarning, stacklevel=2)
        elif (type(source) is int and type(tag) is int and 0 <= source < self._fast_size and source != self._me
              and ANY_TAG <= tag):
            # One source, no buffer: the message taken whole by the engine's fast path (a tag
            # above the largest matches no message: the general path then refuses it).
            frame = self._engine.take_frame(source, tag, self._ctx)
            if frame is not None:
                return self._frame_received(frame, source, status)
        source = self._source(source)
        tag = self._recv_tag(tag)
        if self._null_source(source, status):
            return None
        e = self._engine
        req = self._irecv_object(source, tag, buf)
        try:
            e.wait_recv(req, "Recv")
        finally:
            if status is not None and req.done:
                status._set(self._comm_rank(req.source), req.rtag,
                            self._object_size(req) if req.error is None else min(req.nbytes, req.cap),
                            req.error.error_class if req.error else 0)
        return self._finish_object(req)

    def _frame_received(self, frame: np.ndarray, source: int, status: Status | None) -> Any:
        """recv's end after the engine's fast path took an object's frame from `source` (its
        header in the engine's info words): the out-of-band buffers it announces, the status,
        the object."""
        e = self._engine
        rtag = int(e.info[L.INFO_TAG])
        seq, sizes = objects.oob_sizes(frame)
        parts = []
        for size in sizes:
            part = np.empty(size, np.uint8)
            e.wait_recv(e.irecv(part, size, source, seq, self._obj_ctx), "Recv")
            parts.append(part)
        if status is not None:
            status._set(source, rtag, objects.pickle_size(frame))
        return objects.loads(frame, parts)

    def irecv(self, buf: Any = None, source: int = ANY_SOURCE, tag: int = ANY_TAG) -> Request:
        """Start receiving an object; `wait()` returns it."""
        source = self._source(source)
        tag = self._recv_tag(tag)
        if source == PROC_NULL:
            return proc_null_request()
        return CommRequest(self, self._engine, self._irecv_object(source, tag, buf), on_done=self._finish_object)

    def sendrecv(self, sendobj: Any, dest: int, sendtag: int = 0, recvbuf: Any = None,
                 source: int = ANY_SOURCE, recvtag: int = ANY_TAG, status: Status | None = None) -> Any:
        """Send an object and receive one."""
        sreq = self.isend(sendobj, dest, sendtag)
        obj = self.recv(recvbuf, source, recvtag, status)
        sreq.wait()
        return obj

    def probe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG, status: Status | None = None) -> bool:
        """Block until an object message can be received."""
        return self.Probe(source, tag, status)

    def iprobe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG, status: Status | None = None) -> bool:
        """Whether an object message can be received now."""
        return self.Iprobe(source, tag, status)

    # -- collective ----------------------------------------------------------------------
    def barrier(self) -> None:
        """Object-API barrier (same as Barrier)."""
        self.Barrier()

    @locked("bcast")  # mpi4py's communicator lock (comm_locks.py)
    def bcast(self, obj: Any = None, root: int = 0) -> Any:
        """Broadcast a picklable object from root; every rank returns it."""
        root = self._root_arg(root)
        me = self.rank
        slot, words, _, _, _, _ = self._object_slots()
        data = None
        if me == root:
            data = objects.dumps_in_band(obj)
            _pack(slot, words, 0, data)
        self.Bcast(slot, root)
        size = int(words[0])
        if size > SLOT_ROOM:
            if me != root:
                data = np.empty(size, np.uint8)
            self.Bcast(data, root)
        elif me != root:
            data = slot[8: 8 + size]
        return obj if me == root else objects.loads(data)

    @locked("gather")  # mpi4py's communicator lock (comm_locks.py)
    def gather(self, sendobj: Any, root: int = 0) -> list[Any] | None:
        """Gather objects at root (a list in rank order); None elsewhere."""
        root = self._root_arg(root)
        data = objects.dumps_in_band(sendobj)
        slot, words, slots, lengths, _, _ = self._object_slots()
        _pack(slot, words, 0, data)
        me = self.rank
        self.Gather(slot, slots if me == root else None, root)
        e = self._engine
        if me != root:
            if data.size > SLOT_ROOM:  # the root learns of it from our slot
                e.wait_send(e.isend(data, data.size, self._ranks[root], OVERFLOW_TAG, self._obj_ctx), "gather")
            return None
        return [objects.loads(data if r == me else self._slot_or_overflow(slots, lengths, r, r))
                for r in range(self.size)]

    def _slot_or_overflow(self, slots: np.ndarray, words: np.ndarray, i: int, src: int) -> np.ndarray:
        """The pickle in slot i, or (too long for it) the one received from rank src point to
        point."""
        size = int(words[i * _WORDS])
        if size <= SLOT_ROOM:
            return slots[i * SLOT + 8: i * SLOT + 8 + size]
        data = np.empty(size, np.uint8)
        e = self._engine
        e.wait_recv(e.irecv(data, size, self._ranks[src], OVERFLOW_TAG, self._obj_ctx), "Recv")
        return data

    def _object_slots(self) -> tuple[np.ndarray, ...]:
        """This communicator's slot arrays, each with its int64 view (slot i's length is word
        i * SLOT / 8): one slot, one per rank to receive, one per rank to send (made at the first
        object collective and kept)."""
        slots = self.__dict__.get("_obj_slot_arrays")
        if slots is None:
            n = self.size
            arrays = np.zeros(SLOT, np.uint8), np.zeros(n * SLOT, np.uint8), np.zeros(n * SLOT, np.uint8)
            slots = self._obj_slot_arrays = tuple(x for a in arrays for x in (a, a.view(np.int64)))
        return slots

    @locked("scatter")  # mpi4py's communicator lock (comm_locks.py)
    def scatter(self, sendobj: Any = None, root: int = 0) -> Any:
        """Scatter a sequence of size objects from root; rank r returns item r."""
        root = self._root_arg(root)
        n, me = self.size, self.rank
        if me == root:
            items = list(sendobj) if sendobj is not None else [None] * n  # None: None to all, as mpi4py
            if len(items) != n:
                # mpi4py: ValueError for a sequence of another length
                raise MPIValueError(ERR_ARG, f"scatter: the root needs a sequence of {n} objects, got {len(items)}")
            parts = [objects.dumps_in_band(x) for x in items]
        slot, words, _, _, outgoing, out_words = self._object_slots()
        if me == root:
            for r, part in enumerate(parts):
                _pack(outgoing, out_words, r, part)
        self.Scatter(outgoing if me == root else None, slot, root)
        e = self._engine
        if me == root:
            sends = [e.isend(part, part.size, self._ranks[r], OVERFLOW_TAG, self._obj_ctx)
                     for r, part in enumerate(parts) if part.size > SLOT_ROOM and r != me]
            for req in sends:
                e.wait_send(req, "scatter")
            return objects.loads(parts[me])
        return objects.loads(self._slot_or_overflow(slot, words, 0, root))

    def _allgather_bytes(self, data: np.ndarray) -> list[np.ndarray]:
        n = self.size
        sizes = np.empty(n, np.int64)
        self.Allgather(np.array([data.size], np.int64), sizes)
        counts = [int(s) for s in sizes]
        displs = [sum(counts[:r]) for r in range(n)]
        out = np.empty(sum(counts), np.uint8)
        self.Allgatherv(data, [out, counts, displs, D.PREDEFINED["BYTE"]])
        return [out[d: d + c] for c, d in zip(counts, displs, strict=True)]

    @locked("allgather")  # mpi4py's communicator lock (comm_locks.py)
    def allgather(self, sendobj: Any) -> list[Any]:
        """Every rank's object, on every rank, in rank order."""
        self._check_live()
        data = objects.dumps_in_band(sendobj)
        slot, words, slots, lengths, _, _ = self._object_slots()
        _pack(slot, words, 0, data)
        self.Allgather(slot, slots)
        sizes = lengths[::_WORDS].tolist()
        if max(sizes) > SLOT_ROOM:
            # Every rank saw it: all take the general form, whole pickles this time.
            return [objects.loads(p) for p in self._allgather_bytes(data)]
        return [objects.loads(slots[r * SLOT + 8: r * SLOT + 8 + size]) for r, size in enumerate(sizes)]

    @locked("alltoall")  # mpi4py's communicator lock (comm_locks.py)
    def alltoall(self, sendobj: Any) -> list[Any]:
        """Send item j of a sequence of size objects to rank j; return what each rank sent us."""
        self._check_live()
        n = self.size
        items = list(sendobj) if sendobj is not None else [None] * n  # None: None to all, as mpi4py
        if len(items) != n:
            raise MPIValueError(ERR_ARG, f"alltoall needs a sequence of {n} objects, got {len(items)}")
        parts = [objects.dumps_in_band(x) for x in items]
        _, _, incoming, in_words, outgoing, out_words = self._object_slots()
        for r, part in enumerate(parts):
            _pack(outgoing, out_words, r, part)
        self.Alltoall(outgoing, incoming)
        me, e = self.rank, self._engine
        # Pickles too long for their slot, both ways (each pair knows of its own): receives
        # posted before the sends leave, so no two ranks wait for each other's receive.
        receives = {}
        sizes = in_words[::_WORDS].tolist()
        for r, size in enumerate(sizes):
            if size > SLOT_ROOM and r != me:
                buf = np.empty(size, np.uint8)
                receives[r] = (buf, e.irecv(buf, size, self._ranks[r], OVERFLOW_TAG, self._obj_ctx))
        sends = [e.isend(part, part.size, self._ranks[r], OVERFLOW_TAG, self._obj_ctx)
                 for r, part in enumerate(parts) if part.size > SLOT_ROOM and r != me]
        result = []
        for r in range(n):
            if r == me:
                result.append(objects.loads(parts[me]))
            elif r in receives:
                buf, req = receives[r]
                e.wait_recv(req, "alltoall")
                result.append(objects.loads(buf))
            else:
                result.append(objects.loads(incoming[r * SLOT + 8: r * SLOT + 8 + sizes[r]]))
        for req in sends:
            e.wait_send(req, "alltoall")
        return result

    def reduce(self, sendobj: Any, op: Any = SUM, root: int = 0) -> Any:
        """Combine objects with op (in rank order) at root; None elsewhere."""
        root = self._root_arg(root)
        fn = _object_op(op)
        items = self.gather(sendobj, root)
        return None if items is None else _fold(fn, items)

    def allreduce(self, sendobj: Any, op: Any = SUM) -> Any:
        """Combine objects with op (in rank order); every rank returns the result."""
        self._check_live()
        fn = _object_op(op)
        return _fold(fn, self.allgather(sendobj))

    def scan(self, sendobj: Any, op: Any = SUM) -> Any:
        """Inclusive prefix reduction of objects."""
        self._check_live()
        fn = _object_op(op)
        return _fold(fn, self.allgather(sendobj)[: self.rank + 1])

    def exscan(self, sendobj: Any, op: Any = SUM) -> Any:
        """Exclusive prefix reduction of objects; None on rank 0."""
        self._check_live()
        fn = _object_op(op)
        items = self.allgather(sendobj)[: self.rank]
        return _fold(fn, items) if items else None


def _object_op(op: Any) -> Any:
    """How two objects combine: an MPI.Op (not OP_NULL) or any callable."""
    if isinstance(op, Op):
        if op.code == 0:
            raise MPIException(ERR_ARG, "MPI.OP_NULL cannot reduce objects")
        return op
    if callable(op):
        return op
    raise MPIException(ERR_ARG, f"op must be an MPI.Op or a callable, got {type(op).__name__}")


def _fold(fn: Any, items: list[Any]) -> Any:
    """items combined left to right (rank order), as the reference does."""
    acc = items[0]
    for x in items[1:]:
        acc = fn(acc, x)
    return acc


def _pack(slots: np.ndarray, words: np.ndarray, i: int, data: np.ndarray) -> None:
    """Write data's length in slot i (words: slots' int64 view), and data itself if it fits."""
    size = data.size
    words[i * _WORDS] = size
    if size <= SLOT_ROOM:
        base = i * SLOT + 8
        slots[base: base + size] = data
