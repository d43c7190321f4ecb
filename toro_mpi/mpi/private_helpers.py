"""mpi4py's private module functions that its own pure-Python modules import from MPI
(mpi4py.util.pkl5 takes _comm_lock and _commctx_intra/_commctx_inter): toro_mpi provides them
so that those modules run unchanged on top of it."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any

_TABLE_LOCK = threading.Lock()


def _comm_lock_table(comm: Any) -> dict[Hashable, Any]:
    """The communicator's table of locks (key -> lock), created on first use."""
    with _TABLE_LOCK:
        table = comm.__dict__.get("_comm_locks")
        if table is None:
            table = comm.__dict__["_comm_locks"] = {}
        return table


def _comm_lock(comm: Any, key: Hashable | None = None) -> Any:
    """The communicator's lock for `key`, which mpi4py's modules hold around a multi-message
    exchange. Reentrant: a rank's green threads share one OS thread, so a plain lock held by one
    green thread blocked in a receive would deadlock the others instead of merely waiting."""
    table = _comm_lock_table(comm)
    with _TABLE_LOCK:
        lock = table.get(key)
        if lock is None:
            lock = table[key] = threading.RLock()
        return lock


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
    """The intercommunicator counterpart: toro_mpi has no intercommunicators yet."""
    raise NotImplementedError("MPI._commctx_inter (intercommunicators) is not implemented by toro_mpi")
