"""toro_mpi.jit on green-thread ranks (more ranks than cores: several ranks per process), issue #20:
the jitted Jacobi solver gives the Python solver's field at -n 4 and -n 8, waits between green ranks
of one process made in jitted code complete, and a peer that finalizes during a jitted wait makes
it fail as the Python call does (tests/programs/jit_green.py), never hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import TORO_ENV, assert_ok, run_toro

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
GREEN = ("--ranks-per-core", "2")  # two ranks a process whatever the machine's core count


@pytest.mark.parametrize("n", [2, 4])
def test_jit_green_waits_same_as_python(n: int) -> None:
    """Ping-pong inside one process, a ring across both, a finalized peer: jit prints what py
    does (-n 4: two green-thread ranks a process; -n 2: a process each), and a fallback that
    finds Python state first compiles nothing (its objmode block was primed)."""
    launcher = GREEN if n == 4 else ()
    jit = assert_ok(run_toro("jit_green", n, "jit", timeout=240, launcher=launcher), n)
    py = assert_ok(run_toro("jit_green", n, "py", timeout=240, launcher=launcher), n)
    assert jit == py
    assert "pingpong 4000.0" in jit[0] and "pingpong 4000.0" in jit[1]
    assert any(x.startswith("sendrecv after python state") and x.endswith("compiled 0") for x in jit[1]), jit[1]
    for r in (0, 2) if n == 4 else (0,):
        assert any(x.startswith("dead peer error") for x in jit[r]), jit[r]


def _field(n: int, script: str, *args: str) -> np.ndarray:
    """Run a Jacobi example under toro-mpirun (green-thread ranks, two host processes) and load its
    field."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"jacobi_green_{os.getpid()}_{script}_{n}.npy"
    launcher = ("--ranks-per-core", str(n // 2), *(("--mpi4py",) if "mpi4py" in script else ()))
    cmd = [sys.executable, "-m", "toro_mpi", "-n", str(n), "--timeout", "240", *launcher, sys.executable,
           str(EXAMPLES / script), "--save", str(out), *args]
    r = subprocess.run(cmd, env={**TORO_ENV, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                       timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        return np.load(out)
    finally:
        out.unlink(missing_ok=True)


@pytest.mark.parametrize("n", [4, pytest.param(8, marks=pytest.mark.slow)])
def test_jacobi_jit_green_same_as_python(n: int) -> None:
    """The whole-jitted solver on green ranks: the Python solver's field to the last bit, with the
    convergence allreduce stopping both at the same step."""
    args = ("--nx", "40", "--ny", "32", "--steps", "3000", "--check-every", "7", "--tol", "2e-4")
    jit = _field(n, "jacobi_jit.py", *args)
    py = _field(n, "jacobi_mpi4py.py", *args)
    assert jit.shape == (34, 42)
    assert np.array_equal(jit, py)
