"""Per-process cooperative scheduler: green threads (greenlets) that block by polling the bus.

Like Toro's per-core scheduler, and shaped after trio's run loop: every pass polls the bus
once (one `poll()` call, which also pushes pending sends), wakes the blocked tasks whose
condition now holds, and runs the next ready one. Only when no task can run does the rank back
off: spin with the cpu pause hint, then sched_yield, then sleep on the process's doorbell (a
futex its peers ring when they send to it; without one, sleep with a doubling interval), so an
idle rank stops burning its core. A blocked task parks itself in `waiting` with its condition
(the parking lot); nothing wakes it but its condition.

The scheduler knows nothing of MPI: the layer above gives it `poll` (make progress; return
True if anything moved) and `idle_check` (raise to turn a hopeless wait into an error, e.g.
the job was aborted).

Green threads carry an opaque `owner` (the greenlet attribute of that name, None if unset): a
new one inherits its spawner's. A process that hosts several MPI ranks (toro_mpi.hosting) owns
each rank's green threads by that rank, so `join_all(owner)` finishes one rank's threads only.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from greenlet import getcurrent, greenlet

from ..bus.ring import relax

INHERIT: Any = object()  # spawn's default owner: the spawning green thread's
JOIN = ("join", -2, 0)  # what a green thread waiting in Task.join is blocked in


def owner_of(glet: greenlet) -> Any:
    """The owner of a green thread (None for one nobody claimed, e.g. a process's main one)."""
    return getattr(glet, "owner", None)


class Task:
    """A green thread started by `spawn`; `join()` waits for it and returns its result."""

    def __init__(self, sched: Scheduler, fn: Callable[..., Any], args: tuple[Any, ...], owner: Any = None) -> None:
        self._sched = sched
        self.fn = fn
        self.args = args
        self.owner = owner
        self.main = False  # the owner's main thread (a hosted rank's program): never joined as a child
        self.done = False
        self.result: Any = None
        self.glet: greenlet | None = None

    def join(self) -> Any:
        """Block the calling green thread until this task has finished; return its result."""
        self._sched.wait(lambda: self.done, JOIN)
        return self.result

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        return f"<Task {getattr(self.fn, '__name__', self.fn)!r} {state}>"


class _Waiter:
    __slots__ = ("glet", "cond", "what", "error")

    def __init__(self, glet: greenlet, cond: Callable[[], bool], what: Any) -> None:
        self.glet = glet
        self.cond = cond
        self.what = what
        self.error: BaseException | None = None  # what cond() raised, for glet to raise


class Scheduler:
    """Round-robin cooperative scheduler of one rank's green threads."""

    def __init__(
        self,
        poll: Callable[[], bool],
        idle_check: Callable[[], None],
        settings: dict[str, int],
        on_block: Callable[[Any], None] | None = None,
        on_idle: Callable[[bool], None] | None = None,
        on_switch: Callable[[greenlet], None] | None = None,
        doorbell: Any = None,
    ) -> None:
        self.poll = poll
        self.idle_check = idle_check
        self.on_block = on_block or (lambda what: None)
        # Told True when the rank starts sleeping between polls with nothing to run, False when
        # something moves again (the launcher's deadlock check reads what it records).
        self.on_idle = on_idle or (lambda idle: None)
        self.progressed = False  # set by a wait condition that moved something without finishing
        # Called with the green thread about to run, before every switch the scheduler makes (a
        # host of several ranks installs that rank's state there).
        self.on_switch = on_switch
        self.spin_passes = int(settings.get("spin_passes", 300))
        self.yield_passes = int(settings.get("yield_passes", 300))
        self.sleep_min = int(settings.get("sleep_min_us", 20)) * 1e-6
        self.sleep_max = int(settings.get("sleep_max_us", 1000)) * 1e-6
        # What the process sleeps on once fully idle, that peers ring when they have news for
        # it (arm / cancel / sleep, see bus.doorbell); None: sleep in growing steps instead.
        self.doorbell = doorbell
        self.doze_max = int(settings.get("doze_max_us", 10000)) * 1e-6
        # Every task's parent is the greenlet that built the scheduler (the rank's main one):
        # a finishing task re-parents itself to whoever runs next, which must never make a
        # cycle (a task whose parent is a task it spawned).
        self._root = getcurrent()
        self.ready: deque[greenlet] = deque()
        self.waiting: list[_Waiter] = []
        self.parked: set[greenlet] = set()
        self.tasks: set[Task] = set()
        self._round = 0  # ready threads left to run before the next poll
        # How a green thread that dies of `exc` is reported: None prints the traceback (a genuine
        # error), "" nothing, anything else that one line. The layer above knows which errors
        # are the job's abort (the launcher's report then says it all).
        self.exit_note: Callable[[BaseException], str | None] = lambda exc: None

    # -- public ------------------------------------------------------------------------
    def spawn(self, fn: Callable[..., Any], *args: Any, owner: Any = INHERIT, main: bool = False) -> Task:
        """Start fn(*args) as a new green thread of this rank; it runs when the caller yields.

        `main`: the thread is its owner's main one (join_all and owns_tasks leave it out)."""
        if owner is INHERIT:
            owner = owner_of(getcurrent())
        task = Task(self, fn, args, owner)
        task.main = main
        # A finishing task hands the core on by returning, and greenlet passes that return
        # value to whoever runs next: a task that never ran receives it as an argument.
        task.glet = greenlet(lambda *_: self._task_main(task), parent=self._root)
        task.glet.owner = owner
        self.tasks.add(task)
        self.ready.append(task.glet)
        return task

    def yield_(self) -> None:
        """Let the other ready green threads run (or give the core away if there are none)."""
        if not self.pause():
            os.sched_yield()

    def pause(self) -> bool:
        """Make progress once and let the other ready green threads run, then carry on (no OS
        yield: a rank polling with Test lets the ranks it waits for run on its own core).
        False if no other green thread was ready."""
        self._look()
        if not self.ready:
            return False
        me = getcurrent()
        self.ready.append(me)
        try:
            self._run_next(me)
        except BaseException:
            self._forget_ready(me)
            raise
        return True

    def wait(self, cond: Callable[[], bool], what: Any = None) -> None:
        """Block the calling green thread until cond() holds, running the others meanwhile."""
        if cond():
            return
        me = getcurrent()
        self.on_block(what)
        try:
            # We come back only once _wake has seen cond() hold (or raise) and made us ready: the
            # condition is not evaluated again (a condition may have effects, e.g. advance a
            # collective).
            waiter = _Waiter(me, cond, what)
            self.waiting.append(waiter)
            self._run_next(me)
            if waiter.error is not None:
                raise waiter.error
        except BaseException:
            # An error (e.g. the job aborts) thrown into us: we are no longer parked anywhere.
            self.waiting = [w for w in self.waiting if w.glet is not me]
            self._forget_ready(me)
            raise
        finally:
            self.on_block(None)

    def park(self, what: Any = None) -> None:
        """Block the calling green thread until another one passes it to `unpark` (a parking lot
        for waits whose end someone else knows, e.g. the last rank into a local barrier: no
        condition to evaluate on every pass)."""
        self.on_block(what)
        try:
            self.park_quietly()
        finally:
            self.on_block(None)

    def park_quietly(self) -> None:
        """`park` without telling on_block: for a caller that records what it waits in itself
        (a hosted rank's local barrier, where the two hook calls cost a tenth of a rank step)."""
        me = getcurrent()
        self.parked.add(me)
        try:
            # _run_next with its common case inline: the next thread of this round, no poll.
            # Deliberately a copy: calling _run_next instead measured ~9% slower for a hosted
            # barrier (two Python calls per park, on every rank step).
            if self._round > 0 and self.ready:
                self._round -= 1
                nxt = self.ready.popleft()
            else:
                nxt = self._next_ready()
            if nxt is not me:
                if self.on_switch is not None:
                    self.on_switch(nxt)
                nxt.switch()
        except BaseException:
            self.parked.discard(me)
            self._forget_ready(me)
            raise

    def unpark(self, glets: list[greenlet]) -> None:
        """Make parked green threads ready again (in the order given)."""
        for glet in glets:
            if glet in self.parked:
                self.parked.discard(glet)
                self.ready.append(glet)

    def _forget_ready(self, glet: greenlet) -> None:
        if glet in self.ready:
            self.ready = deque(g for g in self.ready if g is not glet)

    def alone(self) -> bool:
        """Make progress once, then tell whether no other green thread can run before the caller
        moves on: none is ready, and every waiting one waits for a task that has not finished
        (parked ones need someone else to move)."""
        self._look()  # e.g. push another rank's queued sends that a remote rank needs first
        return self.none_runnable()

    def none_runnable(self) -> bool:
        """`alone` without its poll: no green thread is ready, and every waiting one waits for a
        task that has not finished."""
        if self.ready:
            return False
        for w in self.waiting:
            if w.what is not JOIN:
                return False
        return True

    def join_all(self, owner: Any = None) -> None:
        """Wait until every green thread spawned by `owner` has finished (called at finalize)."""
        while True:
            mine = self._children(owner)
            if not mine:
                return
            mine[0].join()

    def owns_tasks(self, owner: Any = None) -> bool:
        """Whether some green thread of `owner` is still running."""
        return bool(self._children(owner))

    def _children(self, owner: Any) -> list[Task]:
        """The running green threads of `owner`, its main one left out."""
        return [t for t in self.tasks if t.owner is owner and not t.main]

    # -- the run loop -------------------------------------------------------------------
    def _look(self) -> bool:
        """Poll the bus once and make ready every waiting thread whose condition now holds; True
        if the poll moved anything."""
        moved = self.poll()
        self._wake()
        return moved

    def _wake(self) -> None:
        if not self.waiting:
            return
        still = []
        for w in self.waiting:
            # Any green thread's poll evaluates every waiter's condition. One that raises (a
            # collective finding its peer finalized, a mismatch) readies its own thread with the
            # error: raised here it would fail the thread that happened to poll, and leave the
            # waiters already made ready in `waiting` too, to be made ready (resumed) twice.
            try:
                holds = w.cond()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                w.error = exc
                holds = True
            if holds:
                self.ready.append(w.glet)
            else:
                still.append(w)
        self.waiting = still

    def _next_ready(self) -> greenlet:
        """Poll and back off until some green thread is ready; pop and return it.

        One poll per round (trio's run loop): the threads found ready by a poll all run before the
        next one, so a process hosting k ranks polls once per k hand-offs, not on every one."""
        if self._round > 0 and self.ready:
            self._round -= 1
            return self.ready.popleft()
        idle = 0
        passes = 0
        sleep = self.sleep_min
        marked = False  # whether on_idle(True) was said
        while True:
            moved = self._look()
            if self.progressed:
                moved, self.progressed = True, False
            if self.ready:
                if marked:
                    self.on_idle(False)
                self._round = len(self.ready) - 1  # the others of this round run without a poll
                return self.ready.popleft()
            passes += 1
            if moved:
                if marked:
                    self.on_idle(False)
                    marked = False
                idle = 0
                sleep = self.sleep_min
                if passes & 1023 == 0:
                    # Busy with traffic that wakes nobody: still notice an abort now and then.
                    self.idle_check()
                continue
            idle += 1
            if idle < self.spin_passes:
                relax(32)
                if idle & 255 == 0:
                    self.idle_check()
                continue
            self.idle_check()
            if idle < self.spin_passes + self.yield_passes:
                os.sched_yield()
                continue
            if not marked:
                self.on_idle(True)
                marked = True
            bell = self.doorbell
            if bell is None:
                time.sleep(sleep)
                sleep = min(sleep * 2, self.sleep_max)
                continue
            # Say we sleep, then look once more: a peer that published before seeing our word
            # is found by this look, one that published after rings us (layout: SLOT_SLEEPING).
            # The look includes idle_check: an abort or a finished peer noted since the last
            # check must not wait for the next timeout.
            token = bell.arm()
            try:
                self.idle_check()
                moved = self._look()
            except BaseException:
                bell.cancel()
                raise
            if moved or self.ready or self.progressed:
                bell.cancel()
                continue
            bell.sleep(token, self.doze_max)

    def _run_next(self, me: greenlet) -> None:
        """Run others until `me` is chosen again (it must already be ready or waiting)."""
        nxt = self._next_ready()
        if nxt is me:
            return
        # We come back here only when someone picked us from `ready`.
        if self.on_switch is not None:
            self.on_switch(nxt)
        nxt.switch()

    def _task_main(self, task: Task) -> None:
        try:
            task.result = task.fn(*task.args)
        except BaseException as exc:
            # An unhandled error in a green thread ends the rank, like an uncaught exception in
            # an MPI program: print it and exit non-zero so the launcher aborts the job.
            note = self.exit_note(exc)
            if note is None:
                sys.stderr.write(f"toro_mpi: unhandled exception in green thread {task!r}\n")
                traceback.print_exc()
            elif note:
                sys.stderr.write(note + "\n")
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        finally:
            task.done = True
            self.tasks.discard(task)
        # Hand the core to the next ready green thread: returning goes to our parent.
        nxt = self._next_ready()
        if self.on_switch is not None:
            self.on_switch(nxt)
        getcurrent().parent = nxt
