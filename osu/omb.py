"""What the OSU micro-benchmark ports share: OMB 7.4's options, defaults, headers, row formats,
statistics and the data-validation patterns.

Every port (osu/osu_latency.py, ...) is a thin `body(ctx)` around these; `main(bench, body)` parses
the options, loads the MPI module chosen by osu/backend.py, prints OMB's preamble on rank 0, runs
the body and turns validation failures into OMB's message and exit status.

Facts taken from OMB 7.4 (c/util/osu_util.h, osu_util.c, osu_util_mpi.c, osu_util_options.h,
configure.ac): FIELD_WIDTH 18 and FLOAT_PRECISION 2 (set by configure.ac), LARGE_MESSAGE_SIZE 8192,
MAX_MESSAGE_SIZE 1 << 22 for point-to-point and MAX_MSG_SIZE_COLL 1 << 20 for collectives,
iterations/warm-up 10000/100 (latency, <= 8 KiB) and 1000/10 (above), 100/10 and 20/2 for
bandwidth, 1000/100 and 100/10 for collectives, window 64, validation warm-up 5 (max 10), memory
limit 512 MiB (at least 1 MiB), default datatype MPI_CHAR.
"""

from __future__ import annotations

import getopt
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from .backend import load_mpi

VERSION = "7.4"
FIELD_WIDTH = 18
FLOAT_PRECISION = 2
LARGE_MESSAGE_SIZE = 8192
MAX_MESSAGE_SIZE = 1 << 22
MAX_MSG_SIZE_COLL = 1 << 20
MAX_MEM_LIMIT = 512 * 1024 * 1024
MAX_MEM_LOWER_LIMIT = 1024 * 1024
WINDOW_SIZE = 64
VALIDATION_SKIP_DEFAULT = 5
VALIDATION_SKIP_MAX = 10
DATATYPE_NAME = "MPI_CHAR"

# Benchmark kinds: they decide defaults, accepted options, header and row layout.
LATENCY = "latency"        # osu_latency, osu_multi_lat
BANDWIDTH = "bandwidth"    # osu_bw, osu_bibw
COLLECTIVE = "collective"  # osu_bcast, osu_allreduce, ...
BARRIER = "barrier"        # osu_barrier: a collective without a size column

# (iterations, skip, iterations_large, skip_large) per kind, as OMB's process_options sets them.
_LOOPS = {
    LATENCY: (10000, 100, 1000, 10),
    BANDWIDTH: (100, 10, 20, 2),
    COLLECTIVE: (1000, 100, 100, 10),
    BARRIER: (1000, 100, 100, 10),
}

# Options each kind accepts, in OMB's optstring order (that order is also the help's order).
_OPTIONS = {
    LATENCY: "hvmxicu",
    BANDWIDTH: "hvmxiWcu",
    COLLECTIVE: "hvfmixMcu",
    BARRIER: "hvfmixMu",
}
_TAKES_ARG = set("mxiWMu")
_LONG = {
    "h": "help", "v": "version", "f": "full", "m": "message-size", "W": "window-size",
    "i": "iterations", "x": "warmup", "M": "mem-limit", "c": "validation", "u": "validation-warmup",
}


class UsageError(Exception):
    """A bad command line, worded as OMB's print_bad_usage_message words it."""

    def __init__(self, message: str, opt: str, optarg: str | None = None):
        super().__init__(message)
        self.message, self.opt, self.optarg = message, opt, optarg

    def __str__(self) -> str:
        shown = f"{self.opt} {self.optarg}" if self.optarg is not None else self.opt
        return f"{self.message} [{shown}]"


@dataclass(frozen=True)
class Bench:
    """One benchmark: its program name, OMB's title, and its kind."""

    name: str
    title: str
    kind: str

    @property
    def header(self) -> str:
        """OMB's HEADER line, e.g. '# OSU MPI Latency Test v7.4'."""
        return f"# {self.title} v{VERSION}"

    @property
    def has_size(self) -> bool:
        """Whether rows start with a message size (everything but osu_barrier)."""
        return self.kind != BARRIER


@dataclass
class Options:
    """Parsed options with OMB's defaults for the benchmark's kind."""

    min_size: int
    max_size: int
    iterations: int
    skip: int
    iterations_large: int
    skip_large: int
    full: bool = False
    validate: bool = False
    warmup_validation: int = VALIDATION_SKIP_DEFAULT
    window: int = WINDOW_SIZE
    mem_limit: int = MAX_MEM_LIMIT
    action: str = "run"  # "run", "help" or "version"

    def loops(self, size: int) -> tuple[int, int]:
        """(iterations, warm-up) for a message of `size` bytes (OMB switches above 8 KiB)."""
        if size > LARGE_MESSAGE_SIZE:
            return self.iterations_large, self.skip_large
        return self.iterations, self.skip


