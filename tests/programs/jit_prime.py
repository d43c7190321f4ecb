"""toro_mpi.jit: a handle's first jitted receive / send of an element type prepares its Python
fallback (numba compiles an objmode block at its first execution; the engine loads its kernels at
their first use), so the first fallback that must wait, later, inside the caller's loop, compiles
and loads nothing (issue #20: the jitted Jacobi's "slow mode").

Two ranks. After a barrier rank 0 sends A, then, 2 s later, B. Rank 1 receives A 1 s after the
barrier (from the ring, where it waits: no Python progress ran since, so no fallback) and then B (a
fallback that waits), and reports what numba compiled or loaded during that fallback.
"""

from __future__ import annotations

import time

import numba
import numpy as np
from _mpi import COMM, RANK, done, out

import toro_mpi.bus.compiling as compiling
import toro_mpi.jit as tj
from toro_mpi.bus.ring import wire_type_of
from toro_mpi.jit import layout as J


@numba.njit
def j_send(h, buf, dest):
    return tj.send(h, buf, dest, 5)


@numba.njit
def j_recv(h, buf, source):
    return tj.recv(h, buf, source, 5)


H = tj.comm_handle(COMM)
BIT = 1 << wire_type_of(np.zeros(1))
# Compiled before the barrier (the test's own functions are not what is measured).
j_send.compile((numba.int64[::1], numba.float64[::1], numba.int64))
j_recv.compile((numba.int64[::1], numba.float64[::1], numba.int64))
COMM.Barrier()
if RANK == 0:
    tj.check(j_send(H, np.arange(8.0), 1))
    out(f"send primed {bool(H[J.H_READY + 1] & BIT)}")
    time.sleep(2.0)
    tj.check(j_send(H, np.arange(8.0) + 1, 1))
else:
    time.sleep(1.0)
    buf = np.zeros(8)
    fb = tj.fallbacks(H)
    tj.check(j_recv(H, buf, 0))
    out(f"first {buf[:3].tolist()} fallbacks {tj.fallbacks(H) - fb}")
    out(f"receive primed {bool(H[J.H_READY] & BIT)} kernels {np.dtype(np.float64) in COMM._engine._wait_by_dtype}")
    # Count what numba compiles (numba's compile of an objmode block) or loads (toro_mpi's
    # kernel loads) during the waiting fallback.
    compiled = []
    ir = numba.core.compiler.compile_ir
    numba.core.compiler.compile_ir = lambda *a, **k: (compiled.append(1), ir(*a, **k))[1]
    load = compiling.load_cached
    compiling.load_cached = lambda *a: (compiled.append(2), load(*a))[1]
    tj.check(j_recv(H, buf, 0))
    numba.core.compiler.compile_ir, compiling.load_cached = ir, load
    out(f"second {buf[:3].tolist()} fallbacks {tj.fallbacks(H) - fb} compiled or loaded {len(compiled)}")
done()
