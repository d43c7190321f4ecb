"""Host memory of a DLPack-only array (`__dlpack__` / `__dlpack_device__`, no buffer protocol) as
a numpy array, consuming the capsule the way the DLPack protocol asks a consumer to.

Why not `np.from_dlpack`: numpy takes the managed tensor out of the capsule and lets the capsule
go, calling the tensor's deleter later through its own pointer. A producer whose capsule owns the
managed tensor (frees it in the capsule's destructor, as mpi4py's own test suite builds them) has
by then freed the very struct numpy calls the deleter through, and the rank dies with SIGSEGV.

Here the capsule stays alive for as long as any array views its memory: the returned array's base
is an `_Export` that holds the capsule, and when the last view goes the tensor's deleter runs,
exactly once, while the capsule (and so the struct) is still there. Consuming renames the capsule
"used_dltensor[_versioned]", so its destructor no longer calls the deleter itself.

Accepted: versioned capsules ("dltensor_versioned", DLPack >= 1.0, asked for with
`max_version=(1, 0)`) and unversioned ones ("dltensor") from producers that do not take
`max_version`; memory the CPU can address (kDLCPU, and the pinned or managed host memory of
kDLCUDAHost, kDLROCMHost, kDLCUDAManaged); C- or Fortran-contiguous tensors, presented as a 1-D
array in memory order (a message is the bytes in memory, as mpi4py sends them). Anything else
raises BufferError (an `MPI.Exception` too), as mpi4py does.
"""

from __future__ import annotations

import ctypes
import weakref
from typing import Any

import numpy as np

from ..errors import ERR_BUFFER, MPIBufferError, MPITypeError

KDL_CPU = 1
KDL_CUDA_HOST = 3
KDL_ROCM_HOST = 11
KDL_CUDA_MANAGED = 13
# Device types whose memory a host process reads and writes directly.
HOST_DEVICES = frozenset((KDL_CPU, KDL_CUDA_HOST, KDL_ROCM_HOST, KDL_CUDA_MANAGED))
_DEVICE_NAMES = {2: "CUDA", 4: "OpenCL", 7: "Vulkan", 8: "Metal", 9: "VPI", 10: "ROCm", 12: "ExtDev",
                 14: "OneAPI", 15: "WebGPU", 16: "Hexagon", 17: "MAIA"}
_READ_ONLY = 1  # DLPACK_FLAG_BITMASK_READ_ONLY of a versioned tensor's flags


# -- the DLPack C structs (dlpack.h, ABI 1.x; the unversioned struct is the 0.x one) ---------------
class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", ctypes.c_void_p)]


class _DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("version", _DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", _DLTensor),
    ]


# The deleter is called with the GIL held: a producer's deleter may drop Python references
# without taking the GIL itself.
_Deleter = ctypes.PYFUNCTYPE(None, ctypes.c_void_p)

# Own function pointers (indexing makes new ones): `ctypes.pythonapi.X` is one object shared with
# every other user in the process, who may set other argtypes on it.
_api = ctypes.pythonapi
_capsule_is_valid = _api["PyCapsule_IsValid"]
_capsule_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_is_valid.restype = ctypes.c_int
_capsule_pointer = _api["PyCapsule_GetPointer"]
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_pointer.restype = ctypes.c_void_p
_capsule_set_name = _api["PyCapsule_SetName"]
_capsule_set_name.argtypes = [ctypes.py_object, ctypes.c_void_p]
_capsule_set_name.restype = ctypes.c_int


def _immortal_c_string(text: bytes) -> int:
    """A NUL-terminated copy of text that is never freed: PyCapsule_SetName keeps the pointer,
    and a renamed capsule may outlive this module (its destructor compares names at exit)."""
    raw = _api["PyMem_RawMalloc"]
    raw.argtypes = [ctypes.c_size_t]
    raw.restype = ctypes.c_void_p
    addr = raw(len(text) + 1)
    if not addr:
        raise MemoryError("cannot allocate a capsule name")
    ctypes.memmove(addr, text + b"\0", len(text) + 1)
    return addr