def defaults(bench: Bench) -> Options:
    """OMB 7.4's defaults for the benchmark's kind."""
    iters, skip, iters_large, skip_large = _LOOPS[bench.kind]
    collective = bench.kind in (COLLECTIVE, BARRIER)
    # Latency benchmarks start at 0 like OMB's, whose loop then skips the empty message.
    min_size = 0 if bench.kind == LATENCY else 1
    max_size = MAX_MSG_SIZE_COLL if collective else MAX_MESSAGE_SIZE
    return Options(min_size, max_size, iters, skip, iters_large, skip_large)


def _int(text: str) -> int | None:
    try:
        return int(text, 10)
    except ValueError:
        return None


def _message_size(opts: Options, text: str) -> bool:
    """Apply -m [MIN:]MAX like OMB's set_message_size; False if invalid."""
    if text.count(":") > 1:
        return False
    if ":" not in text:
        value = _int(text)
        if value is None or value < 0:
            return False
        opts.max_size = value
        return True
    low, high = text.split(":")
    if low:
        value = _int(low)
        if value is None or value <= 0:
            return False
        opts.min_size = value
    if high:
        value = _int(high)
        if value is None or value < 0:
            return False
        opts.max_size = value
    return bool(low or high)


def option_pairs(argv: list[str], letters: str, takes_arg: Any, long_names: dict[str, str]) -> list[tuple[str, str]]:
    """getopt over OMB's options: (letter, value) in order, long forms mapped to their letter;
    a bad or incomplete option raises UsageError worded as OMB's."""
    short = "".join(c + (":" if c in takes_arg else "") for c in letters)
    long = [long_names[c] + ("=" if c in takes_arg else "") for c in letters]
    try:
        pairs, rest = getopt.getopt(argv, short, long)
    except getopt.GetoptError as err:
        opt = f"-{err.opt}" if len(err.opt) == 1 else f"--{err.opt}"
        missing = "requires argument" in err.msg
        raise UsageError("Option Missing Required Argument" if missing else "Invalid option", opt) from None
    if rest:
        raise UsageError("Invalid option", rest[0])
    by_long = {v: k for k, v in long_names.items()}
    return [(flag[1:] if len(flag) == 2 else by_long[flag[2:]], value) for flag, value in pairs]


def parse_options(bench: Bench, argv: list[str]) -> Options:
    """Parse argv as OMB 7.4 does for this kind of benchmark; raise UsageError when it is bad."""
    opts = defaults(bench)
    for c, value in option_pairs(argv, _OPTIONS[bench.kind], _TAKES_ARG, _LONG):
        shown = f"-{c}"
        if c == "h":
            opts.action = "help"
            return opts
        if c == "v":
            opts.action = "version"
            return opts
        if c == "f":
            opts.full = True
        elif c == "c":
            opts.validate = True
        elif c == "m":
            if not _message_size(opts, value):
                raise UsageError("Invalid Message Size", shown, value)
        elif c == "i":
            n = _int(value)
            if n is None or n < 1:
                raise UsageError("Invalid Number of Iterations", shown, value)
            opts.iterations = opts.iterations_large = n
        elif c == "x":
            n = _int(value)
            if n is None or n < 0:
                raise UsageError("Invalid Number of Warmup Iterations", shown, value)
            opts.skip = opts.skip_large = n
        elif c == "W":
            n = _int(value)
            if n is None or n < 1:
                raise UsageError("Invalid Window Size", shown, value)
            opts.window = n
        elif c == "u":
            n = _int(value)
            if n is None or n < 0:
                raise UsageError("Invalid Number of Validation Warmup Iterations", shown, value)
            if n > VALIDATION_SKIP_MAX:
                raise UsageError(f"Number of Validation Warmup Iterations must be at most {VALIDATION_SKIP_MAX}",
                                 shown, value)
            opts.warmup_validation = n
        elif c == "M":
            n = _int(value)
            if n is None:
                raise UsageError("Invalid Memory Limit", shown, value)
            if n < MAX_MEM_LOWER_LIMIT:
                # OMB warns and raises the limit rather than refusing it.
                print(f"Requested memory limit too low, using [{MAX_MEM_LOWER_LIMIT}] instead.", file=sys.stderr)
                n = MAX_MEM_LOWER_LIMIT
            opts.mem_limit = n
    if not opts.validate:
        opts.warmup_validation = 0
    return opts


