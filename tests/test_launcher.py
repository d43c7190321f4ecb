"""toro-mpirun, run as a user runs it: `python -m toro_mpi ...` in a subprocess.

The rank programs here do not use the MPI layer: they read TORO_MPI_* and, where a test needs
it, attach to the bus segment by hand.
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import posix_ipc
import pytest
from helpers import Run, pid_alive

from toro_mpi.launcher.environ import default_numba_cache_dir
from toro_mpi.launcher.plan import assign_hosts

LAUNCHER = [sys.executable, "-m", "toro_mpi"]
CORES = sorted(os.sched_getaffinity(0))
NCORES = len(CORES)
# A fixed cache directory, so numba compiles the bus kernels once and every later run reuses them.
NUMBA_CACHE = os.environ.get("NUMBA_CACHE_DIR") or default_numba_cache_dir(os.environ)
ENV = {**os.environ, "NUMBA_CACHE_DIR": NUMBA_CACHE}

# Rank snippets (python -c). Each prints its pid first so the test can check it is gone afterwards.
PRINT_ENV = """
import json, os
keys = [k for k in os.environ if k.startswith("TORO_MPI_") or k in ("NUMBA_CACHE_DIR", "FOO", "BAZ")]
os.write(1, (json.dumps({"pid": os.getpid(), "cpus": sorted(os.sched_getaffinity(0)),
                         **{k: os.environ[k] for k in keys}}) + "\\n").encode())
"""
FAIL_RANK_1 = """
import os, sys, tempfile, time
rank = int(os.environ["TORO_MPI_RANK"])
os.write(1, f"pid {os.getpid()}\\n".encode())
# Rank 1 fails only once rank 0 has printed its pid (the test checks that pid is gone after).
started = os.path.join(tempfile.gettempdir(), f"toro-test-{os.environ['TORO_MPI_LAUNCHER_PID']}-rank0")
if rank == 0:
    open(started, "w").close()
if rank == 1:
    end = time.monotonic() + 20
    while not os.path.exists(started) and time.monotonic() < end:
        time.sleep(0.01)
    os.unlink(started)
    ACTION
time.sleep(30)
# Only if nobody stopped this rank: the tests check this line never appears.
os.write(1, f"rank {rank} slept 30 s\\n".encode())
"""
ATTACH = """
import os, time
from toro_mpi.bus import layout as L
from toro_mpi.bus.segment import Segment
rank, name = int(os.environ["TORO_MPI_RANK"]), os.environ["TORO_MPI_SEGMENT"]
os.write(1, f"pid {os.getpid()}\\n".encode())
seg = Segment.attach(name)
seg.register(rank)
"""


def rank_pids(text: str) -> list[int]:
    """The pids ranks printed as `pid N` lines or JSON objects."""
    pids = [int(p) for p in re.findall(r"^(?:\[\d+\] )?pid (\d+)$", text, re.M)]
    pids += [json.loads(line)["pid"] for line in text.splitlines() if line.startswith("{")]
    return pids


def check_clean(launcher_pid: int, pids: list[int]) -> None:
    """Nothing of the job remains: no segment of this launcher, no rank process."""
    assert glob.glob(f"/dev/shm/toro_mpi.{launcher_pid}.*") == []
    assert [p for p in pids if pid_alive(p)] == []


@pytest.fixture(scope="session")
def fast_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Defaults, minus warming the numba cache (the tests' fixed cache dir is warm already)."""
    path = tmp_path_factory.mktemp("cfg") / "fast.toml"
    path.write_text("[launcher]\nwarm_cache = false\nkill_grace = 0.5\n")
    return path


@pytest.fixture
def mpirun(fast_config: Path):
    """Run the launcher to completion; check it left no segment and no rank behind."""

    def run(*args: str, config: Path | None = fast_config, env: dict[str, str] | None = None,
            stdin: str | None = None, timeout: float = 30) -> Run:
        cmd = [*LAUNCHER, *(["--config", str(config)] if config else []), *args]
        start = time.monotonic()
        proc = subprocess.Popen(cmd, env=env or ENV, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        result = Run(cmd, proc.returncode, out, err, time.monotonic() - start, proc.pid)
        check_clean(proc.pid, rank_pids(out))
        return result

    return run


def records(out: str) -> dict[int, dict]:
    """Rank -> the JSON object PRINT_ENV printed."""
    objs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {int(o["TORO_MPI_RANK"]): o for o in objs}


# -- options without ranks ------------------------------------------------------------------
def test_help_and_version() -> None:
    """--help shows the usage, --version the package version."""
    help_ = subprocess.run([*LAUNCHER, "--help"], capture_output=True, text=True, timeout=30)
    assert help_.returncode == 0 and "toro-mpirun [options]" in help_.stdout
    for flag in ("--bind-to", "--oversubscribe", "--tag-output", "--timeout", "--cleanup", "-np"):
        assert flag in help_.stdout
    script = shutil.which("toro-mpirun")  # the console script, once `pip install -e .` ran
    for cmd in [LAUNCHER] + ([[script]] if script else []):
        version = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=30)
        assert version.returncode == 0 and "0.1.0" in version.stdout


