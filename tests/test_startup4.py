"""A rank's quick exit (issue #20, fourth round), through the launcher as users run jobs.

A rank whose program ends normally (or by sys.exit with a status) exits without the
interpreter's module teardown (runtime.quick_exit): its atexit handlers, the rank's finalize,
stdio flushing (a last line without its newline too), and the release of the program's own
globals and its own modules' (a file never closed, a temporary file) still happen; TORO_MPI_FULL_EXIT=1 gives the
interpreter's whole exit back. Both are run and compared here.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import TORO_ENV

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = textwrap.dedent("""
    import atexit, os, sys, tempfile
    from mpi4py import MPI
    import exit_marker

    out = sys.argv[1]
    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    total = comm.allreduce(rank + 1)
    exit_marker.arm(os.path.join(out, f"torn-down{rank}"))
    atexit.register(lambda: sys.stdout.write(f"{rank} atexit {total} finalized={MPI.Is_finalized()}"))
    log = open(os.path.join(out, f"log{rank}"), "w")  # never closed: released at exit
    log.write(f"unclosed {rank}")
    scratch = tempfile.NamedTemporaryFile(dir=out, prefix=f"tmp{rank}-")  # removed when released
    sys.stdout.write(f"{rank} partial; ")  # the rest of the line comes from the atexit handler
    if sys.argv[2] == "exit3" and rank == 1:
        sys.exit(3)
""")

# A module of the program: an object only it holds, with a __del__.
MARKER = textwrap.dedent("""
    import os

    class _Marker:
        def __init__(self, path):
            self.path = path

        def __del__(self, mkdir=os.mkdir):
            mkdir(self.path)

    def arm(path):
        global kept
        kept = _Marker(path)
""")


def _run(tmp_path: Path, mode: str, **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / f"{mode}-{'full' if env else 'quick'}"
    out.mkdir()
    (tmp_path / "prog.py").write_text(PROGRAM)
    (tmp_path / "exit_marker.py").write_text(MARKER)
    cmd = [sys.executable, "-m", "toro_mpi", "-n", "2", "--timeout", "100", sys.executable,
           str(tmp_path / "prog.py"), str(out), mode]
    run = subprocess.run(cmd, env={**TORO_ENV, "PYTHONPATH": str(ROOT), **env}, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    return run, out


@pytest.mark.parametrize("mode", ["ok", "exit3"])
def test_quick_exit_keeps_what_a_program_sees(tmp_path: Path, mode: str) -> None:
    quick, qdir = _run(tmp_path, mode)
    full, fdir = _run(tmp_path, mode, TORO_MPI_FULL_EXIT="1")
    status = 3 if mode == "exit3" else 0
    for run, folder in ((quick, qdir), (full, fdir)):
        assert run.returncode == status, run.stderr
        lines = sorted(run.stdout.splitlines())
        assert lines == [f"{r} partial; {r} atexit 3 finalized=False" for r in range(2)], run.stdout
        for r in range(2):
            assert (folder / f"log{r}").read_text() == f"unclosed {r}"
        assert not list(folder.glob("tmp*")), "a temporary file outlived its rank"
    # An object only another module of the program holds is finalized at the quick exit, as at
    # `python PROGRAM`'s (runtime.release_program). The interpreter's whole exit leaves it: the
    # module is in a reference cycle, frozen out of the last collections (freeze_at_exit).
    assert sorted(p.name for p in qdir.glob("torn-down*")) == ["torn-down0", "torn-down1"]
    if mode == "exit3":
        assert "rank 1" in quick.stderr and "after MPI_Finalize" in quick.stderr, quick.stderr
        assert quick.stderr.count("\n") == full.stderr.count("\n"), (quick.stderr, full.stderr)


def test_a_users_njit_links_a_kernel_loaded_without_its_bitcode() -> None:
    """A kernel loaded from the cache (its linking bitcode left unparsed) is linked into a new
    compile that calls it, which parses the bitcode then; the caller runs."""
    code = textwrap.dedent("""
        import numba
        from toro_mpi.bus import compiling, ring
        compiling.guard_compiles()
        ring.relax(1)
        library = next(iter(ring.relax.overloads.values())).library
        before = "_toro_mpi_bitcode" in vars(library)

        @numba.njit
        def caller(n):
            ring.relax(n)
            return n + 1

        print(before, caller(3), "_toro_mpi_bitcode" in vars(library))
    """)
    out = subprocess.run([sys.executable, "-c", code], env={**TORO_ENV, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "4", "False"]


# A module of the program that writes to a file it never closes (buffered: lost unless the
# file object is released before the process ends).
UNCLOSED = textwrap.dedent("""
    import os
    log = open(os.path.join(os.environ["OUT"], f"rank{os.environ['RANK_ID']}"), "w")
""")


@pytest.mark.parametrize("placement", ["process-per-rank", "green-threads"])
def test_a_program_modules_unclosed_file_is_flushed_at_exit(tmp_path: Path, placement: str) -> None:
    """What `python PROGRAM` does at exit for a file a helper module left open: its buffered
    data reaches the file, in a rank of its own process and in green-thread ranks that share one."""
    (tmp_path / "unclosed_log.py").write_text(UNCLOSED)
    (tmp_path / "prog.py").write_text(textwrap.dedent("""
        import os
        from mpi4py import MPI
        os.environ["RANK_ID"] = str(MPI.COMM_WORLD.Get_rank())
        import unclosed_log
        unclosed_log.log.write(f"rank {MPI.COMM_WORLD.Get_rank()} of {MPI.COMM_WORLD.Get_size()}")
    """))
    n = 2 if placement == "process-per-rank" else 4
    extra = [] if placement == "process-per-rank" else ["--oversubscribe"]
    cmd = [sys.executable, "-m", "toro_mpi", "-n", str(n), *extra, "--timeout", "100", sys.executable,
           str(tmp_path / "prog.py")]
    run = subprocess.run(cmd, env={**TORO_ENV, "PYTHONPATH": str(ROOT), "OUT": str(tmp_path)}, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for r in range(n):
        assert (tmp_path / f"rank{r}").read_text() == f"rank {r} of {n}"
