"""A short soak (the full one: toro-mpirun -n N python tests/programs/soak.py 60): random sizes
0..1 MiB, random tags, ANY_SOURCE probes, Isend/Issend/objects, all to random ranks including
self, with random collectives run while the sends are in flight; zero lost, duplicated,
reordered or corrupted messages, every collective result right, and memory that stays flat."""

from __future__ import annotations

import pytest
from helpers import assert_ok, run_toro

pytestmark = pytest.mark.usefixtures("shm_clean")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_soak_short(n: int) -> None:
    ranks = assert_ok(run_toro("soak", n, 6, n, timeout=90), n)
    totals = next(line.split() for line in ranks[0] if line.startswith("totals"))
    assert totals[2] == totals[4] and int(totals[2]) > 0, totals  # sent == received
    for r in range(n):
        fields = next(line.split() for line in ranks[r] if line.startswith("rounds"))
        assert int(fields[1]) > 0
        assert fields[5] == "0" and fields[7] == "0", fields  # corrupt, out_of_order
        colls = next(line.split() for line in ranks[r] if line.startswith("collectives"))
        assert int(colls[1]) > 0 and colls[3] == "0", colls  # every collective result right
        rss = next(line.split() for line in ranks[r] if line.startswith("rss_kib"))
        first, last = int(rss[1]), int(rss[2])
        assert last - first < 64 * 1024, rss  # flat: no per-message growth
