"""Large messages: plain vs streaming stores vs the receiver's choice, against the reference.

The two-copy pipeline through the ring written with plain and with non-temporal (streaming)
stores, and as shipped (timed trials of both kinds, after which the receiver advises the
cheaper: `[bus] stream_probe`, bus/layout.py "Streaming stores"), against the reference's
single copy.

Run: python -m osu.probes stream_cost [--reps 6] [--min 4096] [--max 4194304]
Launches the measurement below alternately under toro-mpirun with `[bus] stream_threshold = 0`
(plain stores), with the threshold given (default 8192, the shipped default) and
`stream_probe = false` (always streaming), with that threshold and trials on (the
receiver's choice), and under mpiexec + mpi4py (tuned, as osu.compare runs it), --reps times, with
a cache-line calibration before each round, and prints every round's figures next to its
calibration, then medians and paired ratios. Read the rounds by their calibration: when the two
cores share a cache (tens of ns) plain stores are the faster pipeline; when they do not (a few
hundred ns, two dies or a VM's vCPUs placed apart) the receiver pulls every line out of the
sender's cache and plain stores lose up to 10x, which is what streaming removes (BENCHMARKS.md,
"Large messages"); the receiver's choice should follow the faster of the two.

The measurement alone (one job, CSV `test,numpy,size,value` on rank 0), as heap_cost's:
  toro-mpirun -n 2 python -m osu.probes heap_cost --run --kinds numpy
latency: osu_latency's ping-pong, one-way us; bandwidth: osu_bw's window of 64 Isend/Irecv, MB/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from . import parser
from ._pair import launch_pair
from .calibrate import measure

SIDES = ("plain", "stream", "chosen", "mpi4py")


def run_once(side: str, args: argparse.Namespace, configs: dict[str, str]) -> dict[tuple[str, int], float]:
    """One launch of heap_cost's measurement with numpy buffers; returns (test, size) -> value."""
    bench = [sys.executable, "-m", "osu.probes", "heap_cost", "--run", "--kinds", "numpy",
             "--min", str(args.min), "--max", str(args.max)]
    backend = "mpi4py" if side == "mpi4py" else "toro"
    extra = ("--config", configs[side]) if side in configs else ()
    out = {}
    for line in launch_pair(backend, bench, args.timeout, extra).splitlines():
        parts = line.split(",")
        if len(parts) == 4:
            out[(parts[0], int(parts[2]))] = float(parts[3])
    return out


def _ratio(a: list[float], b: list[float]) -> float:
    """Median of the per-round ratios a/b (each round's two runs share one vCPU placement)."""
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def report(results: dict[str, list[dict]], calib: list[float]) -> None:
    """Per test: every round with its calibration, then medians and paired ratios."""
    sizes = sorted({k[1] for k in results["plain"][0]})
    for test, unit in (("latency", "us one-way, lower is better"), ("bandwidth", "MB/s, higher is better")):
        print(f"\n{test} ({unit}); rounds as plain / stream / chosen / reference\n")
        print("| size (B) | " + " | ".join(f"round {i + 1} ({c:.0f} ns)" for i, c in enumerate(calib))
              + " | median plain / stream / chosen / ref | paired stream/plain | paired chosen/plain"
              " | paired chosen/stream | paired chosen/ref |")
        print("|---:|" + "---:|" * (len(calib) + 5))
        for s in sizes:
            v = {side: [r[(test, s)] for r in results[side]] for side in SIDES}
            rounds = " | ".join(" / ".join(f"{v[side][i]:.4g}" for side in SIDES) for i in range(len(calib)))
            med = " / ".join(f"{statistics.median(v[side]):.4g}" for side in SIDES)
            print(f"| {s} | {rounds} | {med} | {_ratio(v['stream'], v['plain']):.2f} | "
                  f"{_ratio(v['chosen'], v['plain']):.2f} | {_ratio(v['chosen'], v['stream']):.2f} | "
                  f"{_ratio(v['chosen'], v['mpi4py']):.2f} |")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison."""
    ap = parser("stream_cost", __doc__)
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--min", type=int, default=4 << 10)
    ap.add_argument("--max", type=int, default=4 << 20)
    ap.add_argument("--threshold", type=int, default=8192, help="stream_threshold of the streaming side")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stream_cost-") as tmp:
        configs = {}
        for side, text in (("plain", "stream_threshold = 0"),
                           ("stream", f"stream_threshold = {args.threshold}\nstream_probe = false"),
                           ("chosen", f"stream_threshold = {args.threshold}")):
            path = Path(tmp) / f"{side}.toml"
            path.write_text(f"[bus]\n{text}\n")
            configs[side] = str(path)
        results: dict[str, list[dict]] = {side: [] for side in SIDES}
        calib = []
        for rep in range(args.reps):
            calib.append(measure(rounds=100_000))
            for side in SIDES if rep % 2 == 0 else SIDES[::-1]:
                results[side].append(run_once(side, args, configs))
            print(f"round {rep + 1}/{args.reps}: calibration {calib[-1]:.0f} ns", file=sys.stderr, flush=True)
    report(results, calib)
    return 0
