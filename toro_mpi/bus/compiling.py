"""Compile a kernel specialisation once per machine, not once per rank process.

The launcher warms numba's on-disk cache for the common dtypes (warm.py); any other
specialisation compiles on first use. Ranks reach the same first use together, so on a cold cache
every rank process compiled the same code at the same time: 8 processes on 2 cores took minutes
for what one process does in seconds. `compile_once` takes an exclusive lock on a file in the
cache directory around the compile: the first process compiles and writes the cache, the others
wait, then find it in numba's on-disk index (numba looks there before compiling) and load it.

The lock is flock(2) on a file in the cache directory (NUMBA_CACHE_DIR, else numba's default
__pycache__ next to these sources): the kernel releases it when its holder exits, however it
exits. Where the file cannot be created, compiling goes on without it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

_LOCK_NAME = "toro_mpi-compile.lock"
_depth = 0  # compile_once calls in progress in this process (the lock is taken by the outermost)


def _lock_path() -> Path:
    cache = os.environ.get("NUMBA_CACHE_DIR")
    return Path(cache) / _LOCK_NAME if cache else Path(__file__).resolve().parent / "__pycache__" / _LOCK_NAME


def _open_lock() -> int | None:
    path = _lock_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None


def compile_once(dispatcher: Any, sig: tuple) -> Any:
    """dispatcher.compile(sig)'s entry point; compiled under the machine-wide lock unless this
    process has it already."""
    global _depth
    done = dispatcher.overloads.get(tuple(sig))
    if done is not None:
        return done.entry_point
    # flock locks belong to an open file: a nested call taking it again through another open
    # would wait for itself. Only the outermost call locks.
    fd = _open_lock() if _depth == 0 else None
    _depth += 1
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        return dispatcher.compile(sig)
    finally:
        _depth -= 1
        if fd is not None:
            os.close(fd)  # releases the lock
