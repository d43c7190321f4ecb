"""The cooperative scheduler on its own: spawn, yield, wait, back-off and idle checks."""

from __future__ import annotations

import pytest

from toro_mpi.sched import Scheduler

SETTINGS = {"spin_passes": 10, "yield_passes": 10, "sleep_min_us": 1, "sleep_max_us": 10}


def make(poll=lambda: False, idle_check=lambda: None):
    return Scheduler(poll, idle_check, SETTINGS)


def test_spawned_tasks_run_when_main_yields_and_join_returns_results():
    s = make()
    log = []

    def worker(name, n):
        for i in range(n):
            log.append((name, i))
            s.yield_()
        return name * 2

    a = s.spawn(worker, "a", 3)
    b = s.spawn(worker, "b", 3)
    assert log == []  # nothing runs until the caller gives up the core
    assert a.join() == "aa" and b.join() == "bb"
    # Round-robin interleaving: each yield hands the core to the other task.
    assert log[:4] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]


def test_blocked_wait_lets_other_tasks_run():
    s = make()
    box = []

    def producer():
        s.yield_()
        box.append("ready")

    s.spawn(producer)
    s.wait(lambda: bool(box), ("Recv", 1, 0))
    assert box == ["ready"]


def test_wait_polls_until_condition_holds():
    counter = {"n": 0}

    def poll():
        counter["n"] += 1
        return False

    s = make(poll=poll)
    s.wait(lambda: counter["n"] >= 50)
    assert counter["n"] >= 50


def test_idle_check_turns_a_hopeless_wait_into_an_error():
    class Aborted(Exception):
        pass

    def idle_check():
        raise Aborted("job aborted")

    s = make(idle_check=idle_check)
    with pytest.raises(Aborted):
        s.wait(lambda: False)
    assert s.waiting == []


def test_on_block_reports_the_blocking_call():
    seen = []
    s = Scheduler(lambda: False, lambda: None, SETTINGS, seen.append)
    done = []
    s.spawn(lambda: done.append(1))
    s.wait(lambda: bool(done), ("Recv", 3, 7))
    assert seen == [("Recv", 3, 7), None]


def test_join_all_finishes_every_task():
    s = make()
    out = []
    for i in range(5):
        s.spawn(lambda i=i: (s.yield_(), out.append(i)))
    s.join_all()
    assert sorted(out) == list(range(5)) and not s.tasks


def test_task_spawned_by_a_task_that_finishes_first():
    """A child spawned by a task must not become its parent's parent (cyclic parent chain)."""
    s = make()
    log = []

    def child():
        log.append("child")

    def parent():
        s.spawn(child)
        log.append("parent done")

    p = s.spawn(parent)
    p.join()
    s.join_all()
    assert log == ["parent done", "child"]


class FakeBell:
    """A doorbell that records the scheduler's calls (arm, sleep, cancel)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def arm(self) -> int:
        self.calls.append("arm")
        return 0

    def sleep(self, token: int, seconds: float) -> None:
        self.calls.append("sleep")

    def cancel(self) -> None:
        self.calls.append("cancel")


def test_idle_scheduler_arms_looks_once_more_then_sleeps_on_the_doorbell():
    bell, polls = FakeBell(), []
    state = {"go": False}

    def poll():
        polls.append(len(bell.calls))
        if bell.calls.count("sleep") == 2:
            state["go"] = True  # a message arrives during the second sleep
        return False

    s = Scheduler(poll, lambda: None, SETTINGS, doorbell=bell)
    s.wait(lambda: state["go"])
    assert bell.calls[:4] == ["arm", "sleep", "arm", "sleep"]
    # The look after arm() found nothing twice; after the second sleep the wait ends.
    assert polls.count(1) == 1 and polls.count(3) == 1


def test_an_abort_seen_in_the_last_look_cancels_the_sleep():
    class Aborted(Exception):
        pass

    bell = FakeBell()

    def idle_check():
        if bell.calls and bell.calls[-1] == "arm":
            raise Aborted("job aborted")

    s = Scheduler(lambda: False, idle_check, SETTINGS, doorbell=bell)
    with pytest.raises(Aborted):
        s.wait(lambda: False)
    assert bell.calls == ["arm", "cancel"]


def test_a_look_that_finds_work_cancels_the_sleep():
    bell = FakeBell()
    state = {"go": False}

    def poll():
        if bell.calls == ["arm"]:
            state["go"] = True
        return False

    s = Scheduler(poll, lambda: None, SETTINGS, doorbell=bell)
    s.wait(lambda: state["go"])
    assert bell.calls == ["arm", "cancel"]
