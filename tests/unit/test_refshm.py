"""The private directory for Open MPI's shared-memory files (toro_mpi/launcher/refshm.py): made,
handed to the run, removed with what the run left; a user's own setting wins; --cleanup finds
the directories of launchers that are gone."""

from __future__ import annotations

import os

import pytest

from toro_mpi.launcher import cleanup, refshm


@pytest.fixture
def shm_root(tmp_path, monkeypatch):
    monkeypatch.setattr(refshm, "SHM_ROOT", str(tmp_path))
    return tmp_path


def test_directory_is_made_handed_over_and_removed_with_its_contents(shm_root) -> None:
    """The run's environment names a new directory of ours; nested files go with it."""
    env: dict[str, str] = {}
    with refshm.private_ompi_shm_dir(env, {}) as path:
        assert path is not None and env[refshm.BACKING_VAR] == path
        assert os.path.dirname(path) == str(shm_root)
        assert os.path.basename(path).startswith(f"toro_mpi-ompi.{os.getpid()}.")
        os.makedirs(os.path.join(path, "sub", "deeper"))
        for name in ("sm_segment.a", "sub/x", "sub/deeper/y"):
            with open(os.path.join(path, name), "w") as fh:
                fh.write("x")
    assert not os.path.exists(path)
    assert list(shm_root.iterdir()) == []
    assert env == {}  # the setting went with the directory


def test_directory_goes_when_the_run_raises(shm_root) -> None:
    """Ctrl-C (or any exception) in the run still removes the directory."""
    with pytest.raises(KeyboardInterrupt), refshm.private_ompi_shm_dir({}, {}, prefix="toro_mpi-ref") as path:
        assert os.path.basename(path).startswith("toro_mpi-ref.")
        raise KeyboardInterrupt
    assert not os.path.exists(path)


@pytest.mark.parametrize("where", ["env", "inherited"])
def test_users_own_setting_wins(shm_root, where: str) -> None:
    """A backing directory the user set (by -x or in the environment) is left as it is."""
    mine = {refshm.BACKING_VAR: "/somewhere/of/mine"}
    env = dict(mine) if where == "env" else {}
    with refshm.private_ompi_shm_dir(env, mine if where == "inherited" else {}) as path:
        assert path is None
        assert env == (mine if where == "env" else {})
    assert list(shm_root.iterdir()) == []


def test_a_name_taken_by_an_earlier_run_is_skipped(shm_root) -> None:
    """A directory of an earlier launcher with our pid is not reused, nor removed by us."""
    taken = shm_root / f"toro_mpi-ompi.{os.getpid()}.0"
    taken.mkdir()
    with refshm.private_ompi_shm_dir({}, {}) as path:
        assert path == str(shm_root / f"toro_mpi-ompi.{os.getpid()}.1")
    assert taken.exists()  # not ours: left for --cleanup


def test_cleanup_removes_directories_of_launchers_that_are_gone(shm_root, capsys, monkeypatch) -> None:
    """--cleanup removes the directories whose launcher pid is dead, keeps a live one's and
    anything not named like ours."""
    monkeypatch.setattr(cleanup, "stale_segments", lambda: [])
    dead = 2**22 + 12345  # above pid_max's default: no such process
    (shm_root / f"toro_mpi-ompi.{dead}.0").mkdir()
    (shm_root / f"toro_mpi-ref.{dead}.3").mkdir()
    (shm_root / f"toro_mpi-ref.{dead}.3" / "sm_segment.x").write_text("x")
    alive = shm_root / f"toro_mpi-ompi.{os.getppid()}.0"
    alive.mkdir()
    other = shm_root / "toro_mpi-ompi.notapid.0"
    other.mkdir()
    assert sorted(p for p, _ in refshm.private_dirs()) == sorted(
        str(shm_root / n) for n in (f"toro_mpi-ompi.{dead}.0", f"toro_mpi-ref.{dead}.3", alive.name))
    assert cleanup.cleanup_stale() == 0
    assert sorted(p.name for p in shm_root.iterdir()) == sorted([alive.name, other.name])
    assert f"toro_mpi-ref.{dead}.3 (launcher pid {dead} is gone)" in capsys.readouterr().out
