"""mpi4py's own demo programs, unchanged, under `toro-mpirun --mpi4py` and under OpenMPI.

The demos come from mpi4py's source distribution, fetched with pip at run time (never copied
into this repository) into ~/.cache/toro_mpi/mpi4py-sdist. Each demo is checked one of three
ways:
- same: `toro-mpirun --compare --compare-sorted --mpi4py` (both MPIs, each rank's stdout equal;
  a demo reading stdin runs twice directly with the same input, and the outputs must be equal);
- rows: both run; every output line must match except the numbers of timing columns (OSU demos
  print times, which differ): the first column (message size) and the line count must agree;
- ok: toro_mpi's run must succeed and print what the table says (the output has wall times).
Demos that need features toro_mpi lacks (Spawn, MPI-IO, mpi4py.futures, OS threads) are listed
in SKIPPED with the reason.

Usage: python tests/mpi4py_demos.py [NAME ...]   (prints one line per demo; exit 1 on failure)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

MPI4PY_VERSION = "4.1.2"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "toro_mpi" / "mpi4py-sdist"


@dataclass(frozen=True)
class Demo:
    path: str  # under demo/
    n: int
    mode: str  # same | rows | ok
    args: tuple[str, ...] = ()
    stdin: str | None = None
    expect: str = ""  # for mode ok: a line every run prints

    @property
    def name(self) -> str:
        return self.path.replace("/", ":")


DEMOS = [
    Demo("helloworld.py", 3, "same"),
    # "0" ends its loop: mpiexec (OpenMPI 5.0) does not pass on the end of stdin, input() would wait.
    Demo("compute-pi/cpi-cco.py", 3, "same", stdin="100\n0\n"),
    Demo("mpi-ref-v1/ex-2.01.py", 2, "same"),
    Demo("mpi-ref-v1/ex-2.08.py", 2, "same"),
    Demo("mpi-ref-v1/ex-2.16.py", 3, "same"),
    Demo("mpi-ref-v1/ex-2.29.py", 3, "same"),
    Demo("mpi-ref-v1/ex-2.32.py", 3, "same"),
    Demo("mpi-ref-v1/ex-2.34.py", 2, "same"),
    Demo("mpi-ref-v1/ex-2.35.py", 1, "same"),
    # Chapter 3: derived datatypes (each prints nothing; a wrong result fails its assert).
    *(Demo(f"mpi-ref-v1/ex-3.{k:02d}.py", 2, "same") for k in (1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13)),
    # One-sided: pi with a window (same "0" ending as cpi-cco) and two shared counters.
    Demo("compute-pi/cpi-rma.py", 2, "same", stdin="100\n0\n"),
    Demo("nxtval/nxtval-onesided.py", 3, "same"),
    Demo("nxtval/nxtval-scalable.py", 3, "same"),
    Demo("sequential/test_seq.py", 3, "same"),
    Demo("profiling/ring.py", 3, "same"),
    Demo("profiling/cpi.py", 3, "same"),
    Demo("reductions/test_reductions.py", 3, "same", args=("-q",)),
    Demo("osu_latency.py", 2, "rows"),
    Demo("osu_bw.py", 2, "rows"),
    Demo("osu_bibw.py", 2, "rows"),
    Demo("osu_multi_lat.py", 2, "rows"),
    Demo("osu_barrier.py", 2, "rows"),
    Demo("osu_bcast.py", 2, "rows"),
    Demo("osu_gather.py", 2, "rows"),
    Demo("osu_scatter.py", 2, "rows"),
    Demo("osu_allgather.py", 2, "rows"),
    Demo("osu_alltoall.py", 2, "rows"),
    Demo("osu_alltoallv.py", 2, "rows"),
    Demo("mandelbrot/mandelbrot.py", 3, "ok", expect="all tasks, sum:"),
]

SKIPPED = {
    "compute-pi/cpi-dpm.py": "dynamic processes (Spawn, ports)",
    "nxtval/nxtval-dynproc.py, nxtval/nxtval-threads.py": "Spawn, OS threads",
    "nxtval/nxtval-mpi3.py": "fails its own assert under mpiexec + mpi4py too (checked 4.1.2)",
    "threads/*, profiling/threads.py": "OS threads in one rank (toro_mpi provides THREAD_SINGLE)",
    "futures/*": "mpi4py.futures (threads, intercommunicators, Spawn)",
    "init-fini/*, test-run/*": "mpi4py.rc.initialize=False (toro_mpi initialises at import) and "
                                "mpi4py.bench",
    "spawning/*, mandelbrot/mandelbrot-master.py": "Spawn",
    "cuda-aware-mpi, libmpi-cffi, wrap-*, cython, embedding": "GPU buffers or the MPI C API",
}


def demo_dir() -> Path:
    """The demo/ folder of mpi4py's sdist, downloaded with pip once (OSError if pip cannot)."""
    root = CACHE / f"mpi4py-{MPI4PY_VERSION}"
    if not (root / "demo").is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            # --no-binary for mpi4py only: pip prepares the sdist's metadata, and with :all: it
            # would build its build requirements (Cython) from source too, for minutes.
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-input", "--no-deps", "--no-binary", "mpi4py",
             f"mpi4py=={MPI4PY_VERSION}", "-d", str(CACHE)],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
        archive = CACHE / f"mpi4py-{MPI4PY_VERSION}.tar.gz"
        if not archive.exists():
            raise OSError(f"pip download of the mpi4py sdist failed: {proc.stderr.strip()[-500:]}")
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if "/demo/" in m.name]
            tar.extractall(CACHE, members=members, filter="data")
    return root / "demo"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORO_MPI_")}
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_mtl": "^ofi", "OMPI_MCA_btl": "^ofi", "MPLBACKEND": "Agg"})
    return env