def help_text(bench: Bench) -> str:
    """The -h text: OMB's layout ('  -x, --long  text', continuation lines indented 28)."""
    iters, skip, iters_large, skip_large = _LOOPS[bench.kind]
    what = {
        "h": ["print this help"],
        "v": ["print version info"],
        "f": ["print full format listing (MIN/MAX latency and ITERATIONS",
              "displayed in addition to AVERAGE latency)"],
        "m": ["[MIN:]MAX - set the minimum and/or the maximum message size to MIN and/or MAX",
              "bytes respectively. Examples:",
              "-m 128      // min = default, max = 128",
              "-m 2:128    // min = 2, max = 128",
              "-m 2:       // min = 2, max = default"],
        "W": [f"SIZE - set number of messages to send before synchronization (default {WINDOW_SIZE})"],
        "i": [f"ITER - number of iterations for timing (default {iters}, {iters_large} above "
              f"{LARGE_MESSAGE_SIZE} bytes)"],
        "x": ["ITER - set number of warmup",
              f"iterations to skip before timing (default {skip}, {skip_large} above {LARGE_MESSAGE_SIZE} bytes)"],
        "M": ["SIZE - set per process maximum memory consumption to SIZE bytes",
              f"(default {MAX_MEM_LIMIT})"],
        "c": ["Enable validation. Disabled by default.",
              "Adds a Validation column (Pass/Fail); a failure ends the run with exit status 1"],
        "u": ["ITR Set number of warmup iterations to skip before timing when validation",
              f"is enabled (default {VALIDATION_SKIP_DEFAULT}, at most {VALIDATION_SKIP_MAX})"],
    }
    lines = [f"Usage: {bench.name} [options]", "Options:"]
    for c in _OPTIONS[bench.kind]:
        first, *more = what[c]
        lines.append(f"  -{c}, --{_LONG[c]:<20}{first}")
        lines.extend(f"{'':28}{text}" for text in more)
    lines.append("")
    lines.append("Runs under toro-mpirun (toro_mpi) or mpiexec (mpi4py); OSU_MPI=toro|mpi4py overrides.")
    return "\n".join(lines)


# -- output ------------------------------------------------------------------------------------
def column_header(bench: Bench, opts: Options) -> str:
    """OMB's print_only_header line for this benchmark and options."""
    w = FIELD_WIDTH
    if not bench.has_size:
        line = "# Avg Latency(us)"
    elif bench.kind == BANDWIDTH:
        line = f"{'# Size':<10}{'Bandwidth (MB/s)':>{w}}"
    else:
        line = f"{'# Size':<10}{'Avg Latency(us)':>{w}}"
    if opts.full:
        line += f"{'Min Latency(us)':>{w}}{'Max Latency(us)':>{w}}{'Iterations':>12}"
    if opts.validate:
        line += f"{'Validation':>{w}}"
    return line


def preamble(bench: Bench, opts: Options) -> list[str]:
    """The lines OMB prints before the first row: a blank line, the header, the datatype
    (not for osu_barrier) and the column header."""
    lines = ["", bench.header]
    if bench.has_size:
        lines.append(f"# Datatype: {DATATYPE_NAME}.")
    lines.append(column_header(bench, opts))
    return lines


def status(errors: int) -> str:
    """OMB's VALIDATION_STATUS."""
    return "Fail" if errors > 0 else "Pass"


def row(bench: Bench, opts: Options, size: int, value: float, mn: float = 0.0, mx: float = 0.0,
        iterations: int = 0, errors: int = 0) -> str:
    """One result row: '%-10d%18.2f' (or '%17.2f' without a size), then the -f and -c columns."""
    w, p = FIELD_WIDTH, FLOAT_PRECISION
    line = f"{size:<10d}{value:>{w}.{p}f}" if bench.has_size else f"{value:>17.{p}f}"
    if opts.full:
        line += f"{mn:>{w}.{p}f}{mx:>{w}.{p}f}{iterations:>12d}"
    if opts.validate:
        line += f"{status(errors):>{w}}"
    return line


def sizes(opts: Options) -> Iterator[int]:
    """Message sizes: MIN, 2*MIN, ... MAX, as OMB's loops (an empty message is skipped)."""
    size = opts.min_size
    while size <= opts.max_size:
        if size > 0:
            yield size
        size = size * 2 if size else 1


