"""Catch SIGINT/SIGTERM/SIGHUP while the job runs: record them and wake the event loop."""

from __future__ import annotations

import os
import signal
from types import FrameType, TracebackType

TRAPPED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """Raised by the handler while `raising` is on (work that cannot watch the loop)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SignalTrap:
    """Context manager: install the handlers, expose a wake-up fd, restore everything on exit."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.raising = False
        self.fd = -1
        self._write_fd = -1
        self._old_wakeup = -1
        self._old_handlers: dict[int, object] = {}

    def __enter__(self) -> SignalTrap:
        self.fd, self._write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_wakeup = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        for signum in TRAPPED:
            self._old_handlers[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.raising:
            raise Interrupted(signum)

    def drain(self) -> None:
        """Empty the wake-up pipe (the signals themselves are in `received`)."""
        try:
            while os.read(self.fd, 512):
                pass
        except BlockingIOError:
            pass

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        signal.set_wakeup_fd(self._old_wakeup)
        os.close(self.fd)
        os.close(self._write_fd)
