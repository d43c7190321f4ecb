"""Edge cases through the launcher on three buses: the default one, a tiny one where every message
is fragmented, and one where large messages go by rendezvous."""

from __future__ import annotations

import pytest
from conftest import assert_ok, run_toro

pytestmark = pytest.mark.usefixtures("shm_clean")

BUSES = {
    "default": "",
    # Every message fragmented through a 1 KiB ring, no rendezvous.
    "tiny": "[bus]\nqueue_size = 4\nbuffer_size = 256\nrendezvous_threshold = 0\n",
    # Rendezvous (process_vm_readv single copy) from 64 KiB up.
    "rendezvous": "[bus]\nrendezvous_threshold = 65536\n",
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("bus", sorted(BUSES))
def test_edge_cases(bus: str, tmp_path) -> None:
    launcher: tuple[str, ...] = ()
    if BUSES[bus]:
        cfg = tmp_path / f"{bus}.toml"
        cfg.write_text(BUSES[bus])
        launcher = ("--config", str(cfg))
    ranks = assert_ok(run_toro("edge", 2, "probe", timeout=90, launcher=launcher), 2)
    assert "sync sends done" in ranks[0] and "sync receives done" in ranks[1]
    assert ranks[1].count("cancel ok") == 1
    assert {"dtype float16", "dtype float128"} <= set(ranks[1])
    assert any(line.startswith("truncation status 4 0 4") for line in ranks[1])
    assert "nested spawn ok" in ranks[0] and "nested spawn ok" in ranks[1]
    assert any("probe on a finalized rank: MPI_ERR_OTHER" in line for line in ranks[1])
