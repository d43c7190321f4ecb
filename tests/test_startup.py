"""A rank's start and end: the rank entry (toro_mpi.rank_main) runs a program exactly as `python`
does after preloading the runtime, so a program that hides numba still starts and compiles; the
first launch says it compiles, and Ctrl-C meanwhile ends it cleanly; ranks that the launcher
stops (deadlock, timeout, a signal) end without tracebacks."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import (
    NUMBA_CACHE,
    PROGRAMS,
    TESTS,
    TORO_ENV,
    Run,
    assert_ok,
    leftover_segments,
    program,
    run_toro,
    toro_segments,
)

PY = sys.executable
ENTRY = ("-m", "toro_mpi.rank_main")


def _python(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([PY, *args], cwd=cwd, env=TORO_ENV, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


# -- the entry runs a program as python does ---------------------------------------------------
@pytest.mark.parametrize("args", [
    ["main_probe.py", "a", "b"],
    ["main_probe.py", "raise"],
    ["main_probe.py", "exit"],
    ["-m", "main_probe", "x"],
    ["-m", "main_probe", "raise"],
    ["-c", "import sys; print(sys.argv, repr(sys.path[0]), sorted(vars(sys.modules['__main__'])))", "q"],
    ["-c", "raise KeyboardInterrupt"],
    ["missing_program.py"],
    ["-m", "missing_module"],
])
def test_entry_runs_a_program_as_python_does(args: list[str]) -> None:
    """Same stdout, stderr and exit status (Python's own for an uncaught exception, sys.exit with
    a message, KeyboardInterrupt, a missing file or module) with and without the entry."""
    plain = _python(args, PROGRAMS)
    entry = _python([*ENTRY, *args], PROGRAMS)
    assert (entry.returncode, entry.stdout, entry.stderr) == (plain.returncode, plain.stdout, plain.stderr), (
        f"python {' '.join(args)}:\n{plain}\nwith the entry:\n{entry}")


def test_entry_preloads_the_runtime() -> None:
    """Before the program runs, numba and the layers' modules are imported, toro_mpi.MPI is not
    (importing it starts the rank)."""
    code = ("import sys; mods = sys.modules; "
            "print('numba' in mods, 'toro_mpi.mpi.p2p' in mods, 'toro_mpi.coll.interpreter' in mods, "
            "'toro_mpi.MPI' in mods)")
    run = _python([*ENTRY, "-c", code], TESTS)
    assert run.returncode == 0 and run.stdout.split() == ["True", "True", "True", "False"], run


# -- a program that hides numba ------------------------------------------------------------------
@pytest.fixture(scope="module")
def uncompiled_int8(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the warm numba cache without the collective interpreter's compiled code, so a
    job using it compiles the int8 reduction (about 6 s) while the program has hidden numba."""
    cache = tmp_path_factory.mktemp("numba") / "cache"
    shutil.copytree(NUMBA_CACHE, cache, ignore=shutil.ignore_patterns("interpreter.run-*", "*.lock"))
    assert not list(cache.glob("coll_*/interpreter.run-*"))
    return str(cache)


def _check_hidden(run: Run, n: int) -> None:
    ranks = assert_ok(run, n)
    for r in range(n):
        assert "allreduce good" in ranks[r] and "numba hidden True" in ranks[r], run.explain()
    assert "recv [7.0, 7.0, 7.0]" in ranks[n - 1], run.explain()


@pytest.mark.parametrize("how", ["toro_mpi", "mpi4py"])
def test_hidden_numba_with_the_entry(how: str, uncompiled_int8: str) -> None:
    """One process per rank, the program started through the entry: it hides numba, imports MPI
    and compiles a reduction."""
    args = ["--mpi4py"] if how == "mpi4py" else []
    run = _run_entry("hide_numba", 2, *args, exports=(f"NUMBA_CACHE_DIR={uncompiled_int8}",), timeout=120)
    _check_hidden(run, 2)


def test_hidden_numba_per_rank(uncompiled_int8: str) -> None:
    """`toro-mpirun -n 2 python hide_numba.py`: the launcher starts the ranks through the entry
    (fails while the launcher runs the program directly: numba cannot be imported then)."""
    run = run_toro("hide_numba", 2, "--mpi4py", timeout=120, launcher=("-x", f"NUMBA_CACHE_DIR={uncompiled_int8}"))
    _check_hidden(run, 2)


def test_hidden_numba_hosted(uncompiled_int8: str) -> None:
    """Four ranks as green threads of two processes: the host preloads the same way."""
    run = run_toro("hide_numba", 4, "--mpi4py", timeout=120, launcher=("-x", f"NUMBA_CACHE_DIR={uncompiled_int8}"))
    _check_hidden(run, 4)


