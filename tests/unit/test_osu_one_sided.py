"""The one-sided OSU ports (osu/one_sided.py and osu/osu_put_latency.py, ...): option parsing,
header, the synchronisation loops' calls (on a recording fake MPI, in-process) and their place in
the comparison suites. The ports in jobs, under both MPIs: tests/test_rma_programs.py."""

from __future__ import annotations

import importlib
import time
import types

import pytest

from osu import compare, omb
from osu import one_sided as rma

PORTS = {
    # port: (title, bandwidth, default window, default sync)
    "osu_put_latency": ("OSU MPI_Put Latency Test", False, "allocate", "flush"),
    "osu_get_latency": ("OSU MPI_Get latency Test", False, "allocate", "flush"),
    "osu_acc_latency": ("OSU MPI_Accumulate latency Test", False, "allocate", "flush"),
    "osu_get_acc_latency": ("OSU MPI_Get_accumulate latency Test", False, "create", "lock"),
    "osu_fop_latency": ("OSU MPI_Fetch_and_op latency Test", False, "allocate", "flush"),
    "osu_cas_latency": ("OSU MPI_Compare_and_swap latency Test", False, "allocate", "flush"),
    "osu_put_bw": ("OSU MPI_Put Bandwidth Test", True, "allocate", "flush"),
    "osu_get_bw": ("OSU MPI_Get Bandwidth Test", True, "allocate", "flush"),
    "osu_put_bibw": ("OSU MPI_Put Bi-directional Bandwidth Test", True, "allocate", "pscw"),
}


def _bench(port: str) -> rma.RmaBench:
    return importlib.import_module(f"osu.{port}").BENCH


@pytest.mark.timeout(10)
@pytest.mark.parametrize("port", sorted(PORTS))
def test_defaults(port):
    """OMB 7.4's defaults per benchmark: title, window creation, synchronisation, loops, sizes."""
    title, bw, win, sync = PORTS[port]
    bench = _bench(port)
    assert bench.name == port and bench.header == f"# {title} v7.4"
    opts = rma.parse_options(bench, [])
    assert (opts.win, opts.sync, opts.min_size, opts.max_size, opts.dtypes) == (win, sync, 1, 1 << 22, ["MPI_CHAR"])
    loops = (100, 10, 20, 2) if bw else (10000, 100, 1000, 10)
    assert (opts.iterations, opts.skip, opts.iterations_large, opts.skip_large) == loops
    assert opts.loops(8192) == loops[:2] and opts.loops(16384) == loops[2:]
    assert opts.window == 64


@pytest.mark.timeout(10)
def test_options_parsed():
    """-w, -s (any case), -m, -i, -x, -W and the long forms."""
    opts = rma.parse_options(_bench("osu_put_bw"), ["-w", "Dynamic", "--sync-option=LOCK_ALL", "-m", "4:64",
                                                    "-i", "7", "-x", "3", "-W", "8"])
    assert (opts.win, opts.sync, opts.min_size, opts.max_size, opts.loops(1), opts.loops(1 << 20), opts.window) == \
        ("dynamic", "lock_all", 4, 64, (7, 3), (7, 3), 8)
    opts = rma.parse_options(_bench("osu_put_latency"), ["--win-options", "create", "-s", "flush_local"])
    assert (opts.win, opts.sync) == ("create", "flush_local")
    assert rma.parse_options(_bench("osu_put_bibw"), ["-s", "fence"]).sync == "fence"
    assert rma.parse_options(_bench("osu_get_latency"), ["-h"]).action == "help"
    assert rma.parse_options(_bench("osu_get_latency"), ["-v"]).action == "version"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("argv, want", [
    ([], ["MPI_CHAR"]),
    (["-T", "mpi_int"], ["MPI_INT"]),
    (["-T", "all"], ["MPI_CHAR", "MPI_INT", "MPI_FLOAT"]),
    (["-T", "MPI_FLOAT", "-T", "mpi_char"], ["MPI_FLOAT", "MPI_CHAR"]),
    (["-T", "mpi_double"], ["MPI_CHAR"]),  # OMB ignores a type it does not know
])
def test_datatypes(argv, want):
    """-T as OMB's process_options reads it (prefix, any case), for the atomics and accumulate."""
    for port in ("osu_acc_latency", "osu_fop_latency", "osu_cas_latency"):
        assert rma.parse_options(_bench(port), argv).dtypes == want


