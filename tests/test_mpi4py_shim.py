"""`toro-mpirun --mpi4py`: unmodified mpi4py programs on toro_mpi, and nothing changed elsewhere.

mpi4py's own demos (tests/mpi4py_demos.py, fetched from its sdist with pip at test time) run and
print what they print under OpenMPI; an mpi4py-API program (tests/programs/mpi4py_surface.py)
matches the reference rank by rank; names toro_mpi lacks raise NotImplementedError naming them."""

from __future__ import annotations

import os
import subprocess
import sys

import mpi4py_demos
import pytest
from helpers import PROGRAMS, REF_ENV, TORO_ENV, ref_available

pytestmark = pytest.mark.usefixtures("shm_clean")
TORO = [sys.executable, "-m", "toro_mpi"]


def _run(cmd: list[str], timeout: float = 90, env: dict | None = None, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env or TORO_ENV, input=stdin)


@pytest.mark.timeout(180)
def test_mpi4py_api_program_matches_reference() -> None:
    prog = str(PROGRAMS / "mpi4py_surface.py")
    toro = _run([*TORO, "--mpi4py", "--oversubscribe", "-n", "3", sys.executable, prog])
    assert toro.returncode == 0, toro.stderr[-3000:]
    lines = sorted(toro.stdout.splitlines())
    assert sum(line.endswith(" ok") for line in lines) == 3, toro.stdout
    if ref_available() is not None:
        pytest.skip(f"toro_mpi ran; no reference: {ref_available()}")
    ref = _run(["mpiexec", "--oversubscribe", "-n", "3", sys.executable, prog], env=REF_ENV)
    assert ref.returncode == 0, ref.stderr[-3000:]
    assert lines == sorted(ref.stdout.splitlines())


SHIM_CHECK = "import mpi4py; print(getattr(mpi4py, 'TORO_SHIM', False), mpi4py.__file__)"


@pytest.mark.timeout(60)
def test_real_mpi4py_untouched_outside_the_mode() -> None:
    """Outside toro-mpirun, and in its ranks with --no-mpi4py-shim, `import mpi4py` is the
    installed mpi4py; in the ranks it is toro_mpi's by default (and with --mpi4py)."""
    if ref_available() is not None:
        pytest.skip(f"no real mpi4py to keep untouched: {ref_available()}")
    plain = _run([sys.executable, "-c", SHIM_CHECK])
    assert plain.stdout.startswith("False"), plain.stdout + plain.stderr
    in_job = _run([*TORO, "--no-mpi4py-shim", "-n", "1", sys.executable, "-c", SHIM_CHECK])
    assert in_job.stdout.startswith("False"), in_job.stdout + in_job.stderr
    for flags in ([], ["--mpi4py"]):
        shimmed = _run([*TORO, *flags, "-n", "1", sys.executable, "-c", SHIM_CHECK])
        assert shimmed.stdout.startswith("True") and "mpi4py_shim" in shimmed.stdout, shimmed.stdout + shimmed.stderr


MODULE_RUN = """
import mpi4py, sys
from mpi4py import MPI
import toro_mpi.MPI
assert MPI is toro_mpi.MPI and mpi4py.rc.threads is False, mpi4py.rc.threads
print(MPI.COMM_WORLD.Get_rank(), sys.argv[1:])
"""


@pytest.mark.timeout(90)
def test_python_m_mpi4py_forms(tmp_path) -> None:
    """python -m mpi4py [-rc ...] with a file, -m module, -c code; a bad option is a usage error."""
    script = tmp_path / "prog.py"
    script.write_text(MODULE_RUN)
    base = [*TORO, "--mpi4py", "-n", "2", sys.executable, "-m", "mpi4py", "-rc", "threads=False"]
    as_file = _run([*base, str(script), "a", "b"])
    assert as_file.returncode == 0 and sorted(as_file.stdout.splitlines()) == ["0 ['a', 'b']", "1 ['a', 'b']"], (
        as_file.stdout + as_file.stderr)
    path = os.pathsep.join(filter(None, (str(tmp_path), TORO_ENV.get("PYTHONPATH"))))
    as_module = _run([*base, "-m", "prog", "x"], env={**TORO_ENV, "PYTHONPATH": path})
    assert as_module.returncode == 0 and "0 ['x']" in as_module.stdout, as_module.stdout + as_module.stderr
    as_code = _run([*base, "-c", MODULE_RUN, "y"])
    assert as_code.returncode == 0 and "1 ['y']" in as_code.stdout, as_code.stdout + as_code.stderr
    bad = _run([*TORO, "--mpi4py", "-n", "1", sys.executable, "-m", "mpi4py", "--bogus"])
    assert bad.returncode == 2 and "unknown option '--bogus'" in bad.stderr, bad.stderr
    bad_rc = _run([*TORO, "--mpi4py", "-n", "1", sys.executable, "-m", "mpi4py", "-rc", "nosuch=1", "-c", "0"])
    assert bad_rc.returncode == 2 and "nosuch" in bad_rc.stderr, bad_rc.stderr


