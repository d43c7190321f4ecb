"""A private /dev/shm directory for one reference run's Open MPI shared-memory files.

Open MPI's shared-memory transport (btl/sm) backs each job with `sm_segment.<host>.<uid>.<job>.<rank>`
files in /dev/shm and unlinks them only when its ranks finish MPI normally. A reference run that is
killed (--timeout, Ctrl-C, a crash) would leave 16 MiB per node behind. Pointing
`btl_sm_backing_directory` at a directory of our own, removed when the run ends whatever happened,
keeps /dev/shm as clean after `--compare` as after a toro_mpi run. The directory is on the same
tmpfs, so the reference's speed does not change.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

SHM_ROOT = "/dev/shm"
BACKING_VAR = "OMPI_MCA_btl_sm_backing_directory"


@contextmanager
def reference_shm_dir(env: dict[str, str]) -> Iterator[str | None]:
    """Set `env`'s Open MPI backing directory to a new private directory in /dev/shm, yield it,
    and remove it with whatever the run left inside. A caller's own setting is left alone (None)."""
    if BACKING_VAR in env or not os.path.isdir(SHM_ROOT):
        yield None
        return
    path = tempfile.mkdtemp(prefix=f"toro_mpi-ref.{os.getpid()}.", dir=SHM_ROOT)
    env[BACKING_VAR] = path
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
