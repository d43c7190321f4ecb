"""Host memory of a DLPack-only array (`__dlpack__` / `__dlpack_device__`, no buffer protocol) as
a numpy array, borrowing the capsule the way mpi4py does (asdlpack.pxi).

The capsule is borrowed, never consumed: it is not renamed "used_dltensor[_versioned]" and its
deleter is never called from here. The returned array's base (an `_Export`) holds the capsule for
as long as any view of the memory lives; when the capsule dies, its own destructor runs the
deleter, as the DLPack protocol asks of a capsule nobody consumed. The managed tensor struct is
read only inside `host_array`, while the capsule and the producer are both alive.

Why not consume it (rename the capsule and call the deleter when the last view goes), as
toro_mpi did before: the deleter then runs through the struct at some later time, from a
finalizer or the garbage collector. A producer whose struct does not outlive it (mpi4py's own
test suite keeps the struct in the producer object and hands out capsules that own nothing) has
freed it by then, and the rank dies with SIGSEGV in the deleter call; the same capsule returned
twice (also in that suite) cannot be consumed twice either. Nor `np.from_dlpack`: numpy consumes
the capsule and calls the deleter later through its own pointer, with the same crash.

Accepted: versioned capsules ("dltensor_versioned", DLPack >= 1.0, asked for with
`max_version=(1, 0)`) and unversioned ones ("dltensor") from producers that do not take
`max_version`; memory the CPU can address (kDLCPU, and the pinned or managed host memory of
kDLCUDAHost, kDLROCMHost, kDLCUDAManaged); C- or Fortran-contiguous tensors, presented as a 1-D
array in memory order (a message is the bytes in memory, as mpi4py sends them). Anything else
raises BufferError (an `MPI.Exception` too), as mpi4py does; a malformed `__dlpack_device__()`
raises mpi4py's TypeError / ValueError / OverflowError.
"""

from __future__ import annotations

import ctypes
import operator
from typing import Any

import numpy as np

from ..errors import ERR_BUFFER, MPIBufferError, MPITypeError, MPIValueError
from . import cai

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


# Own function pointers (indexing makes new ones): `ctypes.pythonapi.X` is one object shared with
# every other user in the process, who may set other argtypes on it.
_api = ctypes.pythonapi
_capsule_is_valid = _api["PyCapsule_IsValid"]
_capsule_is_valid.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_is_valid.restype = ctypes.c_int
_capsule_pointer = _api["PyCapsule_GetPointer"]
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_pointer.restype = ctypes.c_void_p
_VERSIONED = b"dltensor_versioned"
_UNVERSIONED = b"dltensor"

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
    """The base of an array over a borrowed capsule's memory: numpy reads the array from its
    `__array_interface__`; `capsule` keeps the producer's export alive while any view lives."""

    __slots__ = ("__array_interface__", "capsule")


def is_dlpack(obj: Any) -> bool:
    """Whether obj offers DLPack (mpi4py tries DLPack on any object with `__dlpack__`)."""
    try:
        return hasattr(obj, "__dlpack__")
    except Exception:  # noqa: BLE001 - a broken __getattr__ means "no", as in mpi4py
        return False


def host_array(obj: Any, writable: bool) -> np.ndarray:
    """A 1-D numpy view, in memory order, of the host memory a DLPack-only array exports.

    Raises BufferError (as MPIBufferError, ERR_BUFFER) for memory not on the host, a tensor that
    is not contiguous, a read-only tensor given as a receive buffer, or a malformed capsule; the
    TypeError / ValueError / OverflowError of mpi4py for a malformed `__dlpack_device__()`."""
    name = type(obj).__name__
    try:
        device = obj.__dlpack_device__
    except AttributeError:
        raise MPITypeError(ERR_BUFFER, f"{name} has __dlpack__ but no __dlpack_device__, and is not a "
                                       "buffer") from None
    device_type = _device_type(device, name)
    capsule = _export(obj, device_type, name)
    try:
        versioned, managed = _borrow(capsule, name)
        interface = _describe(managed, versioned, writable, name)
        if interface is not None and device_type not in HOST_DEVICES:
            _check_mapped(interface, device_type, name)
    except BaseException:
        # Drop the capsule here, not while the error unwinds this frame: its destructor may be
        # Python code (ctypes), which cannot run with an exception pending.
        del capsule
        raise
    if interface is None:  # nothing to view: the capsule need not be kept
        del capsule
        return np.empty(0, _BYTES)
    owner = _Export()
    owner.capsule = capsule
    owner.__array_interface__ = interface
    return np.asarray(owner)


