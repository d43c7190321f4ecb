"""MPI.Info: ordered string key/value hints, with mpi4py's calls and its mapping protocol.

toro_mpi reads no hints (every call that takes `info` accepts one and keeps it where MPI says it
is kept, e.g. Comm.Set_info/Get_info), but the objects behave fully: Create, Create_env, Dup,
Free, Get, Set, Delete, Get_nkeys, Get_nthkey, and len/in/iter/[]/keys/values/items/get/pop/
popitem/update/clear/copy as in mpi4py (on INFO_NULL the reading ones see an empty mapping and
the writing ones raise KeyError). INFO_ENV holds the environment MPI defines for it.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import ERR_ARG, ERR_INFO, ERR_INFO_KEY, ERR_INFO_NOKEY, ERR_INFO_VALUE, MPIException
from .handles import Handle, Ref

MAX_INFO_KEY = 36
MAX_INFO_VAL = 256
_MISSING = object()


class _Items(dict):
    """An Info's state: its keys and values, in the order they were set."""


def _key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"an info key must be a str, got {type(key).__name__}")
    if not key or len(key) > MAX_INFO_KEY:
        raise MPIException(ERR_INFO_KEY, f"info key {key!r} must have 1..{MAX_INFO_KEY} characters")
    return key


def _value(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"an info value must be a str, got {type(value).__name__}")
    if not value or len(value) > MAX_INFO_VAL:
        raise MPIException(ERR_INFO_VALUE, f"info value must have 1..{MAX_INFO_VAL} characters")
    return value


class Info(Handle):
    """Info object: Info() is INFO_NULL, Info(info) another handle to info's object."""

    _kind = "Info"

    @classmethod
    def _state_type(cls) -> type:
        return _Items

    def _items(self) -> _Items:
        if self._ref is None:
            raise MPIException(ERR_INFO, "invalid info object (MPI.INFO_NULL)")
        return self._ref.state

    def _writable(self) -> _Items:
        items = self._items()
        if self._ref is not None and self._ref.predefined:
            raise MPIException(ERR_INFO, f"MPI.{self._ref.name} cannot be changed")
        return items

    # -- MPI calls ---------------------------------------------------------------------------
    @classmethod
    def Create(cls, items: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> Info:
        """A new info object, empty or holding `items` (a mapping or (key, value) pairs)."""
        info = cls._new(Ref(_Items()))
        if items is not None:
            if not isinstance(items, (Mapping, Iterable)) or isinstance(items, (str, bytes)):
                raise TypeError(f"Info.Create: items must be a mapping or (key, value) pairs, "
                                f"got {type(items).__name__}")
            info.update(items)
        return info

    @classmethod
    def Create_env(cls, args: Any = None) -> Info:
        """A new info object holding the environment (as INFO_ENV), for the command `args`."""
        info = cls._new(Ref(_Items(_env_items(args))))
        return info

    def Free(self) -> None:
        """Free the info object; this handle becomes INFO_NULL."""
        if self._ref is None:
            raise MPIException(ERR_INFO, "Free: invalid info object (MPI.INFO_NULL)")
        if self._ref.predefined:
            raise MPIException(ERR_INFO, f"Free: cannot free MPI.{self._ref.name}")
        self._ref = None

    def Dup(self) -> Info:
        """A new info object with the same keys and values."""
        return type(self)._new(Ref(_Items(self._items())))

    def Get(self, key: str) -> str | None:
        """The value of key, or None if it is not set."""
        return self._items().get(_key(key))

    def Set(self, key: str, value: str) -> None:
        """Set key to value."""
        self._writable()[_key(key)] = _value(value)

    def Delete(self, key: str) -> None:
        """Remove key (ERR_INFO_NOKEY if it is not set)."""
        items = self._writable()
        key = _key(key)
        if key not in items:
            raise MPIException(ERR_INFO_NOKEY, f"info key {key!r} is not set")
        del items[key]

    def Get_nkeys(self) -> int:
        """Number of keys set."""
        return len(self._items())

    def Get_nthkey(self, n: int) -> str:
        """The n-th key (in the order the keys were set)."""
        keys = list(self._items())
        if not 0 <= n < len(keys):
            raise MPIException(ERR_ARG, f"Get_nthkey: {n} is not in 0..{len(keys) - 1}")
        return keys[n]

    # -- mapping protocol (mpi4py's Python methods) ------------------------------------------
    def _view(self) -> dict[str, str]:
        """The items to read: none for INFO_NULL."""
        return {} if self._ref is None else self._ref.state

    def _mutable(self) -> _Items:
        if self._ref is None:
            raise KeyError("MPI.INFO_NULL holds no keys")
        return self._writable()

    def __len__(self) -> int:
        return len(self._view())

    def __contains__(self, key: object) -> bool:
        return key in self._view()

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._view()))

    def __getitem__(self, key: str) -> str:
        if self._ref is None:
            raise KeyError(key)
        value = self.Get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: str) -> None:
        self._mutable()
        self.Set(key, value)

    def __delitem__(self, key: str) -> None:
        items = self._mutable()
        if key not in items:
            raise KeyError(key)
        del items[key]

    def get(self, key: str, default: Any = None) -> Any:
        """The value of key, or default."""
        return self._view().get(key, default)

    def keys(self) -> list[str]:
        """The keys, in order."""
        return list(self._view().keys())

    def values(self) -> list[str]:
        """The values, in key order."""
        return list(self._view().values())

    def items(self) -> list[tuple[str, str]]:
        """The (key, value) pairs, in order."""
        return list(self._view().items())

    def update(self, items: Any = (), **kwds: str) -> None:
        """Set the keys of a mapping or of (key, value) pairs, then the keyword arguments."""
        self._mutable()
        pairs = items.items() if isinstance(items, (Mapping, Info)) else items
        for key, value in pairs:
            self.Set(key, value)
        for key, value in kwds.items():
            self.Set(key, value)

    def pop(self, key: str, *default: Any) -> Any:
        """Remove key and return its value (or default; KeyError without one)."""
        if self._ref is None or key not in self._ref.state:
            if default:
                return default[0]
            raise KeyError(key)
        return self._writable().pop(key)

    def popitem(self) -> tuple[str, str]:
        """Remove and return the last (key, value) pair set."""
        items = self._mutable()
        if not items:
            raise KeyError("popitem(): info object is empty")
        return items.popitem()

    def copy(self) -> Info:
        """A new info object with the same items (INFO_NULL for INFO_NULL)."""
        if self._ref is None:
            return type(self)()
        return self.Dup()

    def clear(self) -> None:
        """Remove every key (nothing to do on INFO_NULL)."""
        if self._ref is not None:
            self._writable().clear()

    def _pickle(self) -> Any:
        return (_rebuild, (type(self), self.items()))

    def __repr__(self) -> str:
        if self._ref is None:
            return "<Info MPI_INFO_NULL>"
        return f"<Info {dict(self._ref.state)!r}>"


