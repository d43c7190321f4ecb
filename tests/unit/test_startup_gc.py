"""runtime.collector_paused: no cyclic collection inside the block, the collector's state as it
was afterwards (also after an exception), and with freeze=True what exists moved out of the
program's collections (the rank's preload, rank_main)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from toro_mpi.runtime import collector_paused


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("enabled", [True, False])
def test_paused_inside_and_restored(enabled: bool) -> None:
    gc.enable() if enabled else gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled


def test_restored_after_an_exception() -> None:
    gc.enable()
    with pytest.raises(KeyError), collector_paused(freeze=True):
        raise KeyError("x")
    assert gc.isenabled()


def test_no_automatic_collection_inside() -> None:
    gc.enable()
    runs: list[str] = []
    inside = [False]

    def note(phase: str, info: dict) -> None:
        if inside[0]:
            runs.append(phase)

    gc.callbacks.append(note)
    try:
        with collector_paused():
            inside[0] = True
            for _ in range(20000):  # far above the young generation's threshold (700)
                a: list = []
                a.append(a)  # a cycle: only the collector frees it
            inside[0] = False
        assert runs == []
    finally:
        gc.callbacks.remove(note)


def test_freeze_moves_what_exists_out_of_collections() -> None:
    gc.unfreeze()
    before = gc.get_freeze_count()
    kept = [[] for _ in range(1000)]
    with collector_paused(freeze=True):
        pass
    assert gc.get_freeze_count() >= before + len(kept)
    with collector_paused():
        pass
    assert gc.get_freeze_count() >= before + len(kept)  # only freeze=True freezes
