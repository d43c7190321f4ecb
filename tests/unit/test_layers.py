"""The layer contract (README "Architecture", `[tool.importlinter]` in pyproject.toml) holds, and
the warm-up's list of kernel sources names every module that defines jitted code.

`lint-imports` also runs in .ci/run after the suite; running it here too makes the default
`python -m pytest` fail on a wrong-way import, a function-level one included. import-linter is in
the `test` extra, so it is required here, not skipped.
"""

from __future__ import annotations

import re
import subprocess
import sys

import importlinter  # noqa: F401 - required (the `test` extra): fail loudly when missing
from helpers import TESTS

ROOT = TESTS.parent
PACKAGE = ROOT / "toro_mpi"

# What makes a module's code jitted: numba compiles it and caches it by that file's path.
_JIT = re.compile(r"@(njit|jit|intrinsic|overload|cfunc|generated_jit)\b|\bnjit\(|\bnumba\.jit\(")


def test_layer_contract_holds() -> None:
    """`lint-imports` keeps every contract of pyproject.toml (run from the repo root, where it
    finds them; no cache, so nothing is written into the checkout)."""
    run = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()",
         "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"lint-imports failed:\n{run.stdout}\n{run.stderr}"
    assert "0 broken" in run.stdout, run.stdout


def test_kernel_sources_name_every_jitted_module() -> None:
    """toro_mpi.warm re-warms the numba cache when a file of KERNEL_SOURCES changes: a module
    defining jitted code that is missing there would keep stale compiled code after a change."""
    from toro_mpi.warm import KERNEL_SOURCES

    jitted = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
              if _JIT.search(path.read_text())}
    assert jitted, "no jitted module found: the pattern no longer matches how kernels are written"
    missing = jitted - set(KERNEL_SOURCES)
    assert not missing, f"jitted but not in toro_mpi.warm.KERNEL_SOURCES: {sorted(missing)}"
    for rel in KERNEL_SOURCES:
        assert (PACKAGE / rel).is_file(), f"KERNEL_SOURCES names a missing file: {rel}"