# -- validation data ---------------------------------------------------------------------------
def pattern(n: int, *key: int) -> np.ndarray:
    """n bytes determined by `key` (size, iteration, ranks...): a stale, misrouted or shifted
    buffer does not match the one expected."""
    seed = 0
    for k in key:
        seed = (seed * 131 + k + 1) % 65521
    idx = np.arange(n, dtype=np.uint32)
    return ((idx * 7 + (idx >> 8) * 3 + seed) & 0xFF).astype(np.uint8)


# -- running -------------------------------------------------------------------------------------
@dataclass
class Ctx:
    """What a benchmark body gets: the MPI module, the world, the options."""

    MPI: ModuleType
    comm: Any
    rank: int
    nprocs: int
    bench: Bench
    opts: Options
    last_size: int = 0

    def out(self, line: str) -> None:
        """Print a line on rank 0 (flushed: the runner and the user watch rows arrive)."""
        if self.rank == 0:
            print(line, flush=True)

    def chars(self, buf: np.ndarray, n: int) -> np.ndarray:
        """The first n bytes of buf, to be sent or received as n one-byte elements (MPI_CHAR's size).

        Passed as a bare uint8 array, which both MPIs map to a one-byte type. A typed spec
        [buf, MPI.CHAR] moves the same bytes; measured in an 8 B ping-pong (2026-12-07) it costs
        toro_mpi about 0.2 us more per one-way trip than the bare array and mpi4py about 0.04 us
        less, so the bare array keeps both sides on the path most programs' buffers take."""
        return buf[:n]

    def stats(self, latency: float) -> tuple[float, float, float]:
        """(avg, min, max) of every rank's latency on rank 0: OMB's three MPI_Reduce calls."""
        MPI = self.MPI
        mine = np.array([latency])
        mn, mx, total = np.zeros(1), np.zeros(1), np.zeros(1)
        self.comm.Reduce(mine, mn, op=MPI.MIN, root=0)
        self.comm.Reduce(mine, mx, op=MPI.MAX, root=0)
        self.comm.Reduce(mine, total, op=MPI.SUM, root=0)
        return float(total[0]) / self.nprocs, float(mn[0]), float(mx[0])

    def sum_errors(self, errors: int) -> int:
        """Every rank's error count, summed on every rank (OMB's MPI_Allreduce)."""
        MPI = self.MPI
        mine, total = np.array([errors], np.int32), np.zeros(1, np.int32)
        self.comm.Allreduce(mine, total, op=MPI.SUM)
        return int(total[0])


Body = Callable[[Ctx], int]


def collective(ctx: Ctx, setup: Callable[[int], Callable[[], None]],
               fill: Callable[[int, int], None] | None = None,
               check: Callable[[int, int], bool] | None = None,
               barrier_first: bool = False) -> int:
    """OMB's blocking-collective loop; returns the number of validation errors.

    setup(size) returns the call to time; fill(size, i) writes iteration i's validation data and
    check(size, i) says whether this rank received what it should. Per iteration: [validation
    warm-up, fill, barrier], then time the call and barrier after it (osu_reduce: before it)."""
    comm, opts, MPI = ctx.comm, ctx.opts, ctx.MPI
    errors = 0
    for size in sizes(opts):
        ctx.last_size = size
        iters, skip = opts.loops(size)
        call = setup(size)
        comm.Barrier()
        timer, local = 0.0, 0
        for i in range(iters + skip):
            if opts.validate:
                for _ in range(opts.warmup_validation):
                    comm.Barrier()
                    call()
                assert fill is not None
                fill(size, i)
                comm.Barrier()
            if barrier_first:
                comm.Barrier()
            t0 = MPI.Wtime()
            call()
            t1 = MPI.Wtime()
            if not barrier_first:
                comm.Barrier()
            if opts.validate and check is not None and not check(size, i):
                local += 1
            if i >= skip:
                timer += t1 - t0
        if barrier_first:
            # The last timed call is not followed by a barrier: close the loop with one before
            # the statistics, outside the timing. With one process per rank it changes nothing;
            # with green-thread ranks, the last rank into the call's local group runs on until it
            # blocks, and without this it would bill the first use of the statistics' float
            # reductions (loading their kernels, 20-45 ms here) to the ranks of its process still
            # waiting to read their clocks: +90 us on the average of a 500-iteration osu_reduce.
            comm.Barrier()
        latency = timer * 1e6 / iters
        avg, mn, mx = ctx.stats(latency)
        if opts.validate:
            errors = ctx.sum_errors(local)
        ctx.out(row(ctx.bench, opts, size, avg, mn, mx, iters, errors))
        comm.Barrier()
        if errors:
            break
    return errors


