"""What MPI.Alloc_mem returns: an MPI.buffer, as in mpi4py (programs and mpi4py's window tests
write `mem[:] = 0`, which a memoryview refuses).

Heap memory (bus/heap.py) goes back to the heap when the block array is collected. The buffer's
memory is a ctypes object over the block's address that holds the block, and numpy makes every
array derived from the buffer (a slice, np.frombuffer) a view of that same object. So Free_mem
drops the block at once, as memoryview.release() did, when nothing but one variable holds the
buffer and nothing views it; otherwise (an array views it, or a container holds it too) the block
goes with the last of the buffer and its views, so no view ever sees another allocation's bytes.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import numpy as np

from .memory import buffer

# References to the memory object when only the buffer views it: the buffer's, our local name's
# and getrefcount's own argument.
_ALONE = 3
# References to the buffer when the program holds it in one variable and nothing else does (no
# np.frombuffer array, which refers to the buffer itself): the program's, MPI.Free_mem's
# parameter, ours, and getrefcount's own argument.
_HELD_ONCE = 4


def alloc_buffer(block: np.ndarray | bytearray) -> buffer:
    """An MPI.buffer over a heap block (a uint8 array) or a bytearray."""
    if isinstance(block, bytearray):
        return buffer.frombuffer(block)
    n = block.nbytes
    if n == 0:
        return buffer.frombuffer(bytearray(0))
    raw = (ctypes.c_ubyte * n).from_address(block.ctypes.data)
    raw.block = block  # ctypes objects take attributes: the memory object holds the block
    view = np.ndarray.__new__(buffer, (n,), np.uint8, buffer=raw)
    view._obj = block
    return view


def free_buffer(mem: Any) -> None:
    """MPI.Free_mem of a buffer from alloc_buffer: release it, and its heap block when nothing
    else holds the buffer."""
    if not isinstance(mem, buffer):
        return
    raw = mem.base
    if hasattr(raw, "block") and sys.getrefcount(raw) <= _ALONE and sys.getrefcount(mem) <= _HELD_ONCE:
        del raw.block  # nothing but the buffer views the memory: the block goes back now
    mem.release()
