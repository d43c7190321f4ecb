"""What sending from MPI.Alloc_mem memory gains: latency and bandwidth, Alloc_mem vs numpy buffers.

Run: python -m osu.probes heap_cost [--reps 5] [--min 65536] [--max 4194304]
Runs the measurement below under toro-mpirun and under mpiexec + mpi4py (tuned, as
osu.compare runs it) alternately, --reps times, a cache-line calibration before each pair, and
prints medians with min-max and ratios. Under toro_mpi an Alloc_mem buffer of at least
`bus.heap_threshold` bytes lives in the rank's shared heap and travels as a descriptor (one
copy, by the receiver); a numpy buffer travels through the ring (two pipelined copies).

The measurement alone (one job, both buffer kinds, CSV `test,kind,size,value` on rank 0):
  toro-mpirun -n 2 python -m osu.probes heap_cost --run
  mpiexec -n 2 python -m osu.probes heap_cost --run
latency: OSU osu_latency's ping-pong (Send/Recv), one-way us; bandwidth: osu_bw's window of 64
Isend/Irecv and a 4-byte reply, MB/s (10**6 bytes). Both send and receive buffers are of the
kind measured. Within a job the two kinds alternate per size (A B, then B A at the next size).
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

from . import parser
from ._pair import launch_pair
from .calibrate import measure

WINDOW = 64


def _buffers(MPI, kind: str, size: int):  # noqa: N803 - the MPI module, as mpi4py programs name it
    """(send, receive, keep) uint8 arrays of the kind; keep holds Alloc_mem memory to free."""
    if kind == "numpy":
        return np.full(size, 1, np.uint8), np.zeros(size, np.uint8), []
    smem, rmem = MPI.Alloc_mem(size), MPI.Alloc_mem(size)
    sbuf, rbuf = np.frombuffer(smem, np.uint8), np.frombuffer(rmem, np.uint8)
    sbuf[:] = 1
    return sbuf, rbuf, [smem, rmem]


def timed_loop(MPI, comm, iters: int, skip: int, step) -> float:  # noqa: N803 - the MPI module
    """After a Barrier, run step() `skip` untimed times, then `iters` timed ones; seconds taken."""
    comm.Barrier()
    t0 = 0.0
    for i in range(iters + skip):
        if i == skip:
            t0 = MPI.Wtime()
        step()
    return MPI.Wtime() - t0


def one_way_us(MPI, comm, sbuf, rbuf, iters: int, skip: int) -> float:  # noqa: N803 - the MPI module
    """Ping-pong between ranks 0 and 1 (osu_latency's loop): one-way latency in us over `iters`
    round trips after `skip` untimed ones."""
    rank = comm.Get_rank()

    def step() -> None:
        if rank == 0:
            comm.Send(sbuf, 1, 1)
            comm.Recv(rbuf, 1, 1)
        else:
            comm.Recv(rbuf, 0, 1)
            comm.Send(sbuf, 0, 1)

    return timed_loop(MPI, comm, iters, skip, step) * 1e6 / (2 * iters)


def _bandwidth(MPI, comm, sbuf, rbuf, iters: int, skip: int) -> float:  # noqa: N803
    rank = comm.Get_rank()
    ack = np.zeros(4, np.uint8)

    def step() -> None:
        if rank == 0:
            MPI.Request.Waitall([comm.Isend(sbuf, 1, 100) for _ in range(WINDOW)])
            comm.Recv(ack, 1, 101)
        else:
            MPI.Request.Waitall([comm.Irecv(rbuf, 0, 100) for _ in range(WINDOW)])
            comm.Send(ack, 0, 101)

    return sbuf.nbytes * WINDOW * iters / timed_loop(MPI, comm, iters, skip, step) / 1e6


def measure_job(min_size: int, max_size: int, kinds: tuple[str, ...] = ("numpy", "alloc")) -> None:
    """The in-job measurement: each of `kinds` per size, CSV on rank 0."""
    from ..backend import load_mpi

    MPI = load_mpi()  # noqa: N806
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    size = min_size
    flip = False
    while size <= max_size:
        lat_iters = max(50, min(1000, (64 << 20) // size))
        bw_iters = max(10, min(100, (256 << 20) // (size * WINDOW)))
        for kind in kinds[::-1] if flip else kinds:
            sbuf, rbuf, keep = _buffers(MPI, kind, size)
            lat = one_way_us(MPI, comm, sbuf, rbuf, lat_iters, 10)
            bw = _bandwidth(MPI, comm, sbuf, rbuf, bw_iters, 2)
            if rank == 1:
                assert (rbuf == 1).all(), f"{kind} {size}: data corrupted"
            del sbuf, rbuf
            for mem in keep:
                MPI.Free_mem(mem)
            if rank == 0:
                print(f"latency,{kind},{size},{lat:.3f}", flush=True)
                print(f"bandwidth,{kind},{size},{bw:.1f}", flush=True)
        flip = not flip
        size *= 2


def run_once(backend: str, args: argparse.Namespace) -> dict[tuple[str, str, int], float]:
    """One launch of the measurement; returns (test, kind, size) -> value."""
    bench = [sys.executable, "-m", "osu.probes", "heap_cost", "--run", "--min", str(args.min), "--max", str(args.max)]
    extra = ("--config", args.config) if args.config else ()
    stdout = launch_pair(backend, bench, args.timeout, extra)
    out = {}
    for line in stdout.splitlines():
        parts = line.split(",")
        if len(parts) == 4:
            out[(parts[0], parts[1], int(parts[2]))] = float(parts[3])
    return out


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def report(results: dict[str, list[dict]], calib: list[float]) -> None:
    """Markdown tables: per test, per size, both kinds on both MPIs, with ratios."""
    print(f"calibration (cache-line one-way, per rep): {', '.join(f'{c:.0f}' for c in calib)} ns")
    sizes = sorted({k[2] for k in results["toro"][0]})
    for test, unit in (("latency", "us one-way"), ("bandwidth", "MB/s")):
        print()
        print(f"{test} ({unit}), median (min-max) of {len(calib)} runs")
        print()
        print("| size (B) | toro numpy | toro Alloc_mem | Alloc_mem/numpy | OpenMPI numpy | OpenMPI Alloc_mem "
              "| toro/OpenMPI, Alloc_mem |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        for s in sizes:
            v = {(b, k): [r[(test, k, s)] for r in results[b]] for b in results for k in ("numpy", "alloc")}
            med = {key: statistics.median(vals) for key, vals in v.items()}
            print(f"| {s} | {_cell(v['toro', 'numpy'])} | {_cell(v['toro', 'alloc'])} | "
                  f"{med['toro', 'alloc'] / med['toro', 'numpy']:.2f} | {_cell(v['mpi4py', 'numpy'])} | "
                  f"{_cell(v['mpi4py', 'alloc'])} | {med['toro', 'alloc'] / med['mpi4py', 'alloc']:.2f} |")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison (or, with --run, the measurement inside a job)."""
    ap = parser("heap_cost", __doc__)
    ap.add_argument("--run", action="store_true", help="measure inside this job (under a launcher)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min", type=int, default=64 << 10)
    ap.add_argument("--max", type=int, default=4 << 20)
    ap.add_argument("--kinds", default="numpy,alloc", help="with --run: the buffer kinds to measure")
    ap.add_argument("--config", help="toro-mpirun --config file for the toro_mpi runs")
    ap.add_argument("--toro-only", action="store_true", help="skip the mpi4py + OpenMPI runs")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args(argv)
    if args.run:
        kinds = tuple(args.kinds.split(","))
        if not kinds or any(k not in ("numpy", "alloc") for k in kinds):
            ap.error(f"--kinds takes numpy and/or alloc, not {args.kinds!r}")
        measure_job(args.min, args.max, kinds)
        return 0
    backends = ("toro",) if args.toro_only else ("toro", "mpi4py")
    results: dict[str, list[dict]] = {b: [] for b in backends}
    calib = []
    for rep in range(args.reps):
        calib.append(measure(rounds=100_000))
        for backend in backends if rep % 2 == 0 else backends[::-1]:
            results[backend].append(run_once(backend, args))
        print(f"rep {rep + 1}/{args.reps}: calibration {calib[-1]:.0f} ns", file=sys.stderr, flush=True)
    if args.toro_only:
        results["mpi4py"] = results["toro"]  # columns repeat toro's; ratios against itself
    report(results, calib)
    return 0
