"""Start one rank: a child that dies with the launcher, pinned to its core before exec."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def available_cores() -> list[int]:
    """Cores this process may run on, in order; rank i goes to the (i % ncores)-th."""
    return sorted(os.sched_getaffinity(0))


def _child_setup(cpu: int | None, launcher_pid: int) -> Callable[[], None]:
    """preexec_fn: a process group of its own, SIGKILL on the launcher's death, exit if it
    already died, pin to `cpu`.

    The process group keeps a terminal's Ctrl-C (and Ctrl-\\) from reaching the rank directly:
    only the launcher gets it and stops the job, so the ranks end without a KeyboardInterrupt
    traceback each, as with mpirun. (Rank 0 then reads a terminal through the launcher.)"""

    def setup() -> None:
        os.setpgid(0, 0)
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != launcher_pid:
            os._exit(1)
        if cpu is not None:
            os.sched_setaffinity(0, (cpu,))

    return setup


# Set for a rank started without preexec_fn (_runs_rank_main): the launcher's pid, for rank_main
# to do what _child_setup does (runtime.die_with_launcher).
DEATHSIG_VAR = "TORO_MPI_DEATHSIG"


def _runs_rank_main(argv: list[str]) -> bool:
    """Whether argv is `python [options] -m toro_mpi.rank_main ...` (a Python program's rank)."""
    for i in range(1, len(argv) - 1):
        if argv[i] == "-m":
            return argv[i + 1] == "toro_mpi.rank_main"
        if not argv[i].startswith("-"):
            return False
    return False


class RankProcess:
    """A running rank (or host of several ranks): its Popen, a pidfd to wait on (None if the
    kernel has none), its exit. `ranks` are the ranks it runs, `rank` the first of them;
    `extra_pipes` maps each further rank to the read ends of its own pipes (out, err; err None
    when stderr is merged into stdout)."""

    def __init__(self, rank: int, proc: subprocess.Popen[bytes], ranks: list[int] | None = None,
                 extra_pipes: dict[int, tuple[int, int | None]] | None = None) -> None:
        self.rank = rank
        self.ranks = ranks or [rank]
        self.extra_pipes = extra_pipes or {}
        self.proc = proc
        self.pid = proc.pid
        try:
            self.pidfd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            self.pidfd = None

    @property
    def returncode(self) -> int | None:
        """Exit code, -signal if killed, None while running."""
        return self.proc.returncode

    def poll(self) -> int | None:
        """Reap the rank if it has exited; return its returncode."""
        return self.proc.poll()

    def signal(self, signum: int) -> None:
        """Send a signal unless the rank has already been reaped."""
        try:
            self.proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def kill_and_wait(self) -> None:
        """SIGKILL the rank if it still runs and reap it."""
        if self.poll() is None:
            self.signal(signal.SIGKILL)
            self.proc.wait()
        self.close_pidfd()

    def close_pidfd(self) -> None:
        """Release the pidfd. Idempotent."""
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def start_rank(argv: list[str], env: dict[str, str], rank: int, cpu: int | None,
               ranks: list[int] | None = None, merge_stderr: bool = False,
               cwd: str | None = None, stdin_pipe: bool = False) -> RankProcess:
    """Start rank `rank` (or a host of `ranks`, the first being `rank`) in `cwd`; stdin is
    inherited by rank 0 only (a pipe from the launcher with `stdin_pipe`). Its stdout and
    stderr are pipes to the launcher (one pipe for both with `merge_stderr`), with one more pair
    per further hosted rank (their write ends named in TORO_MPI_FDS, see toro_mpi.hosting)."""
    extra: dict[int, tuple[int, int | None]] = {}
    child_ends: list[int] = []
    try:
        if ranks:
            entries = []
            for r in ranks[1:]:
                out_r, out_w = os.pipe()
                child_ends.append(out_w)
                if merge_stderr:
                    extra[r] = (out_r, None)
                    entries.append(f"{r}:{out_w}:{out_w}")
                    continue
                err_r, err_w = os.pipe()
                extra[r] = (out_r, err_r)
                child_ends.append(err_w)
                entries.append(f"{r}:{out_w}:{err_w}")
            env = dict(env, TORO_MPI_FDS=";".join(entries))
        stdin = (subprocess.PIPE if stdin_pipe else None) if rank == 0 else subprocess.DEVNULL
        stderr = subprocess.STDOUT if merge_stderr else subprocess.PIPE
        if _runs_rank_main(argv):
            # A Python rank sets its death signal itself, first thing (rank_main); the launcher
            # pins it right after the exec. Without preexec_fn, Popen uses vfork: 0.3 ms per rank
            # instead of 1.9 (a fork of the launcher, then Python in the child), before the next
            # rank can start.
            proc = subprocess.Popen(argv, env=dict(env, **{DEATHSIG_VAR: str(os.getpid())}), cwd=cwd, stdin=stdin,
                                    stdout=subprocess.PIPE, stderr=stderr, pass_fds=child_ends, process_group=0)
            if cpu is not None:
                try:
                    os.sched_setaffinity(proc.pid, (cpu,))
                except ProcessLookupError:
                    pass  # already gone: the launcher reports its exit
        else:
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=stdin, stdout=subprocess.PIPE, stderr=stderr,
                                    pass_fds=child_ends, preexec_fn=_child_setup(cpu, os.getpid()))
    except BaseException:
        for fd in child_ends + [fd for pair in extra.values() for fd in pair if fd is not None]:
            os.close(fd)
        raise
    for fd in child_ends:
        os.close(fd)
    return RankProcess(rank, proc, ranks, extra)