def _run_entry(prog: str, n: int, *args: str, exports: tuple[str, ...] = (), timeout: float = 60) -> Run:
    """run_toro, with the program started as `python -m toro_mpi.rank_main PROG` by hand."""
    cmd = [PY, "-m", "toro_mpi", "-n", str(n), "--timeout", str(int(timeout * 0.8)),
           *(x for e in exports for x in ("-x", e)), PY, *ENTRY, program(prog), *args]
    before = toro_segments()
    start = time.monotonic()
    proc = subprocess.run(cmd, env=TORO_ENV, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          cwd=TESTS.parent, timeout=timeout)
    run = Run(cmd, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start, 0, time.time())
    assert not leftover_segments(before, []), run.explain()
    return run


# -- ranks the launcher stops end quietly ----------------------------------------------------------
@pytest.mark.parametrize("n", [2, 4])
def test_deadlock_report_alone(n: int) -> None:
    """With stderr piped, a deadlock's report is the only thing on stderr: no rank prints a
    traceback or a note (n = 4: green threads of two processes)."""
    run = run_toro("deadlock", n, timeout=60)
    assert run.rc == 111, run.explain()
    assert "deadlock: every rank is blocked" in run.err, run.explain()
    assert "Traceback" not in run.err and "toro_mpi: rank" not in run.err, run.explain()
    assert [line for line in run.err.splitlines() if not line.startswith("toro-mpirun: ")] == [], run.explain()


def test_timeout_report_alone() -> None:
    """The --timeout report ends the job the same way: the ranks blocked in Recv say nothing."""
    run = run_toro("stuck", 2, timeout=60, launcher=("--timeout", "4"))
    assert run.rc == 110, run.explain()
    assert "Traceback" not in run.err and "toro_mpi: rank" not in run.err, run.explain()


@pytest.mark.parametrize("n", [2, 4])
def test_sigint_stop_is_quiet(n: int) -> None:
    """SIGINT to the launcher while ranks wait: exit 130, the launcher's line, no traceback."""
    cmd = [PY, "-m", "toro_mpi", "-n", str(n), "--oversubscribe", "--timeout", "50", PY, program("stuck")]
    before = toro_segments()
    proc = subprocess.Popen(cmd, env=TORO_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=TESTS.parent, start_new_session=True)
    try:
        assert proc.stdout is not None
        ready = 0
        while ready < n:  # every rank is past its Barrier: the others now wait for rank 0
            line = proc.stdout.readline()
            assert line, "the job ended before its ranks were ready"
            ready += line.endswith(" ready\n")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "caught SIGINT" in err and "Traceback" not in err and "toro_mpi: rank" not in err, err
    assert not leftover_segments(before, [proc.pid])


def test_other_rank_failure_is_named_briefly() -> None:
    """A genuine error prints its traceback; a peer that dies of the abort it causes says in one
    line which rank failed (or is stopped before it can say anything), without a traceback."""
    run = run_toro("raise_in_rank", 2, timeout=60)
    assert run.rc == 1, run.explain()
    assert run.err.count("Traceback (most recent call last)") == 1, run.explain()
    assert "RuntimeError: boom from rank 1" in run.err, run.explain()
    notes = [line for line in run.err.splitlines() if line.startswith("toro_mpi: rank")]
    assert notes in ([], ["toro_mpi: rank 0: stopped, the job is being aborted because rank 1 failed"]), run.explain()


# -- the first launch: compile notice, Ctrl-C -------------------------------------------------------
def _our_processes(marker: str) -> list[int]:
    """Pids of processes whose environment holds marker (the test's own NUMBA_CACHE_DIR)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if marker.encode() in fh.read():
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


@pytest.mark.cold
@pytest.mark.timeout(900)
def test_cold_compile_notice_and_ctrl_c(tmp_path: Path) -> None:
    """On an empty cache the launcher says it compiles; SIGINT meanwhile ends it with 130 and its
    one line (no traceback), kills the compiler, leaves nothing in /dev/shm; the next launch
    compiles the rest, says how long it took, and runs; the one after says nothing.

    Costs one cold compile (about a minute), in a cache of its own."""
    cache = str(tmp_path / "numba")
    env = {**TORO_ENV, "NUMBA_CACHE_DIR": cache}
    cmd = [PY, "-m", "toro_mpi", "-n", "2", PY, "-c", "print('ran')"]
    before = toro_segments()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path, start_new_session=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("toro-mpirun: compiling toro_mpi kernels for this machine, once"), first
        time.sleep(3)  # inside numba's compiler by now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, first + err
    assert err.splitlines() == ["toro-mpirun: caught SIGINT before the ranks started"], err
    assert out == ""
    assert not leftover_segments(before, [proc.pid])
    deadline = time.monotonic() + 10
    while _our_processes(cache) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _our_processes(cache), "the warm-up process survived the launcher"

    again = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp_path,
                           timeout=600)
    assert again.returncode == 0 and again.stdout.split() == ["ran", "ran"], again
    lines = again.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("toro-mpirun: compiling toro_mpi kernels"), again.stderr
    assert re.fullmatch(r"toro-mpirun: compiled toro_mpi kernels in \d+ s", lines[1]), again.stderr

    warm = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp_path,
                          timeout=120)
    assert (warm.returncode, warm.stdout.split(), warm.stderr) == (0, ["ran", "ran"], ""), warm
