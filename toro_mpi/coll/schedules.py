"""Collective algorithms, written once as programs for the jitted interpreter (interpreter.py).

Every builder takes the communicator size `n`, this rank `me` and the shape of the call, and
returns a Program: the rows this rank executes and the scratch it needs. All ranks derive the
same algorithm from the same arguments (counts, dtype size, operator, thresholds), so their
programs fit together. Counts and offsets are in elements of the arrays the interpreter gets.

Algorithms (n = ranks, log = ceil(log2 n) rounds):
- barrier: dissemination, log rounds of empty messages;
- bcast: binomial tree; large messages go in segments, each rank receiving segment k while it
  forwards segment k-1 to its children (the tree stages overlap);
- reduce: binomial tree, segmented the same way (receive k from the children while sending the
  partial result of k-1 to the parent);
- allreduce: recursive doubling (with the usual fold of the ranks above the largest power of
  two) for small messages; ring reduce-scatter + ring allgather for large ones;
- gather / scatter: binomial tree (subtrees travel as one message);
- allgather: Bruck (log rounds) for small, ring for large; allgatherv: ring;
- alltoall(v): every pairwise exchange posted at once (each pair has its own queue);
- gatherv / scatterv: the root posts every transfer at once. Only the root knows the counts,
  so a tree would need an extra round to learn them; with one queue per pair the transfers run
  concurrently and the root's single copy per byte is the bound either way;
- scan / exscan: recursive doubling; reduce_scatter_block: ring.
Non-commutative (user) operators keep the rank order: reduce uses a tree rooted at rank 0 whose
children are combined in rank order; allreduce is that reduce plus bcast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .interpreter import AWAIT, COPY, HELD, RECV, REDUCE, ROW, SEND, SIGNAL, WAIT

SENDBUF = 0
RECVBUF = 1
TMP = 2


@dataclass
class Program:
    """Rows for the interpreter and the number of scratch elements they use."""

    rows: list[tuple[int, ...]] = field(default_factory=list)
    tmp: int = 0
    posted: bool = False  # a SEND or RECV since the last WAIT

    def send(self, peer: int, buf: int, off: int, count: int) -> None:
        """Post a send of count elements of buf[off:] to comm rank peer."""
        self.rows.append((SEND, peer, buf, off, count))
        self.posted = True

    def recv(self, peer: int, buf: int, off: int, count: int, hold: bool = False) -> int:
        """Post a receive of exactly count elements into buf[off:] from comm rank peer; return
        its row. hold: the message may stay in its ring for a REDUCE naming this row (reduce_held);
        no other receive from peer may come between the two."""
        self.rows.append((RECV, peer, buf, off, count, 1) if hold else (RECV, peer, buf, off, count))
        self.posted = True
        return len(self.rows) - 1

    def signal(self, peer: int) -> None:
        """Post a signal to comm rank peer (barriers only: see interpreter.SIGNAL)."""
        self.rows.append((SIGNAL, peer))
        self.posted = True

    def await_signal(self, peer: int) -> None:
        """Take a signal from comm rank peer, completed by the next wait."""
        self.rows.append((AWAIT, peer))
        self.posted = True

    def wait(self) -> None:
        """Complete every send and receive posted since the last wait."""
        if self.posted:
            self.rows.append((WAIT,))
            self.posted = False

    def copy(self, sbuf: int, soff: int, dbuf: int, doff: int, count: int) -> None:
        """dbuf[doff:doff+count] = sbuf[soff:soff+count]."""
        if count > 0 and (sbuf, soff) != (dbuf, doff):
            self.rows.append((COPY, sbuf, soff, dbuf, doff, count))

    def reduce(self, a: tuple[int, int], b: tuple[int, int], out: tuple[int, int], count: int) -> None:
        """out = a op b over count elements; each operand is (buffer, offset)."""
        if count > 0:
            self.rows.append((REDUCE, *a, *b, *out, count))

    def reduce_held(self, a: tuple[int, int], row: int, out: tuple[int, int], count: int) -> None:
        """out = a op (the message of RECV row `row`), read in its ring if the row held it."""
        if count > 0:
            self.rows.append((REDUCE, *a, HELD + row, 0, *out, count))

    def need(self, elements: int) -> None:
        """Make sure the scratch array holds at least this many elements."""
        self.tmp = max(self.tmp, elements)

    def extend(self, other: Program) -> None:
        """Append another program (sharing the scratch array)."""
        self.wait()
        base = len(self.rows)
        # A REDUCE that reads a held message names its RECV by row: shift it with the rows.
        self.rows.extend(row if row[0] != REDUCE or row[3] < HELD else (*row[:3], row[3] + base, *row[4:])
                         for row in other.rows)
        self.need(other.tmp)
        self.posted = other.posted

    def array(self) -> np.ndarray:
        """The rows as an int64[nrows, ROW] array."""
        out = np.zeros((len(self.rows), ROW), np.int64)
        for i, row in enumerate(self.rows):
            out[i, : len(row)] = row
        return out


# -- trees ---------------------------------------------------------------------------------------
def binomial(n: int, vr: int) -> tuple[int | None, list[int]]:
    """(parent, children) of virtual rank vr in a binomial tree rooted at 0; children in increasing
    distance (1, 2, 4, ...), i.e. in rank order of their subtrees."""
    mask = 1
    while mask < n:
        if vr & mask:
            return vr - mask, [vr + m for m in _below(mask) if vr + m < n]
        mask <<= 1
    return None, [vr + m for m in _below(mask) if vr + m < n]


def _below(mask: int) -> list[int]:
    out = []
    m = 1
    while m < mask:
        out.append(m)
        m <<= 1
    return out


def subtree(n: int, vr: int) -> int:
    """Number of ranks in the binomial subtree of vr (vr itself included)."""
    if vr == 0:
        return n
    return min(vr & -vr, n - vr)


def _segments(count: int, seg: int) -> list[tuple[int, int]]:
    """(offset, length) of the segments of count elements; one empty segment for count 0."""
    if count == 0:
        return [(0, 0)]
    return [(o, min(seg, count - o)) for o in range(0, count, seg)]


def _blocks(count: int, n: int) -> tuple[list[int], list[int]]:
    """Split count elements into n nearly equal blocks: (sizes, offsets)."""
    base, extra = divmod(count, n)
    sizes = [base + (1 if i < extra else 0) for i in range(n)]
    offs = [0] * n
    for i in range(1, n):
        offs[i] = offs[i - 1] + sizes[i - 1]
    return sizes, offs


# -- algorithms ----------------------------------------------------------------------------------
def barrier(n: int, me: int) -> Program:
    """Dissemination barrier, its rounds' messages as signals (one cache line each way)."""
    p = Program()
    k = 1
    while k < n:
        p.signal((me + k) % n)
        p.await_signal((me - k) % n)
        p.wait()
        k <<= 1
    return p


