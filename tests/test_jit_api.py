"""toro_mpi.jit: MPI calls from numba-jitted code, differential against the Python API and
against mpi4py + Open MPI (tests/programs/jit_api.py), with the fallbacks into the Python engine
forced, green-thread ranks, and the Jacobi example against a plain numpy run."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import TORO_ENV, assert_ok, ref_available, run_ref, run_toro

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# Lines only the jitted run prints (mixed jitted / Python calls, forced fallbacks); each is
# checked for its expected content below.
_JIT_ONLY = ("queued behind", "in order", "mixed", "unexpected", "type", "fallbacks")


def _common(lines: dict[int, list[str]]) -> dict[int, list[str]]:
    return {r: [x for x in ls if not x.startswith(_JIT_ONLY)] for r, ls in lines.items()}


def _jit_checks(lines: dict[int, list[str]]) -> None:
    assert "queued behind True" in lines[0]
    assert "type True error 3" in lines[0]  # ERR_TYPE, as the Python Recv raises it
    assert "in order 0 True ('ok', 2, 1048576) True" in lines[1]
    assert "mixed [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]" in lines[1]
    assert "unexpected 2.0 ('ok', 0, 21, 1) 1.0" in lines[1]
    assert any(x.startswith("allreduce loop 0 ") for x in lines[0])
    for r, ls in lines.items():
        # to oneself: 2 fallbacks, the message itself; PROC_NULL: none, its empty status
        assert f"fallbacks 2 ('ok', {r}, 40, 1) 0 ('ok', -2, -1, 0)" in ls, ls
        # small allreduces run from records after their first call (none for green threads)
        assert ("fallbacks-free allreduce records 3 False" in ls
                or "fallbacks-free allreduce records 0 True" in ls), ls


@pytest.mark.parametrize("n", [2, 3])
def test_jit_same_as_python_api(n: int) -> None:
    jit = assert_ok(run_toro("jit_api", n, "jit", timeout=240), n)
    py = assert_ok(run_toro("jit_api", n, "py", timeout=240), n)
    _jit_checks(jit)
    assert _common(jit) == py


def test_jit_same_as_mpi4py() -> None:
    if ref_available() is not None:
        pytest.skip(ref_available())
    jit = assert_ok(run_toro("jit_api", 3, "jit", timeout=240), 3)
    ref = assert_ok(run_ref("jit_api", 3, "py", timeout=240), 3)
    assert _common(jit) == ref


def test_jit_green_thread_ranks() -> None:
    """-n 4 on 2 cores: ranks hosted as green threads; jitted calls that must wait park in the
    scheduler through their Python fallback."""
    jit = assert_ok(run_toro("jit_api", 4, "jit", timeout=300, launcher=("--ranks-per-core", "2")), 4)
    py = assert_ok(run_toro("jit_api", 4, "py", timeout=300, launcher=("--ranks-per-core", "2")), 4)
    _jit_checks(jit)
    assert _common(jit) == py


@pytest.mark.slow
@pytest.mark.parametrize("n, launcher", [(8, ()), (4, ("--process-per-rank",)), (8, ("--process-per-rank",))])
def test_jit_oversubscribed(n: int, launcher: tuple[str, ...]) -> None:
    """More ranks than cores both ways: green threads (4 per process at -n 8, the default) and one
    process per rank; the jitted run must print what the Python calls do."""
    jit = assert_ok(run_toro("jit_api", n, "jit", timeout=600, launcher=launcher), n)
    py = assert_ok(run_toro("jit_api", n, "py", timeout=600, launcher=launcher), n)
    _jit_checks(jit)
    assert _common(jit) == py


def _jacobi(n: int, script: str, *args: str, launcher: tuple[str, ...] = ()) -> np.ndarray:
    """Run an example under toro-mpirun and load the field it saved."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"jacobi_{os.getpid()}_{script}_{n}.npy"
    if "mpi4py" in script:
        launcher = ("--mpi4py", *launcher)
    cmd = [sys.executable, "-m", "toro_mpi", "-n", str(n), "--oversubscribe", "--timeout", "240", *launcher,
           sys.executable, str(EXAMPLES / script), "--save", str(out), *args]
    return _field_of(cmd, {**TORO_ENV, "PYTHONPATH": str(ROOT)}, out)


