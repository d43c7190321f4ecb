"""MPI.buffer (mpi/memory.py): mpi4py's byte-buffer class, in process."""

from __future__ import annotations

import array

import pytest

from toro_mpi.mpi.memory import buffer


def test_empty_and_bad() -> None:
    buf = buffer()
    assert (buf.address, buf.obj, buf.nbytes, buf.readonly, len(buf)) == (0, None, 0, False, 0)
    assert memoryview(buf).shape == (0,)
    for bad in (None, 0, 0.0, [], ()):
        with pytest.raises(TypeError):
            buffer(bad)
    with pytest.raises(ValueError):
        buffer.allocate(-1)
    with pytest.raises(ValueError):
        buffer.fromaddress(0, 1)


def test_views_write_through_and_errors() -> None:
    obj = array.array("B", [1, 2, 3])
    buf = buffer.frombuffer(obj)
    buf[1:] = array.array("B", [7, 7])
    buf[0] = 9
    assert obj == array.array("B", [9, 7, 7]) and buf[-1] == 7
    assert buf[1:3].tobytes() == b"\x07\x07"
    with pytest.raises(ValueError):
        buf[0:1] = buf[1:3]
    with pytest.raises(IndexError):
        buf[::2]
    with pytest.raises(IndexError):
        buf[3]
    with pytest.raises(TypeError):
        buf[None]
    with pytest.raises(NotImplementedError):
        del buf[0]
    ro = buffer(b"abc")
    assert ro.readonly and ro.obj == b"abc"
    with pytest.raises(TypeError):
        ro[:] = 0
    assert buf.toreadonly().readonly and buf.toreadonly().address == buf.address


def test_fromaddress_cast_release() -> None:
    obj = array.array("B", [1, 2, 3])
    addr, n = obj.buffer_info()
    buf = buffer.fromaddress(addr, n)
    buf[:] = 4
    assert obj == array.array("B", [4, 4, 4])
    mem = buffer.allocate(24, True).cast("i", (2, 3))
    assert mem.shape == (2, 3) and mem[1, 2] == 0
    buf.release()
    assert (buf.address, buf.nbytes, buf.readonly, buf.obj) == (0, 0, False, None)
