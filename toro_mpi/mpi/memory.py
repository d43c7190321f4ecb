"""mpi4py's `MPI.buffer` (alias `MPI.memory`): a 1-D byte view of memory with the buffer protocol.

Python 3.11 gives a Python class the buffer protocol only through a C base, so `buffer` is a
numpy array subclass (uint8, 1-D), with mpi4py's interface over it: `allocate`, `frombuffer`,
`fromaddress`, `obj`, `address`, `nbytes`, `readonly`, `format`, `itemsize`, `tobytes`,
`toreadonly`, `cast`, `release`, and item / slice access with mpi4py's errors (IndexError for a
step other than 1 or an index out of range, TypeError for other keys or a write to read-only
memory, NotImplementedError for deletion). `release()` forgets the memory: the buffer then
reports address 0 and no bytes, as mpi4py's does.
"""

from __future__ import annotations

import ctypes
import operator
import sys
from typing import Any

import numpy as np

from . import cai, dlpack
from .buffers import byte_view

_NOTHING = object()  # buffer() without an argument: the empty buffer (buffer(None) is a TypeError)


def _index(value: Any, what: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, not {type(value).__name__}") from None


class buffer(np.ndarray):  # noqa: N801 - mpi4py's name
    """A byte buffer over some memory (mpi4py's `MPI.buffer`)."""

    _obj: Any = None
    _keep: Any = None  # Alloc_mem's heap block (see alloc_mem), inherited by views
    _released = False
    _device = False  # CUDA Array Interface memory: mpi4py allows no element access

    def __new__(cls, obj: Any = _NOTHING) -> buffer:
        """A buffer over obj's memory (writable if obj is); empty without obj."""
        if obj is _NOTHING:
            return cls._over(np.empty(0, np.uint8), None)
        return cls.frombuffer(obj, readonly=None)

    @classmethod
    def _over(cls, arr: np.ndarray, obj: Any) -> buffer:
        view = arr.view(cls)
        view._obj = obj
        return view

    def __array_finalize__(self, parent: Any) -> None:
        self._obj = getattr(parent, "_obj", None)
        self._keep = getattr(parent, "_keep", None)
        self._device = getattr(parent, "_device", False)
        self._released = False

    # -- constructors -------------------------------------------------------------------
    @classmethod
    def allocate(cls, nbytes: int, clear: bool = False) -> buffer:
        """A new buffer of nbytes (zeroed if clear; a bytearray's memory either way)."""
        n = _index(nbytes, "size")
        if n < 0:
            raise ValueError("size must be non-negative")
        return cls.frombuffer(bytearray(n))

    @classmethod
    def frombuffer(cls, obj: Any, readonly: bool | None = False) -> buffer:
        """A buffer over the memory of a buffer-protocol object; readonly=True for a read-only
        view (None: as obj itself is)."""
        if obj is None or isinstance(obj, (int, float, list, tuple)):
            raise TypeError(f"a bytes-like object is required, not '{type(obj).__name__}'")
        try:
            mv = memoryview(obj)
        except TypeError:
            # Then DLPack, then the CUDA Array Interface, as mpi4py (PyMPI_GetBuffer).
            if dlpack.is_dlpack(obj):
                return cls._from_dlpack(obj, readonly)
            if not cai.is_cai(obj):
                raise TypeError(f"a bytes-like object is required, not '{type(obj).__name__}'") from None
            arr, device = cai.host_array(obj, readonly is False), True
            view = cls._over(byte_view(np.ascontiguousarray(arr)), obj)
            view._device = device
            if readonly:
                view.flags.writeable = False
            return view
        if readonly is None:
            readonly = mv.readonly
        if not readonly and mv.readonly:
            raise BufferError("Object is not writable.")
        arr = np.frombuffer(mv.cast("B") if mv.ndim != 1 or mv.format != "B" else mv, np.uint8)
        if not readonly:
            arr.flags.writeable = True
        view = cls._over(arr, obj)
        if readonly:
            view.flags.writeable = False
        return view

    @classmethod
    def _from_dlpack(cls, obj: Any, readonly: bool | None) -> buffer:
        """A buffer over a DLPack tensor's bytes. The array dlpack.host_array returns holds the
        borrowed capsule for as long as this buffer (or any view of it) lives; memory of a
        device that is not the CPU's allows no element access, as in mpi4py."""
        arr = dlpack.host_array(obj, readonly is False)
        view = cls._over(byte_view(arr), obj)
        view._device = not dlpack.on_host(obj)
        if readonly:
            view.flags.writeable = False
        return view

    @classmethod
    def fromaddress(cls, address: int, nbytes: int, readonly: bool = False) -> buffer:
        """A buffer over nbytes of raw memory at address (the caller keeps it alive)."""
        addr = _index(address, "address")
        n = _index(nbytes, "size")
        if n < 0:
            raise ValueError("size must be non-negative")
        if addr == 0 and n > 0:
            raise ValueError("cannot create a buffer over a null address")
        if n == 0:
            view = cls._over(np.empty(0, np.uint8), None)
        else:
            raw = (ctypes.c_ubyte * n).from_address(addr)
            view = cls._over(np.frombuffer(raw, np.uint8), None)
        if readonly:
            view.flags.writeable = False
        return view

    # -- attributes -----------------------------------------------------------------------
    @property
    def obj(self) -> Any:
        """The object whose memory this is (None for raw or released memory)."""
        return None if self._released else self._obj

    @property
    def address(self) -> int:
        """Address of the first byte (0 when empty from the constructor, or released)."""
        if self._released or (self._obj is None and np.ndarray.__len__(self) == 0):
            return 0
        return int(self.__array_interface__["data"][0])

    @property
    def nbytes(self) -> int:  # type: ignore[override]
        """Size in bytes."""
        return 0 if self._released else int(np.ndarray.__len__(self))

    @property
    def readonly(self) -> bool:
        """Whether the memory may not be written through this buffer."""
        return False if self._released else not self.flags.writeable

    @property
    def format(self) -> str:
        """Always "B": bytes."""
        return "B"

    @property
    def itemsize(self) -> int:  # type: ignore[override]
        """Always 1."""
        return 1

    def __len__(self) -> int:
        return self.nbytes

    # -- item access ----------------------------------------------------------------------
    def _host_only(self) -> None:
        if self._device:
            raise BufferError("buffer: device memory (CUDA Array Interface), no host access")

    def _check_key(self, key: Any) -> Any:
        self._host_only()
        if self._released:
            raise ValueError("operation forbidden on released buffer object")
        if isinstance(key, slice):
            start, stop, step = key.indices(self.nbytes)
            if step != 1:
                raise IndexError("slice with step not supported")
            return slice(start, max(start, stop))
        try:
            i = operator.index(key)
        except TypeError:
            raise TypeError("buffer indices must be integers or slices") from None
        n = self.nbytes
        if not -n <= i < n:
            raise IndexError("index out of range")
        return i + n if i < 0 else i

    def __getitem__(self, key: Any) -> Any:
        key = self._check_key(key)
        item = np.ndarray.__getitem__(self, key)
        return int(item) if isinstance(key, int) else item

    def __setitem__(self, key: Any, value: Any) -> None:
        key = self._check_key(key)
        if not self.flags.writeable:
            raise TypeError("buffer is read-only")
        if isinstance(key, slice) and not isinstance(value, (int, np.integer)):
            src = np.frombuffer(memoryview(value).cast("B"), np.uint8)
            if src.size != key.stop - key.start:
                raise ValueError("cannot modify size of buffer")
            value = src
        np.ndarray.__setitem__(self, key, value)

    def __bool__(self) -> bool:
        """True when the buffer has bytes (mpi4py's: `if mem:` tests the length)."""
        return self.nbytes > 0

    def __delitem__(self, key: Any) -> None:
        raise NotImplementedError("buffer items cannot be deleted")

    # -- conversions ----------------------------------------------------------------------
    def tobytes(self, order: str | None = None) -> bytes:  # type: ignore[override]
        """The bytes, as a bytes object."""
        self._host_only()
        return b"" if self._released else np.ndarray.tobytes(self)

    def toreadonly(self) -> buffer:
        """A read-only buffer over the same memory."""
        view = np.ndarray.view(self, type(self))
        view._obj = self._obj
        view.flags.writeable = False
        return view

    def cast(self, format: str, shape: Any = None) -> memoryview:  # noqa: A002 - mpi4py's name
        """A memoryview of the bytes cast to format (and shape), as memoryview.cast."""
        self._host_only()
        mv = memoryview(self)
        return mv.cast(format) if shape is None else mv.cast(format, shape)

    def release(self) -> None:
        """Forget the memory: address 0, no bytes, not read-only from now on."""
        self._released = True
        self._obj = None

    def __repr__(self) -> str:
        return f"<MPI.buffer address=0x{self.address:x} nbytes={self.nbytes} readonly={self.readonly}>"

    def __reduce__(self) -> Any:
        return (type(self).frombuffer, (bytearray(self.tobytes()),))


memory = buffer  # mpi4py's older name


class _HeapBlock:
    """The base of an Alloc_mem buffer's array: numpy reads the array from its
    `__array_interface__`; `block` holds the heap block until free_mem lets go of it."""

    __slots__ = ("__array_interface__", "block")


def alloc_mem(block: np.ndarray | None, nbytes: int) -> buffer:
    """MPI.Alloc_mem's buffer: over a block of the shared heap, or over new zeroed process memory
    when block is None.

    The heap takes a block back once nothing reaches it. Here the block is reached through the
    buffer's base array (a `_HeapBlock`, which numpy's views of the buffer collapse to: e.g.
    np.frombuffer, and what a send holds, see buffers._as_array) and through `_keep`, which the
    buffer's own slices inherit; free_mem cuts both, so that Free_mem gives the block back at
    once when no array still views it."""
    if block is None or nbytes == 0:
        return buffer.frombuffer(bytearray(nbytes))
    owner = _HeapBlock()
    owner.block = block
    owner.__array_interface__ = {"version": 3, "shape": (nbytes,), "typestr": "|u1",
                                 "data": (block.ctypes.data, False)}
    view = buffer._over(np.asarray(owner), None)
    view._keep = block
    return view


def free_mem(mem: buffer) -> None:
    """MPI.Free_mem of an Alloc_mem buffer: released (address 0, no bytes, as mpi4py's); its heap
    block goes back at once unless an array still views it through the buffer's base (then
    once that array is gone). Slices of the buffer hold the block themselves. A memoryview of
    the buffer does not: as in MPI, memory is not to be used after Free_mem."""
    inner = np.ndarray.__getattribute__(mem, "base")
    mem.release()
    owner = getattr(inner, "base", None)
    # References to inner: mem's base, this name, getrefcount's argument; more are views.
    if isinstance(owner, _HeapBlock) and sys.getrefcount(inner) <= 3:
        owner.block = None
        mem._keep = None
