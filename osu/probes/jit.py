"""MPI from numba-jitted code: in-jit ping-pong (toro_mpi.jit, numba-mpi) and the Jacobi examples.

Run: python -m osu.probes jit [--reps 5] [--jacobi] [--ranks 2 4 8]
Ping-pong (default): 8 B one-way latency, each configuration in its own 2-rank job pinned to
cores, alternating, --reps times; medians and per-rep ratios:
  toro_jit   toro-mpirun, the loop in one @njit function calling toro_mpi.jit.send / recv
  toro_py    toro-mpirun, Python-level Comm.Send / Recv (osu_latency's pattern)
  ref_py     mpiexec + mpi4py + Open MPI (tuned as osu.compare), Python-level Send / Recv
  numba_mpi  mpiexec + numba-mpi, the loop in one @njit function (skipped if not installed)
--trace: where one run's timed steps wait (per-process scheduler waits, numba compiles and loads
inside them), `--ranks 4 --trace [--trace-mode py] --steps 300`.
--jacobi: time per iteration of examples/jacobi_{jit,mpi4py,numba_mpi}.py at each --ranks
(more ranks than cores: toro_mpi hosts them as green threads, mpiexec oversubscribes; jit@toro+ppr
is the jitted solver with one process per rank there).

The measurement alone (one job, CSV `pingpong,KIND,us` on rank 0):
  toro-mpirun -n 2 python -m osu.probes jit --run toro_jit
  mpiexec -n 2 python -m osu.probes jit --run numba_mpi
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import parser
from ._pair import launch_pair

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("toro_jit", "toro_py", "ref_py", "numba_mpi")


def _jit_loop_toro():
    import numba

    import toro_mpi.jit as tj

    @numba.njit(cache=True)
    def loop(h, buf, n, rank):
        other = 1 - rank
        for _ in range(n):
            if rank == 0:
                c = tj.send(h, buf, other, 1) or tj.recv(h, buf, other, 1)
            else:
                c = tj.recv(h, buf, other, 1) or tj.send(h, buf, other, 1)
            if c != 0:
                return c
        return 0

    return loop


def _jit_loop_numba_mpi():
    import numba
    import numba_mpi as nm

    @numba.njit
    def loop(h, buf, n, rank):
        other = 1 - rank
        for _ in range(n):
            if rank == 0:
                c = nm.send(buf, other, 1) or nm.recv(buf, other, 1)
            else:
                c = nm.recv(buf, other, 1) or nm.send(buf, other, 1)
            if c != 0:
                return c
        return 0

    return loop


def measure_job(kind: str, iters: int) -> None:
    """The in-job measurement: one-way latency of an 8 B ping-pong, CSV on rank 0."""
    from ..backend import load_mpi

    MPI = load_mpi()  # noqa: N806
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    buf = np.zeros(1, np.float64)
    if kind in ("toro_py", "ref_py"):
        other = 1 - rank

        def loop(h, buf, n, rank):
            for _ in range(n):
                if rank == 0:
                    comm.Send(buf, other, 1)
                    comm.Recv(buf, other, 1)
                else:
                    comm.Recv(buf, other, 1)
                    comm.Send(buf, other, 1)
            return 0
        h = None
    elif kind == "toro_jit":
        import toro_mpi.jit as tj

        loop = _jit_loop_toro()
        h = tj.comm_handle(comm)
    else:
        loop = _jit_loop_numba_mpi()
        h = 0
    assert loop(h, buf, 1000, rank) == 0  # compile / warm up
    comm.Barrier()
    t0 = time.perf_counter()
    assert loop(h, buf, iters, rank) == 0
    us = (time.perf_counter() - t0) * 1e6 / iters / 2
    if rank == 0:
        print(f"pingpong,{kind},{us:.4f}", flush=True)


def run_once(kind: str, iters: int, timeout: float) -> float:
    """One 2-rank job of `kind`; us one-way."""
    bench = [sys.executable, "-m", "osu.probes", "jit", "--run", kind, "--iters", str(iters)]
    backend = "toro" if kind.startswith("toro") else "mpi4py"
    for line in launch_pair(backend, bench, timeout).splitlines():
        parts = line.split(",")
        if len(parts) == 3 and parts[0] == "pingpong":
            return float(parts[2])
    raise SystemExit(f"{kind}: no result line")


def _have_numba_mpi() -> bool:
    # Looked up, not imported: importing it imports mpi4py.MPI, an Open MPI singleton in this
    # process, which leaves its shared-memory file in /dev/shm at exit.
    return importlib.util.find_spec("numba_mpi") is not None


def pingpong(args: argparse.Namespace) -> None:
    """The alternating comparison of the ping-pong kinds."""
    kinds = [k for k in KINDS if k != "numba_mpi" or _have_numba_mpi()]
    res: dict[str, list[float]] = {k: [] for k in kinds}
    for rep in range(args.reps):
        order = kinds if rep % 2 == 0 else kinds[::-1]
        for k in order:
            res[k].append(run_once(k, args.iters, args.timeout))
        print(f"rep {rep + 1}/{args.reps}: " + ", ".join(f"{k} {res[k][-1]:.3f}" for k in kinds), file=sys.stderr,
              flush=True)
    print(f"8 B ping-pong, one-way us, {args.reps} runs of {args.iters} round trips: median (min-max)")
    for k in kinds:
        v = res[k]
        print(f"  {k:<10} {statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f})")
    for a, b in (("toro_jit", "ref_py"), ("toro_jit", "numba_mpi"), ("toro_jit", "toro_py")):
        if a in res and b in res:
            paired = [x / y for x, y in zip(res[a], res[b], strict=True)]
            print(f"  {a} / {b}: ratio of medians {statistics.median(res[a]) / statistics.median(res[b]):.2f}, "
                  f"paired median {statistics.median(paired):.2f}")


def _jacobi_once(version: str, n: int, args: argparse.Namespace) -> float:
    """One Jacobi run; us per iteration."""
    script = str(ROOT / "examples" / f"jacobi_{version.split('@')[0]}.py")
    opts = ["--nx", str(args.nx), "--ny", str(args.ny), "--steps", str(args.steps), "--tol", "0"]
    if "@toro" in version:
        flags = ["--mpi4py"] if "mpi4py" in version else []
        if version.endswith("+ppr"):
            flags.append("--process-per-rank")
        cmd = [sys.executable, "-m", "toro_mpi", "-n", str(n), "--oversubscribe", "--timeout", str(int(args.timeout)),
               *flags, sys.executable, script, *opts]
        env = dict(os.environ)
    else:
        from ..compare import TUNED

        cmd = [shutil.which("mpiexec") or "mpiexec", "-n", str(n), "--oversubscribe", sys.executable, script, *opts]
        env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", **TUNED}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    m = re.search(r"time/iter ([0-9.]+) us", proc.stdout)
    if proc.returncode != 0 or m is None:
        raise SystemExit(f"{version} -n {n} failed:\n{proc.stdout[-1000:]}\n{proc.stderr[-2000:]}")
    return float(m.group(1))


def jacobi(args: argparse.Namespace) -> None:
    """Time per iteration of the Jacobi versions at each rank count, alternating."""
    versions = ["jit@toro", "mpi4py@toro", "mpi4py@ref"] + (["numba_mpi@ref"] if _have_numba_mpi() else [])
    print(f"Jacobi {args.ny}x{args.nx}, {args.steps} steps, us per iteration: median (min-max) of {args.reps}")
    for n in args.ranks:
        # More ranks than cores: toro_mpi hosts them as green threads (the default); +ppr is the
        # jitted solver with one process per rank instead (--process-per-rank).
        extra = ["jit@toro+ppr"] if n > len(os.sched_getaffinity(0)) else []
        res: dict[str, list[float]] = {v: [] for v in [*versions[:1], *extra, *versions[1:]]}
        versions_n = list(res)
        for rep in range(args.reps):
            for v in versions_n if rep % 2 == 0 else versions_n[::-1]:
                res[v].append(_jacobi_once(v, n, args))
        line = ", ".join(f"{v} {statistics.median(x):.1f} ({min(x):.1f}-{max(x):.1f})" for v, x in res.items())
        print(f"  -n {n}: {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the comparison (or, with --run KIND, the measurement inside a job)."""
    ap = parser("jit", __doc__)
    ap.add_argument("--run", choices=KINDS, help="measure inside this job (under a launcher)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--iters", type=int, default=100_000)
    ap.add_argument("--jacobi", action="store_true", help="the Jacobi examples instead of the ping-pong")
    ap.add_argument("--ranks", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--nx", type=int, default=256)
    ap.add_argument("--ny", type=int, default=256)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--trace", action="store_true",
                    help="trace where one Jacobi run's timed steps wait (osu/probes/_jit_trace.py; first --ranks)")
    ap.add_argument("--trace-mode", choices=("jit", "py"), default="jit", help="--trace: the jitted or Python solver")
    args = ap.parse_args(argv)
    if args.trace:
        from ._jit_trace import trace

        return trace(args.ranks[0], args.trace_mode, args.nx, args.ny, args.steps, args.timeout)
    if args.run:
        measure_job(args.run, args.iters)
    elif args.jacobi:
        jacobi(args)
    else:
        pingpong(args)
    return 0
