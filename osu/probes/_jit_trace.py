"""Where a Jacobi example's timed steps wait: per-process scheduler waits, and numba compiles/loads.

`python -m osu.probes jit --trace [--ranks 4] [--trace-mode jit|py] [--nx 256 --ny 256 --steps 300]`
runs examples/jacobi_jit.py (or jacobi_mpi4py.py) under toro-mpirun with --tol 0, with each host
process's scheduler wrapped for the timed solve only. Every wait in which the process had nothing
ready to run (Scheduler._next_ready past its round) is an episode: who blocked, in what call, how
long, how many polls, sched_yields and doorbell sleeps. numba's compile_ir and toro_mpi's cached
kernel loads inside the timed steps are listed by name (issue #20: the green-thread jitted solver
spent its time in objmode blocks compiled there). Per process: wall and CPU time of the timed
steps, time waiting in the scheduler (CPU spent polling counts in both), the episodes by rank and
call, and those over 1 ms. Indicative under load: a process off its core shows as time neither
waiting nor on the CPU.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

from . import parser

ROOT = Path(__file__).resolve().parents[2]
OUT_VAR = "TORO_JIT_TRACE_DIR"


# -- inside the job (every rank runs this module as its program) --------------------------------
def _install(sched: Any, runtime: Any) -> dict[str, Any]:
    """Wrap this process's scheduler once (its ranks share it); the trace lives on it."""
    st = getattr(sched, "_jit_trace", None)
    if st is not None:
        return st
    st = {"on": False, "active": 0, "episodes": [], "yields": 0, "sleeps": 0, "sleep_t": 0.0, "passes": 0,
          "loads": [], "cpu0": 0.0, "cpu1": 0.0, "t0": 0.0, "t1": 0.0}
    sched._jit_trace = st
    pc = time.perf_counter
    real_next, real_look = sched._next_ready, sched._look

    def look() -> bool:
        st["passes"] += st["on"]
        return real_look()

    def next_ready() -> Any:
        if not st["on"] or (sched._round > 0 and sched.ready):
            return real_next()
        w = runtime.world()
        what, counts, t0 = w.engine.blocked_what, (st["yields"], st["sleeps"], st["passes"], st["sleep_t"]), pc()
        try:
            return real_next()
        finally:
            st["episodes"].append((t0, pc(), w.rank, repr(what)[:40], st["passes"] - counts[2],
                                   st["yields"] - counts[0], st["sleeps"] - counts[1], st["sleep_t"] - counts[3]))

    sched._next_ready, sched._look = next_ready, look
    import toro_mpi.sched.scheduler as S

    real_os = S.os

    def sched_yield() -> None:
        st["yields"] += st["on"]
        real_os.sched_yield()

    S.os = types.SimpleNamespace(sched_yield=sched_yield, _exit=real_os._exit)
    bell = sched.doorbell
    if bell is not None:
        real_sleep = bell.sleep

        def sleep(token: int, seconds: float) -> None:
            st["sleeps"] += st["on"]
            t = pc()
            real_sleep(token, seconds)
            st["sleep_t"] += (pc() - t) * st["on"]

        bell.sleep = sleep
    import numba.core.compiler as nc

    import toro_mpi.bus.compiling as cp

    def wrap(fn: Any, kind: str) -> Any:
        def wrapped(*a: Any, **k: Any) -> Any:
            t = pc()
            try:
                return fn(*a, **k)
            finally:
                if st["on"]:
                    if kind == "compile":
                        fi = k.get("func_ir", a[2] if len(a) > 2 else None)
                        name = getattr(getattr(fi, "func_id", None), "func_qualname", "?")
                    else:
                        name = getattr(getattr(a[0], "py_func", None), "__name__", "?") + str(a[1])
                    st["loads"].append((kind, name, runtime.world().rank, pc() - t))
        return wrapped

    nc.compile_ir = wrap(nc.compile_ir, "compile")
    cp.load_cached = wrap(cp.load_cached, "load")
    return st


