"""DLPack capsules are borrowed, as mpi4py borrows them (no job): producers that break the
"struct lives until its deleter runs" rule, as mpi4py's own test suite (test_msgspec.py,
dlpackimpl.py) builds them, must not crash a rank.

That suite's producer keeps the managed tensor struct in the producer object and hands out
capsules without a destructor, the same capsule twice, a capsule someone else consumed, and
malformed `__dlpack_device__` results. toro_mpi used to consume each capsule and call the deleter
through the struct when the last view of the memory died: after the producer was gone, that read
freed memory and the rank died with SIGSEGV (test_msgspec.py under toro-mpirun). Here the struct
is poisoned when its producer dies, as a debugging allocator would, so the old way crashes every
time; that case runs in a subprocess, so a crash is a failure, not the end of the test session.
"""

from __future__ import annotations

import ctypes
import gc
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import PROGRAMS

from toro_mpi import MPI
from toro_mpi.mpi.dlpack import host_array

sys.path.insert(0, str(PROGRAMS))
import _dlpack_producer as P  # noqa: E402 - the DLPack structs live with the test programs

_new = ctypes.pythonapi["PyCapsule_New"]
_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_new.restype = ctypes.py_object
_set_name = ctypes.pythonapi["PyCapsule_SetName"]
_set_name.argtypes = [ctypes.py_object, ctypes.c_char_p]
_set_name.restype = ctypes.c_int
# Names a consumer gives a capsule it took (kept here: a capsule keeps the pointer to its name).
_USED = {True: ctypes.c_char_p(b"used_dltensor"), False: ctypes.c_char_p(b"used_dltensor_versioned")}

DELETED: list[int] = []  # manager_ctx of every deleter call


@P.DeleterFn
def _count_deleter(addr: int) -> None:
    DELETED.append(P.Managed.from_address(addr).manager_ctx)


@P.DeleterFn
def _count_deleter_versioned(addr: int) -> None:
    DELETED.append(P.ManagedVersioned.from_address(addr).manager_ctx)


class StructInProducer:
    """mpi4py's DLPackCPUBuf: one managed tensor, owned by this object; every `__dlpack__` call
    returns a new capsule over it that owns nothing (no destructor). When this object dies its
    struct is poisoned (0xDD), then freed."""

    def __init__(self, array: np.ndarray, legacy: bool = False) -> None:
        self.array = array
        self.legacy = legacy
        self.shape = (ctypes.c_int64 * 1)(array.size)
        self.managed = P.Managed() if legacy else P.ManagedVersioned()
        t = self.managed.dl_tensor
        t.data = array.ctypes.data
        t.device = P.Device(1, 0)
        t.ndim = 1
        t.dtype = P.DType(P.KIND_CODES[array.dtype.kind], array.dtype.itemsize * 8, 1)
        t.shape = ctypes.cast(self.shape, ctypes.POINTER(ctypes.c_int64))
        self.managed.manager_ctx = id(self)
        if legacy:
            self.managed.deleter = _count_deleter
        else:
            self.managed.version = P.Version(1, 0)
            self.managed.deleter = _count_deleter_versioned

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)

    def __dlpack__(self, stream=None, **kwargs):  # noqa: ANN001, ANN003, ANN204
        if self.legacy and kwargs:
            raise TypeError("a DLPack 0.x producer takes no keywords")
        name = P.UNVERSIONED_NAME if self.legacy else P.VERSIONED_NAME
        return _new(ctypes.addressof(self.managed), name, None)

    def __del__(self) -> None:
        ctypes.memset(ctypes.addressof(self.managed), 0xDD, ctypes.sizeof(self.managed))


_VIEW_OUTLIVES_PRODUCER = textwrap.dedent("""
    import gc, sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    from unit.test_dlpack_borrow import DELETED, StructInProducer
    from toro_mpi.mpi.buffers import normalise
    for legacy in (False, True):
        for case in ("refcount", "cycle", "exit"):
            src = np.arange(6.0)
            producer = StructInProducer(src, legacy=legacy)
            b = normalise(producer, True)
            view = b.array[2:]
            del b
            if case == "cycle":  # the view dies in a garbage cycle, after its producer
                loop = [view]
                loop.append(loop)
                del view
            del producer  # the struct is poisoned and freed: nothing may read it any more
            gc.collect()
            if case == "refcount":
                assert view.tolist() == [2.0, 3.0, 4.0, 5.0]
                del view
            elif case == "cycle":
                del loop
            else:
                KEEP = view  # alive until the interpreter exits
            gc.collect()
    assert DELETED == [], DELETED  # a borrowed capsule's deleter is never called by toro_mpi
    print("survived")
""")


