"""The OSU ports' option parsing and validation data, and the side-by-side runner's suites,
commands, plots and pooling, in-process. The ports and the runner in jobs: tests/test_osu.py."""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

import pytest
from helpers import COLLECTIVES, TESTS, TITLES

from osu import compare, omb

ROOT = TESTS.parent


@pytest.mark.timeout(10)
@pytest.mark.parametrize("argv, message", [
    (["-m", "x"], "Invalid Message Size [-m x]"),
    (["-m", "0:8"], "Invalid Message Size [-m 0:8]"),
    (["-m", "1:2:3"], "Invalid Message Size [-m 1:2:3]"),
    (["-i", "0"], "Invalid Number of Iterations [-i 0]"),
    (["-x", "-1"], "Invalid Number of Warmup Iterations [-x -1]"),
    (["-i"], "Option Missing Required Argument [-i]"),
    (["-W", "4"], "Invalid option [-W]"),
    (["--bogus"], "Invalid option [--bogus]"),
    (["stray"], "Invalid option [stray]"),
])
def test_parse_errors(argv, message):
    """Bad command lines are refused with OMB's wording."""
    with pytest.raises(omb.UsageError) as info:
        omb.parse_options(importlib.import_module("osu.osu_latency").BENCH, argv)
    assert str(info.value) == message


@pytest.mark.timeout(10)
def test_defaults_and_sizes():
    """OMB 7.4's defaults per kind, -m forms, and the size sequence."""
    lat = omb.parse_options(importlib.import_module("osu.osu_latency").BENCH, [])
    assert (lat.min_size, lat.max_size, lat.iterations, lat.skip, lat.iterations_large, lat.skip_large) == \
        (0, 1 << 22, 10000, 100, 1000, 10)
    assert list(omb.sizes(lat))[:3] == [1, 2, 4] and list(omb.sizes(lat))[-1] == 1 << 22
    assert lat.loops(8192) == (10000, 100) and lat.loops(16384) == (1000, 10)
    bw = omb.parse_options(importlib.import_module("osu.osu_bw").BENCH, ["-W", "8", "-m", "4:"])
    assert (bw.iterations, bw.skip, bw.iterations_large, bw.skip_large, bw.window, bw.min_size) == \
        (100, 10, 20, 2, 8, 4)
    coll = omb.parse_options(importlib.import_module("osu.osu_allreduce").BENCH, ["-i", "7", "-x", "3"])
    assert (coll.max_size, coll.loops(1), coll.loops(1 << 20), coll.warmup_validation) == \
        (1 << 20, (7, 3), (7, 3), 0)
    assert omb.parse_options(importlib.import_module("osu.osu_bcast").BENCH, ["-c"]).warmup_validation == 5


@pytest.mark.timeout(10)
def test_validation_patterns_differ():
    """The validation data tells sizes, iterations and ranks apart, so a stale buffer fails."""
    a = omb.pattern(4096, 4096, 3, 0)
    assert len(a) == 4096 and a.dtype.name == "uint8"
    for other in (omb.pattern(4096, 4096, 4, 0), omb.pattern(4096, 4096, 3, 1), omb.pattern(4096, 4096, 3, 0, 1)):
        assert (a != other).mean() > 0.9
    assert (a[:256] != a[256:512]).any()


class _WrongComm:
    """Rank 0 of a pretend 2-rank world whose Allreduce forgets the other rank's data."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 2

    def Barrier(self) -> None:
        pass

    def Reduce(self, send, recv, op=None, root=0) -> None:
        recv[...] = send

    def Allreduce(self, send, recv, op=None) -> None:
        recv[...] = send


@pytest.mark.timeout(10)
def test_validation_catches_wrong_result(monkeypatch, capsys):
    """-c reports Fail for a wrong result, stops at that size and exits 1 with OMB's message."""
    import time
    import types

    fake = types.SimpleNamespace(COMM_WORLD=_WrongComm(), Wtime=time.perf_counter, SUM="sum", MIN="min", MAX="max")
    monkeypatch.setattr(omb, "load_mpi", lambda: fake)
    rc = importlib.import_module("osu.osu_allreduce").main(["-m", "1:4", "-i", "2", "-x", "0", "-c", "-u", "0"])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 1
    assert lines[-2].startswith("1 ") and lines[-2].endswith("Fail") and len(lines[-2]) == 46, lines
    assert lines[-1] == "DATA VALIDATION ERROR: osu_allreduce exited with status 1 on message size 1."


