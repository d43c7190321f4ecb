"""Pool the paired ratios of several osu.compare runs: one figure per benchmark, rank count and size.

Run: python -m osu.pool DIR [DIR ...] [--size N ...]

Each DIR is an osu.compare output directory (or its raw/ folder). A pair is a toro_mpi repetition
and the reference repetition of the same number (run back to back, so under the same vCPU
placement); its ratio is toro_mpi / reference. Runs of different suites that measured the same
benchmark, rank count and size pool together, so figures taken on different days or with
different suite files add up to one sample. Prints, per (benchmark, n, size): the number of pairs,
the median ratio, how many pairs are at or under 1.0, and the largest ratio. For latency
benchmarks lower is better; for osu_bw and osu_bibw higher is.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path

from .compare import BANDWIDTH, parse_rows

# osu.compare's raw file names: BENCH-nN[-K].BACKEND.repR.out (K numbers a suite's later runs of
# the same benchmark and rank count).
_RAW = re.compile(r"^(osu_\w+)-n(\d+)(?:-\d+)?\.toro\.rep(\d+)\.out$")


def raw_dir(path: Path) -> Path:
    """The folder holding the raw outputs: DIR/raw if it exists, else DIR itself."""
    return path / "raw" if (path / "raw").is_dir() else path


def pair_ratios(dirs: list[Path]) -> dict[tuple[str, int, int], list[float]]:
    """(benchmark, n, size) -> toro_mpi/reference ratio of every pair found in `dirs`."""
    pooled: dict[tuple[str, int, int], list[float]] = {}
    for d in dirs:
        for toro in sorted(raw_dir(d).glob("*.toro.rep*.out")):
            m = _RAW.match(toro.name)
            ref = toro.with_name(toro.name.replace(".toro.", ".ref."))
            if not m or not ref.exists():
                continue  # not a raw output, or its pair did not run
            bench, n = m.group(1), int(m.group(2))
            ours, theirs = parse_rows(bench, toro.read_text()), parse_rows(bench, ref.read_text())
            for size in sorted(ours.keys() & theirs.keys()):
                if theirs[size] > 0:
                    pooled.setdefault((bench, n, size), []).append(ours[size] / theirs[size])
    return pooled


def report(pooled: dict[tuple[str, int, int], list[float]], sizes: set[int] | None = None) -> str:
    """A markdown table of the pooled ratios (only `sizes` when given; barrier rows have size 0)."""
    lines = ["| benchmark | n | size (B) | pairs | median toro/ref | pairs <= 1.0 | max |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for (bench, n, size), ratios in sorted(pooled.items()):
        if sizes is not None and size not in sizes and bench != "osu_barrier":
            continue
        better = "higher" if bench in BANDWIDTH else "lower"
        label = "-" if bench == "osu_barrier" else str(size)
        lines.append(f"| {bench} ({better} is better) | {n} | {label} | {len(ratios)} | "
                     f"{statistics.median(ratios):.2f} | {sum(r <= 1.0 for r in ratios)} | {max(ratios):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the pooled table for the given osu.compare output directories."""
    parser = argparse.ArgumentParser(prog="python -m osu.pool", description=__doc__.split("\n")[0])
    parser.add_argument("dirs", nargs="+", type=Path, help="osu.compare output directories (or their raw/)")
    parser.add_argument("--size", type=int, action="append", help="only this message size (repeatable)")
    args = parser.parse_args(argv)
    missing = [str(d) for d in args.dirs if not d.is_dir()]
    if missing:
        parser.error(f"not a directory: {', '.join(missing)}")
    pooled = pair_ratios(args.dirs)
    if not pooled:
        print("no toro/reference pairs found", file=sys.stderr)
        return 1
    print(report(pooled, set(args.size) if args.size else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
