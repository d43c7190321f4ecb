"""Rank processes that need the same uncached kernel specialisation at once compile it once
(bus/compiling.py): the first takes the lock and compiles, the others load its cache entry."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

WORKER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from numba import types
    import kernels
    from toro_mpi.bus.compiling import compile_once
    go, mode, patience = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    cache = kernels.slow_to_compile._cache
    looked, save = cache.load_overload, cache.save_overload

    def load_and_tell(sig, ctx):
        found = looked(sig, ctx)
        (go.parent / f"looked-{os.getpid()}").touch()
        return found

    def save_after_the_other_looked(sig, cres):
        # Hold the cache entry back until the other process has looked for it (or `patience`
        # runs out): this makes the race deterministic instead of a matter of scheduling.
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline:
            if any(m.name != f"looked-{os.getpid()}" for m in go.parent.glob("looked-*")):
                break
            time.sleep(0.005)
        save(sig, cres)

    cache.load_overload, cache.save_overload = load_and_tell, save_after_the_other_looked
    while not go.exists():
        time.sleep(0.001)
    if mode == "locked":
        compile_once(kernels.slow_to_compile, (types.int64,))
    else:
        kernels.slow_to_compile.compile((types.int64,))
    stats = kernels.slow_to_compile.stats
    print(sum(stats.cache_misses.values()), sum(stats.cache_hits.values()))
""")

KERNELS = textwrap.dedent("""
    from numba import njit

    @njit(cache=True)
    def slow_to_compile(n):
        total = 0
        for i in range(n):
            for j in range(i):
                total += (i * j) % 7 if i & 1 else (i + j) % 5
        return total
""")


def _race(tmp: Path, mode: str, patience: float) -> list[tuple[int, int]]:
    """Two processes compile the same specialisation together; their (misses, hits).

    Each process holds its cache entry back until the other has looked in the cache, for at most
    `patience` seconds, so without the lock both always miss; with it, the second process cannot
    look until the first has saved, and the wait runs out."""
    (tmp / "kernels.py").write_text(KERNELS)
    (tmp / "worker.py").write_text(WORKER)
    go = tmp / "go"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp / "cache"), "PYTHONPATH": f"{tmp}{os.pathsep}"
           f"{Path(__file__).resolve().parent.parent}"}
    procs = [subprocess.Popen([sys.executable, str(tmp / "worker.py"), str(go), mode, str(patience)], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(3)  # both have imported numba and wait for the go file
    go.touch()
    outs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    return [(int(m), int(h)) for m, h in outs]


@pytest.mark.timeout(120)
def test_simultaneous_compiles_compile_once(tmp_path: Path) -> None:
    results = _race(tmp_path, "locked", patience=3.0)
    assert sorted(results) == [(0, 1), (1, 0)], f"(misses, hits) per process: {results}"


@pytest.mark.timeout(120)
def test_without_the_lock_both_compile(tmp_path: Path) -> None:
    """The race above is real: numba alone compiles in both processes when both look in the
    cache before either saves (which the held-back save arranges every time)."""
    results = _race(tmp_path, "plain", patience=60.0)
    assert results == [(1, 0), (1, 0)], f"(misses, hits) per process: {results}"
