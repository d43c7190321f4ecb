"""Turn command-line choices into a checked job plan: config, program, rank count, core of each rank."""

from __future__ import annotations

import os
import sys

from ..bus import layout as L
from ..config import Config, ConfigError, Record, coll_queue_size, load_config
from .spawn import available_cores

# `python`, `python3` and `python3.11` (this version) mean the launcher's own interpreter, so
# ranks see the same packages whatever PATH finds first (a pyenv shim, another install).
PYTHON_NAMES = ("python", "python3", f"python{sys.version_info.major}.{sys.version_info.minor}")


class LaunchError(Exception):
    """The job cannot start; `code` is the launcher's exit status."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class App(Record):
    """One application context of the job: `-n N program args`. An MPMD job (`toro-mpirun -n 1
    a : -n 1 b`, the MPI standard's syntax) has several, numbered from 0 (MPI's APPNUM); their
    ranks follow each other in order."""

    def __init__(self, argv: list[str], nranks: int, first_rank: int = 0, appnum: int = 0,
                 exports: dict[str, str] | None = None, wdir: str | None = None) -> None:
        self.argv = argv  # resolved: the program as the user gave it (messages, --compare)
        self.nranks = nranks
        self.first_rank = first_rank
        self.appnum = appnum
        self.exports: dict[str, str] = {} if exports is None else exports  # its own -x, over the job's
        self.wdir = wdir  # its own --wdir, over the job's

    @property
    def rank_argv(self) -> list[str]:
        """What a rank of its own process execs: a Python program of this interpreter through
        toro_mpi.rank_main, which imports the runtime first (a program may then hide numba
        from sys.modules, as mpi4py's test runner does), anything else as it is."""
        return hosted_argv(self.argv, "toro_mpi.rank_main") or self.argv


class Plan(Record):
    """Everything the job needs to start its ranks."""

    def __init__(self, argv: list[str], nranks: int, cpus: list[int | None], cfg: Config,
                 exports: dict[str, str] | None = None, tag_output: bool = False, timeout: float | None = None,
                 capture: bool = False, mpi4py: bool = True, hosts: list[list[int]] | None = None,
                 host_argvs: list[list[str]] | None = None, host_cpus: list[int | None] | None = None,
                 apps: list[App] | None = None, wdir: str | None = None, output_dir: str | None = None,
                 merge_stderr: bool = False, report_bindings: bool = False,
                 node_map: list[int] | None = None) -> None:
        self.argv = argv
        self.nranks = nranks
        self.cpus = cpus
        self.cfg = cfg
        self.exports: dict[str, str] = {} if exports is None else exports
        self.tag_output = tag_output
        self.timeout = timeout
        self.capture = capture  # keep each rank's output lines in the Job (--compare) instead of passing them on
        self.mpi4py = mpi4py  # `import mpi4py` in the ranks resolves to toro_mpi (off: --no-mpi4py-shim)
        # Green-thread mode: the ranks of each host process (one per core), and the argv that runs
        # each host's program as a host (python ... -m toro_mpi.hosting ...). None: one process per rank.
        self.hosts = hosts
        self.host_argvs: list[list[str]] = [] if host_argvs is None else host_argvs
        self.host_cpus: list[int | None] = [] if host_cpus is None else host_cpus
        self.apps: list[App] = apps or [App(argv, nranks, wdir=wdir)]
        self.wdir = wdir  # working directory of the ranks (--wdir); None: the launcher's
        self.output_dir = output_dir  # --output-filename: one file per rank and stream there
        self.merge_stderr = merge_stderr  # --merge-stderr-to-stdout
        self.report_bindings = report_bindings
        # --nodes K (K > 1): the simulated node of each rank; the job then runs under mpiexec
        # (launcher/nodes.py). None: one node, this launcher's own job.
        self.node_map = node_map

    def app_of(self, rank: int) -> App:
        """The application context rank `rank` belongs to."""
        for app in self.apps:
            if rank < app.first_rank + app.nranks:
                return app
        raise IndexError(rank)


def resolve_program(program: list[str]) -> list[str]:
    """The argv to exec: `python` -> sys.executable, anything else looked up on PATH."""
    if program and program[0] == "--":
        program = program[1:]
    if not program:
        raise LaunchError("no program given (usage: toro-mpirun [options] -n N program [args...])")
    name = program[0]
    if name in PYTHON_NAMES:
        return [sys.executable, *program[1:]]
    import shutil  # here: only a program other than python is looked up on PATH

    path = shutil.which(name)
    if path is None:
        raise LaunchError(f"{name}: program not found or not executable", code=127)
    return [path, *program[1:]]


def _venv_of(executable: str) -> str | None:
    """The virtual environment an interpreter path belongs to: the directory holding the
    pyvenv.cfg next to it or one level up, found as CPython finds it (before resolving links)."""
    here = os.path.dirname(os.path.abspath(executable))
    for candidate in (here, os.path.dirname(here)):
        if os.path.isfile(os.path.join(candidate, "pyvenv.cfg")):
            return os.path.realpath(candidate)
    return None


def is_own_interpreter(path: str) -> bool:
    """True when `path` runs this very interpreter with the same packages: the same binary once
    links are resolved (`python3`, `python3.11`, a symlink) and the same virtual environment,
    since a venv's python is a link to the base one but sees other packages."""
    if os.path.realpath(path) != os.path.realpath(sys.executable):
        return False
    own = os.path.realpath(sys.prefix) if sys.prefix != sys.base_prefix else None
    return _venv_of(path) == own


# Interpreter options a host process takes over from `python [options] program` (those taking a
# value, then flags). Anything else (e.g. reading the program from stdin) runs one process per rank.
_VALUE_OPTIONS = ("-W", "-X")
_FLAG_OPTIONS = set("bBdEhiIOqsSuvx")


def hosted_argv(argv: list[str], module: str = "toro_mpi.hosting") -> list[str] | None:
    """`python [opts] -m <module> <program>` for a resolved `python [opts] <program>` argv, or
    None when the program is not one this interpreter runs that way (another interpreter, a
    program read from stdin, an interactive session)."""
    if not argv or not is_own_interpreter(argv[0]):
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
    return [argv[0], *opts, "-m", module, *rest]


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
    qsize, bsize, cqsize = cfg.bus["queue_size"], cfg.bus["buffer_size"], coll_queue_size(cfg.bus, nranks)
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


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
MAP_BY = ("core", "slot")


def parse_hosts(specs: list[str]) -> int | None:
    """Check `-H`/`--host` values (`name[:slots]`, comma-separated, repeatable) name this
    machine; return the slots they give (for a `:N`), None when no count was given."""
    if not specs:
        # No -H: nothing to check. getfqdn is a resolver lookup (gethostbyaddr), 8-12 ms of every
        # launch before the ranks start, measured; socket is imported for -H alone as well.
        return None
    import socket

    names = {*LOCAL_HOSTS, socket.gethostname(), socket.getfqdn()}
    slots: int | None = None
    for spec in specs:
        for item in filter(None, spec.split(",")):
            name, sep, count = item.partition(":")
            if name not in names:
                raise LaunchError(
                    f"--host {item}: toro_mpi runs a job on this machine only ({', '.join(sorted(names))}); "
                    f"{name} is another host")
            if sep:
                if not count.isdigit() or int(count) < 1:
                    raise LaunchError(f"--host {item}: the slot count must be a whole number >= 1")
                slots = (slots or 0) + int(count)
    return slots


def check_map_by(value: str | None) -> None:
    """Accept --map-by core|slot (rank i on the i-th core, toro_mpi's only placement)."""
    if value is not None and value.lower() not in MAP_BY:
        raise LaunchError(f"--map-by {value}: toro_mpi places rank i on the i-th core; "
                          f"it takes --map-by {' or '.join(MAP_BY)}")


def check_wdir(wdir: str | None) -> str | None:
    """The absolute working directory for --wdir, which must exist."""
    if wdir is None:
        return None
    path = os.path.abspath(wdir)
    if not os.path.isdir(path):
        raise LaunchError(f"--wdir {wdir}: no such directory")
    return path


def split_contexts(program: list[str], nranks: int | None) -> list[tuple[list[str], int | None, list[str], str | None]]:
    """Split an MPMD command line at its `:` words into (program, -n, -x specs, --wdir) per
    application context; the first context's -n is the job's own `nranks`. A context after the
    first takes its own -n/-np, -x and --wdir before its program."""
    if ":" not in program:
        return [(program, nranks, [], None)]
    parts: list[list[str]] = [[]]
    for word in program:
        if word == ":":
            parts.append([])
        else:
            parts[-1].append(word)
    contexts: list[tuple[list[str], int | None, list[str], str | None]] = [(parts[0], nranks, [], None)]
    for part in parts[1:]:
        i, n, exports, wdir = 0, None, [], None
        while i < len(part) and part[i] in ("-n", "-np", "-x", "--wdir"):
            if i + 1 >= len(part):
                raise LaunchError(f"{part[i]} needs a value in an MPMD program list")
            opt, value = part[i], part[i + 1]
            if opt == "-x":
                exports.append(value)
            elif opt == "--wdir":
                wdir = value
            else:
                if not value.isdigit() or int(value) < 1:
                    raise LaunchError(f"{opt} {value}: must be a whole number >= 1")
                n = int(value)
            i += 2
        contexts.append((part[i:], n, exports, wdir))
    for argv, n, _, _ in contexts:
        if not argv or argv == ["--"]:
            raise LaunchError("an MPMD program list has an empty program between two ':'")
        if n is None:
            raise LaunchError(f"each program of an MPMD job needs its own -n ({' '.join(argv)} has none)")
    return contexts


def make_plan(program: list[str], nranks: int | None = None, bind_to: str | None = None,
              oversubscribe: bool = False, config_path: str | None = None,
              exports: dict[str, str] | None = None, tag_output: bool = False,
              timeout: float | None = None, capture: bool = False, mpi4py: bool = True,
              process_per_rank: bool = False, ranks_per_core: int | None = None,
              hosts: list[str] | None = None, map_by: str | None = None, wdir: str | None = None,
              output_dir: str | None = None, merge_stderr: bool = False,
              report_bindings: bool = False) -> Plan:
    """Check the choices and build the plan; raise LaunchError with a message and an exit code."""
    from .environ import parse_exports

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise LaunchError(str(exc)) from None
    except OSError as exc:
        raise LaunchError(f"cannot read config file {config_path}: {exc.strerror}") from None
    slots = parse_hosts(hosts or [])
    check_map_by(map_by)
    cores = available_cores()
    contexts = split_contexts(program, nranks)
    if len(contexts) == 1 and nranks is None:
        contexts = [(program, slots or len(cores), [], None)]
    apps: list[App] = []
    first = 0
    for appnum, (argv, n_app, specs, app_wdir) in enumerate(contexts):
        assert n_app is not None
        try:
            own, _unset = parse_exports(specs, os.environ)
        except ValueError as exc:
            raise LaunchError(str(exc)) from None
        apps.append(App(resolve_program(argv), n_app, first, appnum, own, check_wdir(app_wdir)))
        first += n_app
    n = first
    if slots is not None and n > slots and not oversubscribe:
        raise LaunchError(f"{n} ranks requested but --host gives {slots} slots; "
                          "pass --oversubscribe to run more ranks than slots")
    # Slots the user declared (--host localhost:N) allow that many ranks, as in Open MPI.
    over_ok = oversubscribe or (slots is not None and n <= slots)
    per = cfg.launcher["ranks_per_core"] if ranks_per_core is None else ranks_per_core
    if process_per_rank:
        per = 1
    elif per == 0:
        # Green threads only when asked for more ranks than cores (--oversubscribe).
        per = 1 if n <= len(cores) or not over_ok else -(-n // len(cores))
    processes = sum(-(-app.nranks // per) for app in apps)
    if processes > len(cores) and not over_ok:
        raise LaunchError(
            f"{n} ranks requested but only {len(cores)} cores are available "
            f"(cores {','.join(map(str, cores))}); pass --oversubscribe to run more ranks than cores"
        )
    check_memory(n, cfg)
    bind = bind_to or cfg.launcher["bind_to"]
    cpus = assign_cpus(n, cores, bind)
    plan = Plan(apps[0].argv, n, cpus, cfg, dict(exports or {}), tag_output, timeout, capture, mpi4py,
                apps=apps, wdir=check_wdir(wdir), output_dir=output_dir, merge_stderr=merge_stderr,
                report_bindings=report_bindings)
    if per > 1:
        host_argvs = [hosted_argv(app.argv) for app in apps]
        if None in host_argvs:
            shown = " : ".join(" ".join(c[0]) for c in contexts)
            sys.stderr.write(f"toro-mpirun: warning: {shown} cannot run as green threads "
                             "(not a `python script`, `python -m module` or `python -c code` program "
                             "of this interpreter); running one process per rank\n")
        else:
            # Each application's ranks in host processes of their own, ceil(n / per) of them.
            plan.hosts, plan.host_argvs = [], []
            for app, argv in zip(apps, host_argvs, strict=True):
                for block in assign_hosts(app.nranks, -(-app.nranks // per)):
                    plan.hosts.append([app.first_rank + r for r in block])
                    plan.host_argvs.append(argv)
            plan.host_cpus = assign_cpus(len(plan.hosts), cores, bind)
    return plan
