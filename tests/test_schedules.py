"""The collective programs fit together: run every rank's program in a simulator (no processes).

For each algorithm, n = 1..9, every root and a spread of counts, the ranks' programs are executed
by a small interpreter of the same rows with unbounded queues: every message one rank sends is
received by its peer with exactly that size, in order, no rank waits forever, and the data ends
where MPI says (checked with symbolic values: each element carries the ranks whose inputs it holds).
"""

from __future__ import annotations

from collections import deque

import pytest

from toro_mpi.coll import schedules as S
from toro_mpi.coll.interpreter import AWAIT, COPY, RECV, REDUCE, SEND, SIGNAL, WAIT

COUNTS = (0, 1, 5, 13)


def simulate(programs: list[S.Program], bufs: list[dict[int, list]]) -> None:
    """Run the ranks' programs to completion over FIFO queues; values are frozensets of ranks."""
    n = len(programs)
    queues: dict[tuple[int, int], deque] = {(a, b): deque() for a in range(n) for b in range(n)}
    signals = {(a, b): 0 for a in range(n) for b in range(n)}  # posted and not yet taken
    pcs = [0] * n
    window: list[list[tuple]] = [[] for _ in range(n)]
    while any(pcs[r] < len(programs[r].rows) for r in range(n)):
        moved = False
        for r in range(n):
            rows = programs[r].rows
            while pcs[r] < len(rows):
                row = rows[pcs[r]]
                op = row[0]
                if op == SEND:
                    _, peer, buf, off, count = row
                    queues[(r, peer)].append(list(bufs[r][buf][off: off + count]))
                elif op == SIGNAL:
                    signals[(r, row[1])] += 1
                elif op in (RECV, AWAIT):
                    window[r].append(row)
                elif op == WAIT:
                    pending = []
                    for recv in window[r]:
                        if recv[0] == AWAIT:
                            if signals[(recv[1], r)] == 0:
                                pending.append(recv)
                            else:
                                signals[(recv[1], r)] -= 1
                            continue
                        _, peer, buf, off, count = recv
                        q = queues[(peer, r)]
                        if pending and any(p[1] == peer for p in pending) or not q:
                            pending.append(recv)
                            continue
                        msg = q.popleft()
                        assert len(msg) == count, f"rank {r} expects {count} from {peer}, got {len(msg)}"
                        bufs[r][buf][off: off + count] = msg
                    window[r] = pending
                    if pending:
                        break
                elif op == COPY:
                    _, sb, so, db, do, count = row
                    bufs[r][db][do: do + count] = list(bufs[r][sb][so: so + count])
                elif op == REDUCE:
                    _, ab, ao, bb, bo, ob, oo, count = row
                    bufs[r][ob][oo: oo + count] = [x | y for x, y in zip(bufs[r][ab][ao: ao + count],
                                                                          bufs[r][bb][bo: bo + count], strict=True)]
                pcs[r] += 1
                moved = True
        assert moved, f"deadlock: program counters {pcs}"
    leftovers = {k: len(q) for k, q in queues.items() if q}
    assert not leftovers, f"messages never received: {leftovers}"
    untaken = {k: v for k, v in signals.items() if v}
    assert not untaken, f"signals never taken: {untaken}"


def buffers(n: int, send: list[list], recv_size: int, tmp: int) -> list[dict[int, list]]:
    """Per rank: SENDBUF with its symbolic values, RECVBUF empty, scratch."""
    return [{S.SENDBUF: list(send[r]), S.RECVBUF: [None] * recv_size, S.TMP: [None] * tmp} for r in range(n)]


def mine(r: int, count: int) -> list:
    """count elements, each 'holding rank r's input'."""
    return [frozenset([r])] * count