_VERSIONED = b"dltensor_versioned"
_UNVERSIONED = b"dltensor"
_USED_VERSIONED = _immortal_c_string(b"used_dltensor_versioned")
_USED_UNVERSIONED = _immortal_c_string(b"used_dltensor")

# (DLDataTypeCode, bits, lanes) -> numpy dtype; anything else travels as bytes.
_DTYPES: dict[tuple[int, int, int], np.dtype] = {}
for _dt in (np.int8, np.int16, np.int32, np.int64):
    _DTYPES[(0, np.dtype(_dt).itemsize * 8, 1)] = np.dtype(_dt)
for _dt in (np.uint8, np.uint16, np.uint32, np.uint64):
    _DTYPES[(1, np.dtype(_dt).itemsize * 8, 1)] = np.dtype(_dt)
for _dt in (np.float16, np.float32, np.float64, np.longdouble):
    _DTYPES[(2, np.dtype(_dt).itemsize * 8, 1)] = np.dtype(_dt)
for _dt in (np.complex64, np.complex128, np.clongdouble):
    _DTYPES[(5, np.dtype(_dt).itemsize * 8, 1)] = np.dtype(_dt)
    # A complex number is also spelt as two float lanes.
    _DTYPES[(2, np.dtype(_dt).itemsize * 4, 2)] = np.dtype(_dt)
_DTYPES[(6, 8, 1)] = np.dtype(np.bool_)
_BYTES = np.dtype(np.uint8)


class _Export:
    """The base of an array over a consumed capsule's memory: numpy reads the array from its
    `__array_interface__`; when the last view is gone, its finalizer runs the tensor's deleter."""

    __slots__ = ("__array_interface__", "__weakref__")


def _release(capsule: Any, managed: int, versioned: bool) -> None:
    """Run the managed tensor's deleter once. `capsule` is here only to keep the capsule, which
    may own the struct `managed` points to, alive until the deleter has returned."""
    struct = (_DLManagedTensorVersioned if versioned else _DLManagedTensor).from_address(managed)
    if struct.deleter:
        _Deleter(struct.deleter)(managed)


def is_dlpack(obj: Any) -> bool:
    """Whether obj offers DLPack (mpi4py tries DLPack on any object with `__dlpack__`)."""
    try:
        return hasattr(obj, "__dlpack__")
    except Exception:  # noqa: BLE001 - a broken __getattr__ means "no", as in mpi4py
        return False


def host_array(obj: Any, writable: bool) -> np.ndarray:
    """A 1-D numpy view, in memory order, of the host memory a DLPack-only array exports.

    Raises BufferError (as MPIBufferError, ERR_BUFFER) for memory not on the host, a tensor that
    is not contiguous, a read-only tensor given as a receive buffer, or a malformed capsule."""
    name = type(obj).__name__
    try:
        device = obj.__dlpack_device__
    except AttributeError:
        raise MPITypeError(ERR_BUFFER, f"{name} has __dlpack__ but no __dlpack_device__, and is not a "
                                       "buffer") from None
    device_type = int(device()[0])
    if device_type not in HOST_DEVICES:
        kind = _DEVICE_NAMES.get(device_type, f"device type {device_type}")
        raise MPIBufferError(ERR_BUFFER, f"{name}: DLPack memory on a {kind} device is not host memory; "
                                         "toro_mpi moves host memory only (copy it to the host first)")
    capsule = _export(obj, device_type, name)
    versioned, managed = _consume(capsule, name)
    owner = _Export()
    # From here the deleter is ours to call: the finalizer calls it exactly once, when the
    # last view of the memory dies (or at exit), or now if the tensor is refused.
    done = weakref.finalize(owner, _release, capsule, managed, versioned)
    try:
        interface = _describe(managed, versioned, writable, name)
    except BaseException:
        done()
        raise
    if interface is None:  # nothing to view: no memory is kept
        done()
        return np.empty(0, _BYTES)
    owner.__array_interface__ = interface
    return np.asarray(owner)


