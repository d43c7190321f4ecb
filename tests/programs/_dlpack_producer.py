"""DLPack-only host arrays for the tests: a producer built with ctypes and a wrapper over numpy's.

`CtypesDL` exports its numpy array's memory in capsules whose *capsule* owns the managed tensor
struct: the struct is freed (and poisoned first, as a debugging allocator would) by the capsule's
destructor, which also runs the tensor's deleter if no consumer took the capsule. A consumer that
keeps the tensor after dropping the capsule (np.from_dlpack does) then calls a deleter through
freed memory and crashes; one that follows the protocol works. Every export gets a serial number;
`LEDGER[serial]` counts how often its deleter ran and `LIVE` holds what the export keeps alive
until then, so a test checks that each consumed capsule's deleter ran exactly once.

`CtypesDL(..., legacy=True)` is a DLPack 0.x producer (no keywords, unversioned capsules);
otherwise a 1.x one (versioned capsules when asked with max_version, unversioned if not).
`NumpyDL` exposes only numpy's own `__dlpack__`/`__dlpack_device__`.

Limit: the capsule destructor is a Python callback, so it cannot run while an exception is
pending (a consumer that drops a capsule on its error path, as mpi4py does when it refuses a
tensor, gets a SystemError); refused tensors are tested with numpy's capsules across
implementations and with these only in-process (tests/test_buffer_errors.py).
"""

from __future__ import annotations

import ctypes
import itertools

import numpy as np


class Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class Device(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int32)]


class DType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class Tensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", Device), ("ndim", ctypes.c_int32), ("dtype", DType),
                ("shape", ctypes.POINTER(ctypes.c_int64)), ("strides", ctypes.POINTER(ctypes.c_int64)),
                ("byte_offset", ctypes.c_uint64)]


DeleterFn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class Managed(ctypes.Structure):
    _fields_ = [("dl_tensor", Tensor), ("manager_ctx", ctypes.c_void_p), ("deleter", DeleterFn)]


class ManagedVersioned(ctypes.Structure):
    _fields_ = [("version", Version), ("manager_ctx", ctypes.c_void_p), ("deleter", DeleterFn),
                ("flags", ctypes.c_uint64), ("dl_tensor", Tensor)]


READ_ONLY = 1
KIND_CODES = {"i": 0, "u": 1, "f": 2, "c": 5, "b": 6}

# Private function pointers with argtypes of our own (pythonapi's attributes are shared objects).
_api = ctypes.pythonapi
_new = _api["PyCapsule_New"]
_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_new.restype = ctypes.py_object
_set_context = _api["PyCapsule_SetContext"]
_set_context.argtypes = [ctypes.py_object, ctypes.c_void_p]
_set_context.restype = ctypes.c_int
# The destructor gets the dying capsule as a raw pointer: wrapping it in a Python reference
# would revive it.
_is_valid = _api["PyCapsule_IsValid"]
_is_valid.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_is_valid.restype = ctypes.c_int
_pointer = _api["PyCapsule_GetPointer"]
_pointer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_pointer.restype = ctypes.c_void_p
_context = _api["PyCapsule_GetContext"]
_context.argtypes = [ctypes.c_void_p]
_context.restype = ctypes.c_void_p
_incref = _api["Py_IncRef"]
_incref.argtypes = [ctypes.py_object]
_incref.restype = None
_decref = _api["Py_DecRef"]
_decref.argtypes = [ctypes.c_void_p]
_decref.restype = None

VERSIONED_NAME = b"dltensor_versioned"
UNVERSIONED_NAME = b"dltensor"

LEDGER: dict[int, int] = {}  # export serial -> times its deleter ran
LIVE: dict[int, tuple] = {}  # export serial -> what the export keeps alive until its deleter runs
_serials = itertools.count(1)
_STRUCTS: dict[int, ctypes.Structure] = {}  # id of a capsule's struct -> the struct (for its destructor)


def _deleted(serial: int) -> None:
    LEDGER[serial] = LEDGER.get(serial, 0) + 1
    LIVE.pop(serial, None)


@DeleterFn
def _delete_unversioned(addr: int) -> None:
    _deleted(Managed.from_address(addr).manager_ctx)


