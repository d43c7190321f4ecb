"""Communicators: their state and management (Dup, Split, Create, Free, ...) and mpi4py's buffer
point-to-point calls; the collectives and the object calls are mixed in (see Comm)."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from ..bus import layout as L
from ..bus.ring_at import RECV_TAKEN
from ..errors import ERR_ARG, ERR_COMM, ERR_GROUP, ERR_RANK, ERR_TAG, ERR_TRUNCATE, MPIException, MPITypeError
from .attributes import AttributesMixin
from .buffers import normalise, plain_array, plain_spec
from .collectives import CollectiveMixin
from .comm_manage import CommManagementMixin
from .comm_requests import CommRequest
from .errcodes import last_used
from .errhandler import ERRORS_RETURN, Errhandler, get_errhandler, set_errhandler
from .groups import CONGRUENT, IDENT, UNEQUAL, Group
from .handles import InstanceAttribute
from .hot_sites import HotCallSites
from .info import as_info
from .message import MatchedProbeMixin
from .mpi4py_names import add_missing_methods
from .nonblocking import NonblockingCollMixin
from .nonblocking_p2p import NonblockingP2PMixin
from .object_calls import ObjectCallsMixin
from .p2p import ANY_SOURCE, ANY_TAG, PROC_NULL, SENT, Engine, RecvReq
from .p2p_sites import NO_SITE, RECORD_MAX_BYTES, Site, make_site, site_kernels
from .partitioned import PartitionedMixin
from .persistent import Prequest
from .posted_request import PostedRequest, posted_request
from .request import ReceivedRequest, Request, SentRequest, Status, proc_null_request
from .topology import TopologyMixin

TAG_MAX = 2**31 - 1  # the largest tag: what Get_attr(TAG_MAX) reports

# Each communicator owns a block of context ids: point-to-point, collectives, object parts, spare.
CONTEXTS_PER_COMM = 4
_MGMT_TAG = 1 << 30  # tags on the collective context used by Dup/Split/Create
_UNDEFINED = -32766

# Attribute keys of the predefined attributes (mpi4py's MPI.TAG_MAX etc. are keys, not values).
KEYVAL_TAG_UB = 1
KEYVAL_HOST = 2
KEYVAL_IO = 3
KEYVAL_WTIME_IS_GLOBAL = 4
KEYVAL_UNIVERSE_SIZE = 5
KEYVAL_APPNUM = 6
LASTUSEDCODE = 7  # the largest error code in use (errcodes.py); user keyvals start at 64
_ndarray = np.ndarray
_RX_COMPLETE = L.RX_COMPLETE
_RX_EMPTY = L.RX_EMPTY
_RX_NO_MATCH = L.RX_NO_MATCH
_INFO_TAG = L.INFO_TAG
_INFO_TOTAL = L.INFO_TOTAL
_TAKEN = RECV_TAKEN  # a site kernel's result at or above it: a plain message taken, its size added


def _integral(value: Any) -> Any:
    """An integral float as an int: mpi4py takes 1.0 for 1 (Cython converts), so programs pass them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class Comm(CommManagementMixin, AttributesMixin, HotCallSites, CollectiveMixin, ObjectCallsMixin, TopologyMixin,
           NonblockingCollMixin, NonblockingP2PMixin, PartitionedMixin, MatchedProbeMixin):
    """An intra-communicator: a group of world ranks and its own context ids.

    Its calls come from the mixins: the collectives' hot call sites (mpi/hot_sites.py), the
    buffer collectives (mpi/collectives.py) and the object calls (mpi/object_calls.py); this
    class holds the communicator itself, its management and the buffer point-to-point calls."""

    # Isend's / Irecv's call-site records (mpi/p2p_sites.py) and the buffer each saw last (a
    # record is made when the same buffer comes twice in a row); class defaults until then.
    _isend_site = _irecv_site = NO_SITE
    _isend_prev = _irecv_prev = None
    # The same for the blocking Send / Recv (a ping-pong passes one buffer again and again).
    _send_site = _recv_site = NO_SITE
    _send_prev = _recv_prev = 0  # id() of the last buffer of Send / Recv


    # Plain instance attributes (set in __init__, read on every call), named on the class too.
    rank = InstanceAttribute("""Rank of this process.

    The rank of the calling process in the communicator (-1 if it is not a member).
    """)
    size = InstanceAttribute("""Number of processes.

    The number of processes in the communicator (its local group, for an intercommunicator).
    """)

    def __new__(cls, *args: Any, **kwargs: Any) -> Comm:
        self = super().__new__(cls)
        if len(args) == 1 and isinstance(args[0], Comm):
            # mpi4py's copy constructor, MPI.Intracomm(comm): another handle to the same
            # communicator (a subclass may wrap COMM_WORLD this way). The two share one state
            # (sequence numbers, freed flag, plans), as two handles of one MPI_Comm do.
            self.__dict__ = args[0].__dict__
        elif args and not isinstance(args[0], Engine):
            self._check_comm_arg(args)  # TypeError, as mpi4py
        return self

    def __init__(self, engine: Engine | Comm | None = None, world_ranks: list[int] | None = None, context: int = 0,
                 name: str = "") -> None:
        if isinstance(engine, Comm):
            return  # a copy: __new__ took the original's state
        if engine is None:
            self._init_null()  # MPI.Comm(): COMM_NULL (comm_manage.py)
            return
        self._engine = engine
        self._ranks = world_ranks
        self._identity = world_ranks == list(range(len(world_ranks)))
        self.size = len(world_ranks)
        me = engine.rank
        self.rank = world_ranks.index(me) if me in world_ranks else -1
        self._ctx = context  # point-to-point
        self._coll_ctx = context + 1  # collectives
        self._obj_ctx = context + 2  # out-of-band object buffers
        self._name = name
        # The hot paths in Send/Recv apply when comm ranks are world ranks and the bus is up.
        # They read the engine's tables through these aliases (same objects, one lookup less).
        self._fast_size = self.size if (self._identity and engine.t is not None) else 0
        if engine.t is not None:
            self._txh = engine._txh
            self._rxh = engine._rxh
            self._send_eps = engine._send_by_dtype
            self._recv_eps = engine._recv_by_dtype
            self._rx_info = engine.rx_info
            self._sendq = engine.sendq
        self._info = engine.info
        self._me = engine.rank
        self._oob_seq = 0
        self._freed = False
        self._coll = engine.coll
        self._init_collectives()  # the plan cache (collectives.py)
        self._init_hot_sites()  # the collectives' hot records (hot_sites.py)
        self._errhandler: Errhandler = ERRORS_RETURN

    # -- basics --------------------------------------------------------------------------
    def Get_rank(self) -> int:
        """This process's rank in the communicator."""
        return self.rank

    def Get_size(self) -> int:
        """Number of ranks in the communicator."""
        return self.size

    def Get_attr(self, keyval: int) -> Any:
        """Value of a predefined attribute (TAG_UB, HOST, IO, WTIME_IS_GLOBAL, UNIVERSE_SIZE, APPNUM,
        LASTUSEDCODE) or of one set with a keyval (None if not set)."""
        self._check_live()
        values = {
            KEYVAL_TAG_UB: TAG_MAX,
            KEYVAL_HOST: PROC_NULL,
            KEYVAL_IO: self.rank,
            KEYVAL_WTIME_IS_GLOBAL: 1,
            KEYVAL_UNIVERSE_SIZE: self._engine.size,
            # Which program of an MPMD job this rank runs (the launcher's TORO_MPI_APPNUM).
            KEYVAL_APPNUM: int(os.environ.get("TORO_MPI_APPNUM", "0")),
        }
        if keyval in values:
            return values[keyval]
        if keyval == LASTUSEDCODE:
            return last_used()
        return self._get_user_attr(keyval)  # attributes.py

    def Get_name(self) -> str:
        """The communicator's name."""
        return self._name

    def Set_name(self, name: str) -> None:
        """Rename the communicator (names are cut at MPI.MAX_OBJECT_NAME - 1 characters, as in MPI)."""
        if not isinstance(name, str):
            raise TypeError(f"Set_name: name must be a str, got {type(name).__name__}")
        self._check_live()
        self._name = name[:63]

    @property
    def name(self) -> str:
        """The communicator's name."""
        return self._name

    @name.setter
    def name(self, name: str) -> None:
        self.Set_name(name)

    def Is_inter(self) -> bool:
        """False: an intracommunicator (Intercomm says True)."""
        return False

    @staticmethod
    def Get_parent() -> Any:
        """The parent intercommunicator: MPI.COMM_NULL's equal, as no process is spawned here."""
        from .intercomm import get_parent  # intercomm.py builds on this module

        return get_parent()

    def Is_intra(self) -> bool:
        """Always True."""
        return True

    def Abort(self, errorcode: int = 0) -> None:
        """Abort the whole job with errorcode."""
        sys.stdout.flush()
        sys.stderr.flush()
        t = self._engine.t
        if t is not None:
            t.set_abort(L.ABORT_USER)
        if self._engine.net is not None:
            self._engine.net.abort(int(errorcode))  # every node, through the real MPI_Abort
        os._exit(int(errorcode) & 0xFF if errorcode else 1)

    def Free(self) -> None:
        """Free the communicator (predefined ones cannot be freed); using it afterwards is ERR_COMM."""
        if self._name in ("MPI_COMM_WORLD", "MPI_COMM_SELF"):
            raise MPIException(ERR_COMM, f"cannot free {self._name}")
        self._check_live()
        try:
            self._delete_attrs()  # attributes.py: the keyvals' delete callbacks
        finally:
            self._freed = True
        self._forget_hot_sites(freed=True)  # the collectives' hot paths must not run on a freed communicator
        self._fast_size = 0  # every call now takes the checked path, which refuses a freed comm

    # -- communicator management (collective over this communicator) -----------------------
    def _check_live(self) -> None:
        if self._freed:
            raise MPIException(ERR_COMM, "the communicator has been freed")

    def _gather_objects(self, obj: Any) -> list[Any] | None:
        """Everyone's obj at rank 0 of this communicator (None elsewhere)."""
        e = self._engine
        if self.rank != 0:
            for r in self._send_object(obj, self._ranks[0], _MGMT_TAG, False, self._coll_ctx):
                e.wait_send(r)
            return None
        out = [obj]
        for r in range(1, self.size):
            req = RecvReq(self._ranks[r], _MGMT_TAG, self._coll_ctx, None, 0)
            req.on_complete = self._post_object_parts
            e.wait_recv(e.post(req))
            out.append(self._finish_object(req))
        return out

    def _bcast_object(self, obj: Any) -> Any:
        """Rank 0's obj on every rank of this communicator."""
        e = self._engine
        if self.rank == 0:
            reqs = [r for dest in self._ranks[1:]
                    for r in self._send_object(obj, dest, _MGMT_TAG + 1, False, self._coll_ctx)]
            for r in reqs:
                e.wait_send(r)
            return obj
        req = RecvReq(self._ranks[0], _MGMT_TAG + 1, self._coll_ctx, None, 0)
        req.on_complete = self._post_object_parts
        e.wait_recv(e.post(req))
        return self._finish_object(req)

    def _new_context(self, proposals: list[Any] | None) -> int:
        """Agree on a context block unused on every member (called with the gathered proposals)."""
        return 0 if proposals is None else max(p[0] for p in proposals)

    def Dup(self, info: Any = None) -> Intracomm:
        """A new communicator with the same ranks and its own contexts: its traffic never mixes."""
        self._check_live()
        info = as_info(info, "Dup")
        gathered = self._gather_objects((self._engine.next_context_block,))
        block = self._bcast_object(self._new_context(gathered))
        self._engine.next_context_block = block + 1
        comm = Intracomm(self._engine, list(self._ranks), CONTEXTS_PER_COMM * block, "")
        comm.__dict__["_hints"] = dict(info.items()) if info else dict(self.__dict__.get("_hints", {}))
        self._copy_attrs(comm)  # attributes.py: the keyvals' copy callbacks
        return self._as_my_type(comm)  # Dup and Clone keep the class (comm_manage.py)

    def Clone(self) -> Intracomm:
        """A duplicate of the communicator, of the same class (Dup)."""
        return self.Dup()

    def Split(self, color: int = 0, key: int = 0) -> Intracomm | None:
        """Communicators of the ranks with the same color, ordered by (key, rank); UNDEFINED: COMM_NULL."""
        self._check_live()
        if not isinstance(color, (int, np.integer)) or (color < 0 and color != _UNDEFINED):
            raise MPIException(ERR_ARG, f"color must be >= 0 or UNDEFINED, got {color!r}")
        gathered = self._gather_objects((self._engine.next_context_block, int(color), int(key), self.rank))
        plan = None
        if gathered is not None:
            groups: dict[int, list[tuple[int, int]]] = {}
            for _, c, k, r in gathered:
                if c != _UNDEFINED:
                    groups.setdefault(c, []).append((k, r))
            # Disjoint groups can share one context block: they never exchange messages.
            plan = (self._new_context(gathered),
                    {c: [self._ranks[r] for _, r in sorted(members)] for c, members in groups.items()})
        block, groups = self._bcast_object(plan)
        self._engine.next_context_block = block + 1
        if color == _UNDEFINED:
            return Intracomm()  # COMM_NULL
        return Intracomm(self._engine, groups[int(color)], CONTEXTS_PER_COMM * block, "")

    def Get_group(self) -> Group:
        """The group of this communicator."""
        self._check_live()
        return Group(self._ranks, self._engine.rank)

    @property
    def group(self) -> Group:
        """The group of this communicator."""
        return self.Get_group()

    def Create(self, group: Group) -> Intracomm | None:
        """A communicator of a subgroup (collective over this communicator); COMM_NULL outside it."""
        self._check_live()
        if not set(group._ranks) <= set(self._ranks):
            raise MPIException(ERR_GROUP, "the group is not a subset of the communicator")
        gathered = self._gather_objects((self._engine.next_context_block,))
        block = self._bcast_object(self._new_context(gathered))
        self._engine.next_context_block = block + 1
        if self._engine.rank not in group._ranks:
            return Intracomm()  # COMM_NULL
        return Intracomm(self._engine, list(group._ranks), CONTEXTS_PER_COMM * block, "")

    def Compare(self, other: Comm) -> int:
        """IDENT (same object), CONGRUENT (same ranks, same order), SIMILAR or UNEQUAL."""
        self._check_live()
        other._check_live()
        if other is self:
            return IDENT
        if self.Is_inter() or other.Is_inter():  # also reached as MPI.Comm.Compare(intercomm, other)
            return type(self).Compare(self, other) if self.Is_inter() else UNEQUAL
        result = self.Get_group().Compare(other.Get_group())
        return CONGRUENT if result == IDENT else result

    # -- argument checks -----------------------------------------------------------------
    def _rank(self, value: Any, what: str, wildcards: tuple[int, ...]) -> int:
        """A comm rank argument as a world rank (wildcards pass through); MPI errors otherwise."""
        if self._freed:
            raise MPIException(ERR_COMM, "the communicator has been freed")
        value = _integral(value)
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            value = int(value)
            if 0 <= value < self.size:
                return self._ranks[value]
            if value in wildcards:
                return value
            raise MPIException(ERR_RANK, f"{what} {value} is out of range for a communicator of size {self.size}")
        raise MPIException(ERR_ARG, f"{what} must be an int, got {type(value).__name__}")

    def _dest(self, dest: Any) -> int:
        return self._rank(dest, "rank", (PROC_NULL,))

    def _source(self, source: Any) -> int:
        return self._rank(source, "source", (ANY_SOURCE, PROC_NULL))

    @staticmethod
    def _send_tag(tag: Any) -> int:
        tag = _integral(tag)
        if isinstance(tag, (int, np.integer)) and not isinstance(tag, bool):
            if 0 <= tag <= TAG_MAX:
                return int(tag)
            raise MPIException(ERR_TAG, f"tag {tag} is invalid for a send (0..{TAG_MAX})")
        raise MPIException(ERR_ARG, f"tag must be an int, got {type(tag).__name__}")

    @staticmethod
    def _recv_tag(tag: Any) -> int:
        tag = _integral(tag)
        if isinstance(tag, (int, np.integer)) and not isinstance(tag, bool):
            if 0 <= tag <= TAG_MAX or tag == ANY_TAG:
                return int(tag)
            raise MPIException(ERR_TAG, f"tag {tag} is invalid for a receive (0..{TAG_MAX} or ANY_TAG)")
        raise MPIException(ERR_ARG, f"tag must be an int, got {type(tag).__name__}")

    @staticmethod
    def _null_source(source: int, status: Status | None) -> bool:
        """A receive from PROC_NULL: fill the status MPI prescribes and say so."""
        if source != PROC_NULL:
            return False
        if status is not None:
            status._set(PROC_NULL, ANY_TAG, 0)
        return True

    def _comm_rank(self, world: int) -> int:
        if self._identity or world < 0:
            return world
        return self._ranks.index(world)

    # -- blocking buffer calls -----------------------------------------------------------
    def Send(self, buf: Any, dest: int, tag: int = 0) -> None:
        """Blocking standard send of a buffer."""
        e = self._engine
        # The call-site record (mpi/p2p_sites.py, as Isend's): the buffer of the last calls,
        # checked by identity, sent by its record's block (three integers to unbox, no flags).
        site = self._send_site
        if (buf is site.buf and (dest is site.peer and tag is site.tag and self._fast_size
                                 or type(dest) is int and type(tag) is int and 0 <= dest < self._fast_size
                                 and 0 <= tag <= TAG_MAX and dest != self._me and site.learn(dest, tag))
                and buf.dtype is site.dtype and not self._sendq[dest]
                and (site.nbytes < e.slow_min or site.nbytes < e.slow_local and not e.remote[dest])):
            # (The same gate as the hot path below: with ranks on other nodes slow_min is 0, and a
            # peer of this node still comes here, else the record is rebuilt on every call.)
            sent = self._send_blk(self._txh[dest], tag, site.blk)
            if sent == site.nbytes or e.send_rest(buf, site.nbytes, dest, tag, self._ctx, sent):
                return
        # Hot path, kept flat on purpose (each Python call or attribute costs tens of ns):
        # a 1-D contiguous array, plain int arguments, a dtype whose kernel is loaded.
        elif (type(buf) is _ndarray and type(dest) is int and type(tag) is int and buf.ndim == 1
                and 0 <= dest < self._fast_size and 0 <= tag <= TAG_MAX and buf.flags.c_contiguous):
            fn = self._send_eps.get(buf.dtype)
            if fn is not None and dest != self._me and not self._sendq[dest]:
                nbytes = buf.nbytes
                # (slow_min is 0 with ranks on other nodes: a peer of this node still goes here.)
                if nbytes < e.slow_min or (nbytes < e.slow_local and not e.remote[dest]):
                    # A second call in a row with a small buffer: record it. The previous buffer
                    # is remembered by id only, and a large one never recorded, so that Send does
                    # not keep a program's big arrays alive (mpi4py keeps nothing).
                    if id(buf) != self._send_prev:
                        self._send_prev = id(buf)
                    elif nbytes <= RECORD_MAX_BYTES and buf.dtype.isnative:
                        self._send_site = self._p2p_site(buf)
                    sent = fn(self._txh[dest], tag, self._ctx, buf)
                    if sent == nbytes or e.send_rest(buf, nbytes, dest, tag, self._ctx, sent):
                        return
                elif e.send_fast(buf, nbytes, dest, tag, self._ctx):
                    return
        elif (type(buf) is list or type(buf) is tuple) and (arr := plain_array(buf)) is not None:
            # [data, MPI.INT]: data's own paths (plain_array); this class's method, so that a
            # program's subclass of Comm sees one call.
            return Comm.Send(self, arr, dest, tag)
        if type(buf) is _ndarray and buf.flags.c_contiguous and buf.dtype.isnative:
            arr = buf
            nbytes = buf.nbytes
        elif dest == PROC_NULL:  # as mpi4py: no buffer is read for PROC_NULL
            return
        else:
            b = normalise(buf, False)
            arr = b.array
            nbytes = b.nbytes
        dest = self._dest(dest)
        if dest == PROC_NULL:
            return
        tag = self._send_tag(tag)
        if e.send_fast(arr, nbytes, dest, tag, self._ctx):
            return
        e.wait_send(e.isend(arr, nbytes, dest, tag, self._ctx), "Send")

    def Ssend(self, buf: Any, dest: int, tag: int = 0) -> None:
        """Blocking synchronous send: returns once the receiver has matched the message."""
        if dest == PROC_NULL:
            return
        b = normalise(buf, False)
        dest = self._dest(dest)
        tag = self._send_tag(tag)
        if dest == PROC_NULL:
            return
        e = self._engine
        e.wait_send(e.isend(b.array, b.nbytes, dest, tag, self._ctx, sync=True), "Ssend")

    def Recv(self, buf: Any, source: int = ANY_SOURCE, tag: int = ANY_TAG, status: Status | None = None) -> None:
        """Blocking receive into a buffer."""
        e = self._engine
        tried = False
        site = self._recv_site
        if (buf is site.buf and (source is site.peer and tag is site.tag and self._fast_size
                                 or type(source) is int and type(tag) is int and 0 <= source < self._fast_size
                                 and -1 <= tag <= TAG_MAX and source != self._me and site.learn(source, tag))
                and buf.dtype is site.dtype and not (e.unexpected or e.posted or e.active)):
            # The call-site record (see Send): poll the queue head by the record's block, and
            # while it is empty spin on it in jitted code as recv_rest does (same conditions).
            tried = True
            h = self._rxh[source]
            st = self._recv_blk(h, tag, site.blk)
            if st == _RX_EMPTY:
                sched = e.sched
                if not (e.pending_sends or e.reads_pending or sched.ready or sched.tasks or e.remote[source]):
                    st = self._wait_blk(h, tag, site.blk, e.fast_spins)
                    if st >= _TAKEN and status is None:
                        return  # a ping-pong's critical path: nothing else to do after the spin
                    if st == _RX_EMPTY:
                        st = None  # spun already: straight to the general path below
            if st is None:
                pass
            elif st >= _TAKEN:
                if status is not None:
                    status._set(source, tag if tag >= 0 else int(self._rx_info[source][_INFO_TAG]), st - _TAKEN)
                return
            elif self._recv_rest(e, buf, source, tag, st, status):
                return
        # Hot path (see Send): poll the source's queue head straight into the user's array.
        elif (type(buf) is _ndarray and type(source) is int and type(tag) is int and buf.ndim == 1
                and 0 <= source < self._fast_size and -1 <= tag <= TAG_MAX
                and not (e.unexpected or e.posted or e.active) and source != self._me):
            flags = buf.flags
            recv = self._recv_eps.get(buf.dtype)
            if recv is not None and flags.c_contiguous and flags.writeable:
                tried = True
                if id(buf) != self._recv_prev:  # as Send's: by id, small buffers only
                    self._recv_prev = id(buf)
                elif buf.nbytes <= RECORD_MAX_BYTES and buf.dtype.isnative:
                    self._recv_site = self._p2p_site(buf)
                st = recv(self._rxh[source], tag, self._ctx, buf)
                if st == _RX_COMPLETE:
                    if status is not None:
                        info = self._rx_info[source]
                        status._set(source, int(info[L.INFO_TAG]), int(info[L.INFO_TOTAL]))
                    return
                if self._recv_rest(e, buf, source, tag, st, status):
                    return
        elif (type(buf) is list or type(buf) is tuple) and (arr := plain_array(buf)) is not None:
            return Comm.Recv(self, arr, source, tag, status)  # [data, MPI.INT] (see Send)
        if type(buf) is _ndarray and (flags := buf.flags).c_contiguous and flags.writeable and buf.dtype.isnative:
            arr = buf
            cap = buf.nbytes
            b = None
        elif source == PROC_NULL:
            self._null_source(PROC_NULL, status)
            return
        else:
            b = normalise(buf, True)
            arr = b.array
            cap = b.nbytes
        source = self._source(source)
        if self._null_source(source, status):
            return
        tag = self._recv_tag(tag)
        # The fast path also serves buffer specs ([buf, MPI.INT], ...) that view the user's memory,
        # and derived datatypes (received into scratch, then unpacked: only what arrived).
        if not tried:
            try:
                if e.recv_fast(arr, source, tag, self._ctx):
                    if status is not None:
                        info = e.info
                        status._set(self._comm_rank(source), int(info[L.INFO_TAG]), int(info[L.INFO_TOTAL]))
                    if b is not None and b.writeback is not None:
                        b.finish(min(int(e.info[L.INFO_TOTAL]), cap))
                    return
            except MPIException as exc:
                if status is not None:
                    info = e.info
                    status._set(self._comm_rank(source), int(info[L.INFO_TAG]), int(info[L.INFO_TOTAL]),
                                exc.error_class)
                raise
        req = e.irecv(arr, cap, source, tag, self._ctx)
        try:
            e.wait_recv(req)
        except MPIException as exc:
            if exc is not req.error:  # the job aborted, or the like: no status to report
                raise
        if status is not None:
            status._set(self._comm_rank(req.source), req.rtag, min(req.nbytes, req.cap),
                        req.error.error_class if req.error else 0)
        if req.error is not None:
            raise req.error
        if b is not None:
            b.finish(min(req.nbytes, req.cap))

    def _recv_rest(self, e: Engine, buf: np.ndarray, source: int, tag: int, st: int, status: Status | None) -> bool:
        """Recv's hot paths after the poll of the queue head returned `st` (not a plain message
        taken whole): Engine.recv_rest, with the status set from what it received (also when
        it raises, e.g. ERR_TRUNCATE). False: nothing taken, receive the general way."""
        try:
            if e.recv_rest(buf, source, tag, self._ctx, st, self._rx_info[source]):
                if status is not None:
                    info = e.info
                    status._set(source, int(info[L.INFO_TAG]), int(info[L.INFO_TOTAL]))
                return True
        except MPIException as exc:
            if status is not None:
                info = e.info
                status._set(source, int(info[L.INFO_TAG]), int(info[L.INFO_TOTAL]), exc.error_class)
            raise
        return False

    def Sendrecv(self, sendbuf: Any, dest: int, sendtag: int = 0, recvbuf: Any = None,
                 source: int = ANY_SOURCE, recvtag: int = ANY_TAG, status: Status | None = None) -> None:
        """Send and receive in one call (no deadlock when both sides call it)."""
        if (type(recvbuf) is _ndarray and type(sendbuf) is _ndarray and type(dest) is int and type(source) is int
                and dest >= 0 and source >= ANY_SOURCE and (flags := recvbuf.flags).writeable and flags.c_contiguous
                and recvbuf.dtype.isnative):
            # Two arrays, a destination rank and a source rank or ANY_SOURCE (PROC_NULL is
            # -2): the checks below all hold, and a send that left at once needs no Wait
            # (together about 0.25 us of a 1.4 us exchange of 8 doubles).
            sreq = self.Isend(sendbuf, dest, sendtag)
            self.Recv(recvbuf, source, recvtag, status)
            if type(sreq) is not SentRequest:
                sreq.Wait()
            return
        if (type(recvbuf) is list or type(recvbuf) is tuple) and (arr := plain_array(recvbuf)) is not None:
            # [data, MPI.INT] (see Send): again with the arrays, for the path above.
            return Comm.Sendrecv(self, plain_spec(sendbuf), dest, sendtag, arr, source, recvtag, status)
        if not (type(recvbuf) is _ndarray and recvbuf.flags.writeable and recvbuf.flags.c_contiguous
                and recvbuf.dtype.isnative) and source != PROC_NULL:
            # As MPI_Sendrecv: a bad receive side fails before anything is sent (else the sent
            # message would be left for a later receive). Recv takes the result as it is.
            recvbuf = normalise(recvbuf, True)
            self._source(source), self._recv_tag(recvtag)
        # One side PROC_NULL (the edges of every halo exchange): the other side alone, through
        # the blocking call's hot path; Isend + Wait built and waited a request for nothing
        # (~1 us per call, issue #20's Jacobi). Same checks and errors as the general way.
        if dest == PROC_NULL and type(dest) is int:
            self._send_tag(sendtag)
            self.Recv(recvbuf, source, recvtag, status)
            return
        if source == PROC_NULL and type(source) is int:
            self.Send(sendbuf, dest, sendtag)  # (Isend then Wait: the same blocking)
            self._null_source(PROC_NULL, status)
            return
        sreq = self.Isend(sendbuf, dest, sendtag)
        self.Recv(recvbuf, source, recvtag, status)
        sreq.Wait()

    def Sendrecv_replace(self, buf: Any, dest: int, sendtag: int = 0, source: int = ANY_SOURCE,
                         recvtag: int = ANY_TAG, status: Status | None = None) -> None:
        """Send buf and receive into it in place."""
        if dest == PROC_NULL and source == PROC_NULL:
            self._null_source(PROC_NULL, status)
            return
        normalise(buf, True)  # (the buffer must be writable)
        tmp = normalise(buf, False).array.copy()  # what it holds now (a derived type's packed bytes)
        sreq = self.Isend(tmp, dest, sendtag)
        self.Recv(buf, source, recvtag, status)
        sreq.Wait()

    # -- nonblocking buffer calls ---------------------------------------------------------
    def _start_send(self, buf: Any, dest: Any, tag: Any, sync: bool) -> Request:
        if dest == PROC_NULL:
            self._send_tag(tag)
            return proc_null_request(send=True)
        b = normalise(buf, False)
        dest = self._dest(dest)
        tag = self._send_tag(tag)
        if dest == PROC_NULL:
            return proc_null_request(send=True)
        e = self._engine
        arr = b.array
        if (not sync and dest < self._fast_size and dest != self._me and not self._sendq[dest]
                and b.nbytes < e.slow_min and arr.ndim == 1 and arr.nbytes == b.nbytes
                and arr.flags.c_contiguous and arr.dtype.isnative):
            # A buffer spec ([buf, MPI.DOUBLE], a derived type's packed scratch) leaves as Isend's
            # hot path sends a plain array (no SendReq when it all fits the ring now).
            fn = self._send_eps.get(arr.dtype) or e._kernel("send", self._send_eps, arr)
            sent = fn(self._txh[dest], tag, self._ctx, arr)
            if sent == b.nbytes:
                return SentRequest()
            req = e.send_started(arr, b.nbytes, dest, tag, self._ctx, sent)
            if req is not None:
                return Request(e, req)
        return Request(e, e.isend(arr, b.nbytes, dest, tag, self._ctx, sync=sync))

    def Isend(self, buf: Any, dest: int, tag: int = 0) -> Request:
        """Start a standard send; the buffer must not change until the request completes."""
        # Hot path (see Send): a small message that fits the ring now leaves at once, and its
        # request is born complete. First the call-site record (mpi/p2p_sites.py): the buffer
        # of the last calls, checked by identity, sent by address (no array to unbox).
        site = self._isend_site
        if (buf is site.buf and (dest is site.peer and tag is site.tag and self._fast_size
                                 or type(dest) is int and type(tag) is int and 0 <= dest < self._fast_size
                                 and 0 <= tag <= TAG_MAX and dest != self._me and site.learn(dest, tag))
                and buf.dtype is site.dtype and not self._sendq[dest] and site.nbytes < self._engine.slow_min):
            sent = self._send_blk(self._txh[dest], tag, site.blk)
            if sent == site.nbytes:
                return SentRequest()
            return self._isend_rest(buf, dest, tag, sent)
        if (type(buf) is _ndarray and type(dest) is int and type(tag) is int and buf.ndim == 1
                and 0 <= dest < self._fast_size and 0 <= tag <= TAG_MAX and buf.flags.c_contiguous
                and buf.dtype.isnative):  # (normalise refuses another byte order, as mpi4py)
            e = self._engine
            fn = self._send_eps.get(buf.dtype) or e._kernel("send", self._send_eps, buf)
            if dest != self._me and not self._sendq[dest] and buf.nbytes < e.slow_min:
                if buf is self._isend_prev:
                    self._isend_site = self._p2p_site(buf)  # a second call in a row: record it
                else:
                    self._isend_prev = buf
                nbytes = buf.nbytes
                sent = fn(self._txh[dest], tag, self._ctx, buf)
                if sent == nbytes:
                    return SentRequest()
                return self._isend_rest(buf, dest, tag, sent)
            if dest != self._me:
                # Large (a rendezvous request or heap descriptor, or many fragments), or behind a
                # queued send: straight to the engine, without normalise's general checks (about
                # 3.5 us a call).
                nbytes = buf.nbytes
                if nbytes >= e.rndv_limit and not e.remote[dest] and nbytes < e.heap_min:
                    return Request(e, e.isend_rndv(buf, nbytes, dest, tag, self._ctx))
                return Request(e, e.isend(buf, nbytes, dest, tag, self._ctx))
        elif (type(buf) is list or type(buf) is tuple) and (arr := plain_array(buf)) is not None:
            return Comm.Isend(self, arr, dest, tag)  # [data, MPI.INT] (see Send)
        return self._start_send(buf, dest, tag, False)

    def _isend_rest(self, buf: np.ndarray, dest: int, tag: int, sent: int) -> Request:
        """Isend's hot path after its push returned `sent` (not all of the message): queue the
        rest, or (nothing left) send the general way."""
        e = self._engine
        req = e.send_started(buf, buf.nbytes, dest, tag, self._ctx, sent)
        if req is not None:
            return Request(e, req)
        return self._start_send(buf, dest, tag, False)

    def _p2p_site(self, buf: np.ndarray) -> Site:
        """The call-site record of buf (a 1-D C-contiguous native array) for Isend / Irecv, or
        NO_SITE when this transport has no by-address kernels."""
        kernels = site_kernels(self._engine.t)
        if kernels is None:
            return NO_SITE
        self._send_blk, self._recv_blk, self._wait_blk, self._pending = kernels
        return make_site(buf, self._ctx)

    def Issend(self, buf: Any, dest: int, tag: int = 0) -> Request:
        """Start a synchronous send: it completes once the receiver has matched it."""
        return self._start_send(buf, dest, tag, True)

    # -- other send modes, persistent requests, error handlers ----------------------------
    def Rsend(self, buf: Any, dest: int, tag: int = 0) -> None:
        """Ready-mode send (the receive is already posted): a standard send is always correct."""
        self.Send(buf, dest, tag)

    def Irsend(self, buf: Any, dest: int, tag: int = 0) -> Request:
        """Start a ready-mode send (a standard Isend)."""
        return self.Isend(buf, dest, tag)

    def Bsend(self, buf: Any, dest: int, tag: int = 0) -> None:
        """Buffered send: returns at once, a copy of the data is sent in the background."""
        self.Ibsend(buf, dest, tag)

    def Ibsend(self, buf: Any, dest: int, tag: int = 0) -> Request:
        """Start a buffered send: complete at once, a copy of the data goes in the background.

        toro_mpi buffers in its own memory, so no MPI.Attach_buffer is needed (one attached is
        accepted); MPI.Detach_buffer and finalize wait until every buffered send has left."""
        if dest == PROC_NULL:
            return proc_null_request(send=True)
        b = normalise(buf, False)
        dest = self._dest(dest)
        tag = self._send_tag(tag)
        if dest != PROC_NULL:
            e = self._engine
            if len(e.buffered) >= 64:
                e.buffered = [r for r in e.buffered if not r._done()]  # keep only those on their way
            e.buffered.append(Request(e, e.isend(b.array.copy(), b.nbytes, dest, tag, self._ctx)))
        return Request(self._engine, SENT)

    def _send_init(self, start: Any, buf: Any, dest: Any, tag: Any) -> Prequest:
        # Checked now, as MPI and mpi4py do (a bad buffer spec raises here, not at Start); each
        # Start parses buf again, so it sends the buffer's contents at that time.
        if dest != PROC_NULL:  # as mpi4py: no buffer is read for PROC_NULL
            normalise(buf, False)
        self._dest(dest), self._send_tag(tag)
        return Prequest(lambda: start(buf, dest, tag))

    def Send_init(self, buf: Any, dest: int, tag: int = 0) -> Prequest:
        """A persistent standard send: each Start sends buf's current contents (an Isend)."""
        return self._send_init(self.Isend, buf, dest, tag)

    def Ssend_init(self, buf: Any, dest: int, tag: int = 0) -> Prequest:
        """A persistent synchronous send (each Start is an Issend)."""
        return self._send_init(self.Issend, buf, dest, tag)

    def Bsend_init(self, buf: Any, dest: int, tag: int = 0) -> Prequest:
        """A persistent buffered send (each Start is an Ibsend)."""
        return self._send_init(self.Ibsend, buf, dest, tag)

    def Rsend_init(self, buf: Any, dest: int, tag: int = 0) -> Prequest:
        """A persistent ready-mode send (each Start is a standard Isend)."""
        return self._send_init(self.Isend, buf, dest, tag)

    def Recv_init(self, buf: Any, source: int = ANY_SOURCE, tag: int = ANY_TAG) -> Prequest:
        """A persistent receive into buf (each Start is an Irecv)."""
        if source != PROC_NULL:
            normalise(buf, True)  # checked now, as in _send_init
        self._source(source), self._recv_tag(tag)
        # The general Irecv: a Prequest reads its active request's receive state.
        return Prequest(lambda: self._irecv(buf, source, tag))

    def Get_errhandler(self) -> Errhandler:
        """The error handler set on this communicator (a new handle to it, as MPI returns)."""
        self._check_live()
        return get_errhandler(self)

    def Set_errhandler(self, errhandler: Errhandler) -> None:
        """Set the error handler that runs when a call on this communicator fails (errhandler.py)."""
        self._check_live()
        set_errhandler(self, errhandler, "Comm")

    def Irecv(self, buf: Any, source: int = ANY_SOURCE, tag: int = ANY_TAG) -> Request:
        """Start a receive into a buffer."""
        site = self._irecv_site
        if (buf is site.buf and (source is site.peer and tag is site.tag and self._fast_size
                                 or type(source) is int and type(tag) is int and 0 <= source < self._fast_size
                                 and ANY_TAG <= tag <= TAG_MAX and source != self._me and site.learn(source, tag))
                and buf.dtype is site.dtype):
            # The call-site record (see Isend): nothing in Python comes first, so take the
            # message from the queue head by address (no array to unbox, no flags to read).
            e = self._engine
            if not (e.posted or e.unexpected or e.active):
                st = self._recv_blk(self._rxh[source], tag, site.blk)
                if st >= _TAKEN:
                    r = ReceivedRequest()
                    r._source = source
                    r._tag = tag if tag >= 0 else int(self._rx_info[source][_INFO_TAG])
                    r._count = st - _TAKEN
                    return r
                return self._irecv_rest(e, st, buf, source, tag)
            if not (e.unexpected or e.active) and e.owner is None:
                # Receives are posted ahead of this one (a window): this one waits behind them.
                posted = e.posted
                n = len(posted)
                if n & (n - 1) == 0 and posted[0].src == source and self._pending(self._rxh[source]):
                    e.complete_posted(source)  # what has arrived (see below; a look first, ~0.5 us less if nothing)
                if posted:
                    req = RecvReq(source, tag, self._ctx, buf, site.nbytes)
                    posted.append(req)  # as e.post: no unexpected message, receives ahead (jit_state dirty)
                    r = PostedRequest()  # (posted_request(self, e, req), inlined: one call less)
                    r._engine = e
                    r._inner = req
                    r._comm = self
                    return r
        if (type(buf) is _ndarray and type(source) is int and type(tag) is int and buf.ndim == 1
                and ANY_SOURCE <= source < self._fast_size and ANY_TAG <= tag <= TAG_MAX):
            flags = buf.flags
            # Hot path: no spec to parse, no checks left (a freed communicator has _fast_size 0).
            if flags.c_contiguous and flags.writeable and not buf.dtype.hasobject and buf.dtype.isnative:
                e = self._engine
                if buf.nbytes >= e.rndv_limit and not e.rndv_defer[0] and e.may_defer(source):
                    return self._irecv_deferring(e, buf, source, tag)
                if source >= 0 and source != self._me and not (e.unexpected or e.active):
                    posted = e.posted
                    if posted and posted[0].src == source and e.owner is None:
                        n = len(posted)
                        if n & (n - 1) == 0:
                            # A window of receives from one peer (osu_bw): what has arrived by
                            # now completes the earlier ones, so this one may take its message
                            # at once. Tried at 1, 2, 4, ... receives waiting: a receiver ahead
                            # of its sender wastes a few polls per window, not one per call.
                            e.complete_posted(source)
                    if not (posted or e.unexpected or e.active):
                        # Nothing in Python comes first: take the message from the source's
                        # queue head now if it is there, as Recv's hot path does; a plain eager
                        # message that fits makes a request complete from birth.
                        site = self._irecv_site
                        if buf is site.buf and buf.dtype is site.dtype:
                            st = self._recv_blk(self._rxh[source], tag, site.blk)
                            if st >= _TAKEN:
                                r = ReceivedRequest()
                                r._source = source
                                r._tag = tag if tag >= 0 else int(self._rx_info[source][_INFO_TAG])
                                r._count = st - _TAKEN
                                return r
                        else:
                            if buf is self._irecv_prev and not e.rndv_defer[0]:
                                self._irecv_site = self._p2p_site(buf)  # seen twice in a row: record it
                            else:
                                self._irecv_prev = buf
                            recv = self._recv_eps.get(buf.dtype) or e._kernel("recv", self._recv_eps, buf)
                            st = recv(self._rxh[source], tag, self._ctx, buf)
                        if st == _RX_COMPLETE:
                            info = self._rx_info[source]
                            r = ReceivedRequest()
                            r._source = source
                            r._tag = tag if tag >= 0 else int(info[_INFO_TAG])
                            r._count = int(info[_INFO_TOTAL])
                            return r
                        return self._irecv_rest(e, st, buf, source, tag)
                if source >= 0:
                    if buf is self._irecv_prev and not e.rndv_defer[0]:
                        self._irecv_site = self._p2p_site(buf)  # for the posting branch above
                    else:
                        self._irecv_prev = buf
                return CommRequest(self, e, e.post(RecvReq(source, tag, self._ctx, buf, buf.nbytes)))
        elif (type(buf) is list or type(buf) is tuple) and (arr := plain_array(buf)) is not None:
            return Comm.Irecv(self, arr, source, tag)  # [data, MPI.INT] (see Send)
        return self._irecv(buf, source, tag)

    def _irecv_deferring(self, e: Engine, buf: np.ndarray, source: int, tag: int) -> Request:
        """Irecv of a buffer that may take a rendezvous message: posted with the engine's
        rendezvous reads put off to its next progress pass (Engine.rndv_defer), so that the
        sends a program starts after its receives leave first (no call-site record, whose path
        would not put them off)."""
        defer = e.rndv_defer
        defer[0] = 1
        try:
            return self.Irecv(buf, source, tag)
        finally:
            defer[0] = 0

    def _irecv_rest(self, e: Engine, st: int, buf: np.ndarray, source: int, tag: int) -> Request:
        """Irecv's hot path after its poll of the queue head returned `st` (not a plain complete
        message): post the receive, or finish what the poll consumed the general way."""
        ctx = self._ctx
        req = RecvReq(source, tag, ctx, buf, buf.nbytes)
        if st == _RX_EMPTY or st == _RX_NO_MATCH:
            e.posted.append(req)  # (the unexpected list is empty: nothing else to match first)
            e.jit_state[0] = 1  # p2p.JIT_DIRTY: a receive now waits in Python
            # A plain posted receive: no finish step (as the receives posted behind it; about
            # 0.6 us less than a CommRequest, once per window of an osu_bw receiver).
            return posted_request(self, e, req)
        if st < 0:
            raise e._corrupt(st, source)
        # Consumed, but it needs the general path (ack, single copy, truncation, fragments).
        e.info[:] = self._rx_info[source]
        if st == L.RX_PARTIAL:
            e._partial(req, source)
        else:
            e._arrived(req, source)
        return CommRequest(self, e, req)

    def _irecv(self, buf: Any, source: Any, tag: Any) -> Request:
        """Irecv's general path: any buffer spec, checked arguments."""
        if source == PROC_NULL:
            self._recv_tag(tag)
            return proc_null_request()
        b = normalise(buf, True)
        source = self._source(source)
        tag = self._recv_tag(tag)
        e = self._engine
        req = e.irecv(b.array, b.nbytes, source, tag, self._ctx)
        return CommRequest(self, e, req, finish=(lambda: b.finish(min(req.nbytes, req.cap)))
                           if b.writeback is not None else None)

    # -- probing --------------------------------------------------------------------------
    def _probe(self, source: Any, tag: Any, status: Status | None, blocking: bool) -> bool:
        source = self._source(source)
        tag = self._recv_tag(tag)
        if self._null_source(source, status):
            return True
        e = self._engine
        msg = e.probe(source, tag, self._ctx) if blocking else e.iprobe(source, tag, self._ctx)
        if msg is None:
            return False
        if status is not None:
            status._set(self._comm_rank(msg.src), msg.tag, msg.total)
        return True

    def Iprobe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG, status: Status | None = None) -> bool:
        """Whether a matching message can be received now (without receiving it)."""
        return self._probe(source, tag, status, False)

    def Probe(self, source: int = ANY_SOURCE, tag: int = ANY_TAG, status: Status | None = None) -> bool:
        """Block until a matching message can be received (without receiving it)."""
        return self._probe(source, tag, status, True)

    def __repr__(self) -> str:
        return f"<Comm {self._name or 'unnamed'} rank {self.rank} of {self.size}>"


class Intracomm(Comm):
    """An intracommunicator (intercommunicators are mpi/intercomm.py's Intercomm)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Intracomm:
        # The class's Is_inter, not the object's: a null handle may answer every call with ERR_COMM.
        if len(args) == 1 and isinstance(args[0], Comm) and type(args[0]).Is_inter(args[0]):
            raise MPITypeError(ERR_COMM, "Intracomm() takes an intracommunicator, got an Intercomm")
        return super().__new__(cls, *args, **kwargs)

    def Create_intercomm(self, local_leader: int, peer_comm: Comm, remote_leader: int, tag: int = 0) -> Any:
        """The intercommunicator between this group and the one led by peer_comm's remote_leader."""
        from .intercomm import create_intercomm  # intercomm.py builds on this module

        return create_intercomm(self, local_leader, peer_comm, remote_leader, tag)


# mpi4py's other Comm methods name themselves as missing (see mpi4py_names.MissingMethod).
add_missing_methods(Comm, "Comm")

__all__ = ["Comm", "Intracomm", "ERR_TRUNCATE"]