def bcast(n: int, me: int, root: int, count: int, seg: int) -> Program:
    """Binomial-tree broadcast of RECVBUF[0:count], pipelined in segments of seg elements."""
    p = Program()
    if n == 1 or count == 0:
        return p
    vr = (me - root) % n
    parent, children = binomial(n, vr)
    kids = [(c + root) % n for c in reversed(children)]  # farthest (largest subtree) first
    segs = _segments(count, seg)
    if parent is None:
        for off, length in segs:
            for c in kids:
                p.send(c, RECVBUF, off, length)
        p.wait()
        return p
    up = (parent + root) % n
    for k in range(len(segs) + 1):
        if k < len(segs):
            p.recv(up, RECVBUF, *segs[k])
        if k > 0:
            for c in kids:
                p.send(c, RECVBUF, *segs[k - 1])
        p.wait()
    return p


def reduce(n: int, me: int, root: int, count: int, seg: int, commutative: bool, hold: bool = False) -> Program:
    """Binomial-tree reduction of SENDBUF into RECVBUF at root, pipelined in segments. hold: the
    children's segments are combined straight out of their rings (a predefined operator; the
    interpreter copies them out first anyway for a Python one)."""
    p = Program()
    if n == 1:
        p.copy(SENDBUF, 0, RECVBUF, 0, count)
        return p
    if count == 0:
        return p
    # A non-commutative operator needs rank order: root the tree at 0, then hand the result over.
    tree_root = root if commutative else 0
    vr = (me - tree_root) % n
    parent, children = binomial(n, vr)
    kids = [(c + tree_root) % n for c in children]  # nearest first: rank order of the operands
    segs = _segments(count, seg)
    acc_buf, acc_off = (RECVBUF, 0) if me == root else (TMP, 0)
    if kids:
        _reduce_tree(p, segs, count, kids, parent if parent is None else (parent + tree_root) % n, acc_buf, acc_off,
                     hold)
    else:
        for off, length in segs:
            p.send((parent + tree_root) % n, SENDBUF, off, length)
        p.wait()
    if not commutative and root != 0:
        if me == 0:
            p.send(root, acc_buf, acc_off, count)
            p.wait()
        elif me == root:
            p.recv(0, RECVBUF, 0, count)
            p.wait()
    return p


