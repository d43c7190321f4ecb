"""Receives posted in a row for one source, matched to its queue in one jitted call.

One job: keep a table of the posted receives at the head of the engine's posted list, as the
by-address kernel bus/ring_at.rx_recv_run_at reads it (tag, context, buffer address, capacity,
wire type per receive), and complete in Python what that call took. A window of Irecvs posted
before their messages arrive (osu_bibw, a halo exchange's receives) then costs one kernel call
per drain instead of one array-unboxing call per message (about 1.5 us each).

The table mirrors a prefix of `Engine.posted`: rows [off, off + len(mirror)) describe
posted[0:len(mirror)]. The posted list only ever grows at its end and loses elements anywhere
(matched, cancelled, failed), keeping the others' order; so if posted[0] is mirror[0] and
posted[m - 1] is mirror[m - 1], nothing of the prefix was removed (an element that is not in
the mirror could only come after mirror[m - 1]), and the mirror still holds. Anything else
drops the mirror; it is rebuilt from the posted list at the next drain.

A receive enters the table only with a buffer the kernel can write by address: a 1-D
C-contiguous, writable, native array (as Irecv's hot path checks). Its address is found once
per buffer object (the last one is remembered while the table holds receives: a window reuses
one buffer), and the row holds the array alive through the posted request itself. Once the
receives are complete the table holds none of them: a completed receive's buffer is released as
the call returns, as mpi4py releases it (a DLPack producer's deleter runs then).
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from ..bus import layout as L
from ..bus import ring_at
from ..bus.ring import wire_type_of

_ROW = ring_at.RUN_ROW
_OUT = ring_at.OUT_ROW
_BIAS = ring_at.RUN_STATUS_BIAS
_ndarray = np.ndarray
NOT_APPLICABLE = -100  # PostedRun.match: the general path goes on (no corruption code is this)


def _dead_ref() -> None:
    """A weak reference to nothing (PostedRun._view when no view is remembered)."""
    return None


class PostedRun:
    """The posted-receive table of one engine (see the module docstring)."""

    def __init__(self, kernel: Any, limit: int = 256, same_kernel: Any = None) -> None:
        self.kernel = kernel  # rx_recv_run_at's entry point: (handle, tab, k, out) -> j * 16 + status + 8
        # rx_recv_run_same's (every receive has the row at tab), or None: rows always written.
        self.same_kernel = same_kernel
        # True while every receive of the mirror has the one row written at `off` (a window of
        # Irecvs of one buffer, source and tag): the rows after it are not written.
        self.same = False
        self.limit = limit
        self.tab = np.zeros(limit * _ROW, np.int64)
        self.out = np.zeros(limit * _OUT, np.int64)
        self._tab_addr = self.tab.__array_interface__["data"][0]
        self._out_addr = self.out.__array_interface__["data"][0]
        self._tab = memoryview(self.tab)  # element writes through a memoryview cost ~30 ns
        self._res = memoryview(self.out)
        self.mirror: list[Any] = []  # the RecvReqs of rows off, off + 1, ...
        self.src = -1  # the source of every receive in the mirror
        self.off = 0
        # The last buffer a row was made for, and its address and wire type. Held while the
        # table holds receives; after that only a view is remembered, by weak reference (see
        # _buffer).
        self._arr: Any = None
        self._view: Any = _dead_ref
        self._dtype: Any = None
        self._addr = 0
        self._wire = 0

    def _buffer(self, arr: Any) -> int:
        """The address of arr if the kernel may write it by address (0 if not); sets _wire."""
        if arr is self._arr and arr.dtype is self._dtype:
            return self._addr
        if arr is self._view() and arr.dtype is self._dtype and arr.flags.writeable:
            self._arr = arr  # (held again while the table holds its receives)
            return self._addr
        if type(arr) is not _ndarray or arr.ndim != 1:
            return 0
        flags = arr.flags
        dtype = arr.dtype
        if not (flags.c_contiguous and flags.writeable and dtype.isnative) or dtype.hasobject:
            return 0
        self._arr, self._dtype = arr, dtype
        # A view's memory never moves while the view lives (only an array that owns its memory
        # can be resized, and not while a view holds it): its address may be remembered without
        # holding it. The look-up costs about 0.9 us and wire_type_of 0.3-0.6, once per window
        # of an osu_bw receiver that reposts the same view (issue #20's message rate).
        self._view = weakref.ref(arr) if arr.base is not None else _dead_ref
        self._addr = arr.__array_interface__["data"][0]
        self._wire = wire_type_of(arr)
        return self._addr

    def _extend(self, posted: list[Any], src: int) -> None:
        """Bring the mirror up to date with the head of posted (receives from src, in order)."""
        mirror = self.mirror
        m = len(mirror)
        if m and not (len(posted) >= m and posted[0] is mirror[0] and posted[m - 1] is mirror[m - 1]
                      and self.src == src):
            mirror.clear()
            m = 0
        if m == 0:
            self.off = 0
            self.src = src
            self.same = False
        n = len(posted)
        if m == n:
            return
        if self.same:
            # Receives identical to the mirror's first (same buffer, tag, context, capacity):
            # only counted. At the first that differs, write the shared row out for all.
            first = mirror[0]
            arr0 = first.arr
            tag0, ctx0, cap0 = first.tag, first.ctx, first.cap
            stop = min(n, self.limit - self.off)
            k = m
            if arr0.dtype is self._dtype:  # (a dtype reassigned in place changes the wire type)
                while k < stop:
                    req = posted[k]
                    if req.arr is not arr0 or req.tag != tag0 or req.src != src or req.ctx != ctx0 or req.cap != cap0:
                        break
                    k += 1
            mirror.extend(posted[m:k])
            m = k
            if m == n:
                return
            rows = self.tab.reshape(-1, _ROW)
            rows[self.off + 1:self.off + m] = rows[self.off]
            self.same = False
        if self.off + n > self.limit:
            # Compact: move the live rows to the front (and stop at the table's size).
            off = self.off
            self.tab[: m * _ROW] = self.tab[off * _ROW:(off + m) * _ROW].copy()
            self.off = 0
        tab = self._tab
        row = (self.off + m) * _ROW
        end = self.limit * _ROW
        for i in range(m, n):
            req = posted[i]
            if req.src != src or row == end:
                return
            arr = req.arr
            if arr is None:
                return
            addr = self._buffer(arr)
            if addr == 0 or req.cap > arr.nbytes:
                return
            tab[row] = req.tag
            tab[row + 1] = req.ctx
            tab[row + 2] = addr
            tab[row + 3] = req.cap
            tab[row + 4] = self._wire
            row += _ROW
            mirror.append(req)
            if i == 0 and self.same_kernel is not None:
                self.same = True  # the next ones may share this row (see above)
                self._extend(posted, src)
                return

    def settle(self, posted: list[Any]) -> None:
        """Drop the mirror if posted lost one of its receives by another path (the general
        match, Cancel, a failed peer): the table would still hold a completed receive, and its
        buffer, until the next match."""
        mirror = self.mirror
        m = len(mirror)
        if m and not (len(posted) >= m and posted[0] is mirror[0] and posted[m - 1] is mirror[m - 1]):
            self.forget()

    def forget(self) -> None:
        """Drop the mirror and the remembered buffer; the next match rebuilds the table."""
        self.mirror.clear()
        self.off = 0
        self.same = False
        self._arr = None
        self._view = _dead_ref
        self._dtype = None

    def match(self, engine: Any, src: int, qa: int) -> int:
        """Match src's queue to the receives at the head of engine.posted (posted for src).

        Returns NOT_APPLICABLE if the run path does not apply (the general path goes on),
        RX_COMPLETE if every receive of the table completed, else the status of the first
        receive not completed here (RX_EMPTY, RX_NO_MATCH: nothing consumed for it; anything
        else: consumed, its header in the queue's H_INFO words, and the receive is left at
        posted[0] for the caller to finish the general way)."""
        posted = engine.posted
        self._extend(posted, src)
        mirror = self.mirror
        k = len(mirror)
        if k == 0:
            return NOT_APPLICABLE
        same = self.same
        res = (self.same_kernel if same else self.kernel)(qa, self._tab_addr + self.off * _ROW * 8, k,
                                                           self._out_addr)
        j = res >> 4
        status = (res & 15) - _BIAS
        if j:
            done = mirror[:j]
            del mirror[:j]
            del posted[:j]
            if not mirror:
                self.off = 0
            elif not same:
                self.off += j  # (one shared row stays where it is)
            if not mirror:
                self._arr = None  # hold no buffer of a completed receive (a DLPack export's deleter waits on it)
            vals = self._res[: j * _OUT].tolist()  # one conversion, then list reads (~30 ns less a word)
            # Indexed, not a zip of strided slices: that zip alone cost about 0.6 us, once a
            # window of osu_bw's receiver (which completes one receive here).
            k = 0
            for req in done:
                req.source = src
                req.rtag = vals[k]
                req.nbytes = vals[k + 1]
                req.rflags = vals[k + 2]
                req.done = True
                if req.on_complete is not None:
                    req.on_complete(req)
                k += _OUT
        if status > L.RX_COMPLETE and status != L.RX_NO_MATCH and mirror:
            # Consumed into mirror[0], which the caller now pops from posted and finishes the
            # general way: it leaves the table too.
            del mirror[0]
            if not same:
                self.off += 1
            if not mirror:
                self.forget()
        return status
