"""The collective programs fit together: run every rank's program in a simulator (no processes).

For each algorithm, n = 1..9, every root and a spread of counts, the ranks' programs are executed
by a small interpreter of the same rows with unbounded queues (schedule_sim.py): every message one rank sends is
received by its peer with exactly that size, in order, no rank waits forever, and the data ends
where MPI says.

Reductions are checked with symbolic values that record every operand: an element is a tuple of
contributions (rank, global element index) and REDUCE concatenates `a + b`. That combine is
neither idempotent nor commutative, so a contribution reduced twice, one left out, an element
combined with the wrong element, or (for a non-commutative operator) operands in the wrong order
all show in the result. A non-commutative reduction must give exactly rank order (MPI's
x0 op x1 op ... op x(n-1)); a commutative one each contribution exactly once, in any order.
test_the_checker_catches_broken_schedules shows the checker fails on deliberately broken
schedules (the former set-union combine passed a doubled reduction).
"""

from __future__ import annotations

import copy

import pytest

from toro_mpi.coll import schedules as S
from toro_mpi.coll.interpreter import COPY, REDUCE

from .schedule_sim import simulate

COUNTS = (0, 1, 5, 13)


def buffers(n: int, send: list[list], recv_size: int, tmp: int) -> list[dict[int, list]]:
    """Per rank: SENDBUF with its symbolic values, RECVBUF empty, scratch."""
    return [{S.SENDBUF: list(send[r]), S.RECVBUF: [None] * recv_size, S.TMP: [None] * tmp} for r in range(n)]


def mine(r: int, count: int, first: int = 0) -> list[tuple]:
    """Rank r's input: element i is the one contribution (r, first + i)."""
    return [((r, first + i),) for i in range(count)]


def reduced(ranks, count: int, first: int = 0) -> list[tuple]:
    """The exact reduction, in MPI's order, of the inputs of `ranks` (elements first..first+count)."""
    return [tuple((q, first + i) for q in ranks) for i in range(count)]


def assert_reduced(got: list, want: list[tuple], ordered: bool, what: str) -> None:
    """got holds exactly the contributions of want: in the same order when the operator is not
    commutative, else as the same multiset (so each contribution exactly once)."""
    if not ordered:
        got = [tuple(sorted(x)) if isinstance(x, tuple) else x for x in got]
        want = [tuple(sorted(x)) for x in want]
    assert got == want, f"{what}: got {got}, expected {want}"


def check_reduce(progs: list[S.Program], n: int, root: int, count: int, commutative: bool) -> None:
    """Run one Reduce's programs; the root must hold every rank's input reduced exactly once."""
    b = buffers(n, [mine(r, count) for r in range(n)], count, max(p.tmp for p in progs))
    simulate(progs, b)
    assert_reduced(b[root][S.RECVBUF], reduced(range(n), count), not commutative,
                   f"reduce n={n} root={root} count={count} commutative={commutative}")


def check_allreduce(progs: list[S.Program], n: int, count: int, commutative: bool, what: str) -> None:
    """Run one Allreduce's programs: every rank holds the full reduction, identical on every rank
    (the schedules promise the same bits everywhere, so the same operand order)."""
    b = buffers(n, [mine(r, count) for r in range(n)], count, max(p.tmp for p in progs))
    simulate(progs, b)
    for r in range(n):
        assert_reduced(b[r][S.RECVBUF], reduced(range(n), count), not commutative, f"{what} rank {r}")
        assert b[r][S.RECVBUF] == b[0][S.RECVBUF], f"{what}: rank {r} combined in another order than rank 0"


def check_scan(progs: list[S.Program], n: int, count: int, exclusive: bool) -> None:
    """Run one Scan/Exscan's programs: rank r holds ranks 0..r (0..r-1) reduced in rank order
    (scan keeps rank order for any operator); an exscan's rank 0 result is undefined."""
    b = buffers(n, [mine(r, count) for r in range(n)], count, max(p.tmp for p in progs))
    simulate(progs, b)
    for r in range(n):
        upto = r if exclusive else r + 1
        if upto:
            assert_reduced(b[r][S.RECVBUF], reduced(range(upto), count), True,
                           f"{'exscan' if exclusive else 'scan'} n={n} count={count} rank {r}")


def check_reduce_scatter_block(progs: list[S.Program], n: int, count: int) -> None:
    """Run one Reduce_scatter_block's programs (commutative operators only): rank r holds block r,
    element i being global element r * count + i reduced over every rank exactly once."""
    inputs = [mine(r, n * count) for r in range(n)]
    b = buffers(n, inputs, count, max(p.tmp for p in progs))
    simulate(progs, b)
    for r in range(n):
        assert_reduced(b[r][S.RECVBUF], reduced(range(n), count, r * count), False,
                       f"reduce_scatter_block n={n} count={count} rank {r}")


