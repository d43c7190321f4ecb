"""pytest hooks and fixtures of the suite; the helpers the tests import live in tests/helpers.py.

tests/unit/ is the quick tier (no job started: `python -m pytest tests/unit`), tests/ the jobs.
"""

from __future__ import annotations

import pytest
from helpers import RENDEZVOUS_TOML, _started_launchers, leftover_segments, toro_segments


@pytest.fixture
def shm_clean():
    """Snapshot /dev/shm; after the test, no toro_mpi segment of the jobs it ran may remain."""
    before = toro_segments()
    first = len(_started_launchers)
    yield
    mine = _started_launchers[first:]
    left = leftover_segments(before, mine)
    assert not left, f"toro_mpi segments left in /dev/shm: {left}"
    from toro_mpi.launcher.refshm import private_dirs

    dirs = [path for path, pid in private_dirs() if pid in mine]
    assert not dirs, f"Open MPI file directories of this test's launchers left in /dev/shm: {dirs}"


@pytest.fixture(scope="session")
def rendezvous_config(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    """Launcher flags selecting the rendezvous bus; skips when this machine cannot rendezvous
    (process_vm_readv missing or forbidden by ptrace_scope: the engine then stays on the ring)."""
    from toro_mpi.bus.transport import rendezvous_supported

    if not rendezvous_supported():
        pytest.skip("process_vm_readv between sibling processes is not allowed here")
    path = tmp_path_factory.mktemp("rndv") / "rendezvous.toml"
    path.write_text(RENDEZVOUS_TOML)
    return ("--config", str(path))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Warm the kernels the launcher warms (about a minute on a cold cache) before any test runs.

    Otherwise the first launch of the session pays it inside that test's timeout, and a test
    whose job has a short --timeout of its own could see its ranks start late."""
    from toro_mpi.warm import warm_cache

    warm_cache()


@pytest.fixture(scope="session")
def warm_reductions():
    """Compile the collective interpreter for every reduction dtype once, here, before jobs run.

    A rank compiles an uncached dtype on first use (about 6 s each, once per machine); a fresh
    CI machine would otherwise pay that inside the timeouts of the first collective jobs, in
    every rank at once."""
    from toro_mpi.warm import warm_reduction_dtypes

    warm_reduction_dtypes()
