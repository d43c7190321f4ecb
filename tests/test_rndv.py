"""The rendezvous protocol between processes of one node (bus/layout.py "Rendezvous", on by default
from 32 KiB; these tests set 64 KiB): tests/programs/rndv.py prints what it prints under mpi4py + Open MPI, and the
payloads were read by rendezvous (counted by the test hook of tests/programs/_mpi.py, which adds
the receive kernels' own reads); green-thread ranks, which do not use it, print the same. And a
toro_mpi-only ending: ranks that all Send 1 MiB before they receive (Open MPI deadlocks there)
finish, since an idle rank reads what it was sent unasked."""

from __future__ import annotations

import pytest
from helpers import (
    HOSTED,
    RENDEZVOUS_ENV,
    assert_ok,
    assert_same_as_reference,
    differential_marks,
    ref_cached,
    rendezvous_reads,
    run_toro,
    toro_cached,
)

pytestmark = differential_marks()

CASES = [
    pytest.param(2, (), True, id="n2"),
    pytest.param(3, ("--process-per-rank",), True, id="n3"),
    pytest.param(2, HOSTED, False, id="n2-hosted"),
]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("n, launcher, reads", CASES)
def test_rendezvous_scenarios_same_output_as_mpi4py(n: int, launcher: tuple, reads: bool,
                                                    rendezvous_config: tuple[str, ...]) -> None:
    """Same lines as mpi4py; every rank that receives large messages read some by rendezvous
    (none when hosted as green threads, where rendezvous is off)."""
    ref = ref_cached("rndv", n, timeout=90)
    toro = toro_cached("rndv", n, timeout=90, launcher=(*rendezvous_config, *launcher), env=RENDEZVOUS_ENV)
    assert_same_as_reference(toro, ref, n)
    counted = rendezvous_reads(toro) if reads else {}
    if reads:
        idle = [r for r in range(n) if counted.get(r, 0) == 0]
        assert not idle, f"ranks {idle} never read a payload by rendezvous: {counted}{toro.explain()}"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("n", [2, 3])
def test_sends_before_receives_complete(n: int, rendezvous_config: tuple[str, ...]) -> None:
    """Every rank Sends 1 MiB to its right before it receives from its left: each Send waits for
    a read that only an idle receiver makes (Engine.read_held), and none hangs."""
    run = run_toro("rndv", n, "head-to-head", timeout=60, launcher=(*rendezvous_config, "--process-per-rank"))
    ranks = assert_ok(run, n)
    for r in range(n):
        assert f"head to head got {(r - 1) % n}" in ranks[r], run.explain()
