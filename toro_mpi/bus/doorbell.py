"""A process's doorbell: how a process with nothing to run sleeps until a peer has news for it.

The words and the ordering rules are in layout.py (SLOT_BELL, SLOT_SLEEPING); the peers' side is
ring.ring_peer, inside the kernels that publish queue indices. The scheduler uses three calls:
`arm()`, then one more look at its queues, then `sleep(token, seconds)` if that look found
nothing, or `cancel()` if it found something.
"""

from __future__ import annotations

import numpy as np

from . import layout as L
from . import ring


class Doorbell:
    """The futex doorbell at `address` (the slot word of this process's first rank)."""

    def __init__(self, address: int) -> None:
        self.address = address
        self._timespec = np.zeros(2, np.int64)  # struct timespec for FUTEX_WAIT's relative timeout
        self._timespec_at = self._timespec.ctypes.data

    def arm(self) -> int:
        """Say this process is about to sleep; the token to pass to sleep()."""
        return int(ring.doze_arm(self.address))

    def sleep(self, token: int, seconds: float) -> None:
        """Sleep until a peer rings (or `seconds` pass, or a signal); then no longer sleeping."""
        ns = max(int(seconds * 1e9), 1000)
        self._timespec[0], self._timespec[1] = divmod(ns, 1_000_000_000)
        ring.doze_wait(self.address, token, self._timespec_at)

    def cancel(self) -> None:
        """The last look found work: not sleeping after all."""
        ring.store_release(self.address + L.BELL_SLEEPING, 0)
