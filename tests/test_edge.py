"""Edge cases through the launcher, including a bus where every message is fragmented and no
rendezvous is used (what a non-root user with Yama ptrace_scope >= 1 gets)."""

from __future__ import annotations

import pytest
from conftest import assert_ok, run_toro

pytestmark = pytest.mark.usefixtures("shm_clean")

TINY_BUS = "[bus]\nqueue_size = 4\nbuffer_size = 256\nrendezvous_threshold = 0\n"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("bus", ["default", "tiny"])
def test_edge_cases(bus: str, tmp_path) -> None:
    launcher: tuple[str, ...] = ()
    if bus == "tiny":
        cfg = tmp_path / "tiny.toml"
        cfg.write_text(TINY_BUS)
        launcher = ("--config", str(cfg))
    ranks = assert_ok(run_toro("edge", 2, "probe", timeout=90, launcher=launcher), 2)
    assert "sync sends done" in ranks[0] and "sync receives done" in ranks[1]
    assert ranks[1].count("cancel ok") == 1
    assert {"dtype float16", "dtype float128"} <= set(ranks[1])
    assert any(line.startswith("truncation status 4 0 4") for line in ranks[1])
    assert "nested spawn ok" in ranks[0] and "nested spawn ok" in ranks[1]
    assert any("probe on a finalized rank: MPI_ERR_OTHER" in line for line in ranks[1])
