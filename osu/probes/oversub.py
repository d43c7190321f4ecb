"""More ranks than cores: toro_mpi green-thread ranks vs one process per rank vs Open MPI --oversubscribe.

Side by side in one run (issue #5's table).

Run: python -m osu.probes oversub [--ns 4,8,16] [--reps 3] [--iters 500] [--out DIR]

For every rank count and benchmark (osu_barrier, osu_bcast 4 B, osu_reduce 4 B, osu_allreduce 4 B)
the three are launched in turn, A B C A B C..., --reps times, each with OMB's -f option, which
prints the average latency over the ranks and the minimum and maximum of the ranks' averages.
The table gives per backend the median over the repetitions of the average, and the spread
max/avg; then the reference's average over toro_mpi's (above 1: toro_mpi faster). The raw outputs
go to DIR (default bench-results/oversub-<timestamp>, as osu.compare writes) with results.md.
"""

from __future__ import annotations

import datetime
import os
import statistics
import subprocess
import sys
from pathlib import Path

from ..compare import REF, ROOT, TUNED, Run, SuiteError, base_env, command
from . import parser

BENCHES = (("osu_barrier", []), ("osu_bcast", ["-m", "4:4"]), ("osu_reduce", ["-m", "4:4"]),
           ("osu_allreduce", ["-m", "4:4"]))
GREEN, PER_RANK = "green", "per-rank"
BACKENDS = (GREEN, PER_RANK, REF)
LABELS = {GREEN: "toro_mpi green threads", PER_RANK: "toro_mpi process per rank",
          REF: "mpi4py+OpenMPI --oversubscribe"}


def toro_command(run: Run, per_rank: bool, timeout: float) -> tuple[list[str], dict[str, str]]:
    """toro-mpirun for run, as green threads (the default with more ranks than cores) or not."""
    env = base_env()
    env["OSU_MPI"] = "toro"
    cmd = [sys.executable, "-m", "toro_mpi", "-n", str(run.n), "--oversubscribe",
           *(["--process-per-rank"] if per_rank else []), "--timeout", str(max(5, int(timeout) - 10)),
           sys.executable, "-m", f"osu.{run.bench}", *run.args]
    return cmd, env


def parse_full(bench: str, text: str) -> tuple[float, float, float]:
    """(avg, min, max) of the single result row of an OMB -f output."""
    for line in text.splitlines():
        tokens = line.split()
        if not tokens or line.startswith("#"):
            continue
        try:
            values = [float(t) for t in tokens[:5]]
        except ValueError:
            continue
        if bench == "osu_barrier" and len(values) >= 3:
            return values[0], values[1], values[2]
        if len(values) >= 4:
            return values[1], values[2], values[3]
    raise SuiteError(f"{bench}: no result row in\n{text[-1000:]}")


def launch(run: Run, backend: str, timeout: float, raw: Path, rep: int) -> tuple[float, float, float]:
    """One launch; (avg, min, max) in microseconds."""
    if backend == REF:
        cmd, env = command(run, REF, timeout)
        env.update(TUNED)
    else:
        cmd, env = toro_command(run, backend == PER_RANK, timeout)
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)
    (raw / f"{run.id}.{backend}.rep{rep}.out").write_text(f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    if proc.returncode != 0:
        raise SuiteError(f"{run.id} {backend} rep {rep} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return parse_full(run.bench, proc.stdout)


def main(argv: list[str] | None = None) -> int:
    """Run the table; print it and write DIR/results.md."""
    p = parser("oversub", __doc__)
    p.add_argument("--ns", default="4,8,16", help="rank counts (default 4,8,16)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--iters", type=int, default=500, help="OMB -i (and -x a tenth of it)")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    ns = [int(n) for n in args.ns.split(",")]
    out = args.out or Path("bench-results") / f"oversub-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    raw = out / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    timing = ["-f", "-i", str(args.iters), "-x", str(max(1, args.iters // 10))]
    lines = [f"# More ranks than cores ({len(os.sched_getaffinity(0))} cores): medians of {args.reps} runs",
             "", f"Command: `python -m osu.probes oversub --ns {args.ns} --reps {args.reps} --iters {args.iters}`",
             "", "| bench | n | " + " | ".join(f"{LABELS[b]} avg us (max/avg)" for b in BACKENDS)
             + " | ref / green | ref / per-rank |", "|---|---:|" + "---:|" * (len(BACKENDS) + 2)]
    try:
        for n in ns:
            for bench, extra in BENCHES:
                run = Run(bench, n, [*extra, *timing], id=f"{bench}-n{n}")
                got: dict[str, list[tuple[float, float, float]]] = {b: [] for b in BACKENDS}
                for rep in range(args.reps):
                    for backend in BACKENDS:
                        got[backend].append(launch(run, backend, args.timeout, raw, rep))
                med = {b: statistics.median(v[0] for v in got[b]) for b in BACKENDS}
                spread = {b: statistics.median(v[2] / v[0] if v[0] > 0 else 0 for v in got[b]) for b in BACKENDS}
                cells = " | ".join(f"{med[b]:.1f} ({spread[b]:.2f})" for b in BACKENDS)
                line = (f"| {bench} | {n} | {cells} | {med[REF] / med[GREEN]:.2f} | {med[REF] / med[PER_RANK]:.2f} |")
                print(line, flush=True)
                lines.append(line)
    except (SuiteError, subprocess.TimeoutExpired) as exc:
        print(f"osu.probes oversub: {exc}", file=sys.stderr)
        return 1
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:5]))
    print(f"written: {out / 'results.md'}")
    return 0