def _reduce_tree(p: Program, segs: list[tuple[int, int]], count: int, kids: list[int], up: int | None,
                 acc_buf: int, acc_off: int, hold: bool = False) -> None:
    """An inner node of the reduction tree: combine the children's segments, pass them up.

    hold: each child's segment may stay in its ring until its REDUCE reads it there (one pass
    less over every byte the node receives). Safe because each window receives at most one
    message from each child, and that message's REDUCE runs right after the window's WAIT,
    before the next window posts a receive from the same child; the REDUCEs of a segment still
    run in rank order. The scratch slots stay: a message that cannot be held lands there."""
    slot0 = 0 if acc_buf == RECVBUF else count
    seg_len = segs[0][1]
    p.need(slot0 + len(kids) * seg_len)
    for k in range(len(segs) + 1):
        rows = []
        if k < len(segs):
            off, length = segs[k]
            for j, c in enumerate(kids):
                rows.append(p.recv(c, TMP, slot0 + j * seg_len, length, hold))
        if k > 0 and up is not None:
            off, length = segs[k - 1]
            p.send(up, acc_buf, acc_off + off, length)
        p.wait()
        if k < len(segs):
            off, length = segs[k]
            mine = (SENDBUF, off)
            for j in range(len(kids)):
                if hold:
                    p.reduce_held(mine, rows[j], (acc_buf, acc_off + off), length)
                else:
                    p.reduce(mine, (TMP, slot0 + j * seg_len), (acc_buf, acc_off + off), length)
                mine = (acc_buf, acc_off + off)


def allreduce(n: int, me: int, count: int, commutative: bool, large: bool, seg: int, inplace: bool) -> Program:
    """Allreduce of SENDBUF into RECVBUF (recursive doubling, or ring for large messages)."""
    p = Program()
    if n == 1 or count == 0:
        if not inplace:
            p.copy(SENDBUF, 0, RECVBUF, 0, count)
        return p
    if not commutative:
        p.extend(reduce(n, me, 0, count, seg, False))
        p.extend(bcast(n, me, 0, count, seg))
        return p
    if large and count >= n:
        return _ring_allreduce(p, n, me, count, RECVBUF if inplace else SENDBUF)
    if not inplace:
        p.copy(SENDBUF, 0, RECVBUF, 0, count)
    p.need(count)
    p2 = 1
    while p2 * 2 <= n:
        p2 *= 2
    rem = n - p2
    acc = (RECVBUF, 0)
    if me < 2 * rem:
        if me % 2 == 0:
            p.send(me + 1, RECVBUF, 0, count)
            p.wait()
            newrank = -1
        else:
            p.recv(me - 1, TMP, 0, count)
            p.wait()
            p.reduce((TMP, 0), acc, acc, count)
            newrank = me // 2
    else:
        newrank = me - rem
    if newrank >= 0:
        mask = 1
        while mask < p2:
            pn = newrank ^ mask
            partner = pn * 2 + 1 if pn < rem else pn + rem
            p.send(partner, RECVBUF, 0, count)
            p.recv(partner, TMP, 0, count)
            p.wait()
            # Both partners combine in the same order, so every rank ends with identical bits.
            if partner < me:
                p.reduce((TMP, 0), acc, acc, count)
            else:
                p.reduce(acc, (TMP, 0), acc, count)
            mask <<= 1
    if me < 2 * rem:
        if me % 2 == 1:
            p.send(me - 1, RECVBUF, 0, count)
        else:
            p.recv(me + 1, RECVBUF, 0, count)
        p.wait()
    return p


def _ring_allreduce(p: Program, n: int, me: int, count: int, src: int) -> Program:
    """Ring reduce-scatter + allgather of src (this rank's operand: SENDBUF, or RECVBUF in place)
    into RECVBUF. No first copy of src into RECVBUF: each step's reduction reads this rank's
    block from src and writes the partial result into RECVBUF (one fused pass over three arrays),
    and the block sent at step s > 0 is the one reduced at step s - 1 (in_b(s - 1) == out_b(s));
    only step 0 sends a raw block, from src. Every block of RECVBUF is written before it is read:
    by a reduction here or by the allgather. Saves a pass over the whole vector (1 MiB: a memcpy
    of 1 MiB on the critical path); the operands keep their order, so the bits are the same."""
    sizes, offs = _blocks(count, n)
    p.need(max(sizes))
    right, left = (me + 1) % n, (me - 1) % n
    for s in range(n - 1):
        out_b = (me - s - 1) % n
        in_b = (me - s - 2) % n
        p.send(right, src if s == 0 else RECVBUF, offs[out_b], sizes[out_b])
        p.recv(left, TMP, 0, sizes[in_b])
        p.wait()
        p.reduce((TMP, 0), (src, offs[in_b]), (RECVBUF, offs[in_b]), sizes[in_b])
    # Block `me` is complete here; pass the complete blocks around the ring.
    _ring_allgather(p, n, me, sizes, offs)
    return p


