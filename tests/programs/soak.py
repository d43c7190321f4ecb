"""Soak: rounds of random traffic for a bounded time, every message checked.

Each round every rank sends a random number of messages to random ranks (itself included)
with random tags and random sizes 0..1 MiB (log-uniform), as Isend, Send, Ssend (nonblocking
forms, so ranks never wait on each other's sends) or as a pickled object (tags 8..15); the
receiver takes them with Probe(ANY_SOURCE, ANY_TAG) then Recv / recv. Every message carries
(source, tag, sequence number) and a pattern derived from them: a lost, duplicated, reordered
(per source and tag) or corrupted message is counted. While a round's sends are in flight every
rank runs one or two random collectives (random call, root, size and dtype, the same on every
rank), whose results are checked exactly. Prints the totals and the resident memory after the
first round and at the end.
Usage: soak.py SECONDS [SEED]
"""

import os
import sys

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out

HEADER = 3  # int64 words: source, tag, sequence number
COUNT_TAG = 1000
GO_TAG = 1001
OBJECT_TAGS = 8  # raw messages use tags 0..7, objects 8..15


def pattern(src: int, tag: int, seq: int, nbytes: int) -> np.ndarray:
    base = (src * 131 + tag * 17 + seq * 7) & 0xFF
    return ((np.arange(nbytes, dtype=np.uint32) + base) & 0xFF).astype(np.uint8)


def message(src: int, tag: int, seq: int, nbytes: int) -> np.ndarray:
    buf = np.empty(HEADER * 8 + nbytes, np.uint8)
    buf[: HEADER * 8].view(np.int64)[:] = (src, tag, seq)
    buf[HEADER * 8:] = pattern(src, tag, seq, nbytes)
    return buf


def rss_kib() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


class Checker:
    """Per (source, tag) sequence numbers and payload checks of everything received."""

    def __init__(self) -> None:
        self.expect: dict[tuple[int, int], int] = {}
        self.received = self.corrupt = self.out_of_order = self.bytes = 0

    def check(self, src: int, tag: int, hdr: tuple, data: np.ndarray) -> None:
        if hdr[0] != src or hdr[1] != tag:
            self.corrupt += 1
            return
        want = self.expect.get((src, tag), 0)
        if hdr[2] != want:
            self.out_of_order += 1
        self.expect[(src, tag)] = hdr[2] + 1
        if not np.array_equal(data, pattern(src, tag, hdr[2], data.nbytes)):
            self.corrupt += 1
        self.received += 1
        self.bytes += data.nbytes


def plan_round(rng: np.random.Generator, next_seq: dict) -> list:
    plan = []
    for _ in range(int(rng.integers(0, 12))):
        dst = int(rng.integers(0, SIZE))
        how = str(rng.choice(["isend", "send", "ssend", "object"], p=[0.5, 0.25, 0.1, 0.15]))
        tag = int(rng.integers(0, 8)) + (OBJECT_TAGS if how == "object" else 0)
        nbytes = 0 if rng.random() < 0.1 else int(2 ** rng.uniform(0, 20))
        seq = next_seq.get((dst, tag), 0)
        next_seq[(dst, tag)] = seq + 1
        plan.append((dst, tag, seq, nbytes, how))
    return plan


def exchange_counts(plan: list) -> int:
    counts = np.zeros(SIZE, np.int64)
    for dst, *_ in plan:
        counts[dst] += 1
    reqs = [COMM.Isend(counts[p: p + 1], dest=p, tag=COUNT_TAG) for p in range(SIZE)]
    expected = 0
    got = np.zeros(1, np.int64)
    for p in range(SIZE):
        COMM.Recv(got, source=p, tag=COUNT_TAG)
        expected += int(got[0])
    MPI.Request.Waitall(reqs)
    return expected


def start_sends(plan: list) -> list:
    reqs = []
    for dst, tag, seq, nbytes, how in plan:
        if how == "object":
            reqs.append(COMM.isend({"hdr": (RANK, tag, seq), "data": pattern(RANK, tag, seq, nbytes)},
                                   dest=dst, tag=tag))
        elif how == "ssend":
            reqs.append(COMM.Issend(message(RANK, tag, seq, nbytes), dest=dst, tag=tag))
        else:
            reqs.append(COMM.Isend(message(RANK, tag, seq, nbytes), dest=dst, tag=tag))
    return reqs


def receive(expected: int, checker: Checker) -> None:
    for _ in range(expected):
        st = MPI.Status()
        COMM.Probe(source=MPI.ANY_SOURCE, tag=MPI.ANY_TAG, status=st)
        src, tag = st.Get_source(), st.Get_tag()
        assert 0 <= tag < 2 * OBJECT_TAGS, tag
        if tag >= OBJECT_TAGS:
            obj = COMM.recv(source=src, tag=tag)
            checker.check(src, tag, obj["hdr"], obj["data"])
        else:
            buf = np.empty(st.Get_count(MPI.BYTE), np.uint8)
            COMM.Recv(buf, source=src, tag=tag)
            hdr = tuple(int(v) for v in buf[: HEADER * 8].view(np.int64))
            checker.check(src, tag, hdr, buf[HEADER * 8:])


COLLECTIVES = ("Bcast", "Allreduce", "Reduce", "Allgather", "Alltoall", "Gatherv", "Scatter",
               "Scan", "Barrier", "bcast")


