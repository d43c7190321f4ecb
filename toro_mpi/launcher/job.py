"""Run a planned job: create the bus, start the ranks, supervise them, stop them, clean up."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from typing import IO

import posix_ipc

from ..bus import layout as L
from ..bus.segment import Segment, SegmentError, launcher_pid_of, list_segments, make_name
from ..config import coll_queue_size
from . import stream_memory
from .environ import rank_env
from .events import EventLoop
from .output import RankStream, write_all
from .plan import LaunchError, Plan
from .report import SlotView, binding_report, deadlock_report, describe_exit, exit_status, signal_name, timeout_report
from .signals import Interrupted, SignalTrap
from .spawn import RankProcess, available_cores, start_rank
from .stamps import stamp

EXIT_TIMEOUT = 110
EXIT_DEADLOCK = 111
DEADLOCK_TICK = 0.1  # seconds between looks for a deadlock (two alike looks in a row end the job)
STALE_QUEUE_SECONDS = 2.0  # a deadlock with messages left in queues must hold this long
ATTACH_POLL = 0.005  # seconds between looks at the attach counter, until the name is unlinked
POLL_TICK = 0.01  # wake-up period when some exit cannot be waited for with a pidfd
IDLE_TICK = 1.0  # longest sleep otherwise: pidfds, pipes and signals wake the loop earlier
DRAIN_GRACE = 1.0  # after the ranks are gone, how long to wait for their pipes to close


def say(message: str) -> None:
    """Print a launcher message to stderr."""
    print(f"toro-mpirun: {message}", file=sys.stderr, flush=True)


def say_raw(message: str) -> None:
    """Print a line to stderr as it is (Open MPI's own wording, e.g. --report-bindings)."""
    print(message, file=sys.stderr, flush=True)


def warm_numba_cache() -> bool:
    """Compile the bus kernels into numba's disk cache once; False while toro_mpi.warm is missing."""
    # By name, not `from .. import warm`: the launcher is apart from the layers (README,
    # [tool.importlinter]). toro_mpi.warm sits on top of them, but what the launcher process runs
    # of it (warm_cache) only imports bus.layout and starts a child process; the coll and mpi
    # modules the warm-up drives are imported in that child, never in the launcher.
    try:
        warm = importlib.import_module("toro_mpi.warm")
    except ModuleNotFoundError as exc:
        if exc.name != "toro_mpi.warm":
            raise
        return False
    try:
        warm.warm_cache()
    except warm.WarmError as exc:  # the warm-up process has said why on stderr
        raise LaunchError(str(exc), code=1) from None
    return True


def process_state(pid: int) -> str | None:
    """The one-letter scheduler state of a process (R running or runnable, S sleeping, Z, ...)
    from /proc/PID/stat; None when it is gone or /proc is not there."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0].decode()
    except (OSError, IndexError):
        return None


class Job:
    """One run of toro-mpirun: owns the segment and the rank processes."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.seg: Segment | None = None
        self.seg_name = make_name()  # given to the ranks, which start before the segment exists
        self.ranks: list[RankProcess] = []
        # With plan.capture: rank -> (its stdout lines, its stderr lines), without the newlines.
        self.output: dict[int, tuple[list[bytes], list[bytes]]] = {}
        self._live: set[RankProcess] = set()
        self._exit_events: set[RankProcess] = set()
        self._late_failure: RankProcess | None = None  # a rank that exited non-zero after Finalize
        self._open_streams = 0
        self._idle_seen: tuple[int, ...] | None = None  # the last look's idle counts (deadlock check)
        # (state, context switches) when every process was first seen asleep with messages waiting
        self._stale_since: tuple[tuple[int, ...], list[int | None], float] | None = None
        self._next_look = 0.0
        self._extra_files: list[IO[bytes]] = []  # read ends of hosted ranks' own pipes
        self._output_fds: list[int] = []  # --output-filename: the files the ranks' lines go to
        self._cores = available_cores()
        self._unlinked = False
        self.loop = EventLoop()
        self.trap = SignalTrap()

    # -- the whole run ----------------------------------------------------------------------
    def run(self) -> int:
        """Run the job to its end and return the launcher's exit status."""
        with self.trap:
            try:
                self.loop.add(self.trap.fd, self.trap.drain)
                self._prepare()
                stamp("launcher: ranks starting")
                status = self._spawn_all()
                if status is not None:
                    return status
                stamp("launcher: ranks started")
                # The ranks import Python, numpy and numba meanwhile (~0.3 s of CPU each); they
                # wait for the segment in Segment.attach if they get there first.
                self._create_segment()
                stamp("launcher: segment created")
                return self._supervise()
            except Interrupted as exc:
                say(f"caught {signal_name(exc.signum)} before the ranks started")
                return 128 + exc.signum
            except LaunchError as exc:
                say(str(exc))
                return exc.code
            finally:
                self._teardown()

    def _prepare(self) -> None:
        """Warm numba's cache (interruptible)."""
        plan = self.plan
        if plan.cfg.launcher["warm_cache"]:
            self.trap.raising = True
            try:
                warm_numba_cache()
            finally:
                self.trap.raising = False
        if self.trap.received:
            raise Interrupted(self.trap.received[0])

    def _create_segment(self) -> None:
        """Create the segment under the name the ranks were given."""
        plan = self.plan
        try:
            bus = plan.cfg.bus
            # Its queues start with the stream advice past jobs reached between the same cores.
            self.seg = Segment.create(plan.nranks, bus["queue_size"], bus["buffer_size"], name=self.seg_name,
                                      coll_queue_size=coll_queue_size(bus, plan.nranks),
                                      stream_advice=stream_memory.preset(plan))
        except (SegmentError, ValueError, OSError, posix_ipc.Error) as exc:
            raise LaunchError(f"cannot create the bus segment: {exc}", code=1) from None

    def _spawn_all(self) -> int | None:
        """Start every rank; a status if the job ended while starting (signal, exec failure)."""
        plan = self.plan
        base = dict(os.environ)
        config_json = plan.cfg.to_json()
        # Ranks write into pipes; keep what they print live where someone watches it.
        live = plan.tag_output or plan.capture or (plan.output_dir is None and os.isatty(1))
        if plan.hosts is not None:
            units = [(hosted[0], hosted, plan.host_argvs[h], plan.host_cpus[h]) for h, hosted in enumerate(plan.hosts)]
        else:
            units = [(rank, None, plan.app_of(rank).rank_argv, plan.cpus[rank]) for rank in range(plan.nranks)]
        for rank, hosted, argv, cpu in units:
            if self.trap.received:
                return self._interrupted()
            app = plan.app_of(rank)
            env = rank_env(base, {**plan.exports, **app.exports}, rank, plan.nranks, self.seg_name, config_json,
                           live, plan.mpi4py, app.appnum, len(plan.apps))
            if hosted is not None:
                env["TORO_MPI_HOSTED"] = ",".join(map(str, hosted))
                env["TORO_MPI_PROCESSES"] = str(len(units))
                assert plan.hosts is not None
                env["TORO_MPI_HOST_MAP"] = ",".join(str(h) for h, hs in enumerate(plan.hosts) for _ in hs)
            # A rank reading a terminal from a process group of its own would be stopped (SIGTTIN):
            # rank 0 reads it through the launcher.
            tty_in = rank == 0 and os.isatty(0)
            try:
                proc = start_rank(argv, env, rank, cpu, ranks=hosted, merge_stderr=plan.merge_stderr,
                                  cwd=app.wdir or plan.wdir, stdin_pipe=tty_in)
            except (OSError, subprocess.SubprocessError) as exc:
                # No segment yet: the ranks already started wait for it, and are stopped.
                say(f"cannot start rank {rank} ({app.argv[0]}): {exc}; aborting the job")
                self._stop()
                if isinstance(exc, FileNotFoundError):
                    return 127
                return 126 if isinstance(exc, PermissionError) else 1
            self._track(proc)
            if tty_in:
                self.loop.add(0, lambda p=proc: self._on_stdin(p))
            if plan.report_bindings:
                for r in proc.ranks:
                    say_raw(binding_report(r, cpu, self._cores))
        return None

    def _track(self, proc: RankProcess) -> None:
        self.ranks.append(proc)
        self._live.add(proc)
        if proc.pidfd is not None:
            self.loop.add(proc.pidfd, lambda: self._on_exit_event(proc))
        self._watch_output(proc)

    def _watch_output(self, proc: RankProcess) -> None:
        """Read the rank's pipes: keep the lines (plan.capture), or pass them on whole to our
        stdout and stderr (prefixed with --tag-output) or to its files (--output-filename)."""
        assert proc.proc.stdout is not None
        pipes: dict[int, tuple[IO[bytes], IO[bytes] | None]] = {proc.rank: (proc.proc.stdout, proc.proc.stderr)}
        for rank, (out_fd, err_fd) in proc.extra_pipes.items():
            out = os.fdopen(out_fd, "rb", buffering=0)
            err = None if err_fd is None else os.fdopen(err_fd, "rb", buffering=0)
            pipes[rank] = (out, err)
            self._extra_files += [f for f in (out, err) if f is not None]
        plan = self.plan
        for rank, pair in pipes.items():
            sinks: tuple[list[bytes] | None, list[bytes] | None] = (None, None)
            dests: tuple[int | None, int | None] = (1, 2)
            if plan.capture:
                sinks = self.output.setdefault(rank, ([], []))
            elif plan.output_dir is not None:
                dests = self._output_files(rank)
            prefix = f"[{rank}] ".encode() if plan.tag_output else b""
            for pipe, dest, sink in zip(pair, dests, sinks, strict=True):
                if pipe is None:  # stderr merged into stdout
                    continue
                stream = RankStream(pipe.fileno(), None if sink is not None else dest, prefix, sink)
                self.loop.add(stream.fd, lambda s=stream, p=pipe: self._on_output(s, p))
                self._open_streams += 1

    def _output_files(self, rank: int) -> tuple[int, int | None]:
        """--output-filename DIR: DIR/1/rank.N/stdout and stderr (Open MPI's layout, 1 being the
        job), created empty even for a rank that prints nothing; stderr is stdout's when merged."""
        assert self.plan.output_dir is not None
        folder = os.path.join(self.plan.output_dir, "1", f"rank.{rank}")
        os.makedirs(folder, exist_ok=True)
        fds = []
        for name in ("stdout",) if self.plan.merge_stderr else ("stdout", "stderr"):
            fds.append(os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644))
        self._output_fds += fds
        return fds[0], (fds[1] if len(fds) > 1 else None)

    # -- events -----------------------------------------------------------------------------
    def _on_exit_event(self, proc: RankProcess) -> None:
        self.loop.discard(proc.pidfd)
        self._exit_events.add(proc)

    def _on_stdin(self, proc: RankProcess) -> None:
        """Pass what was typed on our terminal to rank 0; at its end (Ctrl-D) or once rank 0 is
        gone, close its stdin and stop reading."""
        pipe = proc.proc.stdin
        try:
            data = os.read(0, 65536)
        except OSError:
            data = b""
        if data and pipe is not None and not pipe.closed and write_all(pipe.fileno(), data):
            return
        self.loop.discard(0)
        if pipe is not None:
            pipe.close()

    def _on_output(self, stream: RankStream, pipe: IO[bytes]) -> None:
        if not stream.on_readable():
            self.loop.discard(stream.fd)
            pipe.close()
            self._open_streams -= 1

    def _reap(self) -> RankProcess | None:
        """Collect ranks that exited; return the first that failed (lowest rank), if any."""
        candidates = self._exit_events | {p for p in self._live if p.pidfd is None}
        failed = None
        for proc in sorted(candidates, key=lambda p: p.rank):
            code = proc.poll()
            if code is None:
                continue
            self._exit_events.discard(proc)
            self._live.discard(proc)
            self.loop.discard(proc.pidfd)
            proc.close_pidfd()
            if code != 0 and failed is None:
                failed = proc
        return failed

    def _tick(self, now: float, deadline: float | None) -> float:
        tick = IDLE_TICK if self._unlinked else ATTACH_POLL
        if self._exit_events or any(p.pidfd is None for p in self._live):
            tick = min(tick, POLL_TICK)
        return tick if deadline is None else min(tick, deadline - now)

    def _maybe_unlink(self) -> None:
        assert self.seg is not None
        if not self._unlinked and self.seg.attached() >= self.plan.nranks:
            self.seg.unlink()
            self._unlinked = True

    # -- supervision ------------------------------------------------------------------------
    def _supervise(self) -> int:
        """Wait for the ranks; abort on the first failure, a signal or the timeout."""
        timeout = self.plan.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self.trap.received:
                return self._interrupted()
            failed = self._reap()
            if failed is not None:
                if not self._after_finalize(failed):
                    return self._rank_failed(failed)
                # As under mpiexec: every rank is past the collective Finalize, so the others are
                # exiting on their own; let them finish (their last output included), then report.
                self._late_failure = self._late_failure or failed
            if not self._live:
                stamp("launcher: every rank exited")
                self._drain_output()
                late = self._late_failure
                if late is not None:
                    assert late.returncode is not None
                    say(f"rank {late.rank} (pid {late.pid}) {describe_exit(late.returncode)} after MPI_Finalize")
                    return exit_status(late.returncode)
                return 0
            self._maybe_unlink()
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return self._timed_out()
            if now >= self._next_look:
                self._next_look = now + DEADLOCK_TICK
                if self._deadlocked():
                    return self._deadlock()
            self.loop.run_once(min(self._tick(now, deadline), max(self._next_look - now, 0.0)))

    def _after_finalize(self, proc: RankProcess) -> bool:
        """Whether proc exited with a non-zero status of its own (no signal, no abort) once every
        rank of the job had finalized: an ordinary end of the job, not a failure to stop it for."""
        seg = self.seg
        assert seg is not None and proc.returncode is not None
        if proc.returncode <= 0 or seg.peek_word(L.HDR_ABORT):
            return False
        return all(seg.peek_word(seg.slot(r, L.SLOT_STATE)) == L.RANK_FINISHED for r in range(self.plan.nranks))

    def _rank_failed(self, proc: RankProcess) -> int:
        assert self.seg is not None and proc.returncode is not None
        if len(proc.ranks) > 1:
            # A host names the rank that failed in the abort word before it exits; if it did
            # not (a signal, os._exit), every rank it hosted went down with it.
            seg = self.seg
            culprit = seg.peek_word(L.HDR_ABORT_RANK) if seg.peek_word(L.HDR_ABORT) else -1
            running = seg.peek_word(seg.slot(proc.ranks[0], L.SLOT_RUNNING))
            hosted = f"{proc.ranks[0]}-{proc.ranks[-1]}"
            if culprit in proc.ranks:
                say(f"rank {culprit} (pid {proc.pid}, hosting ranks {hosted}) {describe_exit(proc.returncode)}; "
                    "aborting the job")
            else:
                # Killed, or os._exit: the whole process went, maybe from another OS thread, so
                # name all its ranks, and the one that was running as a hint.
                seg.post_abort(L.ABORT_RANK_FAILED, proc.ranks[0])
                hint = f"; rank {running} was running" if running in proc.ranks else ""
                say(f"ranks {hosted} (pid {proc.pid}, one process{hint}) {describe_exit(proc.returncode)}; "
                    "aborting the job")
            self._stop()
            return exit_status(proc.returncode)
        seg = self.seg
        if seg.peek_word(L.HDR_ABORT) == L.ABORT_RANK_FAILED:
            # A failing rank names itself in the abort word before it exits; when several had
            # exited by our look, the first to fail is the one to name, not the lowest.
            first = next((p for p in self.ranks if p.rank == seg.peek_word(L.HDR_ABORT_RANK)), None)
            if first is not None and first.poll() not in (None, 0):
                proc = first
        seg.post_abort(L.ABORT_RANK_FAILED, proc.rank)
        assert proc.returncode is not None
        say(f"rank {proc.rank} (pid {proc.pid}) {describe_exit(proc.returncode)}; aborting the job")
        self._stop()
        return exit_status(proc.returncode)

    def _interrupted(self) -> int:
        signum = self.trap.received[0]
        if self.seg is not None:
            self.seg.post_abort(L.ABORT_INTERRUPT, -1)
        say(f"caught {signal_name(signum)}; stopping {len(self._live)} running rank(s)")
        self._stop()
        return 128 + signum

    def _deadlocked(self) -> bool:
        """True when two looks in a row find every rank idle or finished, with the same idle
        counts, and every virtqueue empty: no rank can ever be woken again."""
        seg = self.seg
        assert seg is not None
        counts = []
        finished = 0
        for rank in range(self.plan.nranks):
            state = seg.peek_word(seg.slot(rank, L.SLOT_STATE))
            if state == L.RANK_FINISHED:
                finished += 1
                counts.append(-1)
                continue
            count = seg.peek_word(seg.slot(rank, L.SLOT_IDLE))
            if state != L.RANK_ATTACHED or not count & 1:
                self._idle_seen = self._stale_since = None
                return False
            counts.append(count)
        if finished == self.plan.nranks:
            self._idle_seen = self._stale_since = None
            return False
        if not seg.bus_quiet():
            # Messages wait in queues: still a deadlock when every live process sleeps on its
            # doorbell and nobody has rung it since. A process arms its doorbell, then looks at
            # its queues once more, then sleeps; a message published before the arm was in that
            # look, and one published after it rings the bell (which clears the sleeping word
            # and moves the bell). So what waits was seen and is wanted by nobody: e.g. one rank
            # in a collective whose peer raised an error and went on to a receive (the queue of
            # the collective plane is read only by a collective).
            # A collective's send need not ring (its receiver polls, and dozes at most
            # doze_max between looks), and a loaded machine may not run a woken process for a
            # while: so the verdict waits until every process has been through two more
            # sleeps (voluntary context switches) with nothing changed, i.e. has looked at its
            # queues again since, and still wants nothing.
            bells = self._sleeping_bells()
            if bells is None:
                self._idle_seen = self._stale_since = None
                return False
            state = (*counts, -2, *bells)  # -2: never equal to a quiet look's counts
            if self._stale_since is None or self._stale_since[0] != state:
                self._stale_since = (state, self._sleeps(), time.monotonic())
                self._idle_seen = None
                return False
            _, start, since = self._stale_since
            # ... and for STALE_QUEUE_SECONDS: a rank that dozes (a collective's receiver) counts
            # sleeps quickly, but its next look may be what tells it of a mismatch (an error, not
            # a deadlock).
            return time.monotonic() - since >= STALE_QUEUE_SECONDS and all(
                now is None or then is None or now >= then + 2 for now, then in zip(self._sleeps(), start, strict=True))
        self._stale_since = None
        if self._any_running():
            # A rank marks itself idle before its last looks at the queues. A look that takes a
            # message and is then slow to act on it (a kernel loaded on first use, or a loaded
            # machine keeping the process off its core) leaves the bus quiet and the idle count
            # unchanged while the peer waits for its reply: not a deadlock while the process
            # runs. Deadlocked processes sleep (on their doorbell) between short looks.
            self._idle_seen = None
            return False
        seen, self._idle_seen = self._idle_seen, tuple(counts)
        return seen == self._idle_seen

    def _any_running(self) -> bool:
        """Whether a live rank process is running or waiting for a core (state R in /proc)."""
        for proc in self.ranks:
            if process_state(proc.pid) == "R":
                return True
        return False

    def _sleeps(self) -> list[int | None]:
        """Voluntary context switches of every rank process (a futex sleep is one); None for a
        process that is gone (nothing to wait for there)."""
        out = []
        for proc in self.ranks:
            try:
                with open(f"/proc/{proc.pid}/status") as fh:
                    out.append(next(int(line.split()[1]) for line in fh
                                    if line.startswith("voluntary_ctxt_switches")))
            except (OSError, StopIteration, ValueError):
                out.append(None)
        return out

    def _sleeping_bells(self) -> list[int] | None:
        """The doorbell value of every process with a live rank, if each sleeps on its doorbell
        (its sleeping word set); None otherwise, or when doorbells are off."""
        seg = self.seg
        assert seg is not None
        bells = []
        for proc in self.ranks:
            if all(seg.peek_word(seg.slot(r, L.SLOT_STATE)) == L.RANK_FINISHED for r in proc.ranks):
                continue
            if seg.peek_word(seg.slot(proc.rank, L.SLOT_SLEEPING)) != 1:
                return None
            bells.append(seg.peek_word(seg.slot(proc.rank, L.SLOT_BELL)))
        return bells

    def _deadlock(self) -> int:
        assert self.seg is not None
        views = [self._slot_view(proc, rank) for proc in self.ranks for rank in proc.ranks]
        quiet = self.seg.bus_quiet()
        self.seg.post_abort(L.ABORT_DEADLOCK, -1)
        say(deadlock_report(views, quiet))
        self._stop()
        return EXIT_DEADLOCK

    def _timed_out(self) -> int:
        assert self.seg is not None and self.plan.timeout is not None
        views = [self._slot_view(proc, rank) for proc in self.ranks for rank in proc.ranks]
        self.seg.post_abort(L.ABORT_TIMEOUT, -1)
        say(timeout_report(self.plan.timeout, views))
        self._stop()
        return EXIT_TIMEOUT

    def _slot_view(self, proc: RankProcess, rank: int) -> SlotView:
        seg = self.seg
        assert seg is not None
        fields = (L.SLOT_STATE, L.SLOT_CALL, L.SLOT_PEER, L.SLOT_TAG)
        words = [seg.peek_word(seg.slot(rank, f)) for f in fields]
        idle = bool(seg.peek_word(seg.slot(rank, L.SLOT_IDLE)) & 1)
        return SlotView(rank, proc.returncode, *words, idle=idle)

    def _stop(self) -> None:
        """SIGTERM the live ranks, SIGKILL those still there after kill_grace (or a new signal)."""
        for proc in self._live:
            proc.signal(signal.SIGTERM)
        signals_seen = len(self.trap.received)
        deadline = time.monotonic() + float(self.plan.cfg.launcher["kill_grace"])
        while self._live and len(self.trap.received) == signals_seen:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.loop.run_once(min(left, POLL_TICK))
            self._exit_events |= self._live
            self._reap()
        for proc in list(self._live):
            proc.kill_and_wait()
            self._live.discard(proc)
        self._drain_output()

    def _drain_output(self) -> None:
        """Forward what the ranks wrote last, until their pipes close or DRAIN_GRACE passes."""
        deadline = time.monotonic() + DRAIN_GRACE
        while self._open_streams > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.loop.run_once(left)

    def _teardown(self) -> None:
        """Whatever happened: no rank survives, no name stays in /dev/shm."""
        self.loop.close()
        for proc in self.ranks:
            proc.kill_and_wait()
            for pipe in (proc.proc.stdin, proc.proc.stdout, proc.proc.stderr):
                if pipe is not None:
                    pipe.close()
        for pipe in self._extra_files:
            pipe.close()
        for fd in self._output_fds:
            os.close(fd)
        if self.seg is not None:
            self.seg.unlink()
            # The ranks are gone: their receivers' last stream advice, for the next job.
            stream_memory.record(self.seg, self.plan)
            self.seg.close()
        # Safety net: any name carrying our pid is ours (e.g. warm-up's, if a signal cut it short).
        for name in list_segments():
            if launcher_pid_of(name) == os.getpid():
                try:
                    posix_ipc.unlink_shared_memory(name)
                except posix_ipc.Error:
                    pass
