"""mpi4py's communicator locks: `MPI._comm_lock_table(comm)` and `MPI._comm_lock(comm, key)`.

mpi4py keeps, per communicator, a table of `threading.Lock` objects by key ("bcast", "recv",
...) and holds one around each multi-message exchange of its object calls (and of
`mpi4py.util.pkl5`), so two threads sharing a communicator do not interleave their messages.
The table belongs to the communicator, not to one Python handle of it: every handle
(`MPI.Intracomm(comm)`) sees the same table, as their shared state is one dict.

Here the threads that share a rank are green threads on one OS thread, so a contended lock must
not be waited for by blocking (the holder, parked in a receive, would never run again): the
locks are the plain `threading.Lock` mpi4py stores, and they are taken cooperatively, by
polling `acquire(blocking=False)` from the rank's scheduler while the other green threads run.
`_comm_lock` returns the lock in a small wrapper that takes it that way in `with`, which is how
mpi4py's modules use it.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

_TABLE_LOCK = threading.Lock()  # creating a table or a lock: never held across a wait
_LOCK_WAIT = ("comm lock", -2, 0)  # what a green thread waiting for a lock is blocked in

F = TypeVar("F", bound=Callable[..., Any])


def _comm_lock_table(comm: Any) -> dict[Hashable, Any]:
    """Internal communicator lock table (key -> threading.Lock), created on first use."""
    state = comm.__dict__  # shared by every handle of the communicator
    table = state.get("_comm_locks")
    if table is None:
        with _TABLE_LOCK:
            table = state.setdefault("_comm_locks", {})
    return table


def lock_of(comm: Any, key: Hashable) -> Any:
    """The communicator's `threading.Lock` for key, created on first use."""
    table = _comm_lock_table(comm)
    lock = table.get(key)
    if lock is None:
        with _TABLE_LOCK:
            lock = table.setdefault(key, threading.Lock())
    return lock


def acquire(comm: Any, lock: Any) -> None:
    """Take lock, letting the rank's other green threads run while another one holds it."""
    if lock.acquire(False):
        return
    engine = getattr(comm, "_engine", None)
    sched = getattr(engine, "sched", None)
    if sched is None:  # no scheduler (a null communicator): nothing else can run meanwhile
        lock.acquire()
        return
    sched.wait(lambda: lock.acquire(False), _LOCK_WAIT)  # the condition takes it when it holds


class CommLock:
    """A communicator's lock as `_comm_lock` gives it: `with` takes it cooperatively (see the
    module docstring); `lock` is the `threading.Lock` of the communicator's table."""

    __slots__ = ("comm", "lock")

    def __init__(self, comm: Any, lock: Any) -> None:
        self.comm = comm
        self.lock = lock

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock (a blocking take lets the rank's other green threads run meanwhile)."""
        if not blocking or timeout != -1:
            return self.lock.acquire(blocking, timeout)
        acquire(self.comm, self.lock)
        return True

    def release(self) -> None:
        """Release the lock."""
        self.lock.release()

    def locked(self) -> bool:
        """Whether some green thread holds the lock."""
        return self.lock.locked()

    def __enter__(self) -> CommLock:
        acquire(self.comm, self.lock)
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()


def _comm_lock(comm: Any, key: Hashable | None = None) -> CommLock:
    """Create/get communicator lock."""
    return CommLock(comm, lock_of(comm, key))


def locked(key: str) -> Callable[[F], F]:
    """Decorate an object call of a communicator to hold the communicator's lock `key` while it
    runs, as mpi4py does around its object collectives."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            lock = lock_of(self, key)
            acquire(self, lock)
            try:
                return fn(self, *args, **kwargs)
            finally:
                lock.release()

        return call  # type: ignore[return-value]

    return wrap
