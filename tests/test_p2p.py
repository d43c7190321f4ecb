"""Point-to-point through the launcher, exactly as a user runs it:
`python -m toro_mpi -n N --oversubscribe python tests/programs/PROG.py`.

Each program checks a group of behaviours itself (assertions, exit non-zero on failure) and
prints deterministic rank-prefixed lines; these tests check the exit status, that every rank
got to the end, and the lines that matter. test_differential.py compares the same runs with
mpiexec + mpi4py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import assert_ok, run_toro, toro_cached

pytestmark = pytest.mark.usefixtures("shm_clean")

ALL_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float32", "float64", "complex64", "complex128", "bool"]
# Every dtype with 2 ranks; a few with 3 and 4 ranks (more ranks than cores: --oversubscribe).
DTYPES_BY_N = {2: [], 3: ["uint8", "float32", "complex128"], 4: ["int64", "bool"]}


@pytest.mark.timeout(150)
@pytest.mark.parametrize("n", sorted(DTYPES_BY_N))
def test_dtypes_and_sizes(n: int) -> None:
    """Every numeric dtype at 0, 1, 7, 8159..8161 (one buffer less its header), fragment and
    rendezvous boundaries, 100000 elements and 4 MiB: content, status and echo checked."""
    names = DTYPES_BY_N[n]
    run = toro_cached("dtypes", n, *names, timeout=120)
    ranks = assert_ok(run, n)
    for dtype in names or ALL_DTYPES:
        expected = {0, 1, 7, 8159, 8160, 8161, 100000, (4 << 20) // np.dtype(dtype).itemsize}
        for peer in range(1, n):
            received = {int(line.split()[2]) for line in ranks[peer] if line.split()[:2] == ["recv", dtype]}
            echoed = {int(line.split()[3]) for line in ranks[0] if line.split()[:3] == ["echo", str(peer), dtype]}
            assert expected <= received, (dtype, peer, sorted(received))
            assert echoed == received, (dtype, peer)


@pytest.mark.timeout(90)
def test_buffer_specs() -> None:
    """[buf, dt], (buf, count, dt), [buf, (count, displ), dt], typecodes, bytearray, memoryview,
    array.array, 2-D / Fortran arrays, and non-contiguous send and receive buffers."""
    run = toro_cached("bufspecs", 2)
    ranks = assert_ok(run, 2)
    assert any(line.startswith("(buf, count, INT) 5 ") for line in ranks[1]), ranks[1]
    assert any(line.startswith("[buf, (count, displ), INT] 10 ") for line in ranks[1]), ranks[1]
    assert "memoryview slice 8900" in ranks[1]
    assert "bytearray 12000" in ranks[1]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_matching(n: int) -> None:
    """Self sends, PROC_NULL, tags and ANY_TAG, non-overtaking (1000 messages; reverse tag order;
    eager/fragmented/rendezvous mixed), ANY_SOURCE with several senders and with one sender that
    never stops, Status counts, Sendrecv and Sendrecv_replace ring."""
    run = toro_cached("matching", n, timeout=75)
    ranks = assert_ok(run, n)
    for r in range(n):
        assert "PROC_NULL Recv source=PROC_NULL tag=ANY_TAG bytes=0" in ranks[r]
        assert f"COMM_SELF separate source={r} tag=16 bytes=24" in ranks[r]
        assert f"self Isend/Recv source={r} tag=12 bytes=3145728" in " ".join(ranks[r])
        left = (r - 1) % n
        assert f"ring 70000 source={left} tag=64 bytes=560000" in " ".join(ranks[r])
    if n >= 2:
        assert "same tag in order 1000 reverse tags [109, 108, 107, 106, 105, 104, 103, 102, 101, 100]" in ranks[1]
        assert "tags in order [5, 0, 'UB', 6]" in ranks[1]
        assert "count 50 6 UNDEFINED UNDEFINED 3" in ranks[1]
        assert "count 51 24 6 3 12" in ranks[1]
        assert f"ANY_SOURCE got {{{', '.join(f'{p}: 50' for p in range(1, n))}}}" in ranks[0]
        for variant in ("late", "early"):
            assert (f"mixed sizes in order {variant} [10, 300000, 10, 8161, 1048576, 0, 5, 262144, 1]"
                    in ranks[1])
    if n >= 3:
        assert f"streamer stopped, others delivered {list(range(2, n))}" in ranks[0]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("n", [2, 3])
def test_nonblocking(n: int) -> None:
    """Isend/Irecv all-to-all with Waitall; Waitany, Waitsome, Testall, Testany; REQUEST_NULL after
    completion; hundreds of outstanding Isends received in reverse tag order; Ssend/Issend wait
    for the (sleeping) receiver, standard Send does not."""
    run = toro_cached("nonblocking", n, timeout=75)
    ranks = assert_ok(run, n)
    assert f"Waitany {3 * (n - 1)} then UNDEFINED" in ranks[0]
    assert f"Waitsome {3 * (n - 1)}" in ranks[0]
    assert "Testany first 0 Testall [0, 1, 2, 3]" in ranks[1]
    for size in (8, 8161, 1 << 20):
        assert f"Ssend waited for the match {size}" in ranks[0]
    assert "Issend completed after the match" in ranks[0]
    for size, k in ((9000, 300), (100000, 100), (600000, 12)):
        assert f"flood received in reverse {size} {k}" in ranks[1]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("n", [2, 3])
def test_probe(n: int) -> None:
    """Probe/Iprobe give source, tag and size; a Recv sized from the probe gets that message."""
    run = toro_cached("probe", n, timeout=75)
    ranks = assert_ok(run, n)
    probed = [line for line in ranks[0] if line.startswith("probed ")]
    assert len(probed) == 6 * (n - 1), probed
    assert {int(line.split()[3]) for line in probed} == {0, 5, 2040, 2041, 75000, 300000}
    assert "Iprobe 12345 " in " ".join(ranks[1])
    assert "probe object 0 8 {'x': [1, 2, 3]}" in ranks[1]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_objects(n: int) -> None:
    """Object calls: None, nested containers, dataclasses, numpy arrays over 64 KiB (out of band),
    bytes, str; send/recv, isend + waitall, irecv().wait() posted before a blocking send,
    sendrecv, ssend, to self, ANY_SOURCE."""
    run = toro_cached("objects", n, timeout=60)
    ranks = assert_ok(run, n)
    for r in range(n):
        assert "recv 0 None" in ranks[r]
        assert "recv 3 ndarray float64 (100000,) " in " ".join(ranks[r])
        assert "irecv.wait 14" in ranks[r]
    assert f"ANY_SOURCE objects from {list(range(n))}" in ranks[0]


@pytest.mark.timeout(120)
def test_queue_wraparound_with_lagging_receiver() -> None:
    """70000 small messages through one queue (past the 16-bit index wrap) to a receiver that
    starts late and drains slowly at first; then 2000 more via Isend batches. All in order."""
    run = toro_cached("wrap", 2, 70000, timeout=100)
    ranks = assert_ok(run, 2)
    assert "received in order 70000 2000" in ranks[1]
    assert "sent 70000" in ranks[0]


@pytest.mark.timeout(90)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_green_threads(n: int) -> None:
    """spawn/yield_: a green thread blocked in Recv lets the rank's other green threads run; green
    threads of one rank talk through self messages; one green thread per peer, all blocked."""
    run = toro_cached("green", n, timeout=60)
    ranks = assert_ok(run, n)
    for r in range(n):
        assert "green threads talked through self messages" in ranks[r]
    if n >= 2:
        assert "green Recv waited while the other green thread ran 1100" in ranks[1]
        for r in range(n):
            assert f"one green thread per peer {n - 1}" in ranks[r]


@pytest.mark.timeout(90)
def test_errors() -> None:
    """ERR_RANK, ERR_TAG, ERR_TRUNCATE (message names both sizes; eager, fragmented, rendezvous;
    Recv and Irecv+Wait), ERR_BUFFER for read-only receive buffers, ERR_BUFFER/ERR_COUNT for
    counts beyond the buffer; none of them hangs and the communicator keeps working."""
    run = toro_cached("errors", 2, timeout=60)
    ranks = assert_ok(run, 2)
    for r in range(2):
        assert "Send to rank SIZE ERR_RANK" in ranks[r]
        assert "Send tag -3 ERR_TAG" in ranks[r]
    assert "Recv 100 bytes into 10 ERR_TRUNCATE" in ranks[1]
    assert "after truncation the next messages arrive" in ranks[1]


# -- faults ----------------------------------------------------------------------------------------
def _failed_at(run) -> float:
    """When rank 1 was about to fail: time.time() it printed as `1 failing at T`."""
    m = re.search(r"^1 failing at ([\d.]+)$", run.out, re.M)
    assert m, f"rank 1 never got to its failure{run.explain()}"
    return float(m.group(1))


@pytest.mark.timeout(90)
@pytest.mark.parametrize("mode, n, status", [
    ("raise", 3, 1),
    ("kill", 3, 137),
    ("exit3", 3, 3),
    ("raise_green", 2, 1),
])
def test_rank_failure_ends_the_job(mode: str, n: int, status: int) -> None:
    """A rank that raises, is SIGKILLed or exits 3 while its peers are blocked in Recv from it (or
    from ANY_SOURCE) ends the job with its status, the rank named and, for an exception, its
    traceback; nothing is left in /dev/shm and no rank process survives.

    The failure is what ended the job: its peers wait for a message that never comes, so without
    the failure only the launcher's --timeout could end it (status 110). The exit status is rank
    1's own, so the launcher acted on rank 1's end. How long that took is printed, not asserted."""
    run = run_toro("faults", n, mode, timeout=60)
    assert run.rc != 110, f"the job hung until the launcher's timeout{run.explain()}"
    assert run.rc == status, f"exit status {run.rc}, expected rank 1's {status}{run.explain()}"
    print(f"{mode}: the job ended {run.ended - _failed_at(run):.2f} s after rank 1 failed")
    assert "the Recv returned" not in run.err, f"a peer's Recv returned without a message{run.explain()}"
    assert re.search(r"\brank 1\b", run.err), f"stderr does not name rank 1{run.explain()}"
    if mode.startswith("raise"):
        assert "Traceback (most recent call last)" in run.err, run.explain()
        assert "RuntimeError: boom from rank 1" in run.err, run.explain()
    if mode == "kill":
        assert "SIGKILL" in run.err or "signal 9" in run.err, run.explain()
    assert len(run.pids()) == n