def _in_job(mode: str, argv: list[str]) -> None:
    """A rank: trace the timed solve of the example (its main(), given the example's arguments)."""
    import importlib

    from toro_mpi import runtime

    sys.path.insert(0, str(ROOT / "examples"))
    st = _install(runtime.world().engine.sched, runtime)
    ex = importlib.import_module("jacobi_jit" if mode == "jit" else "jacobi_mpi4py")
    real_options = ex.options

    def options(description: str) -> Any:
        # sys.argv is shared by the ranks of a process: swapped only for the parse (no switch)
        saved = sys.argv
        sys.argv = [saved[0], *argv]
        try:
            return real_options(description)
        finally:
            sys.argv = saved

    ex.options = options
    real = ex.__dict__.get("_untraced", ex.solve)
    ex._untraced = real

    def solve(*a: Any) -> Any:
        timed = a[5] > 1  # the warm-up runs one step
        if timed:
            if st["active"] == 0:
                st["cpu0"], st["t0"], st["on"] = time.process_time(), time.perf_counter(), True
            st["active"] += 1
        try:
            return real(*a)
        finally:
            if timed:
                st["active"] -= 1
                if st["active"] == 0:
                    st["on"], st["cpu1"], st["t1"] = False, time.process_time(), time.perf_counter()
                    with open(Path(os.environ[OUT_VAR]) / f"{os.getpid()}.json", "w") as fh:
                        json.dump({k: v for k, v in st.items() if k not in ("on", "active")}, fh)

    ex.solve = solve
    ex.main()


# -- the launcher side ----------------------------------------------------------------------------
def report(traces: list[dict[str, Any]]) -> str:
    """The per-process summary of the trace files' contents."""
    lines = []
    for i, d in enumerate(traces):
        ep = d["episodes"]
        wall, cpu = d["t1"] - d["t0"], d["cpu1"] - d["cpu0"]
        idle = sum(e[1] - e[0] for e in ep)
        lines.append(f"process {i}: wall {wall * 1e3:.1f} ms, cpu {cpu * 1e3:.1f} ms, waiting {idle * 1e3:.1f} ms in "
                     f"{len(ep)} waits ({d['passes']} polls, {d['yields']} yields, {d['sleeps']} sleeps "
                     f"{d['sleep_t'] * 1e3:.1f} ms)")
        by: dict[tuple, list[float]] = collections.defaultdict(list)
        for e in ep:
            by[(e[2], e[3])].append(e[1] - e[0])
        for (rank, what), ds in sorted(by.items(), key=lambda kv: -sum(kv[1])):
            ds.sort()
            lines.append(f"  rank {rank} {what:32s} n {len(ds):5d} total {sum(ds) * 1e3:8.2f} ms "
                         f"median {ds[len(ds) // 2] * 1e6:7.1f} us max {ds[-1] * 1e3:7.2f} ms")
        for e in ep:
            if e[1] - e[0] > 1e-3:
                at, dt = (e[0] - d["t0"]) * 1e3, (e[1] - e[0]) * 1e3
                lines.append(f"  over 1 ms at {at:7.2f} ms: {dt:6.2f} ms rank {e[2]} {e[3][:24]} polls {e[4]} "
                             f"yields {e[5]} sleeps {e[6]} ({e[7] * 1e3:.2f} ms)")
        for kind, name, rank, dt in d["loads"]:
            lines.append(f"  numba {kind} in the timed steps: {name} (rank {rank}) {dt * 1e3:.1f} ms")
        if not d["loads"]:
            lines.append("  no numba compile or load in the timed steps")
    return "\n".join(lines)


def trace(ranks: int, mode: str, nx: int, ny: int, steps: int, timeout: float) -> int:
    """Run the traced job (`mode` jit or py, ranks under toro-mpirun) and print the summary."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "toro_mpi", "-n", str(ranks), "--oversubscribe", "--timeout", str(int(timeout)),
               *(("--mpi4py",) if mode == "py" else ()), sys.executable, "-m", "osu.probes._jit_trace", "--run",
               "--mode", mode, "--tol", "0", "--nx", str(nx), "--ny", str(ny), "--steps", str(steps)]
        env = {**os.environ, OUT_VAR: out, "PYTHONPATH": str(ROOT)}
        r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout + 60)
        print(r.stdout.strip())
        if r.returncode != 0:
            print(r.stderr, file=sys.stderr)
            return r.returncode
        traces = [json.loads(f.read_text()) for f in sorted(Path(out).glob("*.json"))]
    print(report(traces))
    return 0


def main(argv: list[str] | None = None) -> int:
    """A rank of the traced job: `--run --mode MODE` and the example's own arguments."""
    p = parser("jit --trace", __doc__)
    p.add_argument("--run", action="store_true", help="be a rank of the traced job (trace() starts them)")
    p.add_argument("--mode", choices=("jit", "py"), default="jit")
    args, rest = p.parse_known_args(argv)
    if not args.run:
        p.error("started by `python -m osu.probes jit --trace`")
    _in_job(args.mode, rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
