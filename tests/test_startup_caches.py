"""What a rank skips at start-up when its kernels load from numba's cache (bus/compiling.py):
numba's runtime (NRT) functions come from object code cached on disk instead of an LLVM compile,
and numba's extension entry points run before a real compile only.

Each check runs in a fresh Python process (numba's runtime is initialised once per process) with
its own NUMBA_CACHE_DIR; jitted code that allocates (NRT) must work the same either way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers import NUMBA_CACHE, run_toro

REPO = Path(__file__).resolve().parent.parent

# Initialises NRT the way a rank's first kernel load does, then runs jitted code that needs it:
# arrays allocated and freed, a reflected list, an array returned to Python. Prints where NRT
# came from and the results.
NRT_WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    from numba import njit
    from numba.core import registry
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.runtime import nrtdynmod, rtsys
    from toro_mpi.bus import compiling

    compiled = []
    real_create = nrtdynmod.create_nrt_module

    def create(ctx):
        compiled.append(1)
        return real_create(ctx)

    nrtdynmod.create_nrt_module = create
    ctx = registry.cpu_target.target_context
    with global_compiler_lock:
        compiling.init_runtime(ctx)
    assert rtsys._init

    @njit
    def work(n):
        a = np.arange(n) * 2.0
        b = a[::2].copy()
        return a, [int(x) for x in b], b.sum()

    a, lst, s = work(int(sys.argv[1]))
    print(json.dumps({"compiled": len(compiled), "a": a.tolist(), "list": lst, "sum": float(s)}))
""")


def _run(code: str, cache: Path, *args: str) -> str:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
                          timeout=240, cwd=cache)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def _nrt_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("toro_mpi-nrt-*.bin"))


def test_nrt_compiled_once_then_loaded(tmp_path: Path) -> None:
    import json

    n = 9
    expect = np.arange(n) * 2.0
    first = json.loads(_run(NRT_WORKER, tmp_path, str(n)))
    assert first["compiled"] == 1 and len(_nrt_files(tmp_path)) == 1
    second = json.loads(_run(NRT_WORKER, tmp_path, str(n)))
    assert second["compiled"] == 0, "NRT compiled again although its object code was cached"
    for got in (first, second):
        assert got["a"] == expect.tolist()
        assert got["list"] == [int(x) for x in expect[::2]]
        assert got["sum"] == float(expect[::2].sum())


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_nrt_bad_cache_file_compiles_and_rewrites(tmp_path: Path, damage: str) -> None:
    import json

    json.loads(_run(NRT_WORKER, tmp_path, "4"))
    (path,) = _nrt_files(tmp_path)
    good = path.read_bytes()
    path.write_bytes(good[:len(good) // 2] if damage == "truncated" else b"not a toro_mpi nrt file")
    again = json.loads(_run(NRT_WORKER, tmp_path, "4"))
    assert again["compiled"] == 1 and again["a"] == (np.arange(4) * 2.0).tolist()
    assert path.read_bytes() == good  # the same object code, written back whole
    assert json.loads(_run(NRT_WORKER, tmp_path, "4"))["compiled"] == 0


# A cache=True kernel registered as a toro_mpi module, guarded as the runtime guards its own;
# prints whether numba's extension entry points had run after calling it, then after a user's
# own jitted function.
HOOK_WORKER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    import kernels_for_hook
    sys.modules["toro_mpi.kernels_for_hook"] = kernels_for_hook
    from numba import njit
    from numba.core import entrypoints
    from toro_mpi.bus.compiling import guard_compiles

    guard_compiles()
    value = kernels_for_hook.triple(14)
    after_kernel = entrypoints._already_initialized

    @njit
    def user(x):
        return x + 1

    print(value, after_kernel, user(1), entrypoints._already_initialized)
""")


def test_extension_entry_points_only_before_a_real_compile(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "kernels_for_hook.py").write_text("from numba import njit\n\n\n@njit(cache=True)\n"
                                              "def triple(x):\n    return 3 * x\n")
    # The first process compiles the kernel: numba's extensions are initialised first, as numba
    # itself would. The second loads it from the cache: no extension scan until a real compile.
    assert _run(HOOK_WORKER, tmp_path, str(src)) == "42 True 2 True"
    assert _run(HOOK_WORKER, tmp_path, str(src)) == "42 False 2 True"


def test_job_with_cached_runtime_runs_user_jit_code() -> None:
    """A 2-rank job whose ranks load NRT from the cache: a user's jitted function that allocates
    feeds an Allreduce; every rank gets the sum computed here."""
    r = run_toro("startup_user_jit.py", n=2, timeout=180)
    assert r.rc == 0, r.err
    expect = (np.arange(6) * 2.0 * 2).tolist()
    lines = sorted(line for line in r.out.splitlines() if line.strip())
    assert lines == [f"{rank} {expect}" for rank in range(2)], r.out
    assert list(Path(NUMBA_CACHE).glob("toro_mpi-nrt-*.bin"))  # written by this job or an earlier one
