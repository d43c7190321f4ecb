"""mpi4py's `MPI.Pickle`: how Python objects are serialised, one configuration per instance.

`MPI.pickle`, the instance the object calls (send, bcast, ...) use, is bound to objects.SERIALIZER;
every other `Pickle(...)` has settings of its own, as in mpi4py: mpi4py.util.pkl5 makes its own
instance at import and sets its PROTOCOL and THRESHOLD, which must not change how `comm.send`
pickles. `dumps_oob` returns its out-of-band buffers as `MPI.buffer` objects, with protocol 5
at least, whatever PROTOCOL says (pickle needs 5 for out-of-band buffers), as mpi4py does.
"""

from __future__ import annotations

import operator
import pickle as _pickle
from typing import Any

from . import objects
from .memory import buffer


class Pickle:
    """Pickle/unpickle Python objects (mpi4py's MPI.Pickle): `dumps(obj[, protocol])` and
    `loads(data)` functions (pickle's by default), PROTOCOL, and THRESHOLD, the size from which
    dumps_oob passes buffers out of band."""

    _s: objects.Serializer

    def __init__(self, dumps: Any = None, loads: Any = None, protocol: Any = None, threshold: Any = None) -> None:
        s = self.__dict__.get("_s")
        if s is None:
            s = self._s = objects.Serializer()
        s.configure(dumps, loads, protocol)
        if threshold is not None:
            s.threshold = operator.index(threshold)

    @classmethod
    def bound_to(cls, serializer: objects.Serializer) -> Pickle:
        """The instance whose settings are serializer (MPI.pickle: the object calls' own)."""
        self = cls.__new__(cls)
        self._s = serializer
        return self

    @property
    def PROTOCOL(self) -> Any:  # noqa: N802 - mpi4py's name
        """The protocol passed to dumps (None: the functions' own default)."""
        return self._s.protocol

    @PROTOCOL.setter
    def PROTOCOL(self, value: Any) -> None:  # noqa: N802 - mpi4py's name
        # As mpi4py: None means pickle's protocol with pickle's dumps; no range check (pickle
        # takes any negative protocol as its highest).
        s = self._s
        s.protocol = value if value is not None or s.user_dumps is not None else objects.PROTOCOL

    @property
    def THRESHOLD(self) -> int:  # noqa: N802 - mpi4py's name
        """Buffers of at least this many bytes travel out of band."""
        return self._s.threshold

    @THRESHOLD.setter
    def THRESHOLD(self, value: Any) -> None:  # noqa: N802 - mpi4py's name
        self._s.threshold = objects.OOB_MIN if value is None else operator.index(value)

    def dumps(self, obj: Any) -> bytes:
        """Serialise obj, every buffer in band."""
        return self._s.body(obj)

    def loads(self, data: Any) -> Any:
        """Deserialise data."""
        return self._s.load(data)

    def dumps_oob(self, obj: Any) -> tuple[bytes, list[buffer]]:
        """Serialise obj with buffers of at least THRESHOLD bytes out of band: (pickle data,
        the buffers as MPI.buffer objects), as mpi4py."""
        s = self._s
        bufs: list[buffer] = []
        threshold = s.threshold

        def callback(pb: Any) -> bool:
            buf = buffer.frombuffer(pb, readonly=None)
            if buf.nbytes >= threshold:
                bufs.append(buf)
                return False
            return True

        dumps = s.user_dumps or _pickle.dumps
        protocol = max(_pickle.HIGHEST_PROTOCOL if s.protocol is None else s.protocol, 5)
        data = dumps(obj, protocol, buffer_callback=callback)
        return data, bufs

    def loads_oob(self, data: Any, buffers: Any) -> Any:
        """Deserialise data whose out-of-band buffers are `buffers` (dumps_oob's)."""
        loads = self._s.user_loads or _pickle.loads
        return loads(data, buffers=buffers)


pickle = Pickle.bound_to(objects.SERIALIZER)

__all__ = ["Pickle", "pickle"]
