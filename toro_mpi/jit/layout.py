"""Constants shared by the jitted calls and their Python side: codes, wildcards, handle words.

A communicator handle (toro_mpi.jit.comm_handle) is one int64 array that jitted code reads and
writes directly: fixed words first, then the per-rank queue handles, then the request slots.
"""

from __future__ import annotations

from ..errors import (
    ERR_ARG,
    ERR_BUFFER,
    ERR_COUNT,
    ERR_IN_STATUS,
    ERR_INTERN,
    ERR_OP,
    ERR_OTHER,
    ERR_PENDING,
    ERR_RANK,
    ERR_REQUEST,
    ERR_ROOT,
    ERR_TAG,
    ERR_TRUNCATE,
    ERR_TYPE,
    SUCCESS,
)
from ..warm import kernel_sources_digest

__all__ = [
    "ANY_SOURCE", "ANY_TAG", "PROC_NULL", "REQUEST_NULL", "TAG_MAX", "SUCCESS", "ERR_ARG", "ERR_BUFFER",
    "ERR_COUNT", "ERR_IN_STATUS", "ERR_INTERN", "ERR_OP", "ERR_OTHER", "ERR_PENDING", "ERR_RANK",
    "ERR_REQUEST", "ERR_ROOT", "ERR_TAG", "ERR_TRUNCATE", "ERR_TYPE",
    "SUM", "PROD", "MAX", "MIN", "LAND", "BAND", "LOR", "BOR", "LXOR", "BXOR", "OP_NAMES", "ERR_STALE_BUILD",
]

ANY_SOURCE = -1
ANY_TAG = -1
PROC_NULL = -2
REQUEST_NULL = -1
TAG_MAX = 2**31 - 1

# Reduction operations by code (the jitted reduce / allreduce take the code).
SUM, PROD, MAX, MIN, LAND, BAND, LOR, BOR, LXOR, BXOR = range(10)
OP_NAMES = ("SUM", "PROD", "MAX", "MIN", "LAND", "BAND", "LOR", "BOR", "LXOR", "BXOR")

# Status arrays (int64[STATUS_LEN]) a receive or wait fills.
ST_SOURCE = 0
ST_TAG = 1
ST_COUNT = 2  # elements of the receive buffer's dtype (bytes // itemsize)
ST_ERROR = 3
STATUS_LEN = 4

# Fixed words of a handle.
H_RANK = 0
H_SIZE = 1
H_CTX = 2
H_HID = 3  # key of the communicator in the Python-side registry (handle.py)
H_STATE = 4  # address of the engine's jit_state words (mpi/p2p.py: JIT_DIRTY, JIT_SLOW_MIN)
H_SPINS = 5  # polls a blocked jitted call makes before parking in the scheduler
H_FAST = 6  # 1 when the rings may be used from jitted code (a bus, an intracommunicator)
H_ROTATE = 7  # first peer an ANY_SOURCE receive polls (fairness, as the engine's rx_rotate)
H_REQHINT = 8  # where the next free request slot is looked for
H_NREQ = 9
H_ST = 10  # status words a Python fallback leaves: source, tag, bytes, error
H_READY = 14  # bits: the fallbacks primed (P_* below: calls._prime_send); H_READY + 1: the sending calls
H_TX = 16  # then H_TX + size: send-queue handle per comm rank (0 for this rank), then receive

# Bits of H_READY (receiving calls) and H_READY + 1 (sending calls): a call's fallback was primed
# (its objmode block run once, a no-op, at the handle's first call of that kind); the per-type ones
# are P_x + the wire type code of the buffer's elements (bus/layout.py WIRE_TYPES, below 16).
P_RECV = 0  # H_READY: recv (and sendrecv's receive), per type
P_IRECV = 16  # H_READY: irecv, per type
P_WAIT = 48  # H_READY: wait / waitall
P_AR_STOP = 49  # H_READY: a recorded allreduce's stop
P_SEND = 0  # H_READY + 1: send, per type
P_SENDRECV = 16  # H_READY + 1: sendrecv, per type of the send buffer
P_ISEND = 32  # H_READY + 1: isend, per type

# The handle's last word (h[h.size - 1], wherever the words above end: a rule that never changes)
# holds JIT_BUILD, the build of the kernel sources the handle was made by. Every call compares it
# with the JIT_BUILD compiled into its own code: numba checks a user's cached function against the
# user's file only, so after toro_mpi changes such a cache still runs the calls' old code, on
# queues and words laid out anew; that code returns ERR_STALE_BUILD instead of touching them.
JIT_BUILD = int.from_bytes(kernel_sources_digest()[:8], "little") >> 2
ERR_STALE_BUILD = 1 << 20  # not an MPI error class: `check` raises MPI.Exception(ERR_OTHER) saying why

# Request slots: REQ_W words each.
REQ_W = 8
R_STATE = 0  # R_FREE, R_DONE (completed in jitted code, status below), R_PYTHON (a Python request)
R_SOURCE = 1
R_TAG = 2
R_BYTES = 3
R_ERROR = 4
R_ITEM = 5  # itemsize of the receive buffer (the status count is in its elements)
R_FREE = 0
R_DONE = 1
R_PYTHON = 2
NREQ = 1024

# Allreduce records (after the request slots): NAR of AR_W words. A record binds a small
# allreduce (element type, count, op) to staging arrays and the collective plan the Python
# Allreduce ran on them (coll/engine.py HotRun): the jitted allreduce then runs that plan itself.
NAR = 8
AR_W = 8
AR_TYPE = 0  # wire type code of the elements (bus/layout.py WIRE_TYPES); 0: a free record
AR_COUNT = 1
AR_OP = 2
AR_WORDS = 3  # address of the plan words
AR_SEND = 4  # address of the staging send array
AR_RECV = 5
AR_MAX = 64  # largest element count served this way
