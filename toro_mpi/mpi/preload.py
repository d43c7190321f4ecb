"""Load ahead the jitted helpers a slow path will need, at the first use of the fast one.

numba loads a cached kernel at its first call (1-45 ms each here, more under load). Several of
the engine's are first called only when something has to wait: a receive that spins (rx_wait,
rx_match of the buffer's type), the scheduler's general wait (relax, the segment's word loads,
the doorbell's doze_arm / doze_wait, copy_bytes of a message Python progress
queued), the posted-run table's kernel, a call site's hot collective record (coll.engine's
hot_entry, built at its second sighting). A program's first such wait typically comes inside its timed loop,
after a short warm-up that never waited: measured (issue #20, the mpi4py Jacobi example at 2
ranks, 300 steps = 24 ms quiet), 6-7 such loads inside the loop, 35-60 ms under load. So they
are loaded with the fast path's first use instead: the first message of an element type, the
first sighting of a collective call site.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..bus.ring import copy_bytes, relax

# The engine's kernel kinds (Engine._kernel tables) a message of one element type may need;
# with rendezvous on, also its sends' (a program's first large message would otherwise load
# them inside its loop: osu_bw at the rendezvous threshold ran at half speed for it).
KINDS = ("send", "push", "recv", "match", "wait")
RNDV_KINDS = ("send_rndv", "isend_rndv")


def kernels_of(engine: Any, dtype: np.dtype) -> None:
    """Load every kernel kind of `dtype` the engine does not have yet (Engine._kernel)."""
    arr = np.empty(0, dtype)
    for kind in KINDS + RNDV_KINDS if engine.rndv_limit < 1 << 62 else KINDS:
        table = getattr(engine, f"_{kind}_by_dtype", None)
        if table is not None and dtype not in table:
            engine._kernel(kind, table, arr)


def waits(engine: Any) -> None:
    """Load the slow receive's helpers (the copy out of an unexpected message) and the
    scheduler's general wait's: its spin pause, idle_check's word loads, the
    doorbell's arm / cancel and futex wait (a wait on a value the word does not hold returns at
    once, and the 1 us timeout bounds it should the word just have moved); and the posted-run
    table's kernel (a window of receives posted before their messages). Nothing here progresses
    messages or fails requests: it may run in the middle of a match."""
    relax(1)
    engine.load_wait_words()
    if engine.rndv_limit < 1 << 62:
        engine.t.rndv_kernels()  # a rendezvous send's poll, a receive's read and acknowledgement
    scratch = np.zeros(1, np.uint8)
    copy_bytes(scratch, scratch, 0)  # an unexpected message's payload into the receive buffer
    bell = getattr(engine.sched, "doorbell", None)
    if bell is not None:
        token = bell.arm()
        bell.cancel()
        bell.sleep((token + 1) & 0xFFFFFFFF, 0.0)