def _field_of(cmd: list[str], env: dict[str, str], out: Path) -> np.ndarray:
    """Run an example's command (it saves its field to out) and load that field."""
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        return np.load(out)
    finally:
        out.unlink(missing_ok=True)


@pytest.mark.parametrize("n", [2, 3, 4])  # 4 on 2 cores: green-thread ranks
def test_jacobi_jit_same_as_numpy(n: int) -> None:
    sys.path.insert(0, str(EXAMPLES))
    try:
        from jacobi_common import reference
    finally:
        sys.path.pop(0)
    args = ("--nx", "37", "--ny", "29", "--steps", "2000", "--check-every", "10", "--tol", "3e-4")
    want, steps = reference(37, 29, 2000, 10, 3e-4)
    got = _jacobi(n, "jacobi_jit.py", *args)
    assert steps < 2000  # the convergence check stopped it early, at the same step
    assert got.shape == want.shape
    assert np.array_equal(got, want)  # to the last bit
    got_py = _jacobi(n, "jacobi_mpi4py.py", *args)
    assert np.array_equal(got_py, want)


def _jacobi_ref(n: int, script: str, *args: str) -> np.ndarray:
    """Run an example under mpiexec (Open MPI) and load the field it saved."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"jacobi_ref_{os.getpid()}_{script}_{n}.npy"
    env = {**TORO_ENV, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "PYTHONPATH": str(ROOT)}
    cmd = ["mpiexec", "--oversubscribe", "--mca", "btl", "tcp,self", "-n", str(n), sys.executable,
           str(EXAMPLES / script), "--save", str(out), *args]
    return _field_of(cmd, env, out)


@pytest.mark.parametrize("script", ["jacobi_mpi4py.py", "jacobi_numba_mpi.py"])
def test_jacobi_under_mpiexec_same_as_numpy(script: str) -> None:
    if ref_available() is not None:
        pytest.skip(ref_available())
    # Looked up, not imported: importing numba_mpi imports mpi4py.MPI, which starts an Open MPI
    # singleton in the test process, and a singleton leaves its file in /dev/shm at exit.
    if script == "jacobi_numba_mpi.py" and importlib.util.find_spec("numba_mpi") is None:
        pytest.skip("numba_mpi is not installed")
    sys.path.insert(0, str(EXAMPLES))
    try:
        from jacobi_common import reference
    finally:
        sys.path.pop(0)
    want, _ = reference(37, 29, 2000, 10, 3e-4)
    got = _jacobi_ref(3, script, "--nx", "37", "--ny", "29", "--steps", "2000", "--check-every", "10", "--tol", "3e-4")
    assert np.array_equal(got, want)


def test_jit_code_of_another_build_refuses_to_run() -> None:
    """A handle whose build word differs from the build the calls were compiled from (what a
    user's numba cache of older toro_mpi code meets): every call returns ERR_STALE_BUILD and
    moves nothing, check() raises MPI.Exception(ERR_OTHER) saying why; the real handle works."""
    n = 2
    lines = assert_ok(run_toro("jit_stale", n, timeout=240), n)
    for r in range(n):
        assert f"{r} stale codes [True, True, True, True, True, True] buffer [0.0, {r + 1.0}, 1.0, 0.0]" in [
            f"{r} {x}" for x in lines[r]], lines[r]
        assert "stale raises True True" in lines[r]
        left = (r - 1) % n + 1.0
        assert f"real codes [0, 0, 0, 0, 0, 0] buffer [{left}, {r + 1.0}, 1.0, {float(n)}]" in lines[r], lines[r]