def check_mem_limit(ctx: Ctx, blocks: int) -> None:
    """Cap the largest message so a buffer of `blocks` messages stays under -M (OMB's
    check_mem_limit)."""
    opts = ctx.opts
    if opts.max_size * blocks > opts.mem_limit:
        opts.max_size = opts.mem_limit // blocks
        if ctx.rank == 0:
            print(f"Warning! Limiting max message size to: {opts.max_size}. "
                  "Increase -M, --mem-limit for higher message sizes.", file=sys.stderr, flush=True)


Leave = Callable[..., int]


def begin(bench: Any, argv: list[str] | None, parse: Callable[[Any, list[str]], Any],
          fallback: Callable[[Any], Any], usage: Callable[[Any], str]) -> int | tuple[Any, Any, int, int, Any, Leave]:
    """The opening of OMB's main(), shared by every port: parse the options, start MPI, and
    answer -h, -v and bad options. Returns the exit status when the run ends there, else
    (MPI, COMM_WORLD, rank, size, options, leave), where leave(status, text, stream) has rank 0
    print text and every rank meet before returning status."""
    argv = sys.argv[1:] if argv is None else argv
    error: UsageError | None = None
    try:
        opts = parse(bench, argv)
    except UsageError as exc:
        error, opts = exc, fallback(bench)
    MPI = load_mpi()
    comm = MPI.COMM_WORLD
    rank, nprocs = comm.Get_rank(), comm.Get_size()

    def leave(status: int, text: str, stream: Any = sys.stdout) -> int:
        # Rank 0 speaks, then everyone meets (as OMB's MPI_Finalize makes them): a rank that
        # left early would make the launcher abort the job before rank 0's message got out.
        if rank == 0:
            print(text, file=stream, flush=True)
        comm.Barrier()
        return status

    if error is not None:
        # OMB prints the complaint on stderr; the usage goes there too so stdout stays all rows.
        return leave(1, f"{error}\n\n{usage(bench)}", sys.stderr)
    if opts.action == "help":
        return leave(0, usage(bench))
    if opts.action == "version":
        return leave(0, bench.header)
    return MPI, comm, rank, nprocs, opts, leave


def main(bench: Bench, body: Body, argv: list[str] | None = None, *, exact_two: bool = False,
         even: bool = False, mem_per_rank: bool | None = None) -> int:
    """Run a benchmark as OMB's main() does; returns the exit status.

    exact_two: needs exactly 2 ranks; even: an even number of ranks; mem_per_rank: a collective
    whose largest buffer holds one message (False) or one per rank (True, gather-like) has its
    largest message capped by -M."""
    started = begin(bench, argv, parse_options, defaults, help_text)
    if isinstance(started, int):
        return started
    MPI, comm, rank, nprocs, opts, leave = started
    if exact_two and nprocs != 2:
        return leave(1, "This test requires exactly two processes", sys.stderr)
    if nprocs < 2 or (even and nprocs % 2):
        need = "an even number of processes" if even else "at least two processes"
        return leave(1, f"This test requires {need}", sys.stderr)
    ctx = Ctx(MPI, comm, rank, nprocs, bench, opts)
    if mem_per_rank is not None:
        check_mem_limit(ctx, nprocs if mem_per_rank else 1)
    for line in preamble(bench, opts):
        ctx.out(line)
    errors = body(ctx)
    if errors and opts.validate:
        return leave(1, f"DATA VALIDATION ERROR: {bench.name} exited with status 1 on message size {ctx.last_size}.")
    return 0


def relay_errors(ctx: Ctx, errors: int) -> int:
    """Rank 0's error count on every rank (OMB broadcasts it so that all leave the size loop
    together)."""
    one = np.array([errors], np.int32)
    ctx.comm.Bcast([one, ctx.MPI.INT], root=0)
    return int(one[0])


def close_size(ctx: Ctx, size: int, value: float, errors: int) -> int:
    """End one message size of a point-to-point test: rank 0 prints its row (value is the one
    rank 0 measured), and with -c every rank gets rank 0's error count, which the caller returns
    (stopping the size loop) when it is not 0."""
    if ctx.rank == 0:
        ctx.out(row(ctx.bench, ctx.opts, size, value, errors=errors))
    return relay_errors(ctx, errors) if ctx.opts.validate else errors