def _export(obj: Any, device_type: int, name: str) -> Any:
    """The capsule: versioned if the producer takes max_version, else an unversioned one."""
    # A device other than the CPU gets stream=-1: "no synchronisation", the data is ready.
    extra = {} if device_type == KDL_CPU else {"stream": -1}
    try:
        try:
            return obj.__dlpack__(max_version=(1, 0), copy=False, **extra)
        except TypeError:  # a DLPack 0.x producer: no max_version, no copy
            return obj.__dlpack__(**extra)
    except BufferError as exc:
        raise MPIBufferError(ERR_BUFFER, f"{name}: DLPack export refused: {exc}") from exc


def _consume(capsule: Any, name: str) -> tuple[bool, int]:
    """(versioned, address of the managed tensor) of a fresh capsule, renamed as consumed."""
    if type(capsule).__name__ == "PyCapsule":
        for versioned, cname, used in ((True, _VERSIONED, _USED_VERSIONED), (False, _UNVERSIONED, _USED_UNVERSIONED)):
            if _capsule_is_valid(capsule, cname):
                managed = _capsule_pointer(capsule, cname)
                _capsule_set_name(capsule, used)
                return versioned, managed
    raise MPIBufferError(ERR_BUFFER, f"{name}.__dlpack__() returned no unconsumed DLPack capsule "
                                     f"({type(capsule).__name__})")


def _describe(managed: int, versioned: bool, writable: bool, name: str) -> dict | None:
    """The numpy array interface of a consumed tensor (None when it holds no bytes), checked."""
    if versioned:
        struct = _DLManagedTensorVersioned.from_address(managed)
        if struct.version.major != 1:
            raise MPIBufferError(ERR_BUFFER, f"{name}: DLPack ABI version {struct.version.major}."
                                             f"{struct.version.minor} is not 1.x")
        readonly = bool(struct.flags & _READ_ONLY)
    else:
        struct = _DLManagedTensor.from_address(managed)
        readonly = False
    t = struct.dl_tensor
    if t.device.device_type not in HOST_DEVICES:
        raise MPIBufferError(ERR_BUFFER, f"{name}: DLPack tensor on device type {t.device.device_type}, not "
                                         "host memory")
    ndim = t.ndim
    if ndim < 0:
        raise MPIBufferError(ERR_BUFFER, f"{name}: DLPack tensor with {ndim} dimensions")
    if ndim and not t.shape:
        raise MPIBufferError(ERR_BUFFER, f"{name}: DLPack tensor without a shape")
    shape = [t.shape[i] for i in range(ndim)]
    strides = [t.strides[i] for i in range(ndim)] if t.strides else None
    if any(s < 0 for s in shape) or (strides is not None and any(s < 0 for s in strides)):
        raise MPIBufferError(ERR_BUFFER, f"{name}: DLPack tensor with negative shape or strides "
                                         f"({shape}, {strides})")
    if strides is not None and not (_dense(shape, strides) or _dense(shape[::-1], strides[::-1])):
        raise MPIBufferError(ERR_BUFFER, f"{name}: DLPack tensor is not contiguous (shape {shape}, "
                                         f"strides {strides} elements)")
    if readonly and writable:
        raise MPIBufferError(ERR_BUFFER, f"{name}: a read-only DLPack tensor cannot receive")
    count = 1
    for s in shape:
        count *= s
    code, bits, lanes = t.dtype.code, t.dtype.bits, t.dtype.lanes
    dtype = _DTYPES.get((code, bits, lanes))
    if dtype is None:  # bfloat16, opaque handles, vectors: their bytes, as mpi4py passes them
        count *= (bits * lanes + 7) // 8
        dtype = _BYTES
    if count == 0:
        return None
    return {"version": 3, "shape": (count,), "typestr": dtype.str, "descr": dtype.descr,
            "data": ((t.data or 0) + t.byte_offset, readonly)}


def _dense(shape: list[int], strides: list[int]) -> bool:
    """C order (last axis fastest) without gaps; axes of extent 0 or 1 take any stride."""
    step = 1
    for extent, stride in zip(reversed(shape), reversed(strides), strict=True):
        if extent > 1 and stride != step:
            return False
        step *= extent
    return True
