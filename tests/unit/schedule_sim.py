"""A simulator of the collective programs (coll/schedules.py): every rank's rows run to completion
over FIFO queues, with no processes, as the interpreter (coll/interpreter.py) would run them.

A message one rank sends must be received by its peer with exactly that size and in order; no rank
may wait forever; no message or signal may be left over. Elements are symbolic: REDUCE
concatenates its operands (out = a + b), so a contribution reduced twice or left out, or operands
out of order, show in the result (see test_schedules.py).

Holds (schedules.reduce with hold): a RECV row with a hold word may leave its message at the head
of the queue until the REDUCE naming that row (HELD + row) reads and removes it; a receive from a
queue whose head is held is an error (it would take the held message a second time). `hold_ok()`
says whether the next hold succeeds (the interpreter copies the message into scratch when it
cannot hold it); without it nothing is held.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from toro_mpi.coll.interpreter import AWAIT, COPY, HELD, RECV, REDUCE, SEND, SIGNAL, WAIT


def simulate(programs: list, bufs: list[dict[int, list]], hold_ok: Callable[[], bool] | None = None) -> None:
    """Run the ranks' programs to completion; asserts on any mismatch, deadlock or leftover."""
    n = len(programs)
    queues: dict[tuple[int, int], deque] = {(a, b): deque() for a in range(n) for b in range(n)}
    signals = {(a, b): 0 for a in range(n) for b in range(n)}  # posted and not yet taken
    held: dict[tuple[int, int], int] = {}  # queue -> the RECV row (of its receiver) holding its head
    pcs = [0] * n
    window: list[list[int]] = [[] for _ in range(n)]  # rows of the receives posted since the last WAIT
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
                    window[r].append(pcs[r])
                elif op == WAIT:
                    pending: list[int] = []
                    for i in window[r]:
                        if rows[i][0] == AWAIT:
                            if signals[(rows[i][1], r)] == 0:
                                pending.append(i)
                            else:
                                signals[(rows[i][1], r)] -= 1
                            continue
                        _, peer, buf, off, count, *hold = rows[i]
                        q = queues[(peer, r)]
                        assert (peer, r) not in held, f"rank {r} row {i} receives from {peer} behind a held message"
                        if any(rows[p][1] == peer for p in pending) or not q:
                            pending.append(i)
                            continue
                        assert len(q[0]) == count, f"rank {r} expects {count} from {peer}, got {len(q[0])}"
                        if hold and hold[0] and hold_ok is not None and hold_ok():
                            held[(peer, r)] = i
                        else:
                            bufs[r][buf][off: off + count] = q.popleft()
                    window[r] = pending
                    if pending:
                        break
                elif op == COPY:
                    _, sb, so, db, do, count = row
                    bufs[r][db][do: do + count] = list(bufs[r][sb][so: so + count])
                elif op == REDUCE:
                    _, ab, ao, bb, bo, ob, oo, count = row
                    a = bufs[r][ab][ao: ao + count]
                    if bb >= HELD:
                        i = bb - HELD
                        _, peer, rbuf, roff, rcount, *_ = rows[i]
                        assert rows[i][0] == RECV and rcount == count, f"rank {r}: REDUCE names row {i}: {rows[i]}"
                        if held.get((peer, r)) == i:
                            del held[(peer, r)]
                            b = queues[(peer, r)].popleft()
                        else:
                            b = bufs[r][rbuf][roff: roff + count]
                    else:
                        b = bufs[r][bb][bo: bo + count]
                    assert None not in a and None not in b, f"rank {r} reduces an element never written: {row}"
                    bufs[r][ob][oo: oo + count] = [x + y for x, y in zip(a, b, strict=True)]
                pcs[r] += 1
                moved = True
        assert moved, f"deadlock: program counters {pcs}"
    assert not held, f"messages held and never combined: {held}"
    leftovers = {k: len(q) for k, q in queues.items() if q}
    assert not leftovers, f"messages never received: {leftovers}"
    untaken = {k: v for k, v in signals.items() if v}
    assert not untaken, f"signals never taken: {untaken}"
