"""Jobs of several (simulated) nodes: `toro-mpirun --nodes K`, a bus per node, Open MPI between nodes.

The default run keeps to a handful of jobs; the 10,000-message storm and the wider differential
sweep are marked `slow` (`python -m pytest -m slow tests/test_nodes.py`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import (
    TESTS,
    TORO_ENV,
    Run,
    _finish,
    assert_ok,
    assert_same_as_reference,
    launcher_pid_of,
    pid_alive,
    program,
    ref_available,
    ref_cached,
    toro_segments,
)

from toro_mpi.node_main import TCP_EAGER_LIMIT, tune_transport

_why_not = ref_available()
pytestmark = [
    pytest.mark.usefixtures("shm_clean"),
    pytest.mark.skipif(_why_not is not None, reason=f"no mpiexec + mpi4py: {_why_not}"),
]


def _ours_left(before: set[str]) -> list[str]:
    """Segments that appeared since `before` and whose creator is dead: a node's segment is named
    after its first rank's pid, and once the job is over every rank is gone (segments of live
    processes belong to other jobs running meanwhile)."""
    return [s for s in toro_segments() - before if not pid_alive(launcher_pid_of(s) or 0)]


def run_nodes(prog: str, n: int, nodes: int, *args: str, timeout: float = 120,
              launcher: tuple[str, ...] = ()) -> Run:
    """Run tests/programs/<prog> as n ranks on `nodes` simulated nodes, as a user would; check
    that nothing is left in /dev/shm and no rank process outlives the job."""
    cmd = [sys.executable, "-m", "toro_mpi", "--nodes", str(nodes), "-n", str(n),
           "--timeout", str(max(5, int(timeout * 0.8))), *launcher, sys.executable, program(prog),
           *map(str, args)]
    before = toro_segments()
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=TORO_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=TESTS.parent, start_new_session=True)
    run = _finish(proc, cmd, start, timeout)
    left = _ours_left(before)
    assert not left, f"segments left in /dev/shm: {left}{run.explain()}"
    alive = [p for p in run.pids() if pid_alive(p)]
    assert not alive, f"rank processes still alive after the job: {alive}{run.explain()}"
    return run


def test_one_node_loads_no_mpi_library() -> None:
    """--nodes 1 (the default) is the ordinary launcher: no libmpi in the ranks."""
    cmd = [sys.executable, "-m", "toro_mpi", "--nodes", "1", "-n", "2", "--timeout", "50",
           sys.executable, program("nodes_probe")]
    proc = subprocess.Popen(cmd, env=TORO_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=TESTS.parent, start_new_session=True)
    ranks = assert_ok(_finish(proc, cmd, time.monotonic(), 60), 2)
    for r in range(2):
        assert "libmpi False" in ranks[r] and "shim True" in ranks[r] and "sum 1" in ranks[r], ranks[r]


def test_nodes_bootstrap_two_plus_one() -> None:
    """3 ranks on 2 nodes: 2 + 1; the program's mpi4py is toro_mpi while Open MPI is loaded."""
    ranks = assert_ok(run_nodes("nodes_probe", 3, 2), 3)
    for r, node in enumerate((0, 0, 1)):
        assert f"node {node}" in ranks[r] and "libmpi True" in ranks[r] and "shim True" in ranks[r], ranks[r]
        assert "sum 3" in ranks[r]
        # node_main's Open MPI TCP settings (node_main.TCP_EAGER_LIMIT) reach every rank.
        assert f"eager {TCP_EAGER_LIMIT}" in ranks[r], ranks[r]
    # A Send to another node loads the engine's send kernel (NetRoute.bind_engine), so the
    # next Send takes Comm.Send's hot path.
    assert "hot True" in ranks[0], ranks[0]


def test_nodes_transport_settings_user_wins() -> None:
    """tune_transport sets the TCP eager limit unless the user set it (no job)."""
    env: dict[str, str] = {}
    tune_transport(env)
    assert env["OMPI_MCA_btl_tcp_eager_limit"] == str(TCP_EAGER_LIMIT)
    env = {"OMPI_MCA_btl_tcp_eager_limit": "4096"}
    tune_transport(env)
    assert env["OMPI_MCA_btl_tcp_eager_limit"] == "4096"


def test_nodes_point_to_point_semantics() -> None:
    """Truncation, type errors, Ssend, Probe/Mprobe of 1 MiB + 1, heap sends, PROC_NULL between
    every ordered pair, local and remote alike (2 x 2)."""
    assert_ok(run_nodes("nodes_semantics", 4, 2), 4)