@pytest.mark.timeout(10)
@pytest.mark.parametrize("text, message", [
    ('[[run]]\nbench = "osu_nope"\n', "bench must be one of"),
    ('[[run]]\nbench = "osu_bw"\nranks = 2\n', "unknown keys ['ranks']"),
    ('reps = 0\n[[run]]\nbench = "osu_bw"\n', "reps must be a positive integer"),
    ('[[run]]\nbench = "osu_bw"\nargs = "-m 8"\n', "args must be a list of strings"),
    ("reps = 2\n", "no [[run]] entries"),
])
def test_suite_file_checked(tmp_path, text, message):
    """Suite files are checked before anything runs."""
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(compare.SuiteError, match=re.escape(message)):
        compare.load_suite(path)


@pytest.mark.timeout(10)
def test_shipped_suites_load():
    """The shipped suites parse; the full one has every port on 2 ranks and the collectives on 4 and 8."""
    assert compare.suite_names() == ["coll", "coll-small", "full", "one-sided", "one-sided-quick", "quick",
                                     "reduce-gather"]
    for name in compare.suite_names():
        compare.load_suite(compare.find_suite(name))
    quick = compare.load_suite(compare.find_suite("quick"))
    full = compare.load_suite(ROOT / "osu" / "suites" / "full.toml")
    ports = set(TITLES) | set(compare.ONE_SIDED)  # the one-sided ports: tests/unit/test_osu_one_sided.py
    assert {r.bench for r in quick.runs} == ports and {r.n for r in quick.runs} == {2}
    assert {r.bench for r in full.runs if r.n == 2} == ports
    coll = {"osu_barrier", *COLLECTIVES}
    assert {(r.bench, r.n) for r in full.runs if r.n > 2} == {(b, n) for b in coll for n in (4, 8)}


@pytest.mark.timeout(10)
def test_find_suite(tmp_path, monkeypatch):
    """A suite is a file's path or a shipped suite's bare name; an existing file wins over a name,
    and anything else is refused naming the shipped suites."""
    assert compare.find_suite("coll-small") == compare.SUITES / "coll-small.toml"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "quick").write_text("reps = 1\n")
    assert compare.find_suite("quick") == Path("quick")
    mine = tmp_path / "mine.toml"
    mine.write_text("reps = 1\n")
    assert compare.find_suite(str(mine)) == mine
    for spec in ("nope", "suites/full", "full.toml", str(tmp_path / "missing.toml")):
        with pytest.raises(compare.SuiteError, match=r"not a file, nor one of the shipped suites coll, coll-small"):
            compare.find_suite(spec)


@pytest.mark.timeout(10)
def test_commands(monkeypatch):
    """toro runs through the launcher; the reference tuned, oversubscribed unbound when n > cores."""
    monkeypatch.setattr(compare, "ncores", lambda: 2)
    monkeypatch.setattr(compare.shutil, "which", lambda name: "/usr/bin/mpiexec")
    run = compare.Run("osu_bcast", 4, ["-m", "8"], "osu_bcast-n4")
    cmd, env = compare.command(run, compare.TORO, 100)
    assert cmd[1:5] == ["-m", "toro_mpi", "-n", "4"] and "--oversubscribe" in cmd and env["OSU_MPI"] == "toro"
    assert cmd[-4:] == ["-m", "osu.osu_bcast", "-m", "8"]
    cmd, env = compare.command(run, compare.REF, 100)
    assert cmd[:6] == ["/usr/bin/mpiexec", "-n", "4", "--oversubscribe", "--bind-to", "none"]
    assert (env["MPI4PY_RC_THREAD_LEVEL"], env["OMPI_MCA_mtl"], env["OMPI_MCA_btl"]) == ("single", "^ofi", "^ofi")
    cmd, _ = compare.command(compare.Run("osu_bw", 2, [], "osu_bw-n2"), compare.REF, 100)
    assert cmd[3:5] == ["--bind-to", "core"]
    monkeypatch.setenv("OMPI_MCA_btl", "self")
    cmd, env = compare.command(run, compare.REF_DEFAULTS, 100)
    assert cmd[:4] == ["/usr/bin/mpiexec", "-n", "4", "--oversubscribe"] and "--bind-to" not in cmd
    assert not any(k.startswith(("OMPI_MCA_", "MPI4PY_RC_")) for k in env)
    assert os.environ["OMPI_MCA_btl"] == "self"  # the caller's environment is left alone


