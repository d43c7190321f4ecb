"""Per-process start-up: attach to the launcher's bus (or run alone) and build the rank's engine.

Environment set by toro-mpirun: TORO_MPI_RANK, TORO_MPI_SIZE, TORO_MPI_SEGMENT, TORO_MPI_CONFIG.
Without them the process is a world of one rank (like a singleton MPI_Init).
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Any

from .config import config_from_env


class World:
    """Everything one rank owns: config, segment, transport, engine.

    Normally a process is one rank and builds its World from the environment. A process that
    hosts several ranks as green threads (toro_mpi.hosting) builds one World per rank, passing
    the rank, the shared segment, its scheduler, how many processes share the cores and which
    process hosts each rank."""

    def __init__(self, rank: int | None = None, segment: Any = None, sched: Any = None,
                 processes: int | None = None, process_of: list[int] | None = None) -> None:
        from .bus.segment import Segment
        from .bus.transport import VirtioBus
        from .mpi.errors import ERR_OTHER, MPIException
        from .mpi.p2p import Engine

        cfg = config_from_env()
        self.config = cfg
        name = os.environ.get("TORO_MPI_SEGMENT")
        self.segment = None
        if name:
            try:
                self.rank = int(os.environ["TORO_MPI_RANK"]) if rank is None else rank
                self.size = int(os.environ["TORO_MPI_SIZE"])
            except (KeyError, ValueError) as exc:
                raise MPIException(ERR_OTHER, f"TORO_MPI_SEGMENT is set but rank/size are not: {exc}") from None
            self.segment = segment if segment is not None else Segment.attach(name)
            if self.segment.nranks != self.size or not 0 <= self.rank < self.size:
                raise MPIException(ERR_OTHER, f"rank {self.rank}/{self.size} does not fit segment {name}")
            self.segment.register(self.rank)
            # process_of: the process hosting each rank (hosted ranks; None: one process per rank).
            transport = VirtioBus(self.segment, self.rank, cfg.bus["rendezvous_threshold"] > 0,
                                  cfg.bus["heap_size"], process_of)
        else:
            self.rank, self.size = 0, 1
            transport = None
        sched_cfg = dict(cfg.sched)
        coll = dict(cfg.coll)
        if (processes or self.size) > (os.cpu_count() or 1):
            # More processes than cores: a rank that spins holds the core its peer needs to make
            # progress (a whole time slice per hand-off), so give the core away almost at once.
            sched_cfg["spin_passes"] = min(sched_cfg["spin_passes"], sched_cfg["oversubscribed_spin_passes"])
            coll["spin_polls"] = min(coll["spin_polls"], 10 * sched_cfg["spin_passes"])
        if sched is not None:
            # Hosted with other ranks: a blocked collective returns to the scheduler at once, since
            # the rank it waits for may well be a green thread of this very process.
            # Only when nothing else of the process can run does it spin, up to the usual budget.
            coll["alone_spin_polls"] = coll["spin_polls"]
            coll["spin_polls"] = 1
        self.engine = Engine(transport, self.rank, self.size, cfg.bus, sched_cfg, coll, sched)
        self.finalized = False
        self.attached_buffer: Any = None  # MPI.Attach_buffer's buffer (returned by Detach_buffer)
        self.failed = False
        if sched is None:
            atexit.register(self.finalize)
            self._install_excepthook()

    def _install_excepthook(self) -> None:
        """An uncaught exception fails the rank: no waiting for green threads at exit."""
        previous = sys.excepthook

        def hook(exc_type, exc, tb):  # type: ignore[no-untyped-def]
            self.failed = True
            previous(exc_type, exc, tb)

        sys.excepthook = hook

    def finalize(self) -> None:
        """Finish green threads and queued sends, then mark this rank finished. Idempotent."""
        if self.finalized:
            return
        self.finalized = True
        if self.failed:
            # The program died of an exception: its green threads and queued sends are
            # abandoned (the launcher ends the job); waiting for them could hang forever.
            if self.engine.t is not None:
                self.engine.t.finish()
            return
        try:
            self.engine.finalize()
        except BaseException as exc:  # an aborting job: nothing more to deliver
            sys.stderr.write(f"toro_mpi: rank {self.rank}: finalize: {exc}\n")


_world: World | None = None


def world() -> World:
    """The process's World, created on first use."""
    global _world
    if _world is None:
        _world = World()
    return _world
