"""Call-site records of Send, Recv, Isend and Irecv: the buffer a loop passes again and again,
bound to its address, so the per-message kernel takes integers instead of the array.

One job: build and hold these records. Comm.Send / Recv / Isend / Irecv (mpi/comm.py) keep one
record each (the last buffer they saw twice in a row on their hot path) and check it by
identity on every call. A hit calls bus/ring_at.py's site kernels with (handle, tag, block):
the block is a small int64 array holding the record's context, address, size and wire type,
so numba unboxes three integers instead of an array or six integers (~20 ns an argument), and
`buf.flags` is read once, when the record is made.

As the collectives' records (mpi/hot_sites.py), a record holds its array, so the id and the
memory stay the array's while the record lives; an array object keeps its memory, size and
contiguity. Its dtype can be reassigned in place: checked by identity on every call. Not seen:
memory moved under a live array by `resize(refcheck=False)`, and `flags.writeable` cleared
after the record was made (the receive still writes; the memory is writable, numpy's flag
only guards Python-level writes), both of which numpy itself leaves to the user. Only arrays
passed as such are recorded (a buffer spec or a DLPack producer is converted per call).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..bus import ring_at
from ..bus.ring import wire_type_of
from ..bus.transport import VirtioBus


class Site:
    """A buffer of the hot path bound to its address: checked by `buf is site.buf` and
    `buf.dtype is site.dtype`; the kernel then takes addr, nbytes and wire, or (the three-argument
    kernels of bus/ring_at.py) `blk`, the address of `block`: the record's context, address, size
    and wire type in four int64 words."""

    __slots__ = ("buf", "dtype", "addr", "nbytes", "wire", "block", "blk", "peer", "tag")

    def __init__(self, buf: Any, addr: int, nbytes: int, wire: int, ctx: int = 0) -> None:
        self.buf = buf
        self.dtype = None if buf is None else buf.dtype
        self.addr, self.nbytes, self.wire = addr, nbytes, wire
        self.block = np.array([ctx, addr, nbytes, wire], np.int64)  # ring_at.SITE_* order
        self.blk = self.block.__array_interface__["data"][0]
        # The peer and tag objects of the last call whose arguments the full checks accepted:
        # the same int objects again (a loop's constants) are valid without their type and range
        # checks (~80 ns a call). An int object is immutable, and `x is site.peer` implies an
        # int equal to it. None matches nothing.
        self.peer: Any = None
        self.tag: Any = None

    def learn(self, peer: int, tag: int) -> bool:
        """Note (peer, tag) as checked (see __init__); True, for use inside a condition."""
        self.peer = peer
        self.tag = tag
        return True


# Send and Recv record only buffers up to this size: a record keeps its buffer alive, and the
# record saves about 0.2 us a call, which matters for small messages only.
RECORD_MAX_BYTES = 65536

NO_SITE = Site(None, 0, 0, 0)
# A buffer no call passes (not None: Send(None, ...) is a valid empty send, which must not match).
NO_SITE.buf = object()

_entries: dict[str, Any] = {}


def site_kernels(transport: Any) -> tuple[Any, Any, Any, Any] | None:
    """(send_site, recv_site, wait_site, pending): the entry points of bus/ring_at.py that read a
    record's block, and the look at a queue's fill (Irecv's posting branch), or None when this
    transport's queues are not the shared-memory rings."""
    if not isinstance(transport, VirtioBus):
        return None
    if "send_site" not in _entries:
        _entries["send_site"] = ring_at.send_site_entry()
        _entries["recv_site"] = ring_at.recv_site_entry()
        _entries["wait_site"] = ring_at.wait_site_entry()
        _entries["pending"] = ring_at.pending_entry()
    return _entries["send_site"], _entries["recv_site"], _entries["wait_site"], _entries["pending"]


def make_site(buf: np.ndarray, ctx: int = 0) -> Site:
    """The record of a 1-D C-contiguous native array (the caller checked that) for messages
    of context ctx."""
    return Site(buf, buf.__array_interface__["data"][0], buf.nbytes, wire_type_of(buf), ctx)
