"""The ranks start before the launcher creates the bus segment (their imports overlap its work):
a rank waits in Segment.attach while its segment is missing or half-built and its launcher
lives; a rank that ends in that window, or a Ctrl-C there, still leaves no process and no name
in /dev/shm behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from helpers import TESTS, TORO_ENV, leftover_segments, pid_alive, toro_segments

from toro_mpi.bus.segment import Segment, SegmentError, make_name

LAUNCHER = [sys.executable, "-m", "toro_mpi"]
# Wait for a segment from a child process (TORO_MPI_SEGMENT names it, as for a rank).
ATTACH = ("import sys, time; from toro_mpi.bus.segment import Segment; print('ready', flush=True); "
          "t = time.monotonic(); "
          "s = Segment.attach(sys.argv[1]); print(s.nranks, round(time.monotonic() - t, 3), flush=True)")


def _attacher(name: str) -> subprocess.Popen[str]:
    env = {**TORO_ENV, "TORO_MPI_SEGMENT": name, "PYTHONPATH": str(TESTS.parent)}
    return subprocess.Popen([sys.executable, "-c", ATTACH, name], env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


@pytest.mark.timeout(60)
def test_a_rank_waits_for_its_segment() -> None:
    """Attach started before the segment exists returns once it is created, with its geometry."""
    name = make_name()
    child = _attacher(name)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        time.sleep(0.3)
        assert child.poll() is None, child.communicate()
        seg = Segment.create(3, 8, 256, name=name)
        try:
            out, err = child.communicate(timeout=30)
        finally:
            seg.unlink()
            seg.close()
    finally:
        child.kill()
    assert child.returncode == 0, err
    nranks, waited = out.split()
    assert nranks == "3" and float(waited) >= 0.25


@pytest.mark.timeout(60)
def test_a_half_built_segment_is_waited_for() -> None:
    """A name that exists without its magic (the launcher still writing the header) is waited
    out in the same process too, when TORO_MPI_SEGMENT names it."""
    name = make_name()
    seg = Segment.create(2, 8, 256, name=name)
    from toro_mpi.bus import layout as L

    magic = seg.peek_word(L.HDR_MAGIC)
    seg._put(L.HDR_MAGIC, 0)
    found: list[object] = []
    old = os.environ.get("TORO_MPI_SEGMENT")
    os.environ["TORO_MPI_SEGMENT"] = name
    try:
        worker = threading.Thread(target=lambda: found.append(Segment.attach(name)))
        worker.start()
        time.sleep(0.3)
        assert not found and worker.is_alive()
        seg._put(L.HDR_MAGIC, magic)
        worker.join(30)
        assert found and isinstance(found[0], Segment) and found[0].nranks == 2
        found[0].close()
    finally:
        if old is None:
            os.environ.pop("TORO_MPI_SEGMENT", None)
        else:
            os.environ["TORO_MPI_SEGMENT"] = old
        seg.unlink()
        seg.close()


def test_no_wait_without_a_live_launcher_or_for_other_names() -> None:
    """A segment whose launcher is gone, or one the process was not started for, is an error at once."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    name = make_name(dead.pid)
    old = os.environ.get("TORO_MPI_SEGMENT")
    os.environ["TORO_MPI_SEGMENT"] = name
    try:
        start = time.monotonic()
        with pytest.raises(SegmentError, match="does not exist"):
            Segment.attach(name)
        with pytest.raises(SegmentError, match="does not exist"):
            Segment.attach(make_name())  # ours, alive, but not the name we were started for
        assert time.monotonic() - start < 5
    finally:
        if old is None:
            os.environ.pop("TORO_MPI_SEGMENT", None)
        else:
            os.environ["TORO_MPI_SEGMENT"] = old


@pytest.mark.timeout(60)
def test_a_rank_that_dies_at_once_is_reported_and_nothing_is_left(tmp_path) -> None:
    """A rank that exits before the segment can exist (no Python to start) fails the job with
    its status, names itself, and leaves no segment or process."""
    cfg = tmp_path / "fast.toml"
    cfg.write_text("[launcher]\nwarm_cache = false\nkill_grace = 0.5\n")
    before = toro_segments()
    proc = subprocess.run([*LAUNCHER, "--config", str(cfg), "-n", "2", "--timeout", "30", "sh", "-c",
                           'if [ "$TORO_MPI_RANK" = 1 ]; then exit 3; fi; exec sleep 30'],
                          env=TORO_ENV, text=True, capture_output=True, timeout=50)
    assert proc.returncode == 3, proc
    assert "rank 1" in proc.stderr and "aborting the job" in proc.stderr, proc.stderr
    assert not leftover_segments(before, [])


@pytest.mark.timeout(60)
def test_ctrl_c_while_ranks_start(tmp_path) -> None:
    """SIGINT as soon as the ranks run (none ever attaches): exit 130, every rank stopped, no
    name left in /dev/shm."""
    cfg = tmp_path / "fast.toml"
    cfg.write_text("[launcher]\nwarm_cache = false\nkill_grace = 0.5\n")
    before = toro_segments()
    proc = subprocess.Popen([*LAUNCHER, "--config", str(cfg), "-n", "2", "--timeout", "30", "sh", "-c",
                             "echo pid $$; exec sleep 30"],
                            env=TORO_ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        pids = [int(proc.stdout.readline().split()[1]) for _ in range(2)]
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "caught SIGINT" in err
    deadline = time.monotonic() + 5
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(p) for p in pids)
    assert not leftover_segments(before, [proc.pid])