@pytest.mark.timeout(10)
def test_baseline_runs_the_other_checkout(monkeypatch, tmp_path):
    """--baseline runs the same launcher command with the other checkout first on the path, and
    refuses a folder that is not a toro_mpi checkout before launching anything."""
    monkeypatch.setattr(compare, "ncores", lambda: 2)
    monkeypatch.setattr(compare, "_BASELINE_TREE", [tmp_path])
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    run = compare.Run("osu_latency", 2, [], "osu_latency-n2")
    cmd, env = compare.command(run, compare.BASELINE, 100)
    assert cmd == compare.command(run, compare.TORO, 100)[0]
    assert env["PYTHONPATH"].split(os.pathsep) == [str(tmp_path), "/elsewhere"]
    assert compare.main(["quick", "--baseline", str(tmp_path), "--out", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out").exists()
    # toro_mpi runs next to both sides it is compared with, and the order turns round each time.
    backends = [compare.TORO, compare.REF, compare.BASELINE]
    assert compare._order(backends, 1) == [compare.BASELINE, compare.TORO, compare.REF]
    assert compare._order(backends, 2) == [compare.REF, compare.TORO, compare.BASELINE]
    assert compare._order([compare.TORO, compare.REF], 2) == [compare.TORO, compare.REF]


@pytest.mark.timeout(10)
def test_plots_degrade_without_matplotlib(monkeypatch, tmp_path, capsys):
    """Without matplotlib the runner still writes its tables and says how to get the plots."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` raise ImportError
    assert compare.write_plots(tmp_path, [], [compare.TORO, compare.REF]) == []
    assert "install toro_mpi[bench] for plots" in capsys.readouterr().out


def _raw(folder: Path, name: str, rows: str) -> None:
    """One OMB-style raw output as osu.compare writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"$ the command\n\n# OSU MPI Test v7.4\n# Size       Avg Latency(us)\n{rows}")


def test_pool_pairs_runs_across_directories(tmp_path, capsys):
    """osu.pool pairs each toro repetition with the reference one of the same number, pools by
    (benchmark, n, size) across directories and suite run names, and skips unpaired runs."""
    from osu import pool

    a, b = tmp_path / "a" / "raw", tmp_path / "b"
    _raw(a, "osu_bcast-n2.toro.rep1.out", "4                       1.00\n8    2.00\n")
    _raw(a, "osu_bcast-n2.ref.rep1.out", "4                       2.00\n8    1.00\n")
    _raw(a, "osu_bcast-n2.toro.rep2.out", "4                       3.00\n")  # no reference pair
    _raw(b, "osu_bcast-n2-2.toro.rep1.out", "4    1.50\n")
    _raw(b, "osu_bcast-n2-2.ref.rep1.out", "4    1.00\n")
    _raw(b, "osu_bcast-n4.toro.rep1.out", "4    9.00\n")
    _raw(b, "osu_bcast-n4.ref.rep1.out", "4    3.00\n")
    _raw(b, "osu_barrier-n2.toro.rep1.out", "             0.40\n")
    _raw(b, "osu_barrier-n2.ref.rep1.out", "             0.50\n")
    pooled = pool.pair_ratios([tmp_path / "a", b])
    assert pooled == {("osu_bcast", 2, 4): [0.5, 1.5], ("osu_bcast", 2, 8): [2.0],
                      ("osu_bcast", 4, 4): [3.0], ("osu_barrier", 2, 0): [0.8]}
    assert pool.main([str(tmp_path / "a"), str(b), "--size", "4"]) == 0
    table = capsys.readouterr().out
    assert "| osu_bcast (lower is better) | 2 | 4 | 2 | 1.00 | 1 | 1.50 |" in table
    assert "| osu_barrier (lower is better) | 2 | - | 1 | 0.80 | 1 | 0.80 |" in table
    assert "| 2 | 8 |" not in table  # filtered out by --size
    (tmp_path / "empty").mkdir()
    assert pool.main([str(tmp_path / "empty")]) == 1  # no pairs: an error, not an empty table


def test_pool_rejects_a_missing_directory(tmp_path):
    """A directory that does not exist is a usage error, not an empty table."""
    from osu import pool

    with pytest.raises(SystemExit) as stop:
        pool.main([str(tmp_path / "nowhere")])
    assert stop.value.code == 2
