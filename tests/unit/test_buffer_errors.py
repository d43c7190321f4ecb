"""Buffers from DLPack-only arrays, and the Python exceptions bad buffer arguments raise, in-process
(no job): how mpi/buffers.py consumes DLPack capsules, with the ctypes producer of
tests/programs/_dlpack_producer.py whose capsules own their managed tensors: versioned and
unversioned capsules, renamed as consumed, each deleter run exactly once when the last view of
the memory goes (also when the tensor is refused), non-host devices, read-only tensors and
non-contiguous ones refused with BufferError; and that the errors are both the Python exception
mpi4py raises and an MPI.Exception with its error class. Against the reference:
tests/test_buffer_errors.py.
"""

from __future__ import annotations

import gc
import sys

import numpy as np
import pytest
from helpers import PROGRAMS

from toro_mpi import MPI
from toro_mpi.mpi.buffers import normalise
from toro_mpi.mpi.dlpack import KDL_CUDA_HOST, KDL_CUDA_MANAGED

sys.path.insert(0, str(PROGRAMS))
import _dlpack_producer as P  # noqa: E402 - the producer lives with the test programs


def _released() -> str:
    gc.collect()
    return P.check_ledger()


@pytest.mark.parametrize("legacy", [False, True], ids=["versioned", "unversioned"])
@pytest.mark.parametrize("order", ["C", "F", ""], ids=["c-strides", "f-strides", "null-strides"])
def test_dlpack_capsule_consumed_and_deleted_once(legacy: bool, order: str) -> None:
    """The array views the producer's memory (no copy) for as long as it lives; the deleter runs
    once, when the last view (a slice kept past the Buffer) is gone, not before."""
    src = np.arange(12.0).reshape(3, 4)
    if order == "F":
        src = np.asfortranarray(src)
    b = normalise(P.CtypesDL(src, legacy=legacy, order=order), True)
    assert b.array.ctypes.data == src.ctypes.data and b.nbytes == src.nbytes
    assert b.datatype is MPI.DOUBLE
    assert b.array.tolist() == src.ravel(order="K").tolist()  # memory order, as mpi4py sends it
    b.array[0] = -1.0
    assert src.flat[0] == -1.0
    keep = b.array[1:3]
    del b
    gc.collect()
    assert P.LIVE, "the deleter ran while a view of the memory was alive"
    del keep
    assert _released() == ""


_UNMAPPED = 0x1000  # page 1: never mapped in a Linux process


@pytest.mark.parametrize("kw, words", [
    ({"device": 2, "address": _UNMAPPED}, "CUDA device is not host memory"),
    ({"device": 10, "address": _UNMAPPED}, "ROCm device is not host memory"),
    ({"readonly": True}, "read-only"),
    ({"strides": (2,)}, "not contiguous"),
    ({"major": 2}, "version 2.0"),
])
def test_dlpack_refused_with_buffer_error(kw: dict, words: str) -> None:
    """Device memory this process cannot read (not in its mappings), a read-only tensor as a
    receive buffer, a tensor with gaps, an unknown ABI major: BufferError that is also an
    MPI.Exception(ERR_BUFFER); a capsule that was made still has its deleter run once."""
    with pytest.raises(BufferError, match=words) as info:
        normalise(P.CtypesDL(np.arange(4.0), **kw), True)
    assert isinstance(info.value, MPI.Exception) and info.value.Get_error_class() == MPI.ERR_BUFFER
    assert _released() == ""


@pytest.mark.parametrize("device", [2, 10])
def test_dlpack_device_label_on_host_memory(device: int) -> None:
    """A tensor labelled as device memory whose pointer lies in this process's memory (mpi4py's
    suite fakes GPU arrays so): accepted, as mpi4py passes the pointer on."""
    src = np.arange(4, dtype=np.int32)
    b = normalise(P.CtypesDL(src, device=device), False)
    assert b.array.tolist() == [0, 1, 2, 3]
    del b
    assert _released() == ""


@pytest.mark.parametrize("device", [KDL_CUDA_HOST, KDL_CUDA_MANAGED])
def test_dlpack_host_accessible_devices(device: int) -> None:
    """Pinned and managed host memory are host memory: accepted (capsule asked with stream=-1)."""
    src = np.arange(4, dtype=np.int32)
    b = normalise(P.CtypesDL(src, device=device), False)
    assert b.array.tolist() == [0, 1, 2, 3] and b.datatype.dtype == np.int32
    del b
    assert _released() == ""


def test_dlpack_readonly_tensor_sends() -> None:
    """A read-only versioned tensor is fine to send from, and its array is read-only."""
    b = normalise(P.CtypesDL(np.arange(3.0), readonly=True), False)
    assert not b.array.flags.writeable and b.array.tolist() == [0.0, 1.0, 2.0]
    del b
    assert _released() == ""


def test_numpy_dlpack_export_released() -> None:
    """numpy's own capsules: its deleter (which holds a reference to the array) runs once."""
    src = np.arange(5.0)
    before = sys.getrefcount(src)
    b = normalise([P.NumpyDL(src), 3, MPI.DOUBLE], False)
    assert b.array.view(np.float64).tolist() == [0.0, 1.0, 2.0]
    assert sys.getrefcount(src) == before + 1
    del b
    gc.collect()
    assert sys.getrefcount(src) == before


@pytest.mark.parametrize("spec, exc, klass", [
    ({}, TypeError, MPI.ERR_BUFFER),
    (None, TypeError, MPI.ERR_BUFFER),
    ([np.zeros(2)], ValueError, MPI.ERR_BUFFER),
    ([np.zeros(2), "zz"], KeyError, MPI.ERR_TYPE),
    ([np.zeros(2), 1.5, MPI.DOUBLE], TypeError, MPI.ERR_COUNT),
    ([np.zeros(2), -1, MPI.DOUBLE], ValueError, MPI.ERR_COUNT),
    ([np.zeros(2), (1, 3), MPI.DOUBLE], ValueError, MPI.ERR_BUFFER),
    ([np.zeros(3, np.uint8), MPI.INT], ValueError, MPI.ERR_BUFFER),
    (bytes(8), BufferError, MPI.ERR_BUFFER),
])
def test_errors_are_python_and_mpi_exceptions(spec: object, exc: type, klass: int) -> None:
    """A bad receive spec raises mpi4py's Python exception, which is also an MPI.Exception with
    an error class (so programs written for either catch it)."""
    with pytest.raises(exc) as info:
        normalise(spec, True)
    assert isinstance(info.value, MPI.Exception) and info.value.Get_error_class() == klass
    assert str(info.value).startswith("MPI_ERR_")  # not KeyError's quoted repr
