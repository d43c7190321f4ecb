"""Forward what the ranks print: every rank's stdout and stderr reach the launcher through pipes
and leave it as whole lines, so lines of different ranks never mix, whatever reads our output.

A stream's destination is one of: the launcher's own stdout or stderr (optionally each line
prefixed with `[rank] `, --tag-output), a file of its own (--output-filename), or a list that
keeps the lines (--compare).
"""

from __future__ import annotations

import os

READ_SIZE = 65536
# A longer run of bytes without a newline is passed on as a line of its own: the launcher must
# not hold an unbounded amount of one rank's output, and a partial line written as it is would
# let another rank's line land inside it.
MAX_LINE = 1 << 20


class RankStream:
    """One rank's stdout or stderr pipe, passed on line by line to `dest_fd` (each line prefixed
    with `prefix`), or kept in `sink` when that is given."""

    def __init__(self, fd: int, dest_fd: int | None, prefix: bytes = b"", sink: list[bytes] | None = None) -> None:
        self.fd = fd
        self.dest_fd = dest_fd
        self.sink = sink
        self.prefix = prefix
        self._pending = b""

    def on_readable(self) -> bool:
        """Read what is there and pass on the complete lines; return False at end of file (a
        last line without a newline is passed on then, with one added: lines stay whole)."""
        try:
            chunk = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return True
        except OSError:
            chunk = b""
        if not chunk:
            if self._pending:
                self._emit(self._pending + b"\n")
                self._pending = b""
            return False
        data = self._pending + chunk if self._pending else chunk
        cut = data.rfind(b"\n") + 1
        whole, self._pending = data[:cut], data[cut:]
        # Kept lines are compared whole (--compare), so only forwarded ones are cut.
        if self.sink is None and len(self._pending) > MAX_LINE:
            whole, self._pending = whole + self._pending + b"\n", b""
        if whole:
            self._emit(whole)
        return True

    def _emit(self, block: bytes) -> None:
        """Pass on `block`, whole lines each ending in a newline."""
        if self.sink is not None:
            self.sink.extend(block.split(b"\n")[:-1])
            return
        if self.dest_fd is None:
            return
        if self.prefix:
            block = b"".join(self.prefix + line + b"\n" for line in block.split(b"\n")[:-1])
        if not write_all(self.dest_fd, block):
            self.dest_fd = None  # EPIPE and the like: keep draining the rank, drop its output


def write_all(fd: int, data: bytes) -> bool:
    """Write all of `data` to `fd`; False (and nothing more written) if the fd is gone (EPIPE)."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        return False
    return True
