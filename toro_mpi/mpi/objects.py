"""The one pickle framing of every lowercase object call, point-to-point and collective
(protocol 5, large buffers out of band where the call can send them apart).

An object without out-of-band buffers travels as its plain pickle, exactly what mpi4py sends, so
a `Send` of `MPI.pickle.dumps(obj)` is received by `recv()` and a `send(obj)` by a `Recv` into
bytes and `MPI.pickle.loads`; an empty message is received as None, as in mpi4py. An object with
out-of-band buffers travels as a frame
    MAGIC, u32 number of out-of-band buffers, u32 their sequence number, per buffer its i64 size,
    then the pickle,
and a point-to-point send (`dumps`) sends each out-of-band buffer (numpy arrays and other
PickleBuffers of at least OOB_MIN bytes) as its own message on the communicator's object
context, tagged with a per-sender sequence number, so it is never copied into the pickle stream
and can ride the rendezvous path. MAGIC cannot begin a pickle of protocol 2 or later (those begin
with the PROTO opcode, 0x80). The object collectives move each rank's frame as bytes of one
buffer collective, so theirs (`dumps_in_band`) keep every buffer in the pickle stream. `loads`
reads both.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

import numpy as np

OOB_MIN = 65536
PROTOCOL = 5  # out-of-band buffers need protocol 5
MAGIC = b"\x00TOB"  # a frame with out-of-band buffers (a pickle never starts with a zero byte)
_HEAD = struct.Struct("<4sII")


class Serializer:
    """How the object calls serialise (MPI.pickle's settings): pickle with `protocol` (None: 5)
    and out-of-band buffers of at least `threshold` bytes (protocol 5 only), or the user's
    `dumps(obj[, protocol])` / `loads(buffer)`, whose output always travels in band."""

    def __init__(self) -> None:
        self.configure()

    def configure(self, dumps: Any = None, loads: Any = None, protocol: int | None = None) -> None:
        """Set the functions and protocol (mpi4py's Pickle.__init__); None: the defaults."""
        if protocol is not None and dumps is None and not -1 <= protocol <= pickle.HIGHEST_PROTOCOL:
            raise ValueError(f"pickle protocol must be <= {pickle.HIGHEST_PROTOCOL}")
        self.user_dumps = dumps
        self.user_loads = loads
        self.protocol = protocol if protocol is not None or dumps is not None else PROTOCOL
        self.threshold = OOB_MIN

    def body(self, obj: Any, keep: Any = None) -> bytes:
        """The serialised bytes of obj; `keep` is pickle's buffer_callback (default pickle only)."""
        if self.user_dumps is not None:
            data = self.user_dumps(obj) if self.protocol is None else self.user_dumps(obj, self.protocol)
            return bytes(memoryview(data).cast("B")) if not isinstance(data, bytes) else data
        protocol = pickle.HIGHEST_PROTOCOL if self.protocol is None else self.protocol
        if keep is not None and (protocol < 0 or protocol >= 5):
            return pickle.dumps(obj, protocol=protocol, buffer_callback=keep)
        return pickle.dumps(obj, protocol=protocol)

    def load(self, data: Any, buffers: Any = ()) -> Any:
        """The object serialised in data (with its out-of-band buffers)."""
        if self.user_loads is not None:
            return self.user_loads(data)
        return pickle.loads(data, buffers=buffers)


SERIALIZER = Serializer()


def dumps(obj: Any, seq: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Serialise obj: the framed pickle as a uint8 array, plus its out-of-band buffers."""
    oob: list[pickle.PickleBuffer] = []

    def keep_large(pb: pickle.PickleBuffer) -> bool:
        if pb.raw().nbytes >= SERIALIZER.threshold:
            oob.append(pb)
            return False  # out of band
        return True  # small: in the pickle stream

    body = SERIALIZER.body(obj, keep_large)
    if not oob:
        return np.frombuffer(body, dtype=np.uint8), []
    views = [np.frombuffer(pb.raw(), dtype=np.uint8) for pb in oob]
    head = _HEAD.pack(MAGIC, len(views), seq) + b"".join(struct.pack("<q", v.nbytes) for v in views)
    frame = np.frombuffer(head + body, dtype=np.uint8)
    return frame, views


def dumps_in_band(obj: Any) -> np.ndarray:
    """Serialise obj with every buffer in the pickle stream (the object collectives')."""
    return np.frombuffer(SERIALIZER.body(obj), dtype=np.uint8)


def _framed(frame: np.ndarray) -> bool:
    # (The first byte alone first: a pickle's is never 0, and slicing out four costs ~0.3 us.)
    return frame.nbytes >= _HEAD.size and frame[0] == 0 and bytes(frame[:4]) == MAGIC


def oob_sizes(frame: np.ndarray) -> tuple[int, list[int]]:
    """(sequence number, sizes) of the out-of-band buffers announced by a frame."""
    if not _framed(frame):
        return 0, []
    _, count, seq = _HEAD.unpack_from(frame, 0)
    return seq, [struct.unpack_from("<q", frame, _HEAD.size + 8 * i)[0] for i in range(count)]


def _start(frame: np.ndarray) -> int:
    """Where the pickle stream of a frame begins."""
    if not _framed(frame):
        return 0
    return _HEAD.size + 8 * _HEAD.unpack_from(frame, 0)[1]


def loads(frame: np.ndarray, buffers: list[np.ndarray] | tuple = ()) -> Any:
    """Rebuild the object from a frame and its received out-of-band buffers; an empty message
    is None (as in mpi4py)."""
    if frame.nbytes == 0:
        return None
    return SERIALIZER.load(memoryview(frame)[_start(frame):], buffers)


def pickle_size(frame: np.ndarray) -> int:
    """Bytes of the pickle stream in a frame (what mpi4py's status reports for an object)."""
    return frame.nbytes - _start(frame)
