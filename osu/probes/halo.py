"""Halo exchange of one column of a 4096 x 4096 float64 array with a vector datatype, toro_mpi vs Open MPI.

Run: python -m osu.probes halo [--reps 7] [--n 4096] [--iters 200] [--shape column] [--mean]
Runs the measurement below under toro-mpirun and under mpiexec + mpi4py (tuned, as osu.compare
runs it) alternately, --reps times, a cache-line calibration before each pair, and prints the
medians (min-max), the ratio of the medians and the median of the per-pair ratios.

The measurement alone (one job, CSV `halo,n,mean_us,median_us` on rank 0):
  toro-mpirun -n 2 python -m osu.probes halo --run
  mpiexec -n 2 python -m osu.probes halo --run
Each iteration both ranks call Sendrecv with `[a, 1, column]`, column =
DOUBLE.Create_vector(n, 1, n): rank 0 sends its last column and receives into its first, rank 1
the other way round (the usual 1-D decomposition's ghost-cell exchange). The column's elements
are one row (32 KiB at n = 4096) apart, so the pack and unpack touch one cache line per element.
The time is per exchange (both directions), in us, after a barrier and 10 untimed exchanges: the
median of the timed exchanges (robust on a loaded machine), or with --mean their mean.
--shape picks the other layouts programs exchange (build() says what each is): row (contiguous),
subarray (Create_subarray block, --block columns), blocks (vector of --block doubles per block,
n * --block doubles in all), struct (int32 + float64 records resized to one per row).
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

from . import parser
from ._pair import launch_pair
from .calibrate import measure

SHAPES = ("column", "row", "subarray", "blocks", "struct")


def build(MPI, shape: str, n: int, rank: int, block: int):  # noqa: N803
    """(array, send spec, receive spec, elements to check, datatype to free) of one exchange.

    column: one column of an n x n float64 array, Create_vector(n, 1, n) (the issue's halo);
    row: one row (contiguous: the datatype is Create_contiguous(n));
    subarray: an n/2 x block block at the right/left edge, Create_subarray;
    blocks: Create_vector(n // block, block, 2 * block) of a 1-D array of n * n doubles' first
      n * block * 2 (every other block of `block` doubles);
    struct: Create_struct of (int32, float64) records, resized to 16 bytes, n of them, one
      record per row of the n x n array's column (the same strided access as `column`)."""
    a = np.zeros((n, n))
    flat = a.reshape(-1)
    if shape == "column":
        t = MPI.DOUBLE.Create_vector(n, 1, n).Commit()
        send, recv = (flat[n - 1:], flat) if rank == 0 else (flat, flat[n - 1:])
        a[:, n - 1 if rank == 0 else 0] = np.arange(n) + 1000.0 * rank
        return a, [send, 1, t], [recv, 1, t], (lambda: a[:, 0] if rank == 0 else a[:, n - 1]), t
    if shape == "row":
        t = MPI.DOUBLE.Create_contiguous(n).Commit()
        a[n - 1 if rank == 0 else 0] = np.arange(n) + 1000.0 * rank
        send, recv = (a[n - 1], a[0]) if rank == 0 else (a[0], a[n - 1])
        return a, [send, 1, t], [recv, 1, t], (lambda: a[0] if rank == 0 else a[n - 1]), t
    if shape == "subarray":
        h = n // 2
        mine = [0, n - block] if rank == 0 else [0, 0]
        theirs = [0, 0] if rank == 0 else [0, n - block]
        ts = MPI.DOUBLE.Create_subarray([n, n], [h, block], mine).Commit()
        tr = MPI.DOUBLE.Create_subarray([n, n], [h, block], theirs).Commit()
        a[:h, mine[1]:mine[1] + block] = np.arange(h * block).reshape(h, block) + 1000.0 * rank

        def got():
            return a[:h, theirs[1]:theirs[1] + block].reshape(-1)
        return a, [a, 1, ts], [a, 1, tr], got, (ts, tr)
    if shape == "blocks":
        m = n * block * 2  # doubles in the 1-D array
        b = np.zeros(2 * m)
        t = MPI.DOUBLE.Create_vector(m // (2 * block), block, 2 * block).Commit()
        src, dst = (b[:m], b[m:]) if rank == 0 else (b[m:], b[:m])
        src.reshape(-1, 2 * block)[:, :block] = (np.arange(m // 2) + 1000.0 * rank).reshape(-1, block)
        return b, [src, 1, t], [dst, 1, t], (lambda: dst.reshape(-1, 2 * block)[:, :block].reshape(-1)), t
    if shape == "struct":
        rec = MPI.Datatype.Create_struct([1, 1], [0, 8], [MPI.INT32_T, MPI.DOUBLE]).Commit()
        row = rec.Create_resized(0, n * 8).Commit()  # one record per row of the n x n array
        t = row.Create_contiguous(n).Commit()
        send, recv = (flat[n - 2:], flat) if rank == 0 else (flat, flat[n - 2:])
        a[:, n - 1 if rank == 0 else 1] = np.arange(n) + 1000.0 * rank
        rec.Free()
        row.Free()
        return a, [send, 1, t], [recv, 1, t], (lambda: a[:, 1] if rank == 0 else a[:, n - 1]), t
    raise SystemExit(f"unknown shape {shape!r} (one of {', '.join(SHAPES)})")


def measure_job(n: int, iters: int, shape: str = "column", block: int = 4) -> None:
    """The in-job measurement: CSV on rank 0 (mean and median us per exchange), data checked."""
    from ..backend import load_mpi

    MPI = load_mpi()  # noqa: N806
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    other = 1 - rank
    _, send, recv, got, types = build(MPI, shape, n, rank, block)
    for _ in range(10):
        comm.Sendrecv(send, other, 7, recv, other, 7)
    comm.Barrier()
    each = np.empty(iters)
    wtime = MPI.Wtime
    t0 = wtime()
    for i in range(iters):
        t = wtime()
        comm.Sendrecv(send, other, 7, recv, other, 7)
        each[i] = wtime() - t
    us = (wtime() - t0) * 1e6 / iters
    # Each rank sent arange(k) + 1000 * its rank in the elements it owns.
    received = got()
    assert (received == np.arange(received.size) + 1000.0 * other).all(), "halo data corrupted"
    for t in types if isinstance(types, tuple) else (types,):
        t.Free()
    if rank == 0:
        print(f"halo,{n},{us:.3f},{float(np.median(each)) * 1e6:.3f}", flush=True)


def run_once(backend: str, args: argparse.Namespace) -> float:
    """One launch of the measurement; us per exchange (the median of the exchanges, or with
    --mean their mean: the mean counts every preemption of a loaded machine)."""
    bench = [sys.executable, "-m", "osu.probes", "halo", "--run", "--n", str(args.n), "--iters", str(args.iters),
             "--shape", args.shape, "--block", str(args.block)]
    stdout = launch_pair(backend, bench, args.timeout)
    for line in stdout.splitlines():
        parts = line.split(",")
        if len(parts) == 4 and parts[0] == "halo":
            return float(parts[2] if args.mean else parts[3])
    raise SystemExit(f"{backend}: no result line in:\n{stdout}")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison (or, with --run, the measurement inside a job)."""
    ap = parser("halo", __doc__)
    ap.add_argument("--run", action="store_true", help="measure inside this job (under a launcher)")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--n", type=int, default=4096, help="the array is n x n float64")
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--shape", choices=SHAPES, default="column", help="what is exchanged (see build())")
    ap.add_argument("--block", type=int, default=4, help="doubles per block (blocks) or columns (subarray)")
    ap.add_argument("--mean", action="store_true", help="report the mean per exchange, not the median")
    args = ap.parse_args(argv)
    if args.run:
        measure_job(args.n, args.iters, args.shape, args.block)
        return 0
    toro, ref, calib = [], [], []
    for rep in range(args.reps):
        calib.append(measure(rounds=100_000))
        for backend in ("toro", "mpi4py") if rep % 2 == 0 else ("mpi4py", "toro"):
            (toro if backend == "toro" else ref).append(run_once(backend, args))
        print(f"rep {rep + 1}/{args.reps}: calibration {calib[-1]:.0f} ns, toro {toro[-1]:.1f} us, "
              f"Open MPI {ref[-1]:.1f} us", file=sys.stderr, flush=True)
    ratios = [t / r for t, r in zip(toro, ref, strict=True)]
    print(f"calibration (cache-line one-way, per rep): {', '.join(f'{c:.0f}' for c in calib)} ns")
    stat = "mean" if args.mean else "median"
    print(f"halo exchange, shape {args.shape} (block {args.block}), n = {args.n}, {stat} us per Sendrecv, "
          f"{args.reps} runs")
    print(f"toro_mpi: {statistics.median(toro):.1f} ({min(toro):.1f}-{max(toro):.1f})")
    print(f"mpi4py + Open MPI: {statistics.median(ref):.1f} ({min(ref):.1f}-{max(ref):.1f})")
    print(f"ratio of medians: {statistics.median(toro) / statistics.median(ref):.2f}, "
          f"paired: {statistics.median(ratios):.2f} (max {max(ratios):.2f})")
    return 0