@pytest.mark.parametrize("n", range(1, 10))
def test_reductions(n: int) -> None:
    for count in COUNTS:
        for commutative in (True, False):
            for root in range(n):
                check_reduce([S.reduce(n, r, root, count, 4, commutative) for r in range(n)], n, root, count,
                             commutative)
            for large in (False, True):
                check_allreduce([S.allreduce(n, r, count, commutative, large, 4, False) for r in range(n)], n,
                                count, commutative, f"allreduce n={n} count={count} commutative={commutative} "
                                                    f"large={large}")
        for exclusive in (False, True):
            check_scan([S.scan(n, r, count, exclusive, False) for r in range(n)], n, count, exclusive)
        check_reduce_scatter_block([S.reduce_scatter_block(n, r, count, False) for r in range(n)], n, count)


def _broken(progs: list[S.Program], rank: int, change) -> list[S.Program]:
    """A copy of progs in which change(rows) has broken rank `rank`'s rows."""
    progs = copy.deepcopy(progs)
    change(progs[rank].rows)
    return progs


def _first_reduce(rows: list, accumulating: bool = False) -> int:
    """Index of the first REDUCE row (accumulating: the first whose output is one of its operands,
    acc = acc op x, so that doing it twice counts x twice)."""
    return next(i for i, row in enumerate(rows) if row[0] == REDUCE
                and (not accumulating or row[5:7] in (row[1:3], row[3:5])))


def _doubled(rows: list) -> None:
    if any(row[0] == REDUCE and row[5:7] in (row[1:3], row[3:5]) for row in rows):
        i = _first_reduce(rows, accumulating=True)
        rows.insert(i + 1, rows[i])  # the same reduction once more: a contribution counted twice
        return
    # Only out = a op b rows (a ring reading its operand in place): fold a into out once more.
    i = _first_reduce(rows)
    op, ab, ao, bb, bo, ob, oo, count = rows[i]
    rows.insert(i + 1, (op, ab, ao, ob, oo, ob, oo, count))


def _swapped(rows: list) -> None:
    i = _first_reduce(rows)
    op, ab, ao, bb, bo, ob, oo, count = rows[i]
    rows[i] = (op, bb, bo, ab, ao, ob, oo, count)  # b op a: the operands out of rank order


def _dropped(rows: list) -> None:
    i = _first_reduce(rows)
    op, ab, ao, bb, bo, ob, oo, count = rows[i]
    rows[i] = (COPY, ab, ao, ob, oo, count)  # the reduction replaced by a copy of one operand


def test_the_checker_catches_broken_schedules() -> None:
    """The checks above fail on schedules broken on purpose: a reduction done twice (which a
    set-union combine, being idempotent, accepted), operands swapped in a non-commutative
    reduction, a contribution left out. The unbroken schedules pass the same checks."""
    n, count = 4, 3
    reduce_nc = [S.reduce(n, r, 0, count, 4, False) for r in range(n)]
    allreduce_c = [S.allreduce(n, r, count, True, False, 4, False) for r in range(n)]
    ring_c = [S.allreduce(n, r, 2 * n, True, True, 4, False) for r in range(n)]
    rsb = [S.reduce_scatter_block(n, r, count, False) for r in range(n)]
    scan = [S.scan(n, r, count, False, False) for r in range(n)]
    check_reduce(reduce_nc, n, 0, count, False)
    check_allreduce(allreduce_c, n, count, True, "allreduce")
    check_allreduce(ring_c, n, 2 * n, True, "ring allreduce")
    check_reduce_scatter_block(rsb, n, count)
    check_scan(scan, n, count, False)
    broken = [
        (lambda: check_reduce(_broken(reduce_nc, 0, _doubled), n, 0, count, False), "reduce"),
        (lambda: check_reduce(_broken(reduce_nc, 0, _swapped), n, 0, count, False), "reduce"),
        (lambda: check_reduce(_broken(reduce_nc, 2, _dropped), n, 0, count, False), "reduce"),
        # Commutative: a doubled reduction or a missing contribution fails; the order may not matter.
        (lambda: check_allreduce(_broken(allreduce_c, 1, _doubled), n, count, True, "allreduce"), "allreduce"),
        (lambda: check_allreduce(_broken(ring_c, 3, _doubled), n, 2 * n, True, "ring allreduce"), "allreduce"),
        (lambda: check_reduce_scatter_block(_broken(rsb, 1, _doubled), n, count), "reduce_scatter_block"),
        (lambda: check_reduce_scatter_block(_broken(rsb, 1, _dropped), n, count), "reduce_scatter_block"),
        (lambda: check_scan(_broken(scan, 3, _swapped), n, count, False), "scan"),
        (lambda: check_scan(_broken(scan, 1, _doubled), n, count, False), "scan"),
    ]
    for check, what in broken:
        with pytest.raises(AssertionError, match=what):
            check()


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