def test_usage_errors(mpirun) -> None:
    """No program, a bad -n, --cleanup with a program: argparse errors, exit 2."""
    assert mpirun().rc == 2
    assert mpirun("-n", "0", "true").rc == 2
    assert mpirun("--cleanup", "true").rc == 2
    bad = mpirun("-x", "1A=2", "true")
    assert bad.rc == 2 and "1A" in bad.err
    huge = mpirun("-n", "5000", "--oversubscribe", "true")
    assert huge.rc == 2 and "GiB of shared memory" in huge.err


def test_program_not_found(mpirun) -> None:
    """A missing executable is reported before any rank starts, exit 127."""
    run = mpirun("-n", "1", "no-such-program-xyz")
    assert run.rc == 127 and "no-such-program-xyz" in run.err


@pytest.mark.parametrize("content, words", [
    ("[bus]\nqueue_size = 3\n", ["bus.queue_size"]),
    ("[launcher]\nbogus = 1\n", ["launcher.bogus"]),
    ("[bus\n", ["not valid TOML"]),
])
def test_invalid_config(mpirun, tmp_path: Path, content: str, words: list[str]) -> None:
    """A bad config file: `toro-mpirun: <message>` naming file and key, exit 2."""
    path = tmp_path / "bad.toml"
    path.write_text(content)
    run = mpirun("-n", "1", "true", config=path)
    assert run.rc == 2
    assert run.err.startswith("toro-mpirun: ") and str(path) in run.err
    for word in words:
        assert word in run.err
    missing = mpirun("-n", "1", "true", config=tmp_path / "missing.toml")
    assert missing.rc == 2 and "missing.toml" in missing.err


def test_oversubscribe_refused(mpirun) -> None:
    """More ranks than cores without --oversubscribe: a clear refusal, exit 2."""
    run = mpirun("-n", str(NCORES + 1), "python", "-c", PRINT_ENV)
    assert run.rc == 2
    assert "--oversubscribe" in run.err and f"{NCORES} cores" in run.err
    assert run.out == ""


# -- environment, pinning, programs ---------------------------------------------------------
@pytest.mark.timeout(60)
def test_rank_environment(mpirun) -> None:
    """Ranks 0..n-1 each get their TORO_MPI_* variables and NUMBA_CACHE_DIR."""
    run = mpirun("-n", "2", "python", "-c", PRINT_ENV)
    assert run.rc == 0, run.err
    recs = records(run.out)
    assert sorted(recs) == [0, 1]
    names = {r["TORO_MPI_SEGMENT"] for r in recs.values()}
    assert len(names) == 1 and names.pop().startswith(f"/toro_mpi.{run.pid}.")
    for rec in recs.values():
        assert rec["TORO_MPI_SIZE"] == "2"
        assert rec["TORO_MPI_LAUNCHER_PID"] == str(run.pid)
        assert rec["NUMBA_CACHE_DIR"] == NUMBA_CACHE
        assert set(json.loads(rec["TORO_MPI_CONFIG"])) == {"bus", "sched", "launcher", "coll"}


COLL_QUEUE = """
import os
from toro_mpi import MPI
os.write(1, f"pid {os.getpid()}\\n".encode())
seg = MPI.COMM_WORLD._engine.t.segment
os.write(1, f"coll {seg.coll_queue_size} p2p {seg.queue_size}\\n".encode())
"""