@DeleterFn
def _delete_versioned(addr: int) -> None:
    _deleted(ManagedVersioned.from_address(addr).manager_ctx)


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _destroy_capsule(capsule: int) -> None:
    for name, layout in ((VERSIONED_NAME, ManagedVersioned), (UNVERSIONED_NAME, Managed)):
        if _is_valid(capsule, name):  # never consumed: the deleter is still ours to call
            addr = _pointer(capsule, name)
            layout.from_address(addr).deleter(addr)
            break
    owner = _context(capsule)
    if owner:
        struct = _STRUCTS.pop(owner, None)
        if struct is not None:
            ctypes.memset(ctypes.addressof(struct), 0xDD, ctypes.sizeof(struct))  # poison, then free
        _decref(owner)


# The destructor outlives every capsule, module teardown included.
_incref(_destroy_capsule)
_incref(_delete_unversioned)
_incref(_delete_versioned)


_made = [0]  # capsules made so far


def check_ledger() -> str:
    """'' if every capsule made so far had its deleter run exactly once, else what is wrong."""
    wrong = {s: n for s, n in LEDGER.items() if n != 1}
    missing = _made[0] - len(LEDGER)
    if wrong or missing or LIVE:
        return f"deleters: {missing} never ran, ran other than once {wrong}, still live {sorted(LIVE)}"
    return ""


class CtypesDL:
    """A DLPack-only view of a numpy array's memory, exported by hand with ctypes."""

    def __init__(self, array: np.ndarray, *, legacy: bool = False, readonly: bool = False, device: int = 1,
                 order: str = "C", strides: tuple[int, ...] | None = None, major: int = 1,
                 address: int | None = None) -> None:
        self.array = array
        self.address = address  # a data pointer of its own (a device's memory, not mapped here)
        self.legacy = legacy
        self.readonly = readonly
        self.device = device
        self.order = order  # "C": explicit C strides, "F": Fortran strides, "": NULL strides
        self.strides = strides  # elements; overrides order
        self.major = major

    def __dlpack_device__(self) -> tuple[int, int]:
        return (self.device, 0)

    def __dlpack__(self, stream=None, **kwargs):  # noqa: ANN001, ANN003, ANN204
        if self.legacy:  # a DLPack 0.x producer: __dlpack__(stream=None) and nothing else
            if kwargs:
                raise TypeError(f"__dlpack__() got an unexpected keyword argument {next(iter(kwargs))!r}")
            return self._capsule(False)
        max_version = kwargs.get("max_version")
        return self._capsule(max_version is not None and max_version[0] >= 1)

    def _capsule(self, versioned: bool):  # noqa: ANN202
        a = self.array
        serial = next(_serials)
        _made[0] += 1
        shape = (ctypes.c_int64 * max(1, a.ndim))(*a.shape)
        if self.strides is not None:
            st = self.strides
        elif self.order == "F":
            st = tuple(int(np.prod(a.shape[:i])) for i in range(a.ndim))
        elif self.order == "C":
            st = tuple(int(np.prod(a.shape[i + 1:])) for i in range(a.ndim))
        else:
            st = None
        strides = None if st is None else (ctypes.c_int64 * max(1, a.ndim))(*st)
        struct = ManagedVersioned() if versioned else Managed()
        t = struct.dl_tensor
        t.data = self.address if self.address is not None else (a.ctypes.data if a.size else None)
        t.device = Device(self.device, 0)
        t.ndim = a.ndim
        t.dtype = DType(KIND_CODES[a.dtype.kind], a.dtype.itemsize * 8, 1)
        t.shape = ctypes.cast(shape, ctypes.POINTER(ctypes.c_int64))
        t.strides = ctypes.cast(strides, ctypes.POINTER(ctypes.c_int64)) if strides is not None else None
        t.byte_offset = 0
        struct.manager_ctx = serial
        if versioned:
            struct.version = Version(self.major, 0)
            struct.flags = READ_ONLY if self.readonly else 0
            struct.deleter = _delete_versioned
        else:
            struct.deleter = _delete_unversioned
        LIVE[serial] = (a, shape, strides)
        capsule = _new(ctypes.addressof(struct), VERSIONED_NAME if versioned else UNVERSIONED_NAME,
                       ctypes.cast(_destroy_capsule, ctypes.c_void_p))
        # The capsule owns the struct: one reference, dropped by its destructor.
        _STRUCTS[id(struct)] = struct
        _incref(struct)
        _set_context(capsule, id(struct))
        return capsule


class NumpyDL:
    """Only numpy's own DLPack export of an array (no buffer protocol)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __dlpack__(self, **kwargs):  # noqa: ANN003, ANN204
        return self.array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.array.__dlpack_device__()
