"""The one pickle framing of every lowercase object call, point-to-point and collective
(protocol 5, large buffers out of band where the call can send them apart).

A pickled object travels as one frame:
    u32 number of out-of-band buffers, u32 their sequence number, then per buffer its i64 size, then the pickle.
A point-to-point send (`dumps`) sends each out-of-band buffer (numpy arrays and other
PickleBuffers of at least OOB_MIN bytes) as its own message on the communicator's object
context, tagged with a per-sender sequence number, so it is never copied into the pickle stream
and can ride the rendezvous path. The object collectives move each rank's frame as bytes of one
buffer collective, so theirs (`dumps_in_band`) keep every buffer in the pickle stream: a frame
with no out-of-band buffers. `loads` reads both.
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

import numpy as np

OOB_MIN = 65536
PROTOCOL = 5  # out-of-band buffers need protocol 5
_HEAD = struct.Struct("<II")
_IN_BAND = _HEAD.pack(0, 0)  # the head of a frame without out-of-band buffers


def dumps(obj: Any, seq: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Serialise obj: the framed pickle as a uint8 array, plus its out-of-band buffers."""
    oob: list[pickle.PickleBuffer] = []

    def keep_large(pb: pickle.PickleBuffer) -> bool:
        if pb.raw().nbytes >= OOB_MIN:
            oob.append(pb)
            return False  # out of band
        return True  # small: in the pickle stream

    body = pickle.dumps(obj, protocol=PROTOCOL, buffer_callback=keep_large)
    views = [np.frombuffer(pb.raw(), dtype=np.uint8) for pb in oob]
    head = _HEAD.pack(len(views), seq if views else 0) + b"".join(struct.pack("<q", v.nbytes) for v in views)
    frame = np.frombuffer(head + body, dtype=np.uint8)
    return frame, views


def dumps_in_band(obj: Any) -> np.ndarray:
    """Serialise obj as a frame with every buffer in the pickle stream (the object collectives')."""
    return np.frombuffer(_IN_BAND + pickle.dumps(obj, protocol=PROTOCOL), dtype=np.uint8)


def oob_sizes(frame: np.ndarray) -> tuple[int, list[int]]:
    """(sequence number, sizes) of the out-of-band buffers announced by a frame."""
    count, seq = _HEAD.unpack_from(frame, 0)
    return seq, [struct.unpack_from("<q", frame, _HEAD.size + 8 * i)[0] for i in range(count)]


def loads(frame: np.ndarray, buffers: list[np.ndarray] | tuple = ()) -> Any:
    """Rebuild the object from a frame and its received out-of-band buffers (none: an in-band frame)."""
    count, _ = _HEAD.unpack_from(frame, 0)
    start = _HEAD.size + 8 * count
    return pickle.loads(memoryview(frame)[start:], buffers=buffers)


def pickle_size(frame: np.ndarray) -> int:
    """Bytes of the pickle stream in a frame (what mpi4py's status reports for an object)."""
    count, _ = _HEAD.unpack_from(frame, 0)
    return frame.nbytes - _HEAD.size - 8 * count
