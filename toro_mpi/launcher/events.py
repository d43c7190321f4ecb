"""A tiny event loop over file descriptors: rank pidfds, output pipes, the signal wake-up pipe."""

from __future__ import annotations

import selectors
from collections.abc import Callable


class EventLoop:
    """Wait on many fds at once and call each ready fd's callback."""

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()

    def add(self, fd: int, callback: Callable[[], None]) -> None:
        """Call `callback` whenever `fd` is readable."""
        self._sel.register(fd, selectors.EVENT_READ, callback)

    def discard(self, fd: int | None) -> None:
        """Stop watching `fd` (before it is closed). Ignores fds not watched."""
        if fd is None:
            return
        try:
            self._sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    def watched(self) -> int:
        """Number of fds being watched."""
        return len(self._sel.get_map())

    def run_once(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for readiness and run the callbacks of the ready fds."""
        for key, _ in self._sel.select(max(0.0, timeout)):
            key.data()

    def close(self) -> None:
        """Release the selector."""
        self._sel.close()