def on_host(obj: Any) -> bool:
    """Whether a DLPack object's memory is CPU-accessible by its device type (kDLCPU and the
    pinned or managed host kinds), as mpi4py's buffer decides whether it allows element access."""
    return _device_type(obj.__dlpack_device__, type(obj).__name__) in HOST_DEVICES


def _device_type(device: Any, name: str) -> int:
    """The device type of `__dlpack_device__()`, checked as mpi4py converts the pair: TypeError
    for no callable or no pair of integers, ValueError for a tuple of another length,
    OverflowError for values out of the C types' range."""
    try:
        device_type, device_id = device()
        device_type, device_id = operator.index(device_type), operator.index(device_id)
    except TypeError as exc:
        raise MPITypeError(ERR_BUFFER, f"{name}.__dlpack_device__: {exc}") from exc
    except ValueError as exc:
        raise MPIValueError(ERR_BUFFER, f"{name}.__dlpack_device__: {exc}") from exc
    if not 0 <= device_type < 1 << 32 or not -(1 << 31) <= device_id < 1 << 31:
        raise OverflowError(f"{name}.__dlpack_device__: device {(device_type, device_id)} out of range")
    return device_type


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


def _borrow(capsule: Any, name: str) -> tuple[bool, int]:
    """(versioned, address of the managed tensor) of an unconsumed capsule, left as it is."""
    if type(capsule).__name__ == "PyCapsule":
        for versioned, cname in ((True, _VERSIONED), (False, _UNVERSIONED)):
            if _capsule_is_valid(capsule, cname):
                managed = _capsule_pointer(capsule, cname)
                if managed:
                    return versioned, managed
    raise MPIBufferError(ERR_BUFFER, f"{name}.__dlpack__() returned no unconsumed DLPack capsule "
                                     f"({type(capsule).__name__})")


def _describe(managed: int, versioned: bool, writable: bool, name: str) -> dict | None:
    """The numpy array interface of a borrowed tensor (None when it holds no bytes), checked."""
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
    if not t.data:
        raise MPIBufferError(ERR_BUFFER, f"{name}: DLPack tensor of {count} elements at address NULL")
    return {"version": 3, "shape": (count,), "typestr": dtype.str, "descr": dtype.descr,
            "data": ((t.data or 0) + t.byte_offset, readonly)}


def _check_mapped(interface: dict, device_type: int, name: str) -> None:
    """Memory of a device type that is not host memory passes only when it lies in this process's
    readable mappings (as cai.py: a device buffer is not there; a host buffer labelled so is)."""
    address, nbytes = interface["data"][0], interface["shape"][0] * np.dtype(interface["typestr"]).itemsize
    if not cai.mapped(address, nbytes):
        kind = _DEVICE_NAMES.get(device_type, f"device type {device_type}")
        raise MPIBufferError(ERR_BUFFER, f"{name}: DLPack memory on a {kind} device is not host memory; "
                                         "toro_mpi moves host memory only (copy it to the host first)")


def _dense(shape: list[int], strides: list[int]) -> bool:
    """C order (last axis fastest) without gaps; axes of extent 0 or 1 take any stride."""
    step = 1
    for extent, stride in zip(reversed(shape), reversed(strides), strict=True):
        if extent > 1 and stride != step:
            return False
        step *= extent
    return True
