"""--tag-output: copy a rank's pipe to our stdout or stderr, each whole line prefixed with `[rank] `;
--compare: keep the rank's lines instead."""

from __future__ import annotations

import os

READ_SIZE = 65536
MAX_LINE = 65536  # a longer run without a newline is emitted as a line of its own


class TaggedStream:
    """One rank's stdout or stderr pipe, forwarded line by line with its rank as prefix, or kept in `sink`."""

    def __init__(self, rank: int, fd: int, dest_fd: int | None, sink: list[bytes] | None = None) -> None:
        self.fd = fd
        self.dest_fd = dest_fd
        self.sink = sink
        self.prefix = f"[{rank}] ".encode()
        self._pending = b""

    def on_readable(self) -> bool:
        """Read what is there and forward the complete lines; return False at end of file."""
        try:
            chunk = os.read(self.fd, READ_SIZE)
        except BlockingIOError:
            return True
        except OSError:
            chunk = b""
        if not chunk:
            if self._pending:
                self._emit([self._pending])
                self._pending = b""
            return False
        data = self._pending + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            lines, self._pending = [], data
        else:
            lines, self._pending = data[:cut].split(b"\n"), data[cut + 1:]
        # Kept lines are compared whole (--compare), so only forwarded ones are cut.
        if self.sink is None and len(self._pending) > MAX_LINE:
            lines.append(self._pending)
            self._pending = b""
        if lines:
            self._emit(lines)
        return True

    def _emit(self, lines: list[bytes]) -> None:
        """Keep the lines, or write them prefixed in one go; stop forwarding if the destination is gone."""
        if self.sink is not None:
            self.sink.extend(lines)
            return
        if self.dest_fd is None:
            return
        out = memoryview(b"".join(self.prefix + line + b"\n" for line in lines))
        try:
            while out:
                out = out[os.write(self.dest_fd, out):]
        except OSError:  # EPIPE and the like: keep draining the rank, drop its output
            self.dest_fd = None
