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
    # Green-thread mode: the ranks of each host process (one per core), and the argv that runs
    # the program as a host (python ... -m toro_mpi.hosting ...). None: one process per rank.
    hosts: list[list[int]] | None = None
    host_argv: list[str] | None = None
    host_cpus: list[int | None] = field(default_factory=list)


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


# Interpreter options a host process takes over from `python [options] program` (those taking a
# value, then flags). Anything else (e.g. reading the program from stdin) runs one process per rank.
_VALUE_OPTIONS = ("-W", "-X")
_FLAG_OPTIONS = set("bBdEhiIOqsSuvx")


def hosted_argv(argv: list[str]) -> list[str] | None:
    """`python [opts] -m toro_mpi.hosting <program>` for a resolved `python [opts] <program>` argv,
    or None when the program cannot run as green threads of a host process."""
    if not argv or argv[0] != sys.executable:
        return None
    opts: list[str] = []
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-m", "-c"):
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg in _VALUE_OPTIONS:
            if i + 1 >= len(argv):
                return None
            opts += argv[i: i + 2]
            i += 2
            continue
        if arg[:2] in _VALUE_OPTIONS:
            opts.append(arg)
        elif arg == "--":
            i += 1
            break
        elif set(arg[1:]) <= _FLAG_OPTIONS and "i" not in arg and "h" not in arg:
            opts.append(arg)
        else:
            return None
        i += 1
    rest = argv[i:]
    if not rest or rest[0] == "-" or (rest[0] in ("-m", "-c") and len(rest) < 2):
        return None
    return [argv[0], *opts, "-m", "toro_mpi.hosting", *rest]


def assign_hosts(nranks: int, processes: int) -> list[list[int]]:
    """Contiguous blocks of ranks, one per host process, sizes differing by at most one."""
    return [list(range(h * nranks // processes, (h + 1) * nranks // processes)) for h in range(processes)]


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
              timeout: float | None = None, capture: bool = False, mpi4py: bool = False,
              process_per_rank: bool = False, ranks_per_core: int | None = None) -> Plan:
    """Check the choices and build the plan; raise LaunchError with a message and an exit code."""
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise LaunchError(str(exc)) from None
    except OSError as exc:
        raise LaunchError(f"cannot read config file {config_path}: {exc.strerror}") from None
    cores = available_cores()
    n = len(cores) if nranks is None else nranks
    per = cfg.launcher["ranks_per_core"] if ranks_per_core is None else ranks_per_core
    if process_per_rank:
        per = 1
    elif per == 0:
        # Green threads only when asked for more ranks than cores (--oversubscribe).
        per = 1 if n <= len(cores) or not oversubscribe else -(-n // len(cores))
    processes = -(-n // per)
    if processes > len(cores) and not oversubscribe:
        raise LaunchError(
            f"{n} ranks requested but only {len(cores)} cores are available "
            f"(cores {','.join(map(str, cores))}); pass --oversubscribe to run more ranks than cores"
        )
    check_memory(n, cfg)
    argv = resolve_program(program)
    bind = bind_to or cfg.launcher["bind_to"]
    cpus = assign_cpus(n, cores, bind)
    plan = Plan(argv, n, cpus, cfg, dict(exports or {}), tag_output, timeout, capture, mpi4py)
    if per > 1:
        plan.host_argv = hosted_argv(argv)
        if plan.host_argv is None:
            sys.stderr.write(f"toro-mpirun: warning: {' '.join(program)!s} cannot run as green threads "
                             "(not a `python script`, `python -m module` or `python -c code` program); "
                             "running one process per rank\n")
        else:
            plan.hosts = assign_hosts(n, processes)
            plan.host_cpus = assign_cpus(processes, cores, bind)
    return plan

