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

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import COLLECTIVES, PT2PT, REF_ENV, TESTS, TITLES, TORO_ENV, ref_available, run_ref, run_toro

ROOT = TESTS.parent
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
    """Path of the batch driver (absolute: helpers.program() accepts it)."""
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


# -- the probes (osu/probes/) ----------------------------------------------------------------------
PROBES = ("barrier_floor", "bcast_floor", "calibrate", "call_cost", "check_cost", "coll_overhead",
          "combine_cost", "green_floor", "halo", "heap_cost", "jit", "overhead", "overlap", "oversub",
          "ring_floor", "stream_cost", "wake", "window_cost")


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
