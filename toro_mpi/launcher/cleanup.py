"""--cleanup: remove /dev/shm segments, and the private directories of Open MPI's files (refshm.py),
left by launchers that are no longer alive."""

from __future__ import annotations

import os
import sys

import posix_ipc

from ..bus.segment import launcher_pid_of, list_segments


def pid_alive(pid: int, in_doubt: bool = True) -> bool:
    """True if a process with this pid exists (a zombie counts as gone). `in_doubt` is the
    answer when its /proc entry vanishes while we look: --cleanup keeps a segment then (True)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return in_doubt


def stale_segments() -> list[tuple[str, int]]:
    """(name, launcher pid) of every toro_mpi segment whose launcher is gone."""
    stale = []
    for name in list_segments():
        pid = launcher_pid_of(name)
        if pid is not None and pid != os.getpid() and not pid_alive(pid):
            stale.append((name, pid))
    return stale


def cleanup_stale() -> int:
    """Unlink stale segments, say what was removed; exit status 0, or 1 if one could not go."""
    status = 0
    stale = stale_segments()
    for name, pid in stale:
        try:
            posix_ipc.unlink_shared_memory(name)
        except posix_ipc.ExistentialError:
            continue  # someone else removed it meanwhile
        except posix_ipc.Error as exc:
            print(f"toro-mpirun: cannot remove /dev/shm{name}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"toro-mpirun: removed /dev/shm{name} (launcher pid {pid} is gone)")
    # Open MPI's files of a launcher killed before it could remove its private directory.
    from .refshm import private_dirs, remove_dir

    dirs = [(path, pid) for path, pid in private_dirs() if pid != os.getpid() and not pid_alive(pid)]
    for path, pid in dirs:
        remove_dir(path)
        if os.path.exists(path):
            print(f"toro-mpirun: cannot remove {path}", file=sys.stderr)
            status = 1
        else:
            print(f"toro-mpirun: removed {path} (launcher pid {pid} is gone)")
    if not stale and not dirs:
        print("toro-mpirun: no stale segments")
    return status