@pytest.mark.timeout(60)
def test_collective_plane_queue_size_by_job_size(mpirun, tmp_path: Path) -> None:
    """The segment's collective plane has 64 descriptors per queue at 2 ranks, 16 at more (by
    default, bus.coll_queue_size = 0), and what a config file sets otherwise."""
    for n, want in ((2, 64), (3, 16)):
        run = mpirun("-n", str(n), "--oversubscribe", "python", "-c", COLL_QUEUE)
        assert run.rc == 0, run.err
        assert re.findall(r"coll (\d+) p2p", run.out) == [str(want)] * n, run.out
    cfg = tmp_path / "q.toml"
    cfg.write_text("[launcher]\nwarm_cache = false\n[bus]\ncoll_queue_size = 8\n")
    run = mpirun("-n", "3", "--oversubscribe", "python", "-c", COLL_QUEUE, config=cfg)
    assert run.rc == 0, run.err
    assert re.findall(r"coll (\d+) p2p", run.out) == ["8"] * 3, run.out


@pytest.mark.timeout(60)
def test_default_config_warms_cache(mpirun) -> None:
    """With the default config the launcher warms numba's cache (toro_mpi.warm) first."""
    run = mpirun("-n", "1", "true", config=None)
    assert run.rc == 0, run.err
    assert run.err == ""


