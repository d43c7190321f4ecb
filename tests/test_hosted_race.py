"""Issue #19: the collectives of ranks hosted as green threads (two-level Bcast/Reduce/Allreduce
of mpi/hosted.py, and the one-level collectives around them) under a random mix of calls.

mpi4py's test_cco_buf.py at 4 ranks on 2 cores was listed as deadlocking about 1 run in 24
after a wrong Reduce_scatter result. tests/programs/hosted_race.py runs a seeded random sequence
of Reduce_scatter (counts or None, IN_PLACE), Reduce_scatter_block, Reduce (every root, IN_PLACE),
Allreduce, Bcast, Scatterv and an object allgather, on COMM_WORLD and on Dup'd and reversed-Split
communicators, with counts from 0 to tens of thousands of elements, and checks every result on
every rank against numpy. Here: hosted (two ranks per process, --ranks-per-core 2) at 4, 6 and
8 ranks, also with
tiny collective queues (every large message then blocks mid-collective, which multiplies the
interleavings of the ranks of one process), and the program's own expectations once under
mpi4py + Open MPI. The long soak (more seeds and iterations) is marked `slow`.

Also, without a job: a wait condition that raises while another green thread polls (any poll
evaluates every waiter's condition: with hosted ranks, another rank's) fails its own thread,
and the other waiters made ready by that poll resume once.
"""

from __future__ import annotations

import pytest
from helpers import HOSTED, assert_ok, ref_available, run_ref, run_toro

from toro_mpi.sched import Scheduler

pytestmark = pytest.mark.usefixtures("shm_clean")

# Small collective queues and segments: a 1 KiB message fills a pair's queue, so the leaders'
# part of a two-level call and the one-level calls around it stop and resume many times.
TINY_QUEUES = """\
[bus]
coll_queue_size = 2
buffer_size = 1024
[coll]
segment_bytes = 992
allreduce_ring_min_bytes = 256
allgather_ring_min_bytes = 512
"""


def _check(run, n: int) -> None:
    """The job finished on every rank and no result differed from numpy's."""
    ranks = assert_ok(run, n)
    wrong = [line for lines in ranks.values() for line in lines if line.startswith("WRONG")]
    assert not wrong, "wrong results:\n" + "\n".join(wrong[:20]) + run.explain()
    assert "wrong 0" in ranks[0], run.explain()


def _config(tmp_path) -> tuple[str, ...]:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_QUEUES)
    return ("--config", str(path))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("n", [4, 6, 8])
def test_hosted_mix(n: int) -> None:
    """A random mix of collectives, every result checked, with ranks hosted as green threads."""
    _check(run_toro("hosted_race", n, 60, n, 1000, timeout=200, launcher=HOSTED), n)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("n", [4, 8])
def test_hosted_mix_tiny_queues(n: int, tmp_path) -> None:
    """The same with collective queues of 2 KiB: the calls stop and resume on every message."""
    _check(run_toro("hosted_race", n, 60, 100 + n, 1000, timeout=200, launcher=HOSTED + _config(tmp_path)), n)


@pytest.mark.timeout(240)
def test_program_against_reference() -> None:
    """The program's numpy expectations hold under mpi4py + Open MPI (so a failure above is
    toro_mpi's, not the program's)."""
    why = ref_available()
    if why:
        pytest.skip(why)
    _check(run_ref("hosted_race", 4, 60, 4, 1000, timeout=200), 4)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("n", [4, 6, 8])
@pytest.mark.parametrize("tiny", [False, True], ids=["default", "tiny-queues"])
def test_hosted_soak(n: int, tiny: bool, tmp_path) -> None:
    """The long soak: several seeds, more iterations, counts up to 160000 elements."""
    launcher = HOSTED + (_config(tmp_path) if tiny else ())
    for seed in range(1000, 1004):
        _check(run_toro("hosted_race", n, 400, seed, 40000, timeout=600, launcher=launcher), n)



@pytest.mark.timeout(30)
def test_raising_wait_condition_fails_its_own_thread() -> None:
    """A waiter whose condition raises during another thread's poll gets the error itself; the
    polling thread goes on, and a waiter made ready by the same poll resumes exactly once."""
    s = Scheduler(lambda: False, lambda: None, {"spin_passes": 10, "yield_passes": 10, "sleep_min_us": 1,
                                                "sleep_max_us": 10})
    flag = [False]
    log: list[str] = []

    def cond_a() -> bool:
        if flag[0]:
            raise RuntimeError("a's condition")
        return False

    def a() -> None:
        try:
            s.wait(cond_a)
            log.append("a resumed")
        except RuntimeError as exc:
            log.append(f"a raised {exc}")

    def b() -> None:
        try:
            s.wait(lambda: flag[0])
            log.append("b resumed")
            s.yield_()
            s.yield_()
        except RuntimeError as exc:  # (the scheduler used to raise a's error here)
            log.append(f"b got {exc}")

    def c() -> None:
        flag[0] = True
        try:
            s.yield_()  # this poll evaluates a's and b's conditions
            log.append("c resumed")
            s.yield_()
            s.yield_()
        except RuntimeError as exc:  # (or here)
            log.append(f"c got {exc}")

    tasks = [s.spawn(a), s.spawn(b), s.spawn(c)]
    for t in tasks:
        t.join()
    assert sorted(log) == ["a raised a's condition", "b resumed", "c resumed"], log
