"""A reduce whose children's segments stay in their rings until combined (schedules.reduce with
hold, interpreter RECV hold / REDUCE HELD + row): the programs still fit together.

The simulator (schedule_sim.py, which test_schedules.py runs too) has the hold semantics of the
interpreter: a held message stays at the head of its queue
until the REDUCE naming its RECV row reads and removes it, and a receive from a queue whose head
is held is an error (it would take the held message a second time). A hold may also fail (the
interpreter then copies the message into scratch as before: a fragmented message, a stashed one),
so every case runs with holds that always succeed, never succeed, and alternate. Elements are
tuples of contributions and REDUCE concatenates its operands, so a contribution counted twice or
left out, or operands out of rank order, show in the result.
"""

from __future__ import annotations

from itertools import count as counter

import numpy as np
import pytest

from toro_mpi.coll import schedules as S
from toro_mpi.coll.interpreter import HELD, RECV, REDUCE, WAIT

from .schedule_sim import simulate

COUNTS = (0, 1, 5, 13)


def mine(r: int, num: int) -> list[tuple]:
    return [((r, i),) for i in range(num)]


def check(progs: list[S.Program], n: int, root: int, num: int, commutative: bool, hold_ok) -> None:
    tmp = max(p.tmp for p in progs)
    bufs = [{S.SENDBUF: mine(r, num), S.RECVBUF: [None] * num, S.TMP: [None] * tmp} for r in range(n)]
    simulate(progs, bufs, hold_ok)
    got = bufs[root][S.RECVBUF]
    want = [tuple((q, i) for q in range(n)) for i in range(num)]
    if commutative:
        got = [tuple(sorted(x)) for x in got]
    assert got == want, f"n={n} root={root} count={num} commutative={commutative}: got {got}"


def _alternate():
    """Holds that succeed every other time."""
    c = counter()
    return lambda: next(c) % 2 == 0


HOLDS = {"always": lambda: (lambda: True), "never": lambda: (lambda: False), "alternate": _alternate}


@pytest.mark.parametrize("holds", sorted(HOLDS))
@pytest.mark.parametrize("n", range(1, 10))
def test_held_reduce_fits(n: int, holds: str) -> None:
    for num in COUNTS:
        for commutative in (True, False):
            for root in range(n):
                progs = [S.reduce(n, r, root, num, 4, commutative, hold=True) for r in range(n)]
                check(progs, n, root, num, commutative, HOLDS[holds]())


def test_held_rows_are_emitted() -> None:
    """The root of a 2-rank reduce receives every segment with hold and combines it through HELD;
    without hold the rows are the plain ones (no hold word, scratch operands)."""
    p = S.reduce(2, 0, 0, 10, 4, True, hold=True)
    recvs = [i for i, row in enumerate(p.rows) if row[0] == RECV]
    reduces = [row for row in p.rows if row[0] == REDUCE]
    assert len(recvs) == 3 and all(p.rows[i][5] == 1 for i in recvs)
    assert [row[3] - HELD for row in reduces] == recvs
    plain = S.reduce(2, 0, 0, 10, 4, True)
    assert all(len(row) == 5 for row in plain.rows if row[0] == RECV)
    assert all(row[3] == S.TMP for row in plain.rows if row[0] == REDUCE)
    # The rows still fit the interpreter's fixed-width rows.
    assert p.array().shape == (len(p.rows), 8)


def test_extend_moves_held_references() -> None:
    """Program.extend appends rows after others: a REDUCE's HELD + row must follow its RECV."""
    n, num = 3, 5
    progs = []
    for r in range(n):
        p = S.Program()
        p.copy(S.SENDBUF, 0, S.TMP, 0, 1)  # rows before the reduce's own
        p.need(1)
        p.extend(S.reduce(n, r, 0, num, 2, True, hold=True))
        progs.append(p)
    for r in range(n):
        for row in progs[r].rows:
            if row[0] == REDUCE and row[3] >= HELD:
                assert progs[r].rows[row[3] - HELD][0] == RECV
    check(progs, n, 0, num, True, HOLDS["always"]())


def test_the_simulator_catches_a_receive_behind_a_held_message() -> None:
    """A program that posts the next receive from a child before combining the held segment
    would take the held message twice: the simulator refuses it (so the checks above mean
    something)."""
    p = S.reduce(2, 0, 0, 8, 4, True, hold=True)
    rows = p.rows
    # Move the first REDUCE after the second window's WAIT.
    first = next(i for i, row in enumerate(rows) if row[0] == REDUCE)
    row = rows.pop(first)
    second_wait = [i for i, r in enumerate(rows) if r[0] == WAIT][1]
    rows.insert(second_wait + 1, row)
    leaf = S.reduce(2, 1, 0, 8, 4, True, hold=True)
    with pytest.raises(AssertionError, match="behind a held message"):
        check([p, leaf], 2, 0, 8, True, HOLDS["always"]())


def test_held_plan_array_round_trip() -> None:
    """The plan words carry the hold word and the HELD operand unchanged (int64 rows)."""
    p = S.reduce(4, 0, 0, 9, 4, True, hold=True)
    arr = p.array()
    for i, row in enumerate(p.rows):
        assert list(arr[i, : len(row)]) == list(row)
        assert not np.any(arr[i, len(row):])