def _ring_allgather(p: Program, n: int, me: int, counts: list[int], displs: list[int]) -> None:
    """n - 1 steps around the ring; each rank starts with its own block of RECVBUF in place."""
    right, left = (me + 1) % n, (me - 1) % n
    for s in range(n - 1):
        out_b = (me - s) % n
        in_b = (me - s - 1) % n
        p.send(right, RECVBUF, displs[out_b], counts[out_b])
        p.recv(left, RECVBUF, displs[in_b], counts[in_b])
        p.wait()


def gather(n: int, me: int, root: int, count: int) -> Program:
    """Binomial-tree gather of SENDBUF[0:count] into RECVBUF at root (rank order)."""
    p = Program()
    if n == 1 or count == 0:
        if me == root:
            p.copy(SENDBUF, 0, RECVBUF, me * count, count)
        return p
    vr = (me - root) % n
    parent, children = binomial(n, vr)
    size = subtree(n, vr)
    if not children:
        p.send((parent + root) % n, SENDBUF, 0, count)
        p.wait()
        return p
    # Collect the subtree's blocks in virtual-rank order: at root 0 that is RECVBUF itself.
    direct = me == root and root == 0
    buf = RECVBUF if direct else TMP
    if not direct:
        p.need(size * count)
    p.copy(SENDBUF, 0, buf, 0, count)
    for c in children:
        p.recv((c + root) % n, buf, (c - vr) * count, subtree(n, c) * count)
    p.wait()
    if parent is not None:
        p.send((parent + root) % n, buf, 0, size * count)
        p.wait()
    elif not direct:
        head = (n - root) * count
        p.copy(TMP, 0, RECVBUF, root * count, head)
        p.copy(TMP, head, RECVBUF, 0, root * count)
    return p


def scatter(n: int, me: int, root: int, count: int, inplace: bool) -> Program:
    """Binomial-tree scatter of SENDBUF (at root, rank order) into RECVBUF[0:count]."""
    p = Program()
    if n == 1 or count == 0:
        if me == root and not inplace:
            p.copy(SENDBUF, me * count, RECVBUF, 0, count)
        return p
    vr = (me - root) % n
    parent, children = binomial(n, vr)
    size = subtree(n, vr)
    if parent is None:
        if root == 0:
            src = SENDBUF
        else:
            p.need(n * count)
            head = (n - root) * count
            p.copy(SENDBUF, root * count, TMP, 0, head)
            p.copy(SENDBUF, 0, TMP, head, root * count)
            src = TMP
        for c in reversed(children):
            p.send((c + root) % n, src, c * count, subtree(n, c) * count)
        if not inplace:
            p.copy(src, 0, RECVBUF, 0, count)
        p.wait()
        return p
    up = (parent + root) % n
    if not children:
        p.recv(up, RECVBUF, 0, count)
        p.wait()
        return p
    p.need(size * count)
    p.recv(up, TMP, 0, size * count)
    p.wait()
    for c in reversed(children):
        p.send((c + root) % n, TMP, (c - vr) * count, subtree(n, c) * count)
    p.copy(TMP, 0, RECVBUF, 0, count)
    p.wait()
    return p


def gatherv(n: int, me: int, root: int, sendcount: int, counts: list[int], displs: list[int],
            inplace: bool) -> Program:
    """Gatherv: every transfer to the root posted at once (see the module docstring). Empty
    pieces travel too: a rank whose count disagrees with the root's then gets ERR_TRUNCATE
    instead of leaving the root waiting."""
    p = Program()
    if me != root:
        p.send(root, SENDBUF, 0, sendcount)
        p.wait()
        return p
    if not inplace:
        p.copy(SENDBUF, 0, RECVBUF, displs[me], counts[me])
    for r in range(n):
        if r != me:
            p.recv(r, RECVBUF, displs[r], counts[r])
    p.wait()
    return p


def scatterv(n: int, me: int, root: int, counts: list[int], displs: list[int], recvcount: int,
             inplace: bool) -> Program:
    """Scatterv: every transfer from the root posted at once (empty pieces too, see gatherv)."""
    p = Program()
    if me != root:
        p.recv(root, RECVBUF, 0, recvcount)
        p.wait()
        return p
    for k in range(1, n):
        r = (me + k) % n
        p.send(r, SENDBUF, displs[r], counts[r])
    if not inplace:
        p.copy(SENDBUF, displs[me], RECVBUF, 0, counts[me])
    p.wait()
    return p


