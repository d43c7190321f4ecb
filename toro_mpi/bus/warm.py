"""Warm numba's on-disk cache once (in the launcher) so ranks load kernels instead of compiling.

A cold compile of the kernels costs seconds per process; a warm load ~0.2 s. The launcher calls
`warm_cache()` before starting ranks: it drives every kernel through a private two-rank segment
for the array types ranks use most (contiguous 1-D arrays of the common dtypes, 2-D float64), so
numba compiles each specialisation here, once, and writes it to NUMBA_CACHE_DIR. Other array
types compile on first use in a rank (about a second, once per machine: cached too).
"""

from __future__ import annotations

import numpy as np

from . import layout as L

WARM_ARRAYS = (("u1", 1), ("i4", 1), ("i8", 1), ("f4", 1), ("f8", 1), ("f8", 2))


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
        for code, ndim in WARM_ARRAYS:
            arr = np.zeros((2,) * ndim, np.dtype(code))
            ring.tx_push(qa, L.KIND_EAGER, 0, 0, arr.nbytes, 0, arr, L.TX_NOT_STARTED)
            ring.rx_match(qa, L.ANY, L.ANY, arr, info)
            ring.rx_continue(qa, arr)
            copy_bytes(arr, scratch, 0)
            copy_bytes(scratch, arr, 0)
    finally:
        seg.close()
