"""MPI.Alloc_mem memory in the rank's shared heap: sends from it skip the ring (tests/programs/heap.py).

Every job runs through the launcher and is checked by run_toro for leftovers in /dev/shm, which
covers the heaps' names (they carry the launcher's pid like the job segment's).
"""

from __future__ import annotations

import os
import subprocess
import sys

import posix_ipc
import pytest
from helpers import SHM, TORO_ENV, assert_ok, run_toro

from toro_mpi.bus.heap import heap_name

pytestmark = pytest.mark.usefixtures("shm_clean")


def _config(tmp_path, text: str) -> str:
    path = tmp_path / "heap.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("n", [2, 3])
def test_heap_sends(n: int) -> None:
    """Sizes and dtypes, reuse after Send, nonblocking, Probe, truncation, types, ANY_SOURCE,
    objects, Sendrecv, Free_mem; and the ranks' heaps are gone after the job."""
    run = run_toro("heap", n, "main", timeout=120)
    ranks = assert_ok(run, n)
    r1 = ranks[1]
    assert "ordinary below threshold True" in r1
    for dtype in ("uint8", "int32", "float64", "complex128", "bool"):
        assert f"sizes {dtype} True" in r1
    assert "read-only view True" in r1
    assert "Send waited for the receiver True" in ranks[0]
    assert "Isend/Issend pending until received True True" in ranks[0]
    assert "probe count 200000" in r1
    assert "truncate ERR_TRUNCATE 8000" in r1
    assert "type ERR_TYPE" in r1
    assert "bytes True" in r1
    assert "object heap True" in r1
    assert "sendrecv True" in ranks[0] and "sendrecv True" in r1
    if n >= 3:
        expected = [(s, True) for s in range(1, n)]
        assert f"ANY_SOURCE {expected} True" in ranks[0]
    for r in range(n):
        assert "free True True True True" in ranks[r], ranks[r]
        names = [line.split()[-1] for line in ranks[r] if line.startswith("heap name")]
        assert names and not (SHM / names[0].lstrip("/")).exists()


@pytest.mark.timeout(150)
@pytest.mark.parametrize("n", [2, 4])
def test_heap_mixed_traffic(n: int) -> None:
    """Heap descriptors, eager fragments and small messages interleaved on every queue, received
    with ANY_SOURCE / ANY_TAG: per-source order, sizes, tags and contents hold."""
    ranks = assert_ok(run_toro("heap", n, "mixed", timeout=120), n)
    for r in range(n):
        assert "mixed 0 True True" in ranks[r], ranks[r]


@pytest.mark.timeout(90)
def test_heap_exhaustion_falls_back_to_plain_memory(tmp_path) -> None:
    cfg = _config(tmp_path, "[bus]\nheap_size = 1048576\nheap_threshold = 65536\n")
    ranks = assert_ok(run_toro("heap", 2, "exhaust", launcher=("--config", cfg)), 2)
    for r in range(2):
        assert "exhaust True True False bytearray" in ranks[r]
        assert "after free True" in ranks[r]


@pytest.mark.timeout(90)
def test_heap_off(tmp_path) -> None:
    cfg = _config(tmp_path, "[bus]\nheap_size = 0\n")
    ranks = assert_ok(run_toro("heap", 2, "off", launcher=("--config", cfg)), 2)
    assert all("off True bytearray" in ranks[r] for r in range(2))


@pytest.mark.timeout(90)
def test_heap_send_to_a_finalized_rank_fails() -> None:
    ranks = assert_ok(run_toro("heap", 2, "orphan"), 2)
    assert "orphan ERR_OTHER" in ranks[0]


@pytest.mark.timeout(90)
def test_heap_peer_killed_mid_send() -> None:
    """Rank 1 dies while rank 0 waits for it to copy from rank 0's heap: the job ends with
    rank 1's status, and no heap or segment stays in /dev/shm (run_toro checks).

    Rank 0 would wait in its Send forever: status 137 (rank 1's SIGKILL, not the launcher's
    timeout 110) shows rank 1's death is what ended the job."""
    run = run_toro("heap", 2, "kill", timeout=60)
    assert run.rc == 137, run.explain()
    print(f"the job ended after {run.seconds:.1f} s")
    names = [line.split()[-1] for r in (0, 1) for line in run.lines(r) if line.startswith("heap name")]
    assert len(names) == 2, run.explain()
    assert not any((SHM / name.lstrip("/")).exists() for name in names)


@pytest.mark.timeout(60)
def test_alloc_mem_without_launcher_is_plain_memory() -> None:
    code = ("from toro_mpi import MPI; m = MPI.Alloc_mem(1 << 20); m[:4] = b'abcd'; "
            "print(type(m.obj).__name__, bytes(m[:4]).decode(), len(m)); MPI.Free_mem(m)")
    env = {k: v for k, v in TORO_ENV.items()}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=50,
                          cwd=os.path.dirname(os.path.dirname(__file__)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["bytearray", "abcd", str(1 << 20)]


@pytest.mark.timeout(60)
def test_cleanup_removes_a_stale_heap() -> None:
    """toro-mpirun --cleanup removes a heap whose launcher is gone (its name carries that pid)."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = heap_name(dead.pid, 1, 0x1234)
    posix_ipc.SharedMemory(name, flags=posix_ipc.O_CREX, mode=0o600, size=4096).close_fd()
    try:
        proc = subprocess.run([sys.executable, "-m", "toro_mpi", "--cleanup"], env=TORO_ENV,
                              capture_output=True, text=True, timeout=50)
        assert proc.returncode == 0, proc.stderr
        assert f"removed /dev/shm{name}" in proc.stdout
        assert not (SHM / name.lstrip("/")).exists()
    finally:
        try:
            posix_ipc.unlink_shared_memory(name)
        except posix_ipc.ExistentialError:
            pass
