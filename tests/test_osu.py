"""The OSU micro-benchmark ports (osu/osu_*.py), the side-by-side runner (osu/compare.py) and the
probes' entry point (python -m osu.probes).

Output must match OMB 7.4 byte for byte in layout: the headers and column headers below are
spelled out literally (not taken from osu/omb.py) from OMB's sources: FIELD_WIDTH 18 (configure.ac),
rows '%-10d%18.2f' [+ '%18.2f%18.2f%12lu' with -f] [+ '%18s' Pass/Fail with -c], osu_barrier
'%17.2f'. A toro_mpi launch costs seconds (the jitted kernels load from numba's cache), so the
ports run batched: one job runs several of them in turn through a small driver, and each test
checks its own section of that job's output.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REF_ENV, TESTS, TORO_ENV, ref_available, run_ref, run_toro

from osu import compare, omb

ROOT = TESTS.parent
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
VALIDATED = PT2PT + COLLECTIVES  # every port but osu_barrier takes -c
TINY = ("-m", "1:64", "-i", "10", "-x", "2")
SIZES = [1, 2, 4, 8, 16, 32, 64]

# Each job runs these ports in turn: (section key, port, args).
FORMAT_JOBS = [(p, p, TINY if p != "osu_barrier" else TINY[2:]) for p in TITLES] + [
    ("osu_allreduce -f", "osu_allreduce", (*TINY, "-f")),
    ("osu_barrier -f", "osu_barrier", (*TINY[2:], "-f")),
    ("osu_latency -f", "osu_latency", ("-f",)),      # not an osu_latency option: usage, status 1
    ("osu_bcast -h", "osu_bcast", ("-h",)),
]
VALIDATE_ARGS = ("-m", "1:64", "-i", "4", "-x", "1", "-c", "-u", "1")
VALIDATE_JOBS = [(p, p, VALIDATE_ARGS) for p in VALIDATED]
# Three ranks (oversubscribed here): collectives over a rank count that is not a power of two.
VALIDATE3_ARGS = ("-m", "1:32", "-i", "3", "-x", "1", "-c", "-u", "0")
VALIDATE3_JOBS = [(p, p, VALIDATE3_ARGS) for p in COLLECTIVES]

DRIVER = '''\
"""Run OSU ports one after another in one job: argv is KEY|PORT|ARGS... groups split by '--next'."""
import importlib
import sys

from osu.backend import load_mpi

MPI = load_mpi()
rank = MPI.COMM_WORLD.Get_rank()
groups, cur = [], []
for arg in sys.argv[1:]:
    if arg == "--next":
        groups.append(cur)
        cur = []
    else:
        cur.append(arg)
groups.append(cur)
for key, port, *args in groups:
    if rank == 0:
        print(f"@@@ begin {key}", flush=True)
    rc = importlib.import_module(f"osu.{port}").main(args)
    MPI.COMM_WORLD.Barrier()
    if rank == 0:
        print(f"@@@ end {key} rc={rc}", flush=True)
'''


def _argv(jobs: list[tuple[str, str, tuple[str, ...]]]) -> list[str]:
    argv: list[str] = []
    for key, port, args in jobs:
        if argv:
            argv.append("--next")
        argv += [key, port, *args]
    return argv


def sections(text: str) -> dict[str, tuple[list[str], int]]:
    """Section key -> (its output lines, the port's return status) from the driver's markers."""
    found: dict[str, tuple[list[str], int]] = {}
    key, lines = None, []
    for line in text.splitlines():
        m = re.match(r"^@@@ (begin|end) (.+?)(?: rc=(-?\d+))?$", line)
        if m and m.group(1) == "begin":
            key, lines = m.group(2), []
        elif m and key is not None:
            found[key] = (lines, int(m.group(3)))
            key = None
        elif key is not None:
            lines.append(line)
    return found


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> str:
    """Path of the batch driver (absolute: conftest's program() accepts it)."""
    path = tmp_path_factory.mktemp("osu") / "osu_batch.py"
    path.write_text(DRIVER)
    return str(path)


_jobs: dict[str, object] = {}


def batch(name: str, runner, driver: str, n: int, jobs) -> object:
    """Run a batch once per session and keep its Run."""
    if name not in _jobs:
        _jobs[name] = runner(driver, n, *_argv(jobs), timeout=100)
    return _jobs[name]


def section(run, key: str) -> tuple[list[str], int]:
    """One port's lines and status, failing with the job's output when it never got there."""
    found = sections(run.out)
    assert key in found, f"{key} did not finish in the batch job{run.explain()}"
    return found[key]


# -- output format -----------------------------------------------------------------------------------
def _expected_preamble(port: str, column: str) -> list[str]:
    lines = ["", f"# {TITLES[port]} v7.4"]
    if port != "osu_barrier":
        lines.append("# Datatype: MPI_CHAR.")
    return [*lines, column]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("port", list(TITLES))
def test_output_format(port, driver):
    """Header, datatype line, column header and '%-10d%18.2f' rows, sizes 1..64 (0 skipped)."""
    run = batch("format", run_toro, driver, 2, FORMAT_JOBS)
    lines, rc = section(run, port)
    assert rc == 0, run.explain()
    if port == "osu_barrier":
        column, row, width = "# Avg Latency(us)", r" +\d+\.\d\d", 17
    elif port in ("osu_bw", "osu_bibw"):
        column, row, width = "# Size      Bandwidth (MB/s)", r"\d+ +\d+\.\d\d", 28
    else:
        column, row, width = "# Size       Avg Latency(us)", r"\d+ +\d+\.\d\d", 28
    assert lines[:len(_expected_preamble(port, column))] == _expected_preamble(port, column), lines
    rows = lines[len(_expected_preamble(port, column)):]
    for line in rows:
        assert re.fullmatch(row, line) and len(line) == width, f"bad row {line!r}"
    if port == "osu_barrier":
        assert len(rows) == 1
    else:
        assert [int(r.split()[0]) for r in rows] == SIZES


@pytest.mark.timeout(120)
@pytest.mark.parametrize("key", ["osu_allreduce -f", "osu_barrier -f"])
def test_full_format(key, driver):
    """-f adds Min/Max Latency(us) (%18.2f) and Iterations (%12lu)."""
    run = batch("format", run_toro, driver, 2, FORMAT_JOBS)
    lines, rc = section(run, key)
    assert rc == 0, run.explain()
    extra = "   Min Latency(us)   Max Latency(us)  Iterations"
    if key.startswith("osu_barrier"):
        assert lines[:3] == ["", "# OSU MPI Barrier Latency Test v7.4", "# Avg Latency(us)" + extra]
        rows, pattern, width = lines[3:], r" +(\d+\.\d\d) +(\d+\.\d\d) +(\d+\.\d\d) +10", 17 + 18 + 18 + 12
    else:
        assert lines[:4] == ["", "# OSU MPI Allreduce Latency Test v7.4", "# Datatype: MPI_CHAR.",
                             "# Size       Avg Latency(us)" + extra]
        rows, pattern, width = lines[4:], r"\d+ +(\d+\.\d\d) +(\d+\.\d\d) +(\d+\.\d\d) +10", 10 + 18 * 3 + 12
    assert rows
    for line in rows:
        m = re.fullmatch(pattern, line)
        assert m and len(line) == width, f"bad row {line!r}"
        avg, lo, hi = map(float, m.groups())
        assert lo <= avg + 0.01 and avg <= hi + 0.01, line


@pytest.mark.timeout(120)
def test_usage_and_help_in_job(driver):
    """Inside a job: an option the benchmark lacks prints OMB's complaint and the usage on stderr,
    status 1; -h prints the usage on stdout, status 0."""
    run = batch("format", run_toro, driver, 2, FORMAT_JOBS)
    lines, rc = section(run, "osu_latency -f")
    assert rc == 1 and lines == [], run.explain()
    assert "Invalid option [-f]" in run.err and "Usage: osu_latency [options]" in run.err
    lines, rc = section(run, "osu_bcast -h")
    assert rc == 0 and lines[:2] == ["Usage: osu_bcast [options]", "Options:"], lines
    assert any(line.startswith("  -m, --message-size        [MIN:]MAX") for line in lines), lines


@pytest.mark.timeout(60)
def test_bad_option_exit_status():
    """A real process: a bad value exits 1 with the usage on stderr and nothing on stdout."""
    proc = subprocess.run([sys.executable, "-m", "osu.osu_bw", "-W", "0"], env={**TORO_ENV, "OSU_MPI": "toro"},
                          cwd=ROOT, capture_output=True, text=True, timeout=50)
    assert proc.returncode == 1, proc
    assert proc.stdout == ""
    assert proc.stderr.startswith("Invalid Window Size [-W 0]\n\nUsage: osu_bw [options]\n"), proc.stderr


@pytest.mark.timeout(10)
@pytest.mark.parametrize("argv, message", [
    (["-m", "x"], "Invalid Message Size [-m x]"),
    (["-m", "0:8"], "Invalid Message Size [-m 0:8]"),
    (["-m", "1:2:3"], "Invalid Message Size [-m 1:2:3]"),
    (["-i", "0"], "Invalid Number of Iterations [-i 0]"),
    (["-x", "-1"], "Invalid Number of Warmup Iterations [-x -1]"),
    (["-i"], "Option Missing Required Argument [-i]"),
    (["-W", "4"], "Invalid option [-W]"),
    (["--bogus"], "Invalid option [--bogus]"),
    (["stray"], "Invalid option [stray]"),
])
def test_parse_errors(argv, message):
    """Bad command lines are refused with OMB's wording."""
    with pytest.raises(omb.UsageError) as info:
        omb.parse_options(importlib.import_module("osu.osu_latency").BENCH, argv)
    assert str(info.value) == message


@pytest.mark.timeout(10)
def test_defaults_and_sizes():
    """OMB 7.4's defaults per kind, -m forms, and the size sequence."""
    lat = omb.parse_options(importlib.import_module("osu.osu_latency").BENCH, [])
    assert (lat.min_size, lat.max_size, lat.iterations, lat.skip, lat.iterations_large, lat.skip_large) == \
        (0, 1 << 22, 10000, 100, 1000, 10)
    assert list(omb.sizes(lat))[:3] == [1, 2, 4] and list(omb.sizes(lat))[-1] == 1 << 22
    assert lat.loops(8192) == (10000, 100) and lat.loops(16384) == (1000, 10)
    bw = omb.parse_options(importlib.import_module("osu.osu_bw").BENCH, ["-W", "8", "-m", "4:"])
    assert (bw.iterations, bw.skip, bw.iterations_large, bw.skip_large, bw.window, bw.min_size) == \
        (100, 10, 20, 2, 8, 4)
    coll = omb.parse_options(importlib.import_module("osu.osu_allreduce").BENCH, ["-i", "7", "-x", "3"])
    assert (coll.max_size, coll.loops(1), coll.loops(1 << 20), coll.warmup_validation) == \
        (1 << 20, (7, 3), (7, 3), 0)
    assert omb.parse_options(importlib.import_module("osu.osu_bcast").BENCH, ["-c"]).warmup_validation == 5


# -- validation ----------------------------------------------------------------------------------------
def _check_validated(run, key: str) -> None:
    lines, rc = section(run, key)
    assert rc == 0, f"{key} failed validation{run.explain()}"
    rows = [line for line in lines if line and not line.startswith("#")]
    assert rows and all(line.endswith("Pass") and len(line) == 46 for line in rows), lines
    assert any(line.endswith("        Validation") for line in lines), lines


@pytest.mark.timeout(120)
@pytest.mark.parametrize("port", VALIDATED)
def test_validation_toro(port, driver):
    """-c: every received byte checked, every row Pass, on 2 ranks under toro_mpi."""
    _check_validated(batch("validate", run_toro, driver, 2, VALIDATE_JOBS), port)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("port", COLLECTIVES)
def test_validation_toro_three_ranks(port, driver):
    """-c on 3 ranks (more than the 2 cores here): collectives off a power of two."""
    _check_validated(batch("validate3", run_toro, driver, 3, VALIDATE3_JOBS), port)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("port", VALIDATED)
def test_validation_reference(port, driver):
    """-c under mpiexec + mpi4py: the same program, the same checks pass."""
    why = ref_available()
    if why:
        pytest.skip(why)
    _check_validated(batch("validate-ref", run_ref, driver, 2, VALIDATE_JOBS), port)


@pytest.mark.timeout(10)
def test_validation_patterns_differ():
    """The validation data tells sizes, iterations and ranks apart, so a stale buffer fails."""
    a = omb.pattern(4096, 4096, 3, 0)
    assert len(a) == 4096 and a.dtype.name == "uint8"
    for other in (omb.pattern(4096, 4096, 4, 0), omb.pattern(4096, 4096, 3, 1), omb.pattern(4096, 4096, 3, 0, 1)):
        assert (a != other).mean() > 0.9
    assert (a[:256] != a[256:512]).any()


class _WrongComm:
    """Rank 0 of a pretend 2-rank world whose Allreduce forgets the other rank's data."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 2

    def Barrier(self) -> None:
        pass

    def Reduce(self, send, recv, op=None, root=0) -> None:
        recv[...] = send

    def Allreduce(self, send, recv, op=None) -> None:
        recv[...] = send


@pytest.mark.timeout(10)
def test_validation_catches_wrong_result(monkeypatch, capsys):
    """-c reports Fail for a wrong result, stops at that size and exits 1 with OMB's message."""
    import time
    import types

    fake = types.SimpleNamespace(COMM_WORLD=_WrongComm(), Wtime=time.perf_counter, SUM="sum", MIN="min", MAX="max")
    monkeypatch.setattr(omb, "load_mpi", lambda: fake)
    rc = importlib.import_module("osu.osu_allreduce").main(["-m", "1:4", "-i", "2", "-x", "0", "-c", "-u", "0"])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert lines[-2].startswith("1 ") and lines[-2].endswith("Fail") and len(lines[-2]) == 46, lines
    assert lines[-1] == "DATA VALIDATION ERROR: osu_allreduce exited with status 1 on message size 1."


# -- the runner ------------------------------------------------------------------------------------------
TINY_SUITE = """\
reps = 1
timeout = 120

[[run]]
bench = "osu_latency"
args = ["-m", "1:64", "-i", "20", "-x", "2"]

[[run]]
bench = "osu_allreduce"
args = ["-m", "1:64", "-i", "10", "-x", "2", "-f"]
"""


def _compare(tmp_path: Path, suite_text: str, *extra: str, timeout: float = 100) -> subprocess.CompletedProcess:
    suite = tmp_path / "suite.toml"
    suite.write_text(suite_text)
    # The runner sets each backend's environment itself; start from the plain test environment.
    env = {k: v for k, v in REF_ENV.items() if not k.startswith(("OMPI_", "MPI4PY_"))}
    return subprocess.run([sys.executable, "-m", "osu.compare", str(suite), "--out", str(tmp_path / "out"), *extra],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.timeout(120)
def test_compare_end_to_end(tmp_path):
    """A tiny suite on both backends: progress lines, calibration, markdown, CSV and plots."""
    why = ref_available()
    if why:
        pytest.skip(why)
    proc = _compare(tmp_path, TINY_SUITE, "--calibration-rounds", "2000")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(re.findall(r"^\[\d/4\] osu_\w+-n2 +rep 1/1 .* ok$", proc.stdout, re.M)) == 4, proc.stdout
    assert proc.stdout.count("calibration: cache-line ping-pong") == 2, proc.stdout
    out = tmp_path / "out"
    md = (out / "results.md").read_text()
    assert "## osu_latency, n=2: latency (us), lower is better" in md
    assert "## osu_allreduce, n=2: latency (us), lower is better" in md
    table = [line for line in md.splitlines() if re.match(r"^\| \d+ \| ", line)]
    assert len(table) == 2 * len(SIZES), md
    for line in table:
        cell = r"[\d.]+ \([\d.]+-[\d.]+\)"  # median (min-max)
        cells = re.fullmatch(rf"\| \d+ \| {cell} \| {cell} \| ([\d.]+) \| ([\d.]+) \|", line)
        assert cells, line
        # One repetition: the median of the per-pair ratios is that pair's ratio, the ratio of the medians.
        assert cells.group(1) == cells.group(2), line
    rows = (out / "results.csv").read_text().splitlines()
    assert rows[0].startswith("run,bench,n,args,metric,unit,size,toro_median,toro_min,toro_max,ref_median")
    assert rows[0].endswith(",ratio_ref,paired_ref"), rows[0]
    assert len(rows) == 1 + 2 * len(SIZES)
    assert sorted(p.name for p in (out / "raw").glob("*.out")) == [
        f"{run}.{backend}.rep1.out" for run in ("osu_allreduce-n2", "osu_latency-n2") for backend in ("ref", "toro")]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "install toro_mpi[bench] for plots" in proc.stdout
    else:
        for run_id in ("osu_latency-n2", "osu_allreduce-n2"):
            assert (out / f"{run_id}.png").stat().st_size > 1000


@pytest.mark.timeout(90)
def test_compare_failing_run(tmp_path):
    """A run that fails stops the suite with status 1, names the run, and writes no table."""
    suite = 'reps = 1\ntimeout = 60\n[[run]]\nbench = "osu_latency"\nn = 3\nargs = ["-m", "1:8"]\n'
    proc = _compare(tmp_path, suite, "--calibration-rounds", "0", timeout=80)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED: run osu_latency-n3 (toro_mpi, rep 1) failed: exit 1" in proc.stderr, proc.stderr
    assert "This test requires exactly two processes" in proc.stderr
    assert not (tmp_path / "out" / "results.md").exists() and not (tmp_path / "out" / "results.csv").exists()


@pytest.mark.timeout(10)
@pytest.mark.parametrize("text, message", [
    ('[[run]]\nbench = "osu_nope"\n', "bench must be one of"),
    ('[[run]]\nbench = "osu_bw"\nranks = 2\n', "unknown keys ['ranks']"),
    ('reps = 0\n[[run]]\nbench = "osu_bw"\n', "reps must be a positive integer"),
    ('[[run]]\nbench = "osu_bw"\nargs = "-m 8"\n', "args must be a list of strings"),
    ("reps = 2\n", "no [[run]] entries"),
])
def test_suite_file_checked(tmp_path, text, message):
    """Suite files are checked before anything runs."""
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(compare.SuiteError, match=re.escape(message)):
        compare.load_suite(path)


@pytest.mark.timeout(10)
def test_shipped_suites_load():
    """The shipped suites parse; the full one has every port on 2 ranks and the collectives on 4 and 8."""
    assert compare.suite_names() == ["coll", "coll-small", "full", "quick"]
    for name in compare.suite_names():
        compare.load_suite(compare.find_suite(name))
    quick = compare.load_suite(compare.find_suite("quick"))
    full = compare.load_suite(ROOT / "osu" / "suites" / "full.toml")
    assert {r.bench for r in quick.runs} == set(TITLES) and {r.n for r in quick.runs} == {2}
    assert {r.bench for r in full.runs if r.n == 2} == set(TITLES)
    coll = {"osu_barrier", *COLLECTIVES}
    assert {(r.bench, r.n) for r in full.runs if r.n > 2} == {(b, n) for b in coll for n in (4, 8)}


@pytest.mark.timeout(10)
def test_find_suite(tmp_path, monkeypatch):
    """A suite is a file's path or a shipped suite's bare name; an existing file wins over a name,
    and anything else is refused naming the shipped suites."""
    assert compare.find_suite("coll-small") == compare.SUITES / "coll-small.toml"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quick").write_text("reps = 1\n")
    assert compare.find_suite("quick") == Path("quick")
    mine = tmp_path / "mine.toml"
    mine.write_text("reps = 1\n")
    assert compare.find_suite(str(mine)) == mine
    for spec in ("nope", "suites/full", "full.toml", str(tmp_path / "missing.toml")):
        with pytest.raises(compare.SuiteError, match=r"not a file, nor one of the shipped suites coll, coll-small"):
            compare.find_suite(spec)


@pytest.mark.timeout(10)
def test_commands(monkeypatch):
    """toro runs through the launcher; the reference tuned, oversubscribed unbound when n > cores."""
    monkeypatch.setattr(compare, "ncores", lambda: 2)
    monkeypatch.setattr(compare.shutil, "which", lambda name: "/usr/bin/mpiexec")
    run = compare.Run("osu_bcast", 4, ["-m", "8"], "osu_bcast-n4")
    cmd, env = compare.command(run, compare.TORO, 100)
    assert cmd[1:5] == ["-m", "toro_mpi", "-n", "4"] and "--oversubscribe" in cmd and env["OSU_MPI"] == "toro"
    assert cmd[-4:] == ["-m", "osu.osu_bcast", "-m", "8"]
    cmd, env = compare.command(run, compare.REF, 100)
    assert cmd[:6] == ["/usr/bin/mpiexec", "-n", "4", "--oversubscribe", "--bind-to", "none"]
    assert (env["MPI4PY_RC_THREAD_LEVEL"], env["OMPI_MCA_mtl"], env["OMPI_MCA_btl"]) == ("single", "^ofi", "^ofi")
    cmd, _ = compare.command(compare.Run("osu_bw", 2, [], "osu_bw-n2"), compare.REF, 100)
    assert cmd[3:5] == ["--bind-to", "core"]
    monkeypatch.setenv("OMPI_MCA_btl", "self")
    cmd, env = compare.command(run, compare.REF_DEFAULTS, 100)
    assert cmd[:4] == ["/usr/bin/mpiexec", "-n", "4", "--oversubscribe"] and "--bind-to" not in cmd
    assert not any(k.startswith(("OMPI_MCA_", "MPI4PY_RC_")) for k in env)
    assert os.environ["OMPI_MCA_btl"] == "self"  # the caller's environment is left alone


@pytest.mark.timeout(10)
def test_plots_degrade_without_matplotlib(monkeypatch, tmp_path, capsys):
    """Without matplotlib the runner still writes its tables and says how to get the plots."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    assert compare.write_plots(tmp_path, [], [compare.TORO, compare.REF]) == []
    assert "install toro_mpi[bench] for plots" in capsys.readouterr().out


def _raw(folder: Path, name: str, rows: str) -> None:
    """One OMB-style raw output as osu.compare writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"$ the command\n\n# OSU MPI Test v7.4\n# Size       Avg Latency(us)\n{rows}")


def test_pool_pairs_runs_across_directories(tmp_path, capsys):
    """osu.pool pairs each toro repetition with the reference one of the same number, pools by
    (benchmark, n, size) across directories and suite run names, and skips unpaired runs."""
    from osu import pool

    a, b = tmp_path / "a" / "raw", tmp_path / "b"
    _raw(a, "osu_bcast-n2.toro.rep1.out", "4                       1.00\n8    2.00\n")
    _raw(a, "osu_bcast-n2.ref.rep1.out", "4                       2.00\n8    1.00\n")
    _raw(a, "osu_bcast-n2.toro.rep2.out", "4                       3.00\n")  # no reference pair
    _raw(b, "osu_bcast-n2-2.toro.rep1.out", "4    1.50\n")
    _raw(b, "osu_bcast-n2-2.ref.rep1.out", "4    1.00\n")
    _raw(b, "osu_bcast-n4.toro.rep1.out", "4    9.00\n")
    _raw(b, "osu_bcast-n4.ref.rep1.out", "4    3.00\n")
    _raw(b, "osu_barrier-n2.toro.rep1.out", "             0.40\n")
    _raw(b, "osu_barrier-n2.ref.rep1.out", "             0.50\n")
    pooled = pool.pair_ratios([tmp_path / "a", b])
    assert pooled == {("osu_bcast", 2, 4): [0.5, 1.5], ("osu_bcast", 2, 8): [2.0],
                      ("osu_bcast", 4, 4): [3.0], ("osu_barrier", 2, 0): [0.8]}
    assert pool.main([str(tmp_path / "a"), str(b), "--size", "4"]) == 0
    table = capsys.readouterr().out
    assert "| osu_bcast (lower is better) | 2 | 4 | 2 | 1.00 | 1 | 1.50 |" in table
    assert "| osu_barrier (lower is better) | 2 | - | 1 | 0.80 | 1 | 0.80 |" in table
    assert "| 2 | 8 |" not in table  # filtered out by --size
    (tmp_path / "empty").mkdir()
    assert pool.main([str(tmp_path / "empty")]) == 1  # no pairs: an error, not an empty table


def test_pool_rejects_a_missing_directory(tmp_path):
    """A directory that does not exist is a usage error, not an empty table."""
    from osu import pool

    with pytest.raises(SystemExit) as stop:
        pool.main([str(tmp_path / "nowhere")])
    assert stop.value.code == 2


# -- the probes (osu/probes/) ----------------------------------------------------------------------
PROBES = ("barrier_floor", "bcast_floor", "calibrate", "check_cost", "coll_overhead", "green_floor", "heap_cost",
          "overhead", "oversub", "ring_floor", "wake", "window_cost")


def test_probes_listed():
    """`python -m osu.probes` lists every probe with its one-line summary and marks the ones that
    run as MPI ranks; the listing reads the docstrings (no probe is imported)."""
    from osu import probes

    assert probes.names() == list(PROBES)
    for name in PROBES:
        probe = probes.describe(name)
        assert probe.summary and probe.summary.endswith("."), probe
        # Each probe says how it is launched, through the one entry point.
        assert f"python -m osu.probes {name}" in probe.run, probe
    proc = subprocess.run([sys.executable, "-m", "osu.probes"], env=TORO_ENV, cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("  ")}
    assert sorted(lines) == list(PROBES), proc.stdout
    assert lines["barrier_floor"].endswith("[toro-mpirun -n 2]") and "[" not in lines["calibrate"], proc.stdout


def test_probes_unknown_name():
    """An unknown probe is a usage error (status 2) that lists the probes."""
    proc = subprocess.run([sys.executable, "-m", "osu.probes", "nosuch"], env=TORO_ENV, cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "no probe 'nosuch'" in proc.stderr and "ring_floor" in proc.stderr, proc.stderr


@pytest.mark.timeout(90)
def test_probes_import_and_help():
    """Every probe imports (its imports resolve from osu/probes/) and answers -h with a usage that
    names the entry point, all in one process."""
    script = (
        "import contextlib, io, sys\n"
        "from osu.probes.__main__ import main\n"
        f"for name in {PROBES!r}:\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        try:\n"
        "            main([name, '-h'])\n"
        "        except SystemExit as stop:\n"
        "            assert stop.code == 0, (name, stop.code)\n"
        "    assert f'usage: python -m osu.probes {name}' in out.getvalue(), (name, out.getvalue())\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], env={**TORO_ENV, "OSU_MPI": "toro"}, cwd=ROOT,
                          capture_output=True, text=True, timeout=80)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr


@pytest.mark.timeout(90)
def test_probe_runs_under_the_launcher():
    """A probe that runs as MPI ranks works through the entry point under toro-mpirun."""
    proc = subprocess.run([sys.executable, "-m", "toro_mpi", "-n", "2", "--timeout", "60", sys.executable, "-m",
                           "osu.probes", "window_cost", "20", "8"], env=TORO_ENV, cwd=ROOT, capture_output=True,
                          text=True, timeout=80)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(re.findall(r"^rep [01] rank [01]: [\d.]+ us per message", proc.stdout, re.M)) == 4, proc.stdout