def test_nodes_any_source_storm_small() -> None:
    """2,000 random-tag ANY_SOURCE messages mixing local and remote senders (2 + 1)."""
    assert_ok(run_nodes("nodes_storm", 3, 2, 2000), 3)


@pytest.mark.slow
def test_nodes_any_source_storm_10000() -> None:
    """The issue's 10,000 random-tag ANY_SOURCE messages, 2 x 2: nothing lost, duplicated or
    reordered per pair."""
    assert_ok(run_nodes("nodes_storm", 4, 2, 10000, timeout=300), 4)


DIFFERENTIAL = [
    # (program, ranks, nodes, node map or None, args)
    ("matching", 3, 2, None, ()),  # tags, ANY_TAG, ANY_SOURCE, order, Status, Sendrecv ring
    ("nodes_coll", 4, 2, "0,1,1,0", ()),  # every collective, roots on each node, sizes 0..1 MiB
]
SLOW_DIFFERENTIAL = [
    ("matching", 4, 2, None, ()),
    ("probe", 3, 2, None, ()),
    ("matched", 3, 2, None, ()),
    ("errors", 2, 2, None, ()),
    ("objects", 3, 2, None, ()),
    ("comms", 4, 2, None, ()),
    ("derived", 4, 2, None, ()),
    ("alltoallw", 3, 2, None, ()),
    ("nodes_coll", 4, 2, None, ()),
    ("nodes_coll", 3, 2, None, ()),
]


def _ids(cases: list) -> list[str]:
    return [f"{p}-n{n}-k{k}{'-' + m.replace(',', '') if m else ''}" for p, n, k, m, _ in cases]


def _differential(prog: str, n: int, k: int, node_map: str | None, args: tuple) -> None:
    ref = ref_cached(prog, n, *args, timeout=120)
    extra = ("--node-map", node_map) if node_map else ()
    toro = run_nodes(prog, n, k, *args, timeout=180, launcher=extra)
    assert_same_as_reference(toro, ref, n, sort_lines=True)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("prog, n, k, node_map, args", DIFFERENTIAL, ids=_ids(DIFFERENTIAL))
def test_nodes_same_output_as_mpi4py(prog: str, n: int, k: int, node_map: str | None, args: tuple) -> None:
    _differential(prog, n, k, node_map, args)


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("prog, n, k, node_map, args", SLOW_DIFFERENTIAL, ids=_ids(SLOW_DIFFERENTIAL))
def test_nodes_same_output_as_mpi4py_wide(prog: str, n: int, k: int, node_map: str | None, args: tuple) -> None:
    _differential(prog, n, k, node_map, args)


def _pids_of_job(launcher_pid: int) -> list[int]:
    """Every process of the launcher's session (mpiexec and the ranks) still alive."""
    out = subprocess.run(["ps", "-eo", "pid=,sid="], capture_output=True, text=True).stdout
    return [int(p) for p, s in (line.split() for line in out.splitlines()) if int(s) == launcher_pid]


def test_nodes_kill_nine_during_allreduce() -> None:
    """kill -9 of a rank of the second node inside Allreduce: every process gone within 5 s,
    non-zero exit, nothing left in /dev/shm."""
    cmd = [sys.executable, "-m", "toro_mpi", "--nodes", "2", "-n", "4", "--timeout", "100",
           sys.executable, program("nodes_fault"), "kill"]
    before = toro_segments()
    proc = subprocess.Popen(cmd, env=TORO_ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=TESTS.parent, start_new_session=True)
    victim = None
    deadline = time.monotonic() + 100
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        if line.startswith("3 allreducing pid "):
            victim = int(line.split()[-1])
    assert victim is not None, f"rank 3 never reached its Allreduce loop (rc {proc.poll()})"
    time.sleep(0.3)
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the job outlived the killed rank by 30 s")
    gone = None
    while time.monotonic() - killed < 10:
        if not _pids_of_job(proc.pid):
            gone = time.monotonic() - killed
            break
        time.sleep(0.05)
    err = proc.stderr.read()
    assert gone is not None and gone <= 5.0, f"processes of the job alive {gone} s after the kill\n{err[-2000:]}"
    assert proc.returncode != 0
    assert not _ours_left(before), "segments left in /dev/shm"


def test_nodes_abort_code_and_timeout() -> None:
    """Abort(7) on the second node ends the job with 7; --timeout ends a stuck one with 110."""
    run = run_nodes("nodes_fault", 3, 2, "abort", timeout=90)
    assert run.rc == 7, run.explain()
    run = run_nodes("nodes_fault", 3, 2, "hang", timeout=60, launcher=("--timeout", "4"))
    assert run.rc == 110, run.explain()
