"""What a call costs per argument form: bare arrays, `[data, MPI.DOUBLE]` specs, objects; both MPIs.

Run: python -m osu.probes call_cost [--reps 3] [--calls 20000]
Runs the measurement below under toro-mpirun and under mpiexec + mpi4py (tuned, as osu.compare
runs it) alternately, --reps times, a cache-line calibration before each pair, and prints per
call the median with min-max, and the paired toro/reference ratio (the median of the ratios
within each back-to-back pair).

The measurement alone (one job, CSV `call,form,us` on rank 0):
  toro-mpirun -n 2 python -m osu.probes call_cost --run
  mpiexec -n 2 python -m osu.probes call_cost --run
Each call is timed in a loop of --calls calls on 8 float64 (an 8 B ping-pong for Send/Recv,
one-way us) with the same arrays every call, as a program's loop passes them: bare, then as
[data, MPI.DOUBLE], a new list each call, as mpi4py's tutorials write it; then the lowercase
object calls (send/recv, sendrecv, bcast, reduce, allreduce, gather, allgather) on a small dict
and on the int 7, as tutorials start. The collectives are
timed on rank 0, their root, without a barrier per call: a loop's cost as a program sees it,
comparable between the two MPIs, not one call's latency.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

from . import parser
from ._pair import launch_pair
from .calibrate import measure

FORMS = ("bare", "spec")
OBJECTS = {"int": 7, "dict": {"step": 3, "norm": 0.25, "ranks": [0, 1]}}


def _calls(MPI, comm) -> dict[str, object]:  # noqa: N803 - the MPI module, as mpi4py programs name it
    """call name -> function(form) running that call once on this rank's fixed arrays."""
    rank, peer = comm.Get_rank(), 1 - comm.Get_rank()
    a, b = np.ones(8), np.zeros(8)
    g = np.zeros(8 * comm.Get_size())
    dbl = MPI.DOUBLE

    def wrap(arr: np.ndarray, form: str) -> object:
        return arr if form == "bare" else [arr, dbl]

    def pingpong(form: str) -> None:
        if rank == 0:
            comm.Send(wrap(a, form), peer, 1)
            comm.Recv(wrap(b, form), peer, 1)
        else:
            comm.Recv(wrap(b, form), peer, 1)
            comm.Send(wrap(a, form), peer, 1)

    return {
        "Send/Recv one-way": pingpong,
        "Sendrecv": lambda form: comm.Sendrecv(wrap(a, form), peer, 2, wrap(b, form), peer, 2),
        "Bcast": lambda form: comm.Bcast(wrap(a, form), 0),
        "Reduce": lambda form: comm.Reduce(wrap(a, form), wrap(b, form), MPI.SUM, 0),
        "Allreduce": lambda form: comm.Allreduce(wrap(a, form), wrap(b, form), MPI.SUM),
        "Gather": lambda form: comm.Gather(wrap(a, form), wrap(g, form), 0),
        "Allgather": lambda form: comm.Allgather(wrap(a, form), wrap(g, form)),
    }


def _object_calls(MPI, comm) -> dict[str, object]:  # noqa: N803 - the MPI module
    """call name -> function(form) running that lowercase call once with OBJECTS[form]."""
    rank, peer = comm.Get_rank(), 1 - comm.Get_rank()

    def pingpong(form: str) -> None:
        obj = OBJECTS[form]
        if rank == 0:
            comm.send(obj, dest=peer, tag=1)
            comm.recv(source=peer, tag=1)
        else:
            comm.recv(source=peer, tag=1)
            comm.send(obj, dest=peer, tag=1)

    return {
        "send/recv one-way": pingpong,
        "sendrecv": lambda form: comm.sendrecv(OBJECTS[form], dest=peer, sendtag=2, source=peer, recvtag=2),
        "bcast": lambda form: comm.bcast(OBJECTS[form], root=0),
        "reduce": lambda form: comm.reduce(7, op=MPI.SUM, root=0),
        "allreduce": lambda form: comm.allreduce(7, op=MPI.SUM),
        "gather": lambda form: comm.gather(OBJECTS[form], root=0),
        "allgather": lambda form: comm.allgather(OBJECTS[form]),
    }


def measure_job(calls: int) -> None:
    """The in-job measurement: every call in each of its forms, CSV on rank 0."""
    from ..backend import load_mpi

    MPI = load_mpi()  # noqa: N806
    comm = MPI.COMM_WORLD
    table = [(name, call, FORMS) for name, call in _calls(MPI, comm).items()]
    table += [(name, call, ("int",) if name.endswith("reduce") else tuple(OBJECTS))
              for name, call in _object_calls(MPI, comm).items()]
    for name, call, forms in table:
        for form in forms:
            for _ in range(calls // 10):
                call(form)  # warm: kernels, records
            comm.Barrier()
            t0 = MPI.Wtime()
            for _ in range(calls):
                call(form)
            took = (MPI.Wtime() - t0) / calls * 1e6
            if name.endswith("one-way"):
                took /= 2
            if comm.Get_rank() == 0:
                print(f"{name},{form},{took:.3f}", flush=True)


def run_once(backend: str, args: argparse.Namespace) -> dict[tuple[str, str], float]:
    """One launch of the measurement; returns (call, form) -> us."""
    bench = [sys.executable, "-m", "osu.probes", "call_cost", "--run", "--calls", str(args.calls)]
    stdout = launch_pair(backend, bench, args.timeout)
    out = {}
    for line in stdout.splitlines():
        parts = line.split(",")
        if len(parts) == 3:
            out[(parts[0], parts[1])] = float(parts[2])
    return out


def main(argv: list[str] | None = None) -> int:
    """Alternate toro_mpi and the reference --reps times and print the table (or, with --run,
    be one job's ranks)."""
    ap = parser("call_cost", __doc__)
    ap.add_argument("--run", action="store_true", help="be the measurement's ranks (under a launcher)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args(argv)
    if args.run:
        measure_job(args.calls)
        return 0
    runs: dict[str, list[dict[tuple[str, str], float]]] = {"toro": [], "ref": []}
    for rep in range(args.reps):
        print(f"pair {rep + 1}/{args.reps}: calibration {measure():.0f} ns", file=sys.stderr, flush=True)
        for backend in ("toro", "ref") if rep % 2 == 0 else ("ref", "toro"):
            runs[backend].append(run_once(backend, args))
    print("| call | form | toro_mpi us | reference us | paired toro/ref |")
    print("|---|---|---:|---:|---:|")
    for key in runs["toro"][0]:
        t = [r[key] for r in runs["toro"] if key in r]
        f = [r[key] for r in runs["ref"] if key in r]
        if len(t) != len(f):
            print(f"| {key[0]} | {key[1]} | a run did not report it | | |")
            continue
        paired = statistics.median(a / b for a, b in zip(t, f, strict=True))
        print(f"| {key[0]} | {key[1]} | {statistics.median(t):.2f} ({min(t):.2f}-{max(t):.2f}) "
              f"| {statistics.median(f):.2f} ({min(f):.2f}-{max(f):.2f}) | {paired:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