def _run(cmd: list[str], demo: Demo, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, input=demo.stdin or "", capture_output=True, text=True,
                          timeout=timeout, env=_env())


def _toro(demo: Demo, *extra: str) -> list[str]:
    return [sys.executable, "-m", "toro_mpi", "--mpi4py", "--oversubscribe", "--timeout", "240", *extra,
            "-n", str(demo.n), sys.executable, Path(demo.path).name, *demo.args]


def _ref(demo: Demo) -> list[str]:
    return ["mpiexec", "--oversubscribe", "-n", str(demo.n), sys.executable, Path(demo.path).name, *demo.args]


def _rows(text: str) -> list[str]:
    """Each line with its numbers after the first column blanked (times differ between runs)."""
    rows = []
    for line in text.splitlines():
        words = line.split()
        if words and not line.startswith("#"):
            words = [words[0]] + ["<n>" if _number(w) else w for w in words[1:]]
        rows.append(" ".join(words))
    return rows


def _number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def check(demo: Demo, timeout: float = 150) -> str | None:
    """Run one demo; None if it passed, else what went wrong."""
    cwd = demo_dir() / Path(demo.path).parent
    if demo.mode == "same" and demo.stdin is None:
        proc = _run(_toro(demo, "--compare", "--compare-sorted"), demo, cwd, timeout)
        return None if proc.returncode == 0 else f"exit {proc.returncode}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    toro = _run(_toro(demo), demo, cwd, timeout)
    if toro.returncode != 0:
        return f"toro_mpi exit {toro.returncode}\n{toro.stdout[-2000:]}{toro.stderr[-3000:]}"
    if demo.mode == "ok":
        return None if demo.expect in toro.stdout else f"no {demo.expect!r} in\n{toro.stdout[-2000:]}"
    ref = _run(_ref(demo), demo, cwd, timeout)
    if ref.returncode != 0:
        return f"reference exit {ref.returncode}\n{ref.stderr[-2000:]}"
    if demo.mode == "same":  # with input on stdin, which --compare gives the toro_mpi side only
        got, want = sorted(toro.stdout.splitlines()), sorted(ref.stdout.splitlines())
        return None if got == want else f"outputs differ:\ntoro {got[:6]}\nref  {want[:6]}"
    got, want = _rows(toro.stdout), _rows(ref.stdout)
    if got != want:
        first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
        return (f"rows differ at line {first + 1} ({len(got)} vs {len(want)} lines): "
                f"toro {got[first:first + 1]} ref {want[first:first + 1]}")
    return None


def main(argv: list[str]) -> int:
    """Run the named demos (all by default); print one result line each."""
    chosen = [d for d in DEMOS if not argv or d.path in argv or d.name in argv]
    failed = 0
    for demo in chosen:
        problem = check(demo)
        failed += problem is not None
        print(f"{demo.path:34s} n={demo.n} {demo.mode:5s} {'ok' if problem is None else 'FAILED: ' + problem}",
              flush=True)
    for what, why in SKIPPED.items():
        print(f"{what:34s} skipped: {why}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
