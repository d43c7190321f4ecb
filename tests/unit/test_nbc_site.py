"""A remembered Iallreduce call site's local step (mpi/nonblocking.AllreduceSite) combines what
arrived exactly as the general path's rank-order fold does, on every rank: with scratch per peer,
and (two ranks, rank 0 or an exactly commutative operator) straight in the receive buffer."""

import numpy as np
import pytest

from toro_mpi.mpi.nonblocking import AllreduceSite, fold
from toro_mpi.mpi.ops import BXOR, MAX, MIN, PROD, REPLACE, SUM


def _site_result(op, xs: list[np.ndarray], me: int) -> tuple[np.ndarray, bool]:
    """Run rank me's site step over the contributions xs (the peers' copied where the site's
    receives would put them); return the result and whether it used scratch."""
    n = len(xs)
    send = xs[me].copy()
    recv = np.zeros_like(send)
    peers = [r for r in range(n) if r != me]
    site = AllreduceSite(send, recv, op, me, peers, send, recv)
    assert [r for r, _ in site.recvs] == peers
    for (r, view) in site.recvs:
        view[:] = xs[r].view(np.uint8)
    site.busy = True
    site.finish()
    assert not site.busy
    return recv, site.tmps is not None


@pytest.mark.parametrize("n", [2, 3, 4])
@pytest.mark.parametrize("op", [SUM, PROD, MAX, MIN, REPLACE])
def test_site_matches_the_rank_order_fold(n: int, op) -> None:
    rng = np.random.default_rng(n)
    xs = [rng.integers(-50, 50, 257).astype(np.float64) for _ in range(n)]
    want = np.zeros(257)
    fold(op, xs, want, None)
    for me in range(n):
        got, scratch = _site_result(op, xs, me)
        assert got.tobytes() == want.tobytes(), (op, n, me)
        # Straight into the receive buffer only on two ranks, and for an operator that does not
        # commute exactly (MAX, MIN: NaN; REPLACE) only on rank 0, whose result x0 op x1 is
        # `recv = send op recv`.
        assert scratch == (n > 2 or (op not in (SUM, PROD) and me != 0))


def test_site_integer_bitwise_two_ranks() -> None:
    xs = [np.arange(10, dtype=np.int64) * 3, np.arange(10, dtype=np.int64) ^ 5]
    want = np.zeros(10, np.int64)
    fold(BXOR, xs, want, None)
    for me in (0, 1):
        got, scratch = _site_result(BXOR, xs, me)
        assert got.tolist() == want.tolist() and not scratch
