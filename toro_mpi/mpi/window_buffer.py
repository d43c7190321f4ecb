"""The buffer protocol on MPI.Win: `memoryview(win)` is the local part of the window, as in
mpi4py (mpi4py.util.sync reads its mutex word that way).

Python 3.12 lets a class export a buffer with `__buffer__`; 3.11 only through the C slot
`tp_as_buffer->bf_getbuffer`. On CPython 3.11 this module fills that slot of Win's (heap) type
with a ctypes callback that calls PyBuffer_FillInfo over the window's local memory; subclasses
created afterwards inherit it, as CPython copies buffer slots into subtypes. The slot is found
next to `tp_flags` (whose value is `type.__flags__`) rather than at a hard-coded offset, and
nothing is patched if the layout does not look as expected (memoryview(win) then raises
TypeError, as before). A null or freed window exports no bytes.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from typing import Any

_GETBUFFER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.py_object, ctypes.c_void_p, ctypes.c_int)
_keep: list[Any] = []  # the callback must live as long as the type


def _fill_info() -> Any:
    fn = ctypes.pythonapi.PyBuffer_FillInfo
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int, ctypes.c_int]
    return fn


def install(cls: type, memory: Callable[[Any], tuple[int, int]]) -> bool:
    """Give cls the buffer protocol: memory(obj) -> (address, nbytes) of a writable byte region.
    Returns whether it was installed."""
    if sys.implementation.name != "cpython":
        return False
    if sys.version_info >= (3, 12):
        def __buffer__(self: Any, flags: int) -> memoryview:  # noqa: N807 - the protocol's name
            addr, n = memory(self)
            return memoryview((ctypes.c_ubyte * n).from_address(addr) if n else bytearray(0)).cast("B")

        cls.__buffer__ = __buffer__  # type: ignore[attr-defined]
        return True
    words = [ctypes.c_ulong.from_address(id(cls) + 8 * i).value for i in range(48)]
    try:
        at = words.index(cls.__flags__)
    except ValueError:
        return False
    procs = words[at - 1]  # tp_as_buffer: a heap type's own (inline, zeroed) PyBufferProcs
    if procs == 0 or ctypes.c_void_p.from_address(procs).value:
        return False
    fill = _fill_info()

    def getbuffer(obj: Any, view: int, flags: int) -> int:
        # An exception cannot cross the ctypes callback into the C caller: a window that has no
        # memory to give (null, freed) exports no bytes instead.
        try:
            addr, n = memory(obj)
        except Exception:  # noqa: BLE001
            addr, n = 0, 0
        return fill(view, obj, addr or None, n, 0, flags)

    callback = _GETBUFFER(getbuffer)
    _keep.append(callback)
    ctypes.c_void_p.from_address(procs).value = ctypes.cast(callback, ctypes.c_void_p).value
    return True