def test_view_outliving_its_producer_does_not_crash() -> None:
    """Views (a slice kept past the Buffer) die after the producer that owned the tensor struct:
    by reference count, in a garbage cycle, at interpreter exit. Used to be SIGSEGV."""
    run = subprocess.run([sys.executable, "-X", "faulthandler", "-c",
                          _VIEW_OUTLIVES_PRODUCER.format(tests=str(PROGRAMS.parent))],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "survived", (run.returncode, run.stdout, run.stderr)


@pytest.mark.parametrize("legacy", [False, True], ids=["versioned", "unversioned"])
def test_same_capsule_twice_then_consumed_elsewhere(legacy: bool) -> None:
    """mpi4py's testCapsule: the same capsule from every `__dlpack__` call serves again and again
    (it is borrowed, so still unconsumed); once someone else consumed it, BufferError; a
    `__dlpack__` returning None, BufferError."""
    src = np.arange(4, dtype=np.int32)
    producer = StructInProducer(src, legacy=legacy)
    capsule = producer.__dlpack__()
    producer.__dlpack__ = lambda *_a, **_kw: capsule
    for _ in range(3):
        assert host_array(producer, True).tolist() == [0, 1, 2, 3]
    gc.collect()
    assert DELETED == []
    _set_name(capsule, _USED[legacy])
    for _ in range(2):
        with pytest.raises(BufferError, match="no unconsumed DLPack capsule") as info:
            host_array(producer, False)
        assert isinstance(info.value, MPI.Exception) and info.value.Get_error_class() == MPI.ERR_BUFFER
    producer.__dlpack__ = lambda *_a, **_kw: None
    with pytest.raises(BufferError):
        host_array(producer, False)
    del producer.__dlpack__
    assert host_array(producer, False).tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("device, exc", [
    (None, TypeError),
    (lambda: None, TypeError),
    (lambda: (None, 0), TypeError),
    (lambda: (1, None), TypeError),
    (lambda: (1.0, 0), TypeError),
    (lambda: (1,), ValueError),
    (lambda: (1, 0, 1), ValueError),
    (lambda: (-1, 0), OverflowError),
    (lambda: (1, 1 << 31), OverflowError),
])
def test_malformed_dlpack_device(device: object, exc: type) -> None:
    """mpi4py's testDevice: the exception mpi4py raises converting `__dlpack_device__()` to
    (unsigned device_type, int32 device_id); no capsule is asked for."""
    producer = StructInProducer(np.arange(4, dtype=np.int32))
    producer.__dlpack_device__ = device
    with pytest.raises(exc):
        host_array(producer, False)
    del producer.__dlpack_device__
    assert host_array(producer, False).tolist() == [0, 1, 2, 3]


def test_refused_tensors_leave_the_struct_alone() -> None:
    """Bad tensors of mpi4py's suite (version 0, negative ndim, shape or strides, no shape, not
    contiguous, read-only receive buffer, NULL data): BufferError, struct never touched after."""
    src = np.arange(8, dtype=np.int32)
    producer = StructInProducer(src)
    t, version = producer.managed.dl_tensor, producer.managed.version
    shape = (ctypes.c_int64 * 3)(2, 2, 2)
    strides = (ctypes.c_int64 * 3)(4, 2, 1)

    def cube(*elements: int) -> None:
        t.ndim, t.shape, t.strides = 3, shape, strides
        strides[:] = elements

    cases = [
        (lambda: setattr(version, "major", 0), "version 0.0"),
        (lambda: setattr(t, "ndim", -1), "-1 dimensions"),
        (lambda: setattr(t, "shape", None), "without a shape"),
        (lambda: cube(-1, 2, 1), "negative"),
        (lambda: cube(4, 1, 2), "not contiguous"),
        (lambda: (setattr(t, "ndim", 0), setattr(t, "data", None)), "NULL"),
    ]
    cube(4, 2, 1)
    assert host_array(producer, False).tolist() == list(range(8))  # C order
    cube(1, 2, 4)
    assert host_array(producer, False).tolist() == list(range(8))  # Fortran order
    t.ndim, t.shape, t.strides = 1, producer.shape, None
    for spoil, words in cases:
        saved = bytes(producer.managed)
        spoil()
        with pytest.raises(BufferError, match=words):
            host_array(producer, False)
        ctypes.memmove(ctypes.addressof(producer.managed), saved, len(saved))
    producer.managed.flags = P.READ_ONLY
    assert host_array(producer, False).tolist() == list(range(8))
    with pytest.raises(BufferError, match="read-only"):
        host_array(producer, True)
    del producer
    gc.collect()
    assert DELETED == []
