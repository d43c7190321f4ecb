"""mpi4py's private module functions that its own pure-Python modules import from MPI
(mpi4py.util.pkl5 takes _commctx_intra/_commctx_inter; _comm_lock is in comm_locks.py): toro_mpi provides them
so that those modules run unchanged on top of it. Also _handleof, _addressof and _sizeof, which
mpi4py's tests use to look at an object's handle: here the handle is the object's integer handle,
its address the Python object's, and its size that of an Open MPI handle (a pointer; a status is
MPI_Status's 24 bytes)."""

from __future__ import annotations

from typing import Any


def _commctx_intra(comm: Any) -> tuple[Any, int]:
    """A private duplicate of an intracommunicator (made once, collectively, on first use) and a
    fresh tag on it: every rank calls this in the same order, so the tags agree."""
    ctx = comm.__dict__.get("_commctx")
    if ctx is None:
        dup = comm.Dup()
        dup.Set_name(f"{comm.Get_name() or 'comm'} (mpi4py private)")
        ctx = comm.__dict__["_commctx"] = [dup, 0]
    ctx[1] = (ctx[1] + 1) % (1 << 30)
    return ctx[0], ctx[1]


def _commctx_inter(comm: Any) -> tuple[Any, int, Any, bool]:
    """The intercommunicator counterpart: (private duplicate, fresh tag, intracommunicator of
    the local group, whether this is the low group), made once, collectively, on first use,
    as mpi4py's PyMPI_Commctx_inter: the groups merge with the larger one high, and the low
    group is the smaller one, or on a tie the one first in the merged communicator."""
    ctx = comm.__dict__.get("_commctx")
    if ctx is None:
        dup = comm.Dup()
        local_size, remote_size = comm.Get_size(), comm.Get_remote_size()
        merged = dup.Merge(local_size > remote_size)
        low = local_size < remote_size or (local_size == remote_size and merged.Get_rank() < local_size)
        local = merged.Split(int(low), 0)
        merged.Free()
        ctx = comm.__dict__["_commctx"] = [dup, 0, local, bool(low)]
    ctx[1] = (ctx[1] + 1) % (1 << 30)
    return ctx[0], ctx[1], ctx[2], ctx[3]


_HANDLE_SIZE = 8  # an Open MPI handle is a pointer
_STATUS_SIZE = 24  # sizeof(MPI_Status) in Open MPI


def _check_object(obj: Any, call: str) -> None:
    if obj is None or isinstance(obj, (int, float, str, bytes)):
        raise TypeError(f"{call}: expected an MPI object, got {type(obj).__name__}")


def _handleof(obj: Any) -> int:
    """The integer handle of an MPI object (a status: its address)."""
    _check_object(obj, "_handleof")
    handle = getattr(obj, "handle", None)
    return id(obj) if handle is None else int(handle)


def _addressof(obj: Any) -> int:
    """The address of an MPI object's handle (here: the Python object's)."""
    _check_object(obj, "_addressof")
    return id(obj)


def _sizeof(obj: Any) -> int:
    """The size in bytes of an MPI object's (or class's) handle."""
    cls = obj if isinstance(obj, type) else type(obj)
    if obj is None or not hasattr(cls, "py2f"):
        raise TypeError(f"_sizeof: expected an MPI object or class, got {type(obj).__name__}")
    is_status = any(c.__name__ == "Status" for c in cls.__mro__)
    return _STATUS_SIZE if is_status else _HANDLE_SIZE
