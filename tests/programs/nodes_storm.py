"""Random-tag messages received with ANY_SOURCE and ANY_TAG from local and remote senders.

Usage: nodes_storm.py TOTAL. The job sends TOTAL messages in all: each rank sends its share to
peers picked at random (seeded by rank), each carrying (sender, sequence number to that peer,
tag); each rank knows from the same seeds how many it must get from whom and with which tags,
receives them all with ANY_SOURCE/ANY_TAG (every 7th with a specific source instead) and checks
nothing is lost, duplicated or reordered per pair, and each status names the right source and tag.
Prints `R ok` and the per-sender counts. Runs under toro-mpirun (--nodes K) and mpiexec alike.
"""

import sys

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE

TOTAL = int(sys.argv[1]) if len(sys.argv) > 1 else 10000


def plan(sender: int) -> list[tuple[int, int]]:
    """(dest, tag) of each message `sender` sends, in order."""
    rng = np.random.default_rng(1000 + sender)
    share = TOTAL // SIZE + (1 if sender < TOTAL % SIZE else 0)
    peers = [p for p in range(SIZE) if p != sender]
    dests = rng.choice(peers, size=share)
    tags = rng.integers(0, 32767, size=share)
    return [(int(d), int(t)) for d, t in zip(dests, tags, strict=True)]


mine = plan(RANK)
expect: dict[int, list[int]] = {}  # sender -> tags it sends us, in order
for s in range(SIZE):
    if s != RANK:
        expect[s] = [t for d, t in plan(s) if d == RANK]
got: dict[int, int] = {s: 0 for s in expect}
reqs = []
seq_to: dict[int, int] = {}
bufs = []
for d, t in mine:
    k = seq_to.get(d, 0)
    seq_to[d] = k + 1
    b = np.array([RANK, k, t], np.int64)
    bufs.append(b)
    reqs.append(COMM.Isend(b, dest=d, tag=t))
want = sum(len(v) for v in expect.values())
buf = np.empty(3, np.int64)
st = MPI.Status()
errors = []
for i in range(want):
    src = MPI.ANY_SOURCE
    if i % 7 == 3:
        # A specific source now and then: one whose messages are not all in yet.
        left = [s for s in expect if got[s] < len(expect[s])]
        src = left[i % len(left)]
    COMM.Recv(buf, source=src, tag=MPI.ANY_TAG, status=st)
    s, k, t = (int(x) for x in buf)
    if st.Get_source() != s or st.Get_tag() != t:
        errors.append(f"status says {st.Get_source()}/{st.Get_tag()}, message {s}/{t}")
    elif src >= 0 and s != src:
        errors.append(f"asked for {src}, got {s}")
    elif k != got[s]:
        errors.append(f"from {s}: sequence {k}, expected {got[s]} (lost, duplicated or reordered)")
    elif expect[s][k] != t:
        errors.append(f"from {s}: message {k} has tag {t}, sent with {expect[s][k]}")
    else:
        got[s] += 1
    if errors:
        break
MPI.Request.Waitall(reqs)
COMM.Barrier()
for e in errors[:5]:
    print(RANK, "error", e)
print(RANK, "received", " ".join(f"{s}:{got[s]}" for s in sorted(got)))
if not errors and all(got[s] == len(expect[s]) for s in expect):
    print(RANK, "ok")