@pytest.mark.timeout(60)
def test_numba_cache_dir_default(mpirun, fast_config: Path, tmp_path: Path) -> None:
    """Without NUMBA_CACHE_DIR the ranks get $XDG_CACHE_HOME/toro_mpi/numba; -n defaults to ncores."""
    env = {k: v for k, v in ENV.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    run = mpirun("python", "-c", PRINT_ENV, env=env)
    assert run.rc == 0, run.err
    recs = records(run.out)
    assert sorted(recs) == list(range(NCORES))
    assert {r["NUMBA_CACHE_DIR"] for r in recs.values()} == {str(tmp_path / "toro_mpi" / "numba")}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("bind", ["core", "none"])
def test_binding(mpirun, bind: str) -> None:
    """--bind-to core pins rank i to core i % ncores; none leaves the full set."""
    run = mpirun("-n", str(NCORES), "--bind-to", bind, "python", "-c", PRINT_ENV)
    assert run.rc == 0, run.err
    for rank, rec in records(run.out).items():
        assert rec["cpus"] == ([CORES[rank % NCORES]] if bind == "core" else CORES)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("per_rank", [False, True])
def test_oversubscribe_accepted(mpirun, per_rank: bool) -> None:
    """With --oversubscribe extra ranks run: as green threads of one process per core, pinned to
    it (contiguous blocks of ranks), or with --process-per-rank pinned to core i % ncores."""
    n = NCORES + 1
    run = mpirun("-n", str(n), "--oversubscribe", *(["--process-per-rank"] if per_rank else []),
                 "python", "-c", PRINT_ENV)
    assert run.rc == 0, run.err
    recs = records(run.out)
    assert sorted(recs) == list(range(n))
    if per_rank:
        assert all(recs[r]["cpus"] == [CORES[r % NCORES]] for r in recs)
    else:
        host_of = {r: h for h, ranks in enumerate(assign_hosts(n, NCORES)) for r in ranks}
        assert all(recs[r]["cpus"] == [CORES[host_of[r]]] for r in recs)
        assert len({recs[r]["pid"] for r in recs}) == NCORES


@pytest.mark.timeout(60)
def test_exports(mpirun) -> None:
    """-x VAR=value and -x VAR (value taken from here) reach every rank; an unset -x warns."""
    env = {**ENV, "BAZ": "from-launcher"}
    run = mpirun("-n", "2", "-x", "FOO=a=b", "-x", "BAZ", "-x", "NOT_SET_ANYWHERE",
                 "python", "-c", PRINT_ENV, env=env)
    assert run.rc == 0, run.err
    for rec in records(run.out).values():
        assert rec["FOO"] == "a=b" and rec["BAZ"] == "from-launcher"
    assert "NOT_SET_ANYWHERE" in run.err


@pytest.mark.timeout(60)
def test_python_module(mpirun, tmp_path: Path) -> None:
    """`python -m module args` runs the module in every rank (found through -x PYTHONPATH)."""
    (tmp_path / "hello_rank.py").write_text(
        "import os, sys\nprint('hello', os.environ['TORO_MPI_RANK'], *sys.argv[1:])\n")
    run = mpirun("-n", "2", "-x", f"PYTHONPATH={tmp_path}", "python", "-m", "hello_rank", "-n", "x")
    assert run.rc == 0, run.err
    assert sorted(run.out.splitlines()) == ["hello 0 -n x", "hello 1 -n x"]


@pytest.mark.timeout(60)
def test_executables(mpirun) -> None:
    """Any executable runs, by path or found on PATH; its arguments are left alone (`-n` is
    echo's: each rank's line without a newline gets one, so the two never run together)."""
    run = mpirun("-n", "2", "/bin/echo", "-n", "hi")
    assert run.rc == 0 and run.out == "hi\nhi\n"
    run = mpirun("-n", "2", "echo", "hi", "--tag-output")
    assert run.rc == 0 and run.out == "hi --tag-output\n" * 2
    run = mpirun("-n", "1", "--", "echo", "-x")
    assert run.rc == 0 and run.out == "-x\n"


@pytest.mark.timeout(60)
def test_stdin_goes_to_rank_0(mpirun) -> None:
    """Rank 0 inherits stdin; the others read /dev/null."""
    code = "import os, sys; print(os.environ['TORO_MPI_RANK'], repr(sys.stdin.read()))"
    run = mpirun("-n", "2", "python", "-c", code, stdin="data\n")
    assert run.rc == 0, run.err
    assert sorted(run.out.splitlines()) == ["0 'data\\n'", "1 ''"]


@pytest.mark.timeout(60)
def test_tag_output(mpirun) -> None:
    """--tag-output prefixes whole lines with [rank], stdout to stdout, stderr to stderr."""
    code = textwrap.dedent("""
        import os, sys
        r = os.environ["TORO_MPI_RANK"]
        assert os.environ["PYTHONUNBUFFERED"] == "1"
        for i in range(3000):
            print(f"line {r} {i} " + "x" * 100)
        print(f"err {r}", file=sys.stderr)
        sys.stdout.write(f"partial {r}")
    """)
    run = mpirun("-n", "2", "--tag-output", "python", "-c", code)
    assert run.rc == 0, run.err
    lines = run.out.splitlines()
    assert len(lines) == 2 * 3001
    for line in lines:
        assert re.fullmatch(r"\[(\d)\] (line \1 \d+ x{100}|partial \1)", line), line
    assert sorted(run.err.splitlines()) == ["[0] err 0", "[1] err 1"]


# -- failures, signals, timeout -------------------------------------------------------------
@pytest.mark.timeout(60)
def test_rank_raises(mpirun) -> None:
    """A rank raising aborts the job fast: traceback shown, rank named, exit 1, sleeper killed."""
    run = mpirun("-n", "2", "python", "-c", FAIL_RANK_1.replace("ACTION", "raise RuntimeError('boom')"), timeout=45)
    assert run.rc == 1
    assert "Traceback" in run.err and "RuntimeError: boom" in run.err
    assert re.search(r"toro-mpirun: rank 1 \(pid \d+\) exited with code 1; aborting the job", run.err)
    assert len(rank_pids(run.out)) == 2
    # Rank 0 was killed, not waited for: it never finished its 30 s sleep (the harness waits 45 s).
    assert "slept 30 s" not in run.out, run.out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("action, status, words", [
    ("os._exit(3)", 3, "exited with code 3"),
    ("os.kill(os.getpid(), 9)", 137, "killed by signal 9 (SIGKILL)"),
])
def test_rank_exit_status(mpirun, action: str, status: int, words: str) -> None:
    """The launcher exits with the failing rank's code, or 128 + signal."""
    run = mpirun("-n", "2", "python", "-c", FAIL_RANK_1.replace("ACTION", action), timeout=45)
    assert run.rc == status
    assert "rank 1 (pid " in run.err and words in run.err
    # Rank 0 was killed, not waited for: it never finished its 30 s sleep (the harness waits 45 s).
    assert "slept 30 s" not in run.out, run.out


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_to_launcher(fast_config: Path, signum: int, status: int) -> None:
    """SIGINT/SIGTERM to the launcher stop every rank; exit 130/143."""
    code = "import os, time; os.write(1, f'pid {os.getpid()}\\n'.encode()); time.sleep(30)"
    proc = subprocess.Popen([*LAUNCHER, "--config", str(fast_config), "-n", "2", "python", "-c", code],
                            env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        pids = [int(proc.stdout.readline().split()[1]) for _ in range(2)]
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == status
    assert f"caught {signal.Signals(signum).name}" in err
    check_clean(proc.pid, pids)


@pytest.mark.timeout(60)
def test_timeout_reports_blocked_calls(mpirun) -> None:
    """--timeout kills the job, exits 110 and names the call, peer and tag each rank is in."""
    code = ATTACH + textwrap.dedent("""
        if rank == 0:
            seg.write_word(seg.slot(rank, L.SLOT_PEER), 1)
            seg.write_word(seg.slot(rank, L.SLOT_TAG), 5)
            seg.write_word(seg.slot(rank, L.SLOT_CALL), L.CALL_CODES["Recv"])
            seg.write_word(seg.slot(rank, L.SLOT_IDLE), 1)  # as a rank dozing in its wait
        time.sleep(30)
        os.write(1, b"slept 30 s\\n")  # only if the timeout did not stop this rank
    """)
    # 10 s: both ranks must have started (each imports numba before the program runs) and
    # written their slots first, however loaded the machine; the ranks sleep 30 s.
    run = mpirun("-n", "2", "--timeout", "10", "python", "-c", code, timeout=45)
    assert run.rc == 110, run.err
    expected = "toro-mpirun: timeout after 10.0 s; rank 0 blocked in Recv(source=1, tag=5); rank 1 running"
    assert expected in run.err
    assert len(rank_pids(run.out)) == 2
    # The timeout (status 110 above), not the ranks' 30 s sleep, ended the job.
    assert "slept 30 s" not in run.out, run.out


@pytest.mark.timeout(60)
def test_segment_unlinked_once_all_attached(mpirun) -> None:
    """The launcher removes the name as soon as every rank attached, while they still run."""
    code = ATTACH + textwrap.dedent("""
        for _ in range(500):
            if not os.path.exists("/dev/shm" + name):
                print(f"unlinked {rank}", flush=True)
                break
            time.sleep(0.01)
    """)
    run = mpirun("-n", "2", "python", "-c", code)
    assert run.rc == 0, run.err
    assert sorted(re.findall(r"unlinked \d", run.out)) == ["unlinked 0", "unlinked 1"]


@pytest.mark.timeout(60)
def test_launcher_sigkill_takes_ranks_down(fast_config: Path) -> None:
    """Ranks die with a SIGKILLed launcher (PDEATHSIG); --cleanup then removes its segment."""
    code = "import os, time; os.write(1, f'pid {os.getpid()}\\n'.encode()); time.sleep(30)"
    proc = subprocess.Popen([*LAUNCHER, "--config", str(fast_config), "-n", "2", "python", "-c", code],
                            env=ENV, text=True, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        pids = [int(proc.stdout.readline().split()[1]) for _ in range(2)]
        started = time.monotonic()
        left = glob.glob(f"/dev/shm/toro_mpi.{proc.pid}.*")
        proc.kill()
        proc.wait(timeout=10)
    finally:
        proc.kill()
    # The ranks sleep 30 s: gone well before that (20 s after they printed their pids, a bound
    # only against a hang), they were killed with the launcher and did not just finish.
    deadline = started + 20
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(p) for p in pids), "the ranks outlived their SIGKILLed launcher"
    assert len(left) == 1 and os.path.exists(left[0])  # nobody attached: the name is still there
    cleanup = subprocess.run([*LAUNCHER, "--cleanup"], capture_output=True, text=True, timeout=30)
    assert cleanup.returncode == 0 and left[0].removeprefix("/dev/shm") in cleanup.stdout
    check_clean(proc.pid, pids)


# -- --cleanup ------------------------------------------------------------------------------
def test_cleanup(mpirun) -> None:
    """--cleanup removes a segment whose launcher pid is dead and keeps a live launcher's."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"/toro_mpi.{dead.pid}.test{secrets.token_hex(6)}"
    live = f"/toro_mpi.{os.getpid()}.test{secrets.token_hex(6)}"
    for name in (stale, live):
        posix_ipc.SharedMemory(name, flags=posix_ipc.O_CREX, mode=0o600, size=4096).close_fd()
    try:
        run = mpirun("--cleanup")
        assert run.rc == 0, run.err
        assert stale in run.out and live not in run.out
        assert not os.path.exists("/dev/shm" + stale)
        assert os.path.exists("/dev/shm" + live)
    finally:
        for name in (stale, live):
            try:
                posix_ipc.unlink_shared_memory(name)
            except posix_ipc.ExistentialError:
                pass


# -- output, as mpirun users know it ----------------------------------------------------------
# Three arguments to print: with PYTHONUNBUFFERED=1 each is a write of its own, the case that
# mixed two ranks' lines inside one line when the ranks wrote to the launcher's stdout directly.
MANY_LINES = textwrap.dedent("""
    import os, sys
    r = int(os.environ["TORO_MPI_RANK"])
    for i in range(3000):
        print(f"r{r}", i, "x" * (40 + r))
    print(f"err r{r}", file=sys.stderr)
""")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", ["green", "process-per-rank"])
def test_piped_output_keeps_lines_whole(mpirun, mode: str) -> None:
    """4 ranks x 3000 lines through a pipe, unbuffered: every line whole, each rank's in order,
    stderr on stderr."""
    extra = ["--process-per-rank"] if mode == "process-per-rank" else []
    run = mpirun("-n", "4", "--oversubscribe", *extra, "python", "-c", MANY_LINES,
                 env={**ENV, "PYTHONUNBUFFERED": "1"}, timeout=100)
    assert run.rc == 0, run.err
    seen: dict[int, list[int]] = {r: [] for r in range(4)}
    mixed = []
    for line in run.out.splitlines():
        m = re.fullmatch(r"r(\d) (\d+) (x+)", line)
        if m is None or len(m[3]) != 40 + int(m[1]):
            mixed.append(line)
            continue
        seen[int(m[1])].append(int(m[2]))
    assert mixed == []
    assert seen == {r: list(range(3000)) for r in range(4)}
    assert sorted(run.err.splitlines()) == [f"err r{r}" for r in range(4)]


@pytest.mark.timeout(60)
def test_output_bytes_and_last_partial_line(fast_config: Path) -> None:
    """Bytes that are not UTF-8 pass through; a last line without a newline gets one."""
    code = "import os, sys; r = os.environ['TORO_MPI_RANK']; sys.stdout.buffer.write(b'\\xff\\xfe ' + r.encode())"
    cmd = [*LAUNCHER, "--config", str(fast_config), "-n", "2", sys.executable, "-c", code]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, timeout=50)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split(b"\n")) == [b"", b"\xff\xfe 0", b"\xff\xfe 1"]


INTERLEAVED = textwrap.dedent("""
    import os, sys
    r = os.environ["TORO_MPI_RANK"]
    for i in range(3):
        print(f"out {r} {i}", flush=True)
        print(f"err {r} {i}", file=sys.stderr, flush=True)
""")


@pytest.mark.timeout(60)
def test_output_filename_and_merge(mpirun, tmp_path: Path) -> None:
    """--output-filename DIR: DIR/1/rank.N/stdout and stderr, nothing on our own stdout; with
    --merge-stderr-to-stdout one file per rank holding both, in the order written."""
    run = mpirun("-n", "2", "--output-filename", str(tmp_path / "a"), "python", "-c", INTERLEAVED)
    assert run.rc == 0, run.err
    assert run.out == ""
    for r in range(2):
        folder = tmp_path / "a" / "1" / f"rank.{r}"
        assert (folder / "stdout").read_text().splitlines() == [f"out {r} {i}" for i in range(3)]
        assert (folder / "stderr").read_text().splitlines() == [f"err {r} {i}" for i in range(3)]
    run = mpirun("-n", "2", "--output-filename", str(tmp_path / "b"), "--merge-stderr-to-stdout",
                 "python", "-c", INTERLEAVED)
    assert run.rc == 0, run.err
    for r in range(2):
        folder = tmp_path / "b" / "1" / f"rank.{r}"
        assert sorted(p.name for p in folder.iterdir()) == ["stdout"]
        assert folder.joinpath("stdout").read_text().splitlines() == [
            f"{kind} {r} {i}" for i in range(3) for kind in ("out", "err")]
    run = mpirun("-n", "2", "--merge-stderr-to-stdout", "--tag-output", "python", "-c", INTERLEAVED)
    assert run.rc == 0 and run.err == "", run.err
    for r in range(2):
        mine = [line for line in run.out.splitlines() if line.startswith(f"[{r}] ")]
        assert mine == [f"[{r}] {kind} {r} {i}" for i in range(3) for kind in ("out", "err")]


# -- the standard rank environment, mpi4py programs, MPMD -------------------------------------
STANDARD_ENV = textwrap.dedent("""
    import json, os
    from toro_mpi import MPI
    c = MPI.COMM_WORLD
    names = ["OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
             "OMPI_COMM_WORLD_LOCAL_SIZE", "PMI_RANK", "PMI_SIZE", "PMIX_RANK"]
    print(json.dumps([c.rank, c.size] + [os.environ.get(n) for n in names]
                     + [os.environ.get("PMIX_NAMESPACE"), os.environ.get("PMI_FD")]))
""")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode", ["process-per-rank", "green"])
def test_standard_rank_variables(mpirun, mode: str) -> None:
    """OMPI_COMM_WORLD_*, PMI_* and PMIX_RANK are each rank's own (also for green-thread ranks);
    an outer job's PMIx namespace is not passed on."""
    extra = ["--process-per-rank"] if mode == "process-per-rank" else []
    outer = {**ENV, "PMIX_NAMESPACE": "outer-job", "OMPI_COMM_WORLD_RANK": "7", "PMI_FD": "9"}
    run = mpirun("-n", "4", "--oversubscribe", *extra, "python", "-c", STANDARD_ENV, env=outer, timeout=80)
    assert run.rc == 0, run.err
    rows = sorted(json.loads(line) for line in run.out.splitlines())
    assert rows == [[r, 4, str(r), "4", str(r), "4", str(r), "4", str(r), None, None] for r in range(4)]


REAL_MPI4PY = ("import os; from mpi4py import MPI; "
               "print(os.environ['TORO_MPI_RANK'], MPI.COMM_WORLD.Get_size(), getattr(MPI, 'TORO_SHIM', False))")
REAL_MPI4PY_DIR = ("import os; from mpi4py import MPI; "
                   "print(os.environ['TORO_MPI_RANK'], MPI.COMM_WORLD.Get_size(), getattr(MPI, 'TORO_SHIM', False), "
                   "os.environ['OMPI_MCA_btl_sm_backing_directory'])")


@pytest.mark.timeout(90)
def test_mpi4py_programs_get_toro_mpi(mpirun, tmp_path) -> None:
    """`from mpi4py import MPI` under toro-mpirun is toro_mpi by default: a world of 2, not two
    worlds of 1. With --no-mpi4py-shim the installed mpi4py starts as a singleton in each rank (the
    rank variables do not make Open MPI look for a launcher): no hang, no error."""
    code = "from mpi4py import MPI; c = MPI.COMM_WORLD; print(f'rank {c.rank} of {c.size}', c.allreduce(1))"
    run = mpirun("-n", "2", "python", "-c", code)
    assert run.rc == 0, run.err
    assert sorted(run.out.splitlines()) == ["rank 0 of 2 2", "rank 1 of 2 2"]
    try:
        import mpi4py  # noqa: F401 - only whether the real one is installed
    except ImportError:
        pytest.skip("no real mpi4py installed")
    # An Open MPI 5 singleton leaves its shared-memory file behind even when it exits cleanly:
    # the launcher gives the ranks a private directory for it and removes it after the job.
    env = {k: v for k, v in ENV.items() if k != "OMPI_MCA_btl_sm_backing_directory"}
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    run = mpirun("-n", "2", "--no-mpi4py-shim", "python", "-c", REAL_MPI4PY_DIR, env=env, timeout=80)
    assert run.rc == 0, run.err
    lines = sorted(run.out.splitlines())
    assert [line.rsplit(" ", 1)[0] for line in lines] == ["0 1 False", "1 1 False"]
    where = {line.rsplit(" ", 1)[1] for line in lines}
    assert len(where) == 1, lines
    where = where.pop()
    assert where.startswith("/dev/shm/toro_mpi-ompi."), lines
    assert not os.path.exists(where), f"{where} is left with {os.listdir(where)}"


MPMD = textwrap.dedent("""
    import os, sys
    from toro_mpi import MPI
    c = MPI.COMM_WORLD
    total = c.allreduce(c.rank)
    print(sys.argv[1], c.rank, c.size, c.Get_attr(MPI.APPNUM), os.environ.get("WHO"), os.getcwd(), total)
""")


@pytest.mark.timeout(90)
def test_mpmd(mpirun, tmp_path: Path) -> None:
    """`-n 1 a : -n 1 b`: one job, ranks numbered in the programs' order, APPNUM per program, a
    program's own -x and --wdir; a program without its -n is refused."""
    prog = tmp_path / "mpmd.py"
    prog.write_text(MPMD)
    run = mpirun("-n", "1", "python", str(prog), "first", ":", "-n", "1", "-x", "WHO=second", "--wdir", "/",
                 "python", str(prog), "second")
    assert run.rc == 0, run.err
    assert sorted(run.out.splitlines()) == [f"first 0 2 0 None {os.getcwd()} 1", "second 1 2 1 second / 1"]
    bad = mpirun("-n", "1", "python", str(prog), "a", ":", "python", str(prog), "b")
    assert bad.rc == 2 and "needs its own -n" in bad.err


@pytest.mark.timeout(90)
def test_same_interpreter_by_any_path(mpirun, tmp_path: Path) -> None:
    """A link to this interpreter, its real path or `python3.X` runs green-thread ranks like
    `python` does."""
    link = tmp_path / "bin" / "python3-link"
    link.parent.mkdir()
    link.symlink_to(os.path.realpath(sys.executable))
    if sys.prefix != sys.base_prefix:
        pytest.skip("inside a venv a bare link to the base interpreter is another environment")
    code = "import os; print(os.environ.get('TORO_MPI_HOSTED') is not None)"
    versioned = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for interpreter in (str(link), os.path.realpath(sys.executable), versioned):
        run = mpirun("-n", str(2 * NCORES), "--oversubscribe", interpreter, "-c", code)
        assert run.rc == 0, run.err
        assert "cannot run as green threads" not in run.err
        assert run.out.splitlines() == ["True"] * (2 * NCORES)


@pytest.mark.timeout(90)
def test_host_map_by_bindings_wdir(mpirun, tmp_path: Path) -> None:
    """-H/--host for this machine (with slots: that many ranks without --oversubscribe, and -n
    defaults to them), --map-by core|slot, --report-bindings in Open MPI's words, --wdir; other
    hosts and mappings are refused with what toro_mpi supports."""
    code = "import os; print(os.environ['TORO_MPI_RANK'], os.getcwd(), *os.sched_getaffinity(0))"
    run = mpirun("--host", f"localhost:{NCORES + 1}", "--map-by", "slot", "--report-bindings",
                 "--wdir", str(tmp_path), "python", "-c", code)
    assert run.rc == 0, run.err
    rows = sorted(line.split() for line in run.out.splitlines())
    assert [row[:2] for row in rows] == [[str(r), str(tmp_path)] for r in range(NCORES + 1)]
    bound = sorted(line for line in run.err.splitlines() if " bound to " in line)
    assert len(bound) == NCORES + 1
    for (_, _, cpu), line in zip(rows, bound, strict=True):  # the core each rank runs on
        assert re.fullmatch(rf"\[[^:]+:\d{{5,}}\] Rank \d+ bound to package\[\d+\]\[core:L{CORES.index(int(cpu))}\]",
                            line), line
    run = mpirun("-H", "localhost,127.0.0.1", "-n", "2", "--map-by", "core", "--bind-to", "none",
                 "--report-bindings", "python", "-c", "pass")
    assert run.rc == 0, run.err
    assert run.err.count("is not bound (or bound to all available processors)") == 2
    for args, words in ((["-H", "node7"], "this machine only"), (["--map-by", "numa"], "--map-by core or slot"),
                        (["--wdir", str(tmp_path / "none")], "no such directory"),
                        (["--host", f"localhost:{NCORES}", "-n", str(NCORES + 1)], "pass --oversubscribe")):
        bad = mpirun(*args, "python", "-c", "pass")
        assert bad.rc == 2 and words in bad.err, bad.err


TERMINAL = textwrap.dedent("""
    import sys, time
    from toro_mpi import MPI
    c = MPI.COMM_WORLD
    if c.rank == 0:
        print("read", repr(sys.stdin.readline()), flush=True)
    c.Barrier()
    print("waiting", c.rank, flush=True)
    time.sleep(60)
""")


@pytest.mark.timeout(90)
def test_terminal_input_and_ctrl_c(fast_config: Path, tmp_path: Path) -> None:
    """On a terminal: rank 0 reads what is typed (through the launcher, since the ranks run in
    process groups of their own), and Ctrl-C (SIGINT to the terminal's foreground process group)
    reaches the launcher alone, which stops the job with 130 and no rank's traceback."""
    import pty

    prog = tmp_path / "terminal.py"
    prog.write_text(TERMINAL)
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([*LAUNCHER, "--config", str(fast_config), "-n", "2", sys.executable, str(prog)],
                                env=ENV, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        os.write(master, b"typed line\n")
        waiting = set()
        assert proc.stdout is not None
        while len(waiting) < 2:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            if line.startswith("waiting"):
                waiting.add(line)
            else:
                assert line == "read 'typed line\\n'\n"
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: its foreground group
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "caught SIGINT" in err
    check_clean(proc.pid, [])
