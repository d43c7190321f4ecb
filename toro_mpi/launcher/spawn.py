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
    """preexec_fn: SIGKILL on the launcher's death, exit if it already died, pin to `cpu`."""

    def setup() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != launcher_pid:
            os._exit(1)
        if cpu is not None:
            os.sched_setaffinity(0, (cpu,))

    return setup


class RankProcess:
    """A running rank: its Popen, a pidfd to wait on (None if the kernel has none), its exit."""

    def __init__(self, rank: int, proc: subprocess.Popen[bytes]) -> None:
        self.rank = rank
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
               capture: bool = False) -> RankProcess:
    """Start rank `rank`; stdin is inherited by rank 0 only; stdout/stderr piped when `capture`."""
    out = subprocess.PIPE if capture else None
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=None if rank == 0 else subprocess.DEVNULL,
        stdout=out,
        stderr=out,
        preexec_fn=_child_setup(cpu, os.getpid()),
    )
    return RankProcess(rank, proc)