def _rebuild(cls: type, items: list[tuple[str, str]]) -> Info:
    """Unpickle an Info: a new object with the items."""
    info = cls.Create()
    info.update(items)
    return info


def _env_items(args: Any = None, size: int = 1) -> dict[str, str]:
    """The keys MPI defines for MPI_INFO_ENV, for the command `args` (default: this program)."""
    if args is None or isinstance(args, str):
        argv = [args] if isinstance(args, str) else [sys.executable, *sys.argv]
    else:
        argv = [str(a) for a in args] or [sys.executable, *sys.argv]
    env = {
        "command": argv[0] if argv else sys.executable,
        "argv": " ".join(argv[1:]),
        "maxprocs": str(size),
        "soft": str(size),
        "host": socket.gethostname(),
        "arch": platform.machine(),
        "wdir": os.getcwd(),
        "thread_level": "MPI_THREAD_SINGLE",
    }
    return {k: v[:MAX_INFO_VAL] for k, v in env.items() if v}


def make_env(size: int) -> Info:
    """INFO_ENV for a job of `size` ranks (toro_mpi.MPI names it a constant)."""
    return Info._new(Ref(_Items(_env_items(None, size))))


def as_info(info: Any, call: str) -> Info:
    """An `info` argument checked: an Info (INFO_NULL included); None is taken as INFO_NULL."""
    if info is None:
        return INFO_NULL
    if not isinstance(info, Info):
        raise TypeError(f"{call}: info must be an MPI.Info, got {type(info).__name__}")
    return info


INFO_NULL = Info()
