"""Turn command-line choices into a checked job plan: config, program, rank count, core of each rank."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field

from ..bus import layout as L
from ..config import Config, ConfigError, load_config
from .spawn import available_cores

# `python` and `python3` mean the launcher's own interpreter, so ranks see the same packages.
PYTHON_NAMES = ("python", "python3")


class LaunchError(Exception):
    """The job cannot start; `code` is the launcher's exit status."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Plan:
    """Everything the job needs to start its ranks."""

    argv: list[str]
    nranks: int
    cpus: list[int | None]
    cfg: Config
    exports: dict[str, str] = field(default_factory=dict)
    tag_output: bool = False
    timeout: float | None = None
    capture: bool = False  # keep each rank's output lines in the Job (--compare) instead of passing them on
    mpi4py: bool = False  # --mpi4py: `import mpi4py` in the ranks resolves to toro_mpi


def resolve_program(program: list[str]) -> list[str]:
    """The argv to exec: `python` -> sys.executable, anything else looked up on PATH."""
    if program and program[0] == "--":
        program = program[1:]
    if not program:
        raise LaunchError("no program given (usage: toro-mpirun [options] -n N program [args...])")
    name = program[0]
    if name in PYTHON_NAMES:
        return [sys.executable, *program[1:]]
    path = shutil.which(name)
    if path is None:
        raise LaunchError(f"{name}: program not found or not executable", code=127)
    return [path, *program[1:]]


def assign_cpus(nranks: int, cores: list[int], bind_to: str) -> list[int | None]:
    """Core of each rank: cores[i % ncores] with bind_to == 'core', None (unpinned) otherwise."""
    if bind_to == "none":
        return [None] * nranks
    return [cores[i % len(cores)] for i in range(nranks)]


def shared_memory_available(shm_dir: str = "/dev/shm") -> int:
    """Bytes a new segment can use: free space in /dev/shm, capped by MemAvailable."""
    st = os.statvfs(shm_dir)
    free = st.f_bavail * st.f_frsize
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = min(free, int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    return free


def check_memory(nranks: int, cfg: Config) -> None:
    """Refuse a bus that would not fit in shared memory (the kernel would OOM-kill us instead)."""
    qsize, bsize, cqsize = cfg.bus["queue_size"], cfg.bus["buffer_size"], cfg.bus["coll_queue_size"]
    try:
        L.validate_geometry(nranks, qsize, bsize)
        L.validate_geometry(nranks, cqsize, bsize)
    except ValueError as exc:
        raise LaunchError(str(exc)) from None
    need, have = L.segment_size(nranks, qsize, bsize, cqsize), shared_memory_available()
    if need > have * 0.9:
        gib = 1 << 30
        raise LaunchError(
            f"the bus for {nranks} ranks needs {need / gib:.1f} GiB of shared memory "
            f"(nranks * (nranks - 1) * (bus.queue_size + bus.coll_queue_size) * bus.buffer_size) but only "
            f"{have / gib:.1f} GiB are available; run fewer ranks or lower bus.queue_size / "
            "bus.coll_queue_size / bus.buffer_size with --config"
        )


def make_plan(program: list[str], nranks: int | None = None, bind_to: str | None = None,
              oversubscribe: bool = False, config_path: str | None = None,
              exports: dict[str, str] | None = None, tag_output: bool = False,
              timeout: float | None = None, capture: bool = False, mpi4py: bool = False) -> Plan:
    """Check the choices and build the plan; raise LaunchError with a message and an exit code."""
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise LaunchError(str(exc)) from None
    except OSError as exc:
        raise LaunchError(f"cannot read config file {config_path}: {exc.strerror}") from None
    cores = available_cores()
    n = len(cores) if nranks is None else nranks
    if n > len(cores) and not oversubscribe:
        raise LaunchError(
            f"{n} ranks requested but only {len(cores)} cores are available "
            f"(cores {','.join(map(str, cores))}); pass --oversubscribe to run more ranks than cores"
        )
    check_memory(n, cfg)
    argv = resolve_program(program)
    cpus = assign_cpus(n, cores, bind_to or cfg.launcher["bind_to"])
    return Plan(argv, n, cpus, cfg, dict(exports or {}), tag_output, timeout, capture, mpi4py)