MISSING = """
from mpi4py import MPI
import numpy as np
def raises(fn, kind, text):
    try:
        fn()
    except kind as exc:
        assert text in str(exc), (text, str(exc))
        print("ok", text)
    else:
        raise AssertionError(f"no {kind.__name__} for {text}")
raises(lambda: MPI.File.Open(MPI.COMM_SELF, "/dev/null"), NotImplementedError, "MPI.File.Open")
assert MPI.File() == MPI.FILE_NULL and not MPI.FILE_NULL  # the null handle exists, as in mpi4py
raises(lambda: MPI.Open_port(), NotImplementedError, "MPI.Open_port")
raises(lambda: MPI.COMM_WORLD.Spawn("x"), NotImplementedError, "MPI.Comm.Spawn")
raises(lambda: MPI.COMM_WORLD.Revoke(), NotImplementedError, "MPI.Comm.Revoke")
raises(lambda: MPI.NOT_AN_MPI_NAME, AttributeError, "NOT_AN_MPI_NAME")
raises(lambda: MPI.COMM_WORLD.not_a_method, AttributeError, "not_a_method")
raises(lambda: MPI.COMM_WORLD.Send(np.zeros(1), dest=0.5), MPI.Exception, "rank must be an int")
raises(lambda: MPI.Prequest(None).Start(), MPI.Exception, "freed")
assert isinstance(MPI.COMM_WORLD, MPI.Intracomm) and not isinstance(MPI.COMM_WORLD, MPI.Cartcomm)
"""


@pytest.mark.timeout(60)
def test_missing_names_say_so() -> None:
    run = _run([*TORO, "--mpi4py", "-n", "1", sys.executable, "-c", MISSING])
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("ok ") == 8, run.stdout


def _demo_dir():
    try:
        return mpi4py_demos.demo_dir()
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"mpi4py's sdist could not be fetched: {exc}")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("demo", mpi4py_demos.DEMOS, ids=lambda d: d.name)
def test_mpi4py_demo(demo: mpi4py_demos.Demo) -> None:
    _demo_dir()
    if demo.mode != "ok" and ref_available() is not None:
        pytest.skip(f"no reference MPI to compare with: {ref_available()}")
    problem = mpi4py_demos.check(demo)
    assert problem is None, problem


DEFERRED_INIT = """
from mpi4py import rc
rc.initialize = False
from mpi4py import MPI
assert not MPI.Is_initialized() and not MPI.Is_finalized()
assert MPI.Init_thread(MPI.THREAD_MULTIPLE) == MPI.Query_thread()
assert MPI.Is_initialized()
try:
    MPI.Init()
except MPI.Exception as exc:
    print("second Init", exc.Get_error_class() == MPI.ERR_OTHER)
print("sum", MPI.COMM_WORLD.allreduce(1))
import sys, toro_mpi.MPI
from mpi4py.util import pkl5  # mpi4py's own pure-Python module, on top of toro_mpi
print("pkl5", pkl5.Intracomm(MPI.COMM_WORLD).Get_size(), sys.modules["mpi4py.MPI"] is toro_mpi.MPI)
MPI.Finalize()
assert MPI.Is_initialized() and MPI.Is_finalized()
"""


@pytest.mark.timeout(120)
def test_rc_initialize_false_then_init() -> None:
    run = _run([*TORO, "--mpi4py", "-n", "2", sys.executable, "-c", DEFERRED_INIT])
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(run.stdout.split("\n")).count("second Init True") == 2, run.stdout
    assert run.stdout.count("sum 2") == 2 and run.stdout.count("pkl5 2 True") == 2, run.stdout