def allgather(n: int, me: int, count: int, large: bool, inplace: bool) -> Program:
    """Allgather of SENDBUF[0:count] into RECVBUF (Bruck for small, ring for large)."""
    p = Program()
    if n == 1 or count == 0 or large:
        return allgatherv(n, me, [count] * n, [r * count for r in range(n)], inplace)
    p.need(n * count)
    if inplace:
        p.copy(RECVBUF, me * count, TMP, 0, count)
    else:
        p.copy(SENDBUF, 0, TMP, 0, count)
    dist = 1
    while dist < n:
        blocks = min(dist, n - dist)
        p.send((me - dist) % n, TMP, 0, blocks * count)
        p.recv((me + dist) % n, TMP, dist * count, blocks * count)
        p.wait()
        dist <<= 1
    # TMP block j holds rank (me + j) % n: rotate into rank order.
    head = (n - me) * count
    p.copy(TMP, 0, RECVBUF, me * count, head)
    p.copy(TMP, head, RECVBUF, 0, me * count)
    return p


def allgatherv(n: int, me: int, counts: list[int], displs: list[int], inplace: bool) -> Program:
    """Ring allgather with per-rank counts and displacements."""
    p = Program()
    if not inplace:
        p.copy(SENDBUF, 0, RECVBUF, displs[me], counts[me])
    _ring_allgather(p, n, me, counts, displs)
    return p


def alltoallv(n: int, me: int, scounts: list[int], sdispls: list[int], rcounts: list[int],
              rdispls: list[int]) -> Program:
    """Every pairwise exchange at once: rank me + k gets the k-th send, spreading the load."""
    p = Program()
    p.copy(SENDBUF, sdispls[me], RECVBUF, rdispls[me], rcounts[me])
    for k in range(1, n):
        dst, src = (me + k) % n, (me - k) % n
        p.send(dst, SENDBUF, sdispls[dst], scounts[dst])
        p.recv(src, RECVBUF, rdispls[src], rcounts[src])
    p.wait()
    return p


def scan(n: int, me: int, count: int, exclusive: bool, inplace: bool) -> Program:
    """Inclusive (or exclusive) prefix reduction by recursive doubling; keeps rank order."""
    p = Program()
    if count == 0:
        return p
    if not exclusive and not inplace:
        p.copy(SENDBUF, 0, RECVBUF, 0, count)
    if n == 1:
        return p
    partial, incoming = (TMP, 0), (TMP, count)
    p.need(2 * count)
    p.copy(RECVBUF if inplace else SENDBUF, 0, TMP, 0, count)
    have = not exclusive  # RECVBUF already holds a result (an exscan's starts undefined)
    mask = 1
    while mask < n:
        partner = me ^ mask
        if partner < n:
            p.send(partner, *partial, count)
            p.recv(partner, *incoming, count)
            p.wait()
            if partner < me:
                if have:
                    p.reduce(incoming, (RECVBUF, 0), (RECVBUF, 0), count)
                else:
                    p.copy(*incoming, RECVBUF, 0, count)
                    have = True
                p.reduce(incoming, partial, partial, count)
            else:
                p.reduce(partial, incoming, partial, count)
        mask <<= 1
    return p


def reduce_scatter_block(n: int, me: int, count: int, inplace: bool) -> Program:
    """Ring reduce-scatter: rank r ends with block r of the reduction (commutative operators).

    This rank's operand (SENDBUF, or RECVBUF in place) is read where it is, not copied first:
    step s reduces the incoming partial with this rank's block in_b into scratch, and sends at
    step s + 1 the block it reduced at step s (in_b(s) == out_b(s + 1)); step 0 sends a raw
    block. The last step's block is this rank's own (in_b(n - 2) == me), reduced straight into
    RECVBUF[0:count]: in place that region is block 0 of the operand, read by no later step."""
    p = Program()
    if n == 1 or count == 0:
        if not inplace:
            p.copy(SENDBUF, 0, RECVBUF, 0, count)
        return p
    src = RECVBUF if inplace else SENDBUF
    acc = n * count
    p.need(acc + count)
    right, left = (me + 1) % n, (me - 1) % n
    for s in range(n - 1):
        out_b = (me - s - 1) % n
        in_b = (me - s - 2) % n
        p.send(right, src if s == 0 else TMP, out_b * count, count)
        p.recv(left, TMP, acc, count)
        p.wait()
        dest = (RECVBUF, 0) if s == n - 2 else (TMP, in_b * count)
        p.reduce((TMP, acc), (src, in_b * count), dest, count)
    return p