def contribution(rank: int, count: int, dtype: str, salt: int) -> np.ndarray:
    """What `rank` puts into a collective: small values, so integer sums are exact in any dtype."""
    return ((np.arange(count, dtype=np.int64) * 7 + rank * 13 + salt) % 50).astype(dtype)


def collective_round(rng: np.random.Generator) -> bool:
    """One random collective, the same call, root, size and dtype on every rank; True if right."""
    call = str(rng.choice(COLLECTIVES))
    root = int(rng.integers(0, SIZE))
    count = 0 if rng.random() < 0.1 else int(2 ** rng.uniform(0, 17))
    dtype = str(rng.choice(["u1", "i4", "i8", "f8"]))
    salt = int(rng.integers(0, 1000))
    mine = contribution(RANK, count, dtype, salt)
    every = [contribution(r, count, dtype, salt) for r in range(SIZE)]
    if call == "Bcast":
        buf = every[root].copy() if RANK == root else np.zeros(count, dtype)
        COMM.Bcast(buf, root=root)
        return np.array_equal(buf, every[root])
    if call in ("Allreduce", "Reduce", "Scan"):
        wide = [e.astype(np.int64) for e in every]
        got = np.zeros(count, dtype)
        if call == "Allreduce":
            COMM.Allreduce(mine, got, op=MPI.SUM)
            want = sum(wide, np.zeros(count, np.int64))
        elif call == "Scan":
            COMM.Scan(mine, got, op=MPI.SUM)
            want = sum(wide[: RANK + 1], np.zeros(count, np.int64))
        else:
            COMM.Reduce(mine, got, op=MPI.MAX, root=root)
            if RANK != root:
                return True
            want = np.max(wide, axis=0) if count else np.zeros(0, np.int64)
        return np.array_equal(got, want.astype(dtype))
    if call == "Allgather":
        got = np.zeros(SIZE * count, dtype)
        COMM.Allgather(mine, got)
        return np.array_equal(got, np.concatenate(every))
    if call == "Alltoall":
        got = np.zeros(SIZE * count, dtype)
        send = np.concatenate([contribution(RANK * SIZE + d, count, dtype, salt) for d in range(SIZE)])
        COMM.Alltoall(send, got)
        want = np.concatenate([contribution(s * SIZE + RANK, count, dtype, salt) for s in range(SIZE)])
        return np.array_equal(got, want)
    if call == "Gatherv":
        counts = [(count + r) % (count + 1) for r in range(SIZE)]
        part = mine[: counts[RANK]].copy()
        got = np.zeros(sum(counts), dtype) if RANK == root else None
        COMM.Gatherv(part, [got, counts] if RANK == root else None, root=root)
        if RANK != root:
            return True
        return np.array_equal(got, np.concatenate([every[r][: counts[r]] for r in range(SIZE)]))
    if call == "Scatter":
        send = np.concatenate(every) if RANK == root else None
        got = np.zeros(count, dtype)
        COMM.Scatter(send, got, root=root)
        return np.array_equal(got, every[RANK])
    if call == "Barrier":
        COMM.Barrier()
        return True
    obj = COMM.bcast({"salt": salt, "data": every[root]} if RANK == root else None, root=root)
    return obj["salt"] == salt and np.array_equal(obj["data"], every[root])


def main() -> None:
    seconds = float(sys.argv[1])
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = np.random.default_rng(seed * 1000 + RANK)
    shared = np.random.default_rng(seed)  # the same on every rank: which collectives to run
    collectives = wrong = 0
    next_seq: dict[tuple[int, int], int] = {}
    checker = Checker()
    sent = rounds = 0
    rss_first = None
    start = MPI.Wtime()
    while True:
        # Rank 0 decides whether to go on, so every rank stops after the same round.
        go = np.array([MPI.Wtime() - start < seconds], np.int8)
        if RANK == 0:
            for peer in range(1, SIZE):
                COMM.Send(go, dest=peer, tag=GO_TAG)
        else:
            COMM.Recv(go, source=0, tag=GO_TAG)
        if not go[0]:
            break
        plan = plan_round(rng, next_seq)
        expected = exchange_counts(plan)
        reqs = start_sends(plan)
        for _ in range(int(shared.integers(1, 3))):  # collectives while the sends are in flight
            collectives += 1
            wrong += not collective_round(shared)
        receive(expected, checker)
        MPI.Request.Waitall(reqs)
        sent += len(plan)
        rounds += 1
        COMM.Barrier()
        if rss_first is None and MPI.Wtime() - start >= seconds / 2:
            # Halfway: the plan caches and scratch pools (of every rank sharing this process, when
            # ranks are hosted together) have mostly filled by then; growth after it is a leak.
            # (A 90 s run at 3 ranks: 272 MB at 30 s, 261 MB at 90 s.)
            rss_first = rss_kib()
    counts = np.array([sent, checker.received], np.int64)
    totals = np.zeros(2, np.int64)
    # Totals over the job at rank 0 (sent == received means nothing lost or duplicated).
    if RANK == 0:
        totals += counts
        for peer in range(1, SIZE):
            COMM.Recv(counts, source=peer, tag=GO_TAG)
            totals += counts
        out("totals sent", int(totals[0]), "received", int(totals[1]))
    else:
        COMM.Send(counts, dest=0, tag=GO_TAG)
    out("rounds", rounds, "bytes", checker.bytes, "corrupt", checker.corrupt, "out_of_order", checker.out_of_order)
    out("collectives", collectives, "wrong", wrong)
    out("rss_kib", rss_first, rss_kib())
    done()


if __name__ == "__main__":
    main()