@pytest.mark.timeout(10)
@pytest.mark.parametrize("port, argv, message", [
    ("osu_put_latency", ["-w", "shared"], "Invalid option or invalid argument [-w shared]"),
    ("osu_put_latency", ["-s", "bogus"], "Invalid option or invalid argument [-s bogus]"),
    ("osu_put_bibw", ["-s", "lock"], "Invalid option or invalid argument [-s lock]"),  # active sync only
    ("osu_put_bibw", ["-s", "flush"], "Invalid option or invalid argument [-s flush]"),
    ("osu_put_latency", ["-W", "4"], "Invalid option [-W]"),  # a bandwidth option
    ("osu_put_latency", ["-T", "mpi_int"], "Invalid option [-T]"),  # an atomics option
    ("osu_put_latency", ["-c"], "Invalid option [-c]"),
    ("osu_get_bw", ["-W", "0"], "Invalid Window Size [-W 0]"),
    ("osu_get_latency", ["-m", "0:8"], "Invalid Message Size [-m 0:8]"),
    ("osu_get_latency", ["-i", "0"], "Invalid Number of Iterations [-i 0]"),
    ("osu_get_latency", ["-x", "-1"], "Invalid Number of Warmup Iterations [-x -1]"),
    ("osu_fop_latency", ["-s"], "Option Missing Required Argument [-s]"),
    ("osu_fop_latency", ["stray"], "Invalid option [stray]"),
])
def test_parse_errors(port, argv, message):
    """Bad command lines are refused with OMB's wording."""
    with pytest.raises(omb.UsageError) as info:
        rma.parse_options(_bench(port), argv)
    assert str(info.value) == message


@pytest.mark.timeout(10)
def test_preamble_and_rows():
    """print_header_one_sided's lines (no leading blank line) and '%-10d%18.2f' rows."""
    opts = rma.parse_options(_bench("osu_put_latency"), ["-w", "dynamic", "-s", "pscw"])
    assert rma.preamble(_bench("osu_put_latency"), opts) == [
        "# OSU MPI_Put Latency Test v7.4",
        "# Window creation: MPI_Win_create_dynamic",
        "# Synchronization: MPI_Win_post/start/complete/wait",
        "# Datatype: MPI_CHAR.",
        "# Size          Latency (us)",
    ]
    bw = rma.parse_options(_bench("osu_put_bw"), [])
    assert rma.preamble(_bench("osu_put_bw"), bw)[1:] == [
        "# Window creation: MPI_Win_allocate", "# Synchronization: MPI_Win_flush", "# Datatype: MPI_CHAR.",
        "# Size      Bandwidth (MB/s)"]
    gacc = _bench("osu_get_acc_latency")  # OMB prints no datatype line for it
    assert rma.preamble(gacc, rma.parse_options(gacc, []))[1:] == [
        "# Window creation: MPI_Win_create", "# Synchronization: MPI_Win_lock/unlock", "# Size          Latency (us)"]
    assert rma.row(8, 0.125) == "8" + " " * 23 + "0.12" and len(rma.row(1 << 22, 1.0)) == 28


@pytest.mark.timeout(10)
def test_help_lists_the_benchmarks_options():
    """-h lists exactly the options the benchmark takes, in OMB's layout."""
    text = rma.help_text(_bench("osu_put_bibw"))
    flags = [line[2:4] for line in text.splitlines() if line.startswith("  -")]
    assert flags == ["-w", "-s", "-h", "-v", "-m", "-x", "-i", "-W"]
    assert "lock_all" not in text and "pscw" in text and "(default pscw)" in text
    flags = [line[2:4] for line in rma.help_text(_bench("osu_cas_latency")).splitlines() if line.startswith("  -")]
    assert flags == ["-w", "-s", "-h", "-v", "-m", "-x", "-i", "-T"]


# -- the loops, on a fake MPI that records what rank 0 calls -----------------------------------
class _Recorder:
    """A fake window, group and world of 2 ranks seen from one rank: every call is logged."""

    def __init__(self, rank: int):
        self.rank, self.log = rank, []

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args, **kwargs):
            self.log.append(name)
            return self

        return call

    # comm
    def Get_rank(self) -> int:
        return self.rank

    def Get_size(self) -> int:
        return 2

    def Sendrecv(self, send, dest, stag, recv, source, rtag) -> None:
        self.log.append("Sendrecv")
        recv[0][0] = 4096  # the peer's address of a dynamic window

    def tomemory(self):
        return bytearray(1 << 16)


def _fake_mpi(rank: int) -> tuple[types.SimpleNamespace, _Recorder]:
    rec = _Recorder(rank)

    class Win:
        @staticmethod
        def Allocate(size, disp_unit, comm=None):
            rec.log.append(f"Allocate({size})")
            return rec

        @staticmethod
        def Create(mem, disp_unit, comm=None):
            rec.log.append(f"Create({len(mem)})")
            return rec

        @staticmethod
        def Create_dynamic(comm=None):
            rec.log.append("Create_dynamic")
            return rec

    mpi = types.SimpleNamespace(COMM_WORLD=rec, Win=Win, Wtime=time.perf_counter, LOCK_SHARED="S",
                                LOCK_EXCLUSIVE="X", SUM="sum", AINT="aint", Get_address=lambda buf: 1234)
    return mpi, rec


