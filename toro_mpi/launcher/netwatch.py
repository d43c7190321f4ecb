"""The deadlock check of `toro-mpirun --nodes K`: the launcher's side of the board (net/board.py).

The ranks publish on the board, a POSIX shared memory block this module creates and names in
TORO_MPI_NET_BOARD, what each is blocked in, whether its process is idle, and how many network
items it has sent to and received from other nodes. A deadlock is called when two looks at
least DEADLOCK_TICK apart find:

- every rank attached, not all finished, every live rank's process idle (odd idle count),
- the same idle counts both times (no rank woke in between), and the same item counts,
- the network quiet: the items sent by all ranks equal the items received by all ranks, and
  no rank receiving a large payload or holding items its full queues cannot take yet,
- every live rank's process asleep and woken again at least twice in between (voluntary
  context switches): each has looked at its queues and at the network since the first look, and
  still wants nothing. An idle rank of a job of several nodes dozes at most NET_DOZE_US.

A rank that computes (or sleeps in user code) is not idle, so a slow but live job is never
called deadlocked. The report names what every rank waits for, in the one-node report's words.
"""

from __future__ import annotations

import mmap
import os
import time

import numpy as np
import posix_ipc

from ..bus.segment import NAME_PREFIX
from .report import SlotView

ENV = "TORO_MPI_NET_BOARD"  # net/board.py's ENV
# net/board.py's row layout (this side may not import that layer; tests/unit checks they agree).
WORDS = 9
STATE, IDLE, CALL, PEER, TAG, SENT, RECEIVED, PID, FLIGHT = range(WORDS)
ATTACHED, FINISHED = 1, 2
DEADLOCK_TICK = 0.1  # seconds between looks (launcher/job.py's)


class Board:
    """The board of one job: created before mpiexec starts, unlinked when the launcher is done."""

    def __init__(self, nranks: int) -> None:
        self.nranks = nranks
        self.name = f"{NAME_PREFIX}{os.getpid()}.board{os.urandom(6).hex()}"
        shm = posix_ipc.SharedMemory(self.name, posix_ipc.O_CREX, size=nranks * WORDS * 8)
        try:
            self._map = mmap.mmap(shm.fd, nranks * WORDS * 8)
        finally:
            shm.close_fd()
        self.rows = np.frombuffer(self._map, np.int64).reshape(nranks, WORDS)
        self._first: tuple[tuple[int, ...], list[int | None], float] | None = None

    def close(self) -> None:
        """Unlink the board (nothing of it stays in /dev/shm)."""
        try:
            posix_ipc.unlink_shared_memory(self.name)
        except posix_ipc.ExistentialError:
            pass

    def deadlocked(self) -> bool:
        """One look (call every DEADLOCK_TICK): True once the conditions of the module's
        docstring hold over two looks."""
        look = self._look()
        if look is None:
            self._first = None
            return False
        sleeps = self._sleeps()
        now = time.monotonic()
        if self._first is None or self._first[0] != look:
            self._first = (look, sleeps, now)
            return False
        _, before, since = self._first
        return now - since >= DEADLOCK_TICK and all(
            a is None or b is None or a >= b + 2 for a, b in zip(sleeps, before, strict=True))

    def _look(self) -> tuple[int, ...] | None:
        rows = self.rows.copy()
        states = rows[:, STATE]
        if (states == 0).any() or (states == FINISHED).all():
            return None
        live = states == ATTACHED
        if not (rows[live, IDLE] & 1).all():
            return None
        if rows[:, SENT].sum() != rows[:, RECEIVED].sum() or rows[live, FLIGHT].any():
            return None
        return tuple(int(x) for x in rows[:, [STATE, IDLE, SENT, RECEIVED]].ravel())

    def _sleeps(self) -> list[int | None]:
        """Voluntary context switches of every live rank's process (None: gone or finished)."""
        out: list[int | None] = []
        for row in self.rows:
            count = None
            if row[STATE] == ATTACHED:
                try:
                    with open(f"/proc/{int(row[PID])}/status") as fh:
                        count = next(int(line.split()[1]) for line in fh
                                     if line.startswith("voluntary_ctxt_switches"))
                except (OSError, StopIteration, ValueError):
                    count = None
            out.append(count)
        return out

    def views(self) -> list[SlotView]:
        """What every rank is in, for the report."""
        rows = self.rows.copy()
        return [SlotView(r, None, int(row[STATE]), int(row[CALL]), int(row[PEER]), int(row[TAG]),
                         idle=bool(row[IDLE] & 1))
                for r, row in enumerate(rows)]