@pytest.mark.parametrize("n", range(1, 10))
def test_reductions(n: int) -> None:
    everyone = frozenset(range(n))
    for count in COUNTS:
        for commutative in (True, False):
            for root in range(n):
                progs = [S.reduce(n, r, root, count, 4, commutative) for r in range(n)]
                b = buffers(n, [mine(r, count) for r in range(n)], count, max(p.tmp for p in progs))
                simulate(progs, b)
                assert b[root][S.RECVBUF] == [everyone] * count
            for large in (False, True):
                progs = [S.allreduce(n, r, count, commutative, large, 4, False) for r in range(n)]
                b = buffers(n, [mine(r, count) for r in range(n)], count, max(p.tmp for p in progs))
                simulate(progs, b)
                assert all(b[r][S.RECVBUF] == [everyone] * count for r in range(n))
        for exclusive in (False, True):
            progs = [S.scan(n, r, count, exclusive, False) for r in range(n)]
            b = buffers(n, [mine(r, count) for r in range(n)], count, max(p.tmp for p in progs))
            simulate(progs, b)
            for r in range(n):
                want = frozenset(range(r if exclusive else r + 1))
                if count and want:
                    assert b[r][S.RECVBUF] == [want] * count, (exclusive, r)
        progs = [S.reduce_scatter_block(n, r, count, False) for r in range(n)]
        b = buffers(n, [mine(r, n * count) for r in range(n)], count, max(p.tmp for p in progs))
        simulate(progs, b)
        assert all(b[r][S.RECVBUF] == [everyone] * count for r in range(n))


@pytest.mark.parametrize("n", range(1, 10))
def test_data_movement(n: int) -> None:
    for count in COUNTS:
        blocks = [[(src, dst, k) for dst in range(n) for k in range(count)] for src in range(n)]
        for root in range(n):
            progs = [S.bcast(n, r, root, count, 4) for r in range(n)]
            b = [{S.SENDBUF: [], S.RECVBUF: list(blocks[root][:count]) if r == root else [None] * count,
                  S.TMP: []} for r in range(n)]
            simulate(progs, b)
            assert all(b[r][S.RECVBUF] == blocks[root][:count] for r in range(n))
            progs = [S.gather(n, r, root, count) for r in range(n)]
            b = buffers(n, [blocks[r][:count] for r in range(n)], n * count, max(p.tmp for p in progs))
            simulate(progs, b)
            assert b[root][S.RECVBUF] == [x for r in range(n) for x in blocks[r][:count]]
            progs = [S.scatter(n, r, root, count, False) for r in range(n)]
            b = buffers(n, [blocks[root] if r == root else [] for r in range(n)], count, max(p.tmp for p in progs))
            simulate(progs, b)
            assert all(b[r][S.RECVBUF] == blocks[root][r * count: (r + 1) * count] for r in range(n))
        for large in (False, True):
            progs = [S.allgather(n, r, count, large, False) for r in range(n)]
            b = buffers(n, [blocks[r][:count] for r in range(n)], n * count, max(p.tmp for p in progs))
            simulate(progs, b)
            want = [x for r in range(n) for x in blocks[r][:count]]
            assert all(b[r][S.RECVBUF] == want for r in range(n))
        c = [count] * n
        d = [r * count for r in range(n)]
        progs = [S.alltoallv(n, r, c, d, c, d) for r in range(n)]
        b = buffers(n, blocks, n * count, 0)
        simulate(progs, b)
        for r in range(n):
            assert b[r][S.RECVBUF] == [x for src in range(n) for x in blocks[src][r * count: (r + 1) * count]]


def test_barrier_and_mismatch_detection() -> None:
    for n in range(1, 10):
        simulate([S.barrier(n, r) for r in range(n)], buffers(n, [[]] * n, 0, 0))
    # The simulator itself catches programs that do not fit: a root that expects more.
    progs = [S.gatherv(2, 0, 0, 1, [1, 2], [0, 1], False), S.gatherv(2, 1, 0, 1, [], [], False)]
    with pytest.raises(AssertionError, match="expects 2 from 1, got 1"):
        simulate(progs, buffers(2, [mine(0, 1), mine(1, 1)], 3, 0))