def _ops(log: list[str]) -> list[str]:
    return [c for c in log if c not in ("Barrier",)]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("sync, expect", [
    ("flush", ["Lock", "Put", "Flush", "Put", "Flush", "Put", "Flush", "Unlock"]),
    ("flush_local", ["Lock", "Put", "Flush_local", "Put", "Flush_local", "Put", "Flush_local", "Unlock"]),
    ("lock", ["Lock", "Put", "Unlock"] * 3),
    ("lock_all", ["Lock_all", "Put", "Unlock_all"] * 3),
    ("fence", ["Fence", "Put", "Fence", "Fence"] * 3),
    ("pscw", ["Get_group", "Incl"] + ["Start", "Put", "Complete", "Post", "Wait"] * 3 + ["Free", "Free"]),
])
def test_latency_loop_calls(monkeypatch, capsys, sync, expect):
    """Rank 0's calls per -s, as OMB's run_put_with_<sync>: one window per size, freed after."""
    mpi, rec = _fake_mpi(0)
    monkeypatch.setattr(omb, "load_mpi", lambda: mpi)
    port = importlib.import_module("osu.osu_put_latency")
    assert port.main(["-m", "8:8", "-i", "2", "-x", "1", "-s", sync]) == 0
    assert _ops(rec.log) == ["Allocate(8)", *expect, "Free"]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "# OSU MPI_Put Latency Test v7.4" and out[-1].startswith("8 ") and len(out[-1]) == 28


@pytest.mark.timeout(10)
def test_fence_target_side(monkeypatch):
    """Rank 1 of a fence run accesses rank 0 in the second epoch, as OMB's ping-pong does."""
    mpi, rec = _fake_mpi(1)
    monkeypatch.setattr(omb, "load_mpi", lambda: mpi)
    assert importlib.import_module("osu.osu_get_latency").main(["-m", "4:4", "-i", "1", "-x", "0", "-s", "fence"]) == 0
    assert _ops(rec.log) == ["Allocate(4)", "Fence", "Fence", "Get", "Fence", "Free"]


@pytest.mark.timeout(10)
def test_dynamic_window_and_bandwidth_loop(monkeypatch):
    """A dynamic window is attached, its address exchanged and detached; a bandwidth iteration
    issues -W operations per epoch into a window of size x W bytes."""
    mpi, rec = _fake_mpi(0)
    monkeypatch.setattr(omb, "load_mpi", lambda: mpi)
    assert importlib.import_module("osu.osu_put_bw").main(
        ["-m", "16:16", "-i", "2", "-x", "0", "-W", "3", "-w", "dynamic", "-s", "lock"]) == 0
    assert _ops(rec.log) == ["Create_dynamic", "Attach", "Sendrecv", *(["Lock", "Put", "Put", "Put", "Unlock"] * 2),
                             "Detach", "Free"]


@pytest.mark.timeout(10)
def test_atomics_one_row_per_datatype(monkeypatch, capsys):
    """fop/cas: one window of max-size bytes per datatype, a header and a row (size = the type's)."""
    mpi, rec = _fake_mpi(0)
    monkeypatch.setattr(omb, "load_mpi", lambda: mpi)
    assert importlib.import_module("osu.osu_fop_latency").main(["-m", "64", "-i", "1", "-x", "0", "-T", "all",
                                                                "-s", "lock"]) == 0
    assert _ops(rec.log) == ["Allocate(64)", "Lock", "Fetch_and_op", "Unlock", "Free"] * 3
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if line.startswith("# Datatype")] == \
        ["# Datatype: MPI_CHAR.", "# Datatype: MPI_INT.", "# Datatype: MPI_FLOAT."]
    assert [line.split()[0] for line in out if not line.startswith("#")] == ["1", "4", "4"]


@pytest.mark.timeout(10)
def test_needs_two_ranks(monkeypatch, capsys):
    """Every one-sided port needs exactly 2 ranks, as OMB's."""
    mpi, rec = _fake_mpi(0)
    rec.Get_size = lambda: 3
    monkeypatch.setattr(omb, "load_mpi", lambda: mpi)
    assert importlib.import_module("osu.osu_cas_latency").main([]) == 1
    assert "This test requires exactly two processes" in capsys.readouterr().err


@pytest.mark.timeout(10)
def test_in_the_suites():
    """Every one-sided port is a known port of osu.compare, in the quick and full suites, and the
    one-sided suite holds the issue's targets (8 B latency, 1 MiB bandwidth) on 2 ranks."""
    assert set(compare.ONE_SIDED) == set(PORTS) and set(PORTS) <= set(compare.PORTS)
    for port, (_, bw, _, _) in PORTS.items():
        assert compare.Run(port, 2, []).metric[2] is bw  # bandwidth: higher is better
    for name in ("quick", "full", "one-sided"):
        suite = compare.load_suite(compare.find_suite(name))
        assert {r.bench for r in suite.runs} >= set(PORTS) or name == "one-sided"
        assert all(r.n == 2 for r in suite.runs if r.bench in PORTS)
    one = compare.load_suite(compare.find_suite("one-sided"))
    assert {r.bench for r in one.runs} >= {"osu_put_latency", "osu_get_latency", "osu_acc_latency", "osu_put_bw",
                                           "osu_get_bw", "osu_fop_latency", "osu_cas_latency"}
    for run in one.runs:
        opts = rma.parse_options(_bench(run.bench), run.args)  # every run's options are valid
        if run.bench in ("osu_put_latency", "osu_get_latency", "osu_acc_latency"):
            assert 8 in omb.sizes(opts)
        if run.bench.endswith("bw"):
            assert 1 << 20 in omb.sizes(opts)
