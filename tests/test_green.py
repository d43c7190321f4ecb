"""More ranks than cores: ranks as green threads of one process per core (toro_mpi.hosting),
against one process per rank (--process-per-rank), and the launcher's deadlock report.

Every multi-rank test launches through the launcher as a user would; the existing p2p and
collective programs run here at 8 and 16 ranks on this machine's cores, in both modes.
"""

from __future__ import annotations

import re
import sys

import pytest
from helpers import NCORES, assert_ok, compare, ref_available, run_ref, run_toro, toro_budget

pytestmark = pytest.mark.usefixtures("shm_clean")

PER_RANK = ("--process-per-rank",)
GREEN: tuple[str, ...] = ()  # the default with more ranks than cores


# -- what hosted ranks keep apart ---------------------------------------------------------------
@pytest.mark.timeout(120)
@pytest.mark.parametrize("n, mode", [(2, ("--ranks-per-core", "2")), (4, GREEN), (16, GREEN), (8, PER_RANK)])
def test_ranks_keep_their_own_state(n: int, mode: tuple[str, ...]) -> None:
    """__main__ globals, the program's own modules (COMM_WORLD cached at import), MPI.COMM_WORLD,
    __main__ classes pickled between ranks of one process, spawned green threads, stdout."""
    run = run_toro("hosted", n, timeout=100, launcher=mode)
    ranks = assert_ok(run, n)
    total = n * (n - 1) // 2
    for r in range(n):
        assert f"sum {total} main __main__" in ranks[r], run.explain()


@pytest.mark.timeout(120)
def test_a_rank_may_leave_early_with_exit_0() -> None:
    run = run_toro("hosted", 8, "exit0", timeout=100)
    assert_ok(run, 8)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n, mode", [(8, GREEN), (16, GREEN), (8, PER_RANK)])
def test_tagged_output_per_rank(n: int, mode: tuple[str, ...]) -> None:
    """--tag-output prefixes each rank's lines with its own rank, also for ranks sharing a process.

    Every rank's expected lines must be there (an empty output tags nothing wrongly, so checking
    only the lines present would pass on it), and every line carries its own rank's tag."""
    run = run_toro("hosted", n, timeout=100, launcher=("--tag-output", *mode))
    assert run.rc == 0, run.explain()
    lines = run.out.splitlines()
    total = n * (n - 1) // 2
    for r in range(n):
        for want in (f"[{r}] {r} sum {total} main __main__", f"[{r}] {r} ok"):
            assert want in lines, f"missing line {want!r}{run.explain()}"
    for line in lines:
        m = re.match(r"^\[(\d+)\] (\d+) ", line)
        assert m and m.group(1) == m.group(2), f"line tagged with another rank: {line!r}{run.explain()}"


# -- the point-to-point and collective programs at 8 and 16 ranks, both modes ------------------
P2P = [("matching", ()), ("nonblocking", ()), ("probe", ()), ("objects", ()), ("dtypes", ("uint8", "complex128"))]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("n, mode", [
    (8, GREEN), (16, GREEN), (8, PER_RANK),
    pytest.param(16, PER_RANK, marks=pytest.mark.slow),  # 16 processes on 2 cores: minutes
])
def test_p2p_programs(n: int, mode: tuple[str, ...]) -> None:
    """The programs of test_p2p.py check their own results; each must end with every rank ok."""
    for prog, args in P2P:
        run = run_toro(prog, n, *args, timeout=240, launcher=mode)
        assert_ok(run, n)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("n, mode", [(8, PER_RANK), (16, GREEN), pytest.param(16, PER_RANK, marks=pytest.mark.slow)])
def test_collectives_match_reference(n: int, mode: tuple[str, ...]) -> None:
    """The differential collectives program (quick set) against mpi4py + OpenMPI; test_collectives
    covers n <= 8 in the default mode (green threads from 3 ranks on 2 cores)."""
    toro = run_toro("collectives", n, "quick", timeout=toro_budget(n) * 2, launcher=mode)
    got = assert_ok(toro, n)
    why = ref_available()
    if why is not None:
        pytest.skip(f"toro_mpi ran; no reference MPI to compare with: {why}")
    want = assert_ok(run_ref("collectives", n, "quick", timeout=200), n)
    problems = compare(want, got, n)
    assert not problems, "toro_mpi differs from the reference:\n" + "\n".join(problems) + toro.explain()


# -- faults ---------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
@pytest.mark.parametrize("n, raiser", [(8, 5), (16, 0), (4, 3)])
def test_exception_in_a_hosted_rank_ends_the_job(n: int, raiser: int) -> None:
    """The raising rank is named, its traceback printed, the job ends non-zero and cleanly."""
    run = run_toro("raise_in_rank", n, raiser, timeout=100)
    assert run.rc == 1, run.explain()
    assert re.search(rf"\brank {raiser}\b", run.err), run.explain()
    assert "Traceback (most recent call last)" in run.err and f"RuntimeError: boom from rank {raiser}" in run.err
    assert " never" not in run.out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n, mode", [(2, ()), (8, GREEN), (16, GREEN), (5, PER_RANK)])
def test_deadlock_is_reported_at_once(n: int, mode: tuple[str, ...]) -> None:
    """Every rank blocked in Recv, nothing in flight: exit 111 long before the launcher's
    timeout, naming each rank's call and peer."""
    run = run_toro("deadlock", n, timeout=100, launcher=mode)
    assert run.rc == 111, f"expected the deadlock status 111{run.explain()}"
    assert "deadlock: every rank is blocked and no message is in flight" in run.err, run.explain()
    assert f"rank 0 blocked in Recv(source={n - 1}, tag=9)" in run.err, run.explain()
    for r in range(1, n):
        assert f"rank {r} blocked in Recv(source={r - 1}, tag=3)" in run.err, run.explain()
    assert run.out.count("waiting") == n


@pytest.mark.timeout(60)
def test_other_executables_run_one_process_per_rank() -> None:
    """A program that is not `python ...` cannot be hosted: a warning, then one process per rank."""
    import subprocess

    from helpers import TORO_ENV

    n = NCORES * 2
    proc = subprocess.run([sys.executable, "-m", "toro_mpi", "-n", str(n), "--oversubscribe", "--timeout", "40",
                           "sh", "-c", 'echo "rank $TORO_MPI_RANK"'], env=TORO_ENV, capture_output=True,
                          text=True, timeout=50)
    assert proc.returncode == 0, proc.stderr
    assert "cannot run as green threads" in proc.stderr
    assert sorted(proc.stdout.split("\n")[:-1]) == sorted(f"rank {r}" for r in range(n))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("n", [4, 8])
def test_float_sums_are_bit_identical_in_both_modes(n: int) -> None:
    """Green threads (two-level where the grouping allows) and one process per rank (one-level)
    print the same digests of float and complex SUM / PROD results, for every root."""
    green = assert_ok(run_toro("float_sums", n, timeout=200, launcher=GREEN), n)
    per_rank = assert_ok(run_toro("float_sums", n, timeout=200, launcher=PER_RANK), n)
    for rank in range(n):
        assert green[rank] == per_rank[rank], f"rank {rank} differs"
