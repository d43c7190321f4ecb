"""toro-mpirun --compare: whole runs of `python -m toro_mpi --compare ...` against mpiexec +
mpi4py on tests/programs/compare_*.py. The comparison itself (pure functions):
tests/unit/test_compare.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import TESTS, TORO_ENV, Run, leftover_segments, program, ref_available, toro_segments


# -- whole runs -----------------------------------------------------------------------------------
def compare(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> Run:
    """Run `python -m toro_mpi --compare ARGS` to its end; no segment may be left behind."""
    cmd = [sys.executable, "-m", "toro_mpi", "--compare", *args]
    before = toro_segments()  # a stale segment of an earlier, killed job is not this run's leak
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env or TORO_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=TESTS.parent, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"--compare did not finish within {timeout} s{Run(cmd, -1, out, err, timeout, proc.pid).explain()}")
    run = Run(cmd, proc.returncode, out, err, time.monotonic() - start, proc.pid)
    left = leftover_segments(before, [proc.pid])
    assert not left, f"segments left in /dev/shm: {left}{run.explain()}"
    return run


needs_ref = pytest.mark.skipif(ref_available() is not None, reason=f"no reference MPI: {ref_available()}")
DIFFER = program("compare_differ")


@needs_ref
@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_run_identical(n: int) -> None:
    """Same lines on both sides; -x reaches both (the program prints the variable); 3 ranks on
    2 cores means oversubscribed and unbound on the reference side."""
    run = compare("-n", str(n), "--oversubscribe", "--timeout", "60", "-x", "COMPARE_WORD=hello",
                  "python", program("compare_same"))
    assert run.rc == 0, run.explain()
    assert run.out.startswith(f"identical: {n} ranks, {4 * n} lines"), run.explain()


@needs_ref
@pytest.mark.timeout(120)
def test_run_different_line() -> None:
    """Only rank 1 differs: its first line names the MPI."""
    run = compare("-n", "2", "--timeout", "60", "python", DIFFER, "impl")
    assert run.rc == 1, run.explain()
    assert run.out.splitlines() == [
        "different: 1 of 2 ranks printed something else under toro_mpi than under mpiexec + mpi4py",
        "rank 1: line 1 differs",
        "  toro_mpi:          '1 impl toro'",
        "  mpiexec + mpi4py:  '1 impl mpi4py'",
    ], run.explain()


@needs_ref
@pytest.mark.timeout(120)
def test_run_line_counts_differ() -> None:
    run = compare("-n", "2", "--timeout", "60", "python", DIFFER, "extra")
    assert run.rc == 1, run.explain()
    assert "rank 0: line 1 differs; 5 lines under toro_mpi, 4 under mpiexec + mpi4py" in run.out, run.explain()
    assert "rank 1" not in run.out


@needs_ref
@pytest.mark.timeout(200)
def test_run_tolerance() -> None:
    """Floats 1e-9 apart (relatively): different without a tolerance, or with one too tight."""
    args = ("-n", "2", "--timeout", "60", "python", DIFFER, "noise")
    plain = compare(*args)
    assert plain.rc == 1 and "0 value 0.142857143" in plain.out, plain.explain()
    loose = compare("--compare-tolerance", "1e-6", *args)
    assert loose.rc == 0 and loose.out.startswith("identical (within relative 1e-06, absolute 0)"), loose.explain()
    tight = compare("--compare-tolerance", "1e-12,1e-300", *args)
    assert tight.rc == 1, tight.explain()


@needs_ref
@pytest.mark.timeout(120)
@pytest.mark.parametrize("side, name, note", [
    ("toro", "toro_mpi", ""),
    ("ref", "mpiexec + mpi4py", " (mpiexec exited with code 3)"),
])
def test_run_fails(side: str, name: str, note: str) -> None:
    """One side's rank 1 exits 3: that side is named with its status, exit 3."""
    run = compare("-n", "2", "--timeout", "60", "python", DIFFER, f"fail-{side}")
    assert run.rc == 3, run.explain()
    assert f"--compare: the {name} run failed with exit status 3{note}\n" in run.err, run.explain()
    assert run.err.count("run failed") == 1, run.explain()
    assert run.out == ""


@needs_ref
@pytest.mark.timeout(120)
def test_killed_reference_leaves_no_shared_memory(tmp_path) -> None:
    """The reference hangs and --timeout kills it: Open MPI's shared-memory files lived in a
    private directory of /dev/shm, which is gone afterwards with everything in it."""
    note = tmp_path / "note"
    run = compare("-n", "2", "--timeout", "4", "-x", f"COMPARE_NOTE={note}", "python", DIFFER, "hang-ref")
    assert run.rc != 0 and "timeout" in run.err, run.explain()
    where, *files = note.read_text().split()
    assert where.startswith("/dev/shm/toro_mpi-ref."), where
    assert any(f.startswith("sm_segment.") for f in files), files  # the directory was in use
    assert not os.path.exists(where), run.explain()


@pytest.mark.timeout(60)
def test_no_mpiexec(tmp_path) -> None:
    """Without mpiexec on PATH: say so, exit 2, run nothing."""
    run = compare("-n", "1", "python", program("compare_same"), env={**TORO_ENV, "PATH": str(tmp_path)})
    assert run.rc == 2, run.explain()
    assert "mpiexec is not on PATH" in run.err and "running under" not in run.err, run.explain()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args, message", [
    (("--compare-tolerance", "x"), "--compare-tolerance: expected REL or REL,ABS"),
    (("--tag-output",), "--tag-output does not apply"),
])
def test_usage_errors(args: tuple[str, ...], message: str) -> None:
    run = compare(*args, "-n", "1", "python", program("compare_same"))
    assert run.rc == 2 and message in run.err, run.explain()


@pytest.mark.timeout(60)
def test_compare_options_need_compare() -> None:
    cmd = [sys.executable, "-m", "toro_mpi", "--compare-sorted", "-n", "1", "python", program("compare_same")]
    proc = subprocess.run(cmd, env=TORO_ENV, capture_output=True, text=True, timeout=50)
    assert proc.returncode == 2 and "go with --compare" in proc.stderr
