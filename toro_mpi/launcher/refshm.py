"""A private /dev/shm directory for the Open MPI shared-memory files of one run.

Open MPI's shared-memory transport (btl/sm) backs each job with `sm_segment.<host>.<uid>.<job>.<rank>`
files in /dev/shm and unlinks them only when its ranks finish MPI normally; an Open MPI 5 singleton
(a process that initialises MPI outside mpiexec) leaves its file even then. So two kinds of run
would leave 16 MiB each behind:

- a reference run of `--compare` that is killed (--timeout, Ctrl-C, a crash);
- a toro_mpi job whose ranks load Open MPI themselves (the installed mpi4py under
  `--no-mpi4py-shim`, numba-mpi): each rank is then a singleton.

Pointing `btl_sm_backing_directory` at a directory of our own, removed when the run ends whatever
happened, keeps /dev/shm as clean as a toro_mpi run leaves it. The directory is on the same tmpfs,
so the speed of the shared-memory transport does not change. Only `os` is imported: the launcher's
start-up pays for every module it loads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

SHM_ROOT = "/dev/shm"
BACKING_VAR = "OMPI_MCA_btl_sm_backing_directory"
PREFIXES = ("toro_mpi-ompi", "toro_mpi-ref")  # a toro-mpirun run's, a --compare reference's


def private_dirs(root: str | None = None) -> list[tuple[str, int]]:
    """(path, launcher pid) of every private directory of this kind (`prefix.pid.n`) under root
    (default: /dev/shm)."""
    root = SHM_ROOT if root is None else root
    found = []
    try:
        names = os.listdir(root)
    except OSError:
        return found
    for name in names:
        prefix, _, rest = name.partition(".")
        pid, _, n = rest.partition(".")
        if prefix in PREFIXES and pid.isdigit() and n.isdigit():
            found.append((os.path.join(root, name), int(pid)))
    return found


def remove_dir(path: str) -> None:
    """Remove a private directory and whatever a run left in it (errors ignored)."""
    _remove_tree(path)


def _remove_tree(path: str) -> None:
    """Remove a directory and whatever is in it, ignoring errors (files may vanish meanwhile)."""
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            try:
                os.unlink(os.path.join(root, name))
            except OSError:
                pass
        for name in dirs:
            try:
                os.rmdir(os.path.join(root, name))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


@contextmanager
def private_ompi_shm_dir(env: dict[str, str], inherited: Mapping[str, str] | None = None,
                         prefix: str = "toro_mpi-ompi") -> Iterator[str | None]:
    """Set `env`'s Open MPI backing directory to a new private directory in /dev/shm (named
    `prefix.<pid>.<n>`), yield it, and remove it with whatever the run left inside. A setting of
    the caller's own, in `env` or in the `inherited` environment the run also gets, is left alone
    (None)."""
    if BACKING_VAR in env or (inherited is not None and BACKING_VAR in inherited) or not os.path.isdir(SHM_ROOT):
        yield None
        return
    path = None
    for attempt in range(100):
        candidate = os.path.join(SHM_ROOT, f"{prefix}.{os.getpid()}.{attempt}")
        try:
            os.mkdir(candidate, 0o700)
        except FileExistsError:
            continue  # a directory of an earlier run with our pid
        except OSError:
            break  # not writable: leave Open MPI its default
        path = candidate
        break
    if path is None:
        yield None
        return
    env[BACKING_VAR] = path
    try:
        yield path
    finally:
        # The setting leaves with the directory: a later run planned from the same env (the
        # reference after the toro_mpi side of --compare) gets its own.
        env.pop(BACKING_VAR, None)
        _remove_tree(path)
