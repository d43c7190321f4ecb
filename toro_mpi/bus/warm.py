"""Warm numba's on-disk cache once (in the launcher) so ranks load kernels instead of compiling.

A cold compile of the kernels costs seconds per process; a warm load ~0.2 s. The launcher calls
`warm_cache()` before starting ranks: it drives every kernel through a private two-rank segment
for 1-D contiguous arrays of the common dtypes (the engine flattens every other array to bytes),
so numba compiles each specialisation here, once, and writes it to NUMBA_CACHE_DIR.
"""

from __future__ import annotations

import numpy as np

from . import layout as L

# The dtypes most programs send; others compile on first use in a rank (about a second, once
# per machine: that specialisation is cached too).
WARM_DTYPES = ("u1", "i4", "i8", "f4", "f8")


def warm_cache() -> None:
    """Compile (or load) every kernel specialisation the ranks will use."""
    from ..mpi.p2p import copy_bytes
    from . import ring
    from .segment import Segment

    seg = Segment.create(2, 4, 128)
    try:
        seg.unlink()
        qa = seg.queue_address(0, 1)
        info = np.zeros(L.INFO_LEN, np.int64)
        ring.load_acquire(seg.base + L.HDR_ABORT)
        ring.store_release(seg.base + L.HDR_ATTACHED, 0)
        ring.fetch_add(seg.base + L.HDR_ATTACHED, 0)
        ring.relax(1)
        scratch = np.zeros(1024, np.uint8)
        for code in WARM_DTYPES:
            dtype = np.dtype(code)
            push = ring.entry_point(ring.tx_push, dtype)
            match = ring.entry_point(ring.rx_match, dtype)
            resume = ring.entry_point(ring.rx_continue, dtype)
            arr = np.zeros(2, dtype)
            push(qa, L.KIND_EAGER, 0, 0, arr.nbytes, 0, arr, L.TX_NOT_STARTED)
            match(qa, L.ANY, L.ANY, arr, info)
            resume(qa, arr)
        copy_bytes(scratch, scratch, 0)
    finally:
        seg.close()
