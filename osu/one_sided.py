"""What the one-sided OSU ports share: OMB 7.4's one-sided options (-w window creation, -s
synchronisation, -T datatypes), header, window set-up and the synchronisation loops.

Every one-sided port (osu/osu_put_latency.py, ...) is a thin module around these: it names its
benchmark (`RmaBench`) and says which MPI call one step issues; `main(bench, body)` parses the
options, prints OMB's header, runs the body and frees every window.

Facts taken from OMB 7.4 (c/mpi/one-sided/*.c, c/util/osu_util_mpi.c, osu_util.c,
osu_util_options.h): optstring "w:s:hvm:x:i:" (+ "W:" for bandwidth, "T:" for the atomics);
iterations/warm-up 10000/100 (latency, <= 8 KiB) and 1000/10 above, 100/10 and 20/2 for bandwidth;
sizes from 1 to 4 MiB; window 64; -w create|allocate|dynamic (MPI_Win_allocate by default), -s
lock|pscw|fence|flush|flush_local|lock_all (flush by default; osu_put_bibw: pscw|fence, pscw by
default; osu_get_acc_latency defaults to create + lock); a bad -w/-s is "Invalid option or
invalid argument". Latency = (t_end - t_start) / iterations with t_start read at the first timed
iteration; fence and pscw time a round trip (both ranks access in turn) and halve it. Bandwidth =
size * iterations * window / time in MB/s (x2 for osu_put_bibw). The atomics (fop, cas) use one
window of max-message-size bytes and print one row per datatype, its size in the size column.

Datatypes: OMB passes MPI_CHAR (or the -T type); the ports pass bare numpy arrays of the same
element size (uint8, int32, float32), which both MPIs map to a predefined type without parsing a
[buf, type] spec on every call (it would swamp what is measured, see omb.Ctx.chars).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import omb

ONE_SIDED_LAT = "one-sided latency"
ONE_SIDED_BW = "one-sided bandwidth"

# -w values and OMB's win_info names.
WIN_INFO = {"create": "MPI_Win_create", "allocate": "MPI_Win_allocate", "dynamic": "MPI_Win_create_dynamic"}
# -s values and OMB's sync_info names (OMB's enum order).
SYNC_INFO = {
    "lock": "MPI_Win_lock/unlock",
    "pscw": "MPI_Win_post/start/complete/wait",
    "fence": "MPI_Win_fence",
    "flush": "MPI_Win_flush",
    "flush_local": "MPI_Win_flush_local",
    "lock_all": "MPI_Win_lock_all/unlock_all",
}
ALL_SYNC = tuple(SYNC_INFO)
ACTIVE_SYNC = ("pscw", "fence")
# -T values -> (OMB's datatype name, the numpy dtype of the buffers).
DTYPES = {"MPI_CHAR": ("MPI_CHAR", np.uint8), "MPI_INT": ("MPI_INT", np.int32), "MPI_FLOAT": ("MPI_FLOAT", np.float32)}

_LONG = {"w": "win-options", "s": "sync-option", "h": "help", "v": "version", "m": "message-size",
         "x": "warmup", "i": "iterations", "W": "window-size", "T": "type"}
_TAKES_ARG = set("wsmxiWT")


@dataclass(frozen=True)
class RmaBench(omb.Bench):
    """A one-sided benchmark: OMB's title and defaults, and how it locks its target.

    lock_exclusive: -s lock takes MPI_LOCK_EXCLUSIVE (fop, cas, get_acc) instead of SHARED;
    flush_exclusive: the flush/flush_local epoch is exclusive (get_acc); types: accepts -T;
    datatype_line: prints '# Datatype: ...' (all but osu_get_acc_latency)."""

    win: str = "allocate"
    sync: str = "flush"
    syncs: tuple[str, ...] = ALL_SYNC
    lock_exclusive: bool = False
    flush_exclusive: bool = False
    types: bool = False
    datatype_line: bool = True

    @property
    def header(self) -> str:
        """OMB's HEADER line, e.g. '# OSU MPI_Put Latency Test v7.4'."""
        return f"# {self.title} v{omb.VERSION}"

    @property
    def bandwidth(self) -> bool:
        """Whether it reports MB/s (put_bw, get_bw, put_bibw)."""
        return self.kind == ONE_SIDED_BW

    @property
    def letters(self) -> str:
        """Its options in OMB's optstring order (also the help's order)."""
        return "wshvmxi" + ("W" if self.bandwidth else "") + ("T" if self.types else "")


@dataclass
class RmaOptions(omb.Options):
    """omb.Options plus the window creation, synchronisation and datatypes."""

    win: str = "allocate"
    sync: str = "flush"
    dtypes: list[str] = field(default_factory=list)
    dtype: str = "MPI_CHAR"  # the one being run (acc, fop and cas run every -T type in turn)


def defaults(bench: RmaBench) -> RmaOptions:
    """OMB 7.4's defaults for the benchmark."""
    if bench.bandwidth:
        loops = (100, 10, 20, 2)
    else:
        loops = (10000, 100, 1000, 10)
    return RmaOptions(1, omb.MAX_MESSAGE_SIZE, *loops, win=bench.win, sync=bench.sync)


def parse_options(bench: RmaBench, argv: list[str]) -> RmaOptions:
    """Parse argv as OMB 7.4's process_options does for a one-sided benchmark; raise
    omb.UsageError (worded as OMB's) when it is bad."""
    opts = defaults(bench)
    for c, value in omb.option_pairs(argv, bench.letters, _TAKES_ARG, _LONG):
        shown = f"-{c}"
        if c == "h":
            opts.action = "help"
            return opts
        if c == "v":
            opts.action = "version"
            return opts
        if c == "w":
            if value.lower() not in WIN_INFO:
                raise omb.UsageError("Invalid option or invalid argument", shown, value)
            opts.win = value.lower()
        elif c == "s":
            if value.lower() not in bench.syncs:
                raise omb.UsageError("Invalid option or invalid argument", shown, value)
            opts.sync = value.lower()
        elif c == "m":
            if not omb._message_size(opts, value):
                raise omb.UsageError("Invalid Message Size", shown, value)
        elif c == "i":
            n = omb._int(value)
            if n is None or n < 1:
                raise omb.UsageError("Invalid Number of Iterations", shown, value)
            opts.iterations = opts.iterations_large = n
        elif c == "x":
            n = omb._int(value)
            if n is None or n < 0:
                raise omb.UsageError("Invalid Number of Warmup Iterations", shown, value)
            opts.skip = opts.skip_large = n
        elif c == "W":
            n = omb._int(value)
            if n is None or n < 1:
                raise omb.UsageError("Invalid Window Size", shown, value)
            opts.window = n
        elif c == "T":
            # OMB matches by prefix, case-insensitively, and ignores a type it does not know.
            up = value.upper()
            if up.startswith("ALL"):
                opts.dtypes += ["MPI_CHAR", "MPI_INT", "MPI_FLOAT"]
            else:
                opts.dtypes += [name for name in DTYPES if up.startswith(name)][:1]
    if not opts.dtypes:
        opts.dtypes = ["MPI_CHAR"]
    return opts


def help_text(bench: RmaBench) -> str:
    """The -h text in OMB's layout ('  -x, --long  text', continuation lines indented 28)."""
    iters = "100, 20" if bench.bandwidth else "10000, 1000"
    skip = "10, 2" if bench.bandwidth else "100, 10"
    syncs = {
        "pscw": "use Post/Start/Complete/Wait synchronization calls",
        "fence": "use MPI_Win_fence synchronization call",
        "lock": "use MPI_Win_lock/unlock synchronizations calls",
        "flush": "use MPI_Win_flush synchronization call",
        "flush_local": "use MPI_Win_flush_local synchronization call",
        "lock_all": "use MPI_Win_lock_all/unlock_all synchronization calls",
    }
    what = {
        "w": ["WIN_OPTION - Supports MPI>=3. Can be any of the follows:",
              "create       use MPI_Win_create to create an MPI Window object",
              "allocate     use MPI_Win_allocate to create an MPI Window object",
              "dynamic      use MPI_Win_create_dynamic to create an MPI Window object",
              f"(default {bench.win})"],
        "s": ["SYNC_OPTION - can be any of the follows:",
              *[f"{s:<14}{syncs[s]}" for s in ("pscw", "fence", "lock", "flush", "flush_local", "lock_all")
                if s in bench.syncs],
              f"(default {bench.sync})"],
        "h": ["print this help"],
        "v": ["print version info"],
        "m": ["[MIN:]MAX - set the minimum and/or the maximum message size to MIN and/or MAX",
              "bytes respectively. Examples:",
              "-m 128      // min = default, max = 128",
              "-m 2:128    // min = 2, max = 128",
              "-m 2:       // min = 2, max = default"],
        "x": ["ITER - set number of warmup",
              f"iterations to skip before timing (default {skip} above {omb.LARGE_MESSAGE_SIZE} bytes)"],
        "i": [f"ITER - number of iterations for timing (default {iters} above {omb.LARGE_MESSAGE_SIZE} bytes)"],
        "W": [f"SIZE - set number of messages to send before synchronization (default {omb.WINDOW_SIZE})"],
        "T": ["[all,mpi_char,mpi_int,mpi_float] - Set MPI_TYPE . Default:MPI_CHAR."],
    }
    lines = [f"Usage: {bench.name} [options]", "Options:"]
    for c in bench.letters:
        first, *more = what[c]
        lines.append(f"  -{c}, --{_LONG[c]:<20}{first}")
        lines.extend(f"{'':28}{text}" for text in more)
    lines.append("")
    lines.append("Runs under toro-mpirun (toro_mpi) or mpiexec (mpi4py); OSU_MPI=toro|mpi4py overrides.")
    return "\n".join(lines)


def preamble(bench: RmaBench, opts: RmaOptions, dtype: str = "MPI_CHAR") -> list[str]:
    """OMB's print_header_one_sided: header, window creation, synchronisation, datatype, columns."""
    lines = [bench.header, f"# Window creation: {WIN_INFO[opts.win]}", f"# Synchronization: {SYNC_INFO[opts.sync]}"]
    if bench.datatype_line:
        lines.append(f"# Datatype: {dtype}.")
    lines.append(f"{'# Size':<10}{('Bandwidth (MB/s)' if bench.bandwidth else 'Latency (us)'):>{omb.FIELD_WIDTH}}")
    return lines


def row(size: int, value: float) -> str:
    """One result row: '%-10d%18.2f'."""
    return f"{size:<10d}{value:>{omb.FIELD_WIDTH}.{omb.FLOAT_PRECISION}f}"


# -- windows -----------------------------------------------------------------------------------
class Window:
    """One window over `nbytes` bytes of every rank, made as -w says (OMB's
    allocate_memory_one_sided): `disp` is where the peer's part starts (its address for a dynamic
    window, else 0), `local` the numpy view of this rank's part."""

    def __init__(self, ctx: omb.Ctx, nbytes: int, kind: str, fill: int = ord("a")):
        MPI, comm = ctx.MPI, ctx.comm
        self.kind, self.MPI = kind, MPI
        self.disp = 0
        self._attached: np.ndarray | None = None
        if kind == "allocate":
            self.win = MPI.Win.Allocate(nbytes, 1, comm=comm)
            self.local = np.frombuffer(self.win.tomemory(), np.uint8, nbytes)
        else:
            self.local = np.full(nbytes, fill, np.uint8)
            if kind == "create":
                self.win = MPI.Win.Create(self.local, 1, comm=comm)
            else:
                self.win = MPI.Win.Create_dynamic(comm=comm)
                self.win.Attach(self.local)
                self._attached = self.local
                # Every rank learns where the other's memory is: the target displacement of a
                # dynamic window is the target's address (OMB's MPI_Get_address + send/recv).
                mine = np.array([MPI.Get_address(self.local)], np.int64)
                theirs = np.zeros(1, np.int64)
                peer = 1 - ctx.rank
                comm.Sendrecv([mine, MPI.AINT], peer, 1, [theirs, MPI.AINT], peer, 1)
                self.disp = int(theirs[0])

    def free(self) -> None:
        """Detach (dynamic) and free the window (collective)."""
        if self._attached is not None:
            self.win.Detach(self._attached)
            self._attached = None
        self.local = np.zeros(0, np.uint8)  # drop the view of the window's memory before freeing it
        self.win.Free()


# -- synchronisation loops ---------------------------------------------------------------------
Step = Callable[[int], None]  # issue one operation towards target rank r


def time_latency(ctx: omb.Ctx, win: Any, step: Step, iters: int, skip: int) -> float:
    """Run OMB's latency loop for ctx.opts.sync; returns microseconds per operation on rank 0
    (0.0 elsewhere). step(target) issues one operation to `target`."""
    MPI, comm, rank, bench = ctx.MPI, ctx.comm, ctx.rank, ctx.bench
    sync = ctx.opts.sync
    t0 = t1 = 0.0
    factor = 1.0
    assert isinstance(bench, RmaBench)
    lock = MPI.LOCK_EXCLUSIVE if bench.lock_exclusive else MPI.LOCK_SHARED
    epoch = MPI.LOCK_EXCLUSIVE if bench.flush_exclusive else MPI.LOCK_SHARED
    if sync in ("fence", "pscw"):
        factor = 0.5  # a round trip: rank 0 accesses rank 1, then rank 1 accesses rank 0
    if sync == "fence":
        comm.Barrier()
        if rank == 0:
            for i in range(iters + skip):
                if i == skip:
                    t0 = MPI.Wtime()
                win.Fence(0)
                step(1)
                win.Fence(0)
                win.Fence(0)
            t1 = MPI.Wtime()
        else:
            for _ in range(iters + skip):
                win.Fence(0)
                win.Fence(0)
                step(0)
                win.Fence(0)
    elif sync == "pscw":
        world = comm.Get_group()
        group = world.Incl([1 - rank])
        comm.Barrier()
        if rank == 0:
            for i in range(iters + skip):
                win.Start(group, 0)
                if i == skip:
                    t0 = MPI.Wtime()
                step(1)
                win.Complete()
                win.Post(group, 0)
                win.Wait()
            t1 = MPI.Wtime()
        else:
            for _ in range(iters + skip):
                win.Post(group, 0)
                win.Wait()
                win.Start(group, 0)
                step(0)
                win.Complete()
        group.Free()
        world.Free()
    elif rank == 0:
        if sync in ("flush", "flush_local"):
            flush = win.Flush if sync == "flush" else win.Flush_local
            win.Lock(1, epoch, 0)
            for i in range(iters + skip):
                if i == skip:
                    t0 = MPI.Wtime()
                step(1)
                flush(1)
            t1 = MPI.Wtime()
            win.Unlock(1)
        elif sync == "lock":
            for i in range(iters + skip):
                if i == skip:
                    t0 = MPI.Wtime()
                win.Lock(1, lock, 0)
                step(1)
                win.Unlock(1)
            t1 = MPI.Wtime()
        else:  # lock_all
            for i in range(iters + skip):
                if i == skip:
                    t0 = MPI.Wtime()
                win.Lock_all(0)
                step(1)
                win.Unlock_all()
            t1 = MPI.Wtime()
    comm.Barrier()
    return (t1 - t0) * 1e6 * factor / iters


def time_bandwidth(ctx: omb.Ctx, win: Any, step: Callable[[int, int], None], iters: int, skip: int,
                   bidirectional: bool = False) -> float:
    """Run OMB's bandwidth loop for ctx.opts.sync; returns seconds of the timed iterations on
    rank 0 (0.0 elsewhere). step(target, j) issues the window's j-th operation to `target`."""
    MPI, comm, rank = ctx.MPI, ctx.comm, ctx.rank
    sync, window = ctx.opts.sync, ctx.opts.window
    t0 = t1 = 0.0
    burst = range(window)
    if sync == "fence":
        comm.Barrier()
        if rank == 0:
            for i in range(iters + skip):
                if i == skip:
                    t0 = MPI.Wtime()
                win.Fence(0)
                for j in burst:
                    step(1, j)
                win.Fence(0)
            t1 = MPI.Wtime()
        else:
            for _ in range(iters + skip):
                win.Fence(0)
                if bidirectional:
                    for j in burst:
                        step(0, j)
                win.Fence(0)
    elif sync == "pscw":
        world = comm.Get_group()
        group = world.Incl([1 - rank])
        comm.Barrier()
        if bidirectional:
            # osu_put_bibw: both ranks expose and access at once.
            for i in range(iters + skip):
                if rank == 0 and i == skip:
                    t0 = MPI.Wtime()
                win.Post(group, 0)
                win.Start(group, 0)
                for j in burst:
                    step(1 - rank, j)
                win.Complete()
                win.Wait()
            t1 = MPI.Wtime()
        elif rank == 0:
            for i in range(iters + skip):
                win.Start(group, 0)
                if i == skip:
                    t0 = MPI.Wtime()
                for j in burst:
                    step(1, j)
                win.Complete()
            t1 = MPI.Wtime()
        else:
            for _ in range(iters + skip):
                win.Post(group, 0)
                win.Wait()
        group.Free()
        world.Free()
    elif rank == 0:
        if sync in ("flush", "flush_local"):
            flush = win.Flush if sync == "flush" else win.Flush_local
            win.Lock(1, MPI.LOCK_SHARED, 0)
            for i in range(iters + skip):
                if i == skip:
                    t0 = MPI.Wtime()
                for j in burst:
                    step(1, j)
                flush(1)
            t1 = MPI.Wtime()
            win.Unlock(1)
        elif sync == "lock":
            for i in range(iters + skip):
                if i == skip:
                    t0 = MPI.Wtime()
                win.Lock(1, MPI.LOCK_SHARED, 0)
                for j in burst:
                    step(1, j)
                win.Unlock(1)
            t1 = MPI.Wtime()
        else:  # lock_all
            for i in range(iters + skip):
                if i == skip:
                    t0 = MPI.Wtime()
                win.Lock_all(0)
                for j in burst:
                    step(1, j)
                win.Unlock_all()
            t1 = MPI.Wtime()
    comm.Barrier()
    return t1 - t0 if rank == 0 else 0.0


# -- benchmark bodies --------------------------------------------------------------------------
# make(ctx, win, size, dtype) -> step(target): one latency operation of `size` bytes.
LatencyOp = Callable[[omb.Ctx, Window, int, Any], Step]


def latency_sweep(ctx: omb.Ctx, make: LatencyOp, dtype: Any = np.uint8) -> None:
    """Put/get/accumulate latency: per size, a fresh window of `size` bytes, OMB's loop, a row."""
    opts = ctx.opts
    assert isinstance(opts, RmaOptions)
    itemsize = np.dtype(dtype).itemsize
    for size in omb.sizes(opts):
        if size // itemsize == 0:
            continue  # OMB's osu_acc_latency skips sizes below one element
        ctx.last_size = size
        iters, skip = opts.loops(size)
        w = Window(ctx, size, opts.win)
        step = make(ctx, w, size, dtype)
        latency = time_latency(ctx, w.win, step, iters, skip)
        ctx.out(row(size, latency))
        w.free()


def atomic_row(ctx: omb.Ctx, make: LatencyOp, dtype: Any) -> None:
    """Fetch_and_op / Compare_and_swap latency: one window of max-size bytes, one row whose size
    is the datatype's (OMB's allocate_atomic_memory and print_latency(dtype_size))."""
    opts = ctx.opts
    itemsize = np.dtype(dtype).itemsize
    ctx.comm.Barrier()
    w = Window(ctx, max(opts.max_size, itemsize), opts.win, fill=ord("b"))
    ctx.comm.Barrier()
    iters, skip = opts.loops(itemsize)
    step = make(ctx, w, itemsize, dtype)
    latency = time_latency(ctx, w.win, step, iters, skip)
    ctx.out(row(itemsize, latency))
    w.free()


BandwidthOp = Callable[[omb.Ctx, Window, int], Callable[[int, int], None]]


def bandwidth_sweep(ctx: omb.Ctx, make: BandwidthOp, bidirectional: bool = False) -> None:
    """Put/get bandwidth: per size, a window of size x window-size bytes, OMB's loop, a row."""
    opts = ctx.opts
    for size in omb.sizes(opts):
        ctx.last_size = size
        iters, skip = opts.loops(size)
        w = Window(ctx, size * opts.window, opts.win)
        step = make(ctx, w, size)
        seconds = time_bandwidth(ctx, w.win, step, iters, skip, bidirectional)
        if ctx.rank == 0:
            mbs = size / 1e6 * iters * opts.window / seconds if seconds > 0 else 0.0
            ctx.out(row(size, mbs * (2 if bidirectional else 1)))
        w.free()


Body = Callable[[omb.Ctx], None]


def main(bench: RmaBench, body: Body, argv: list[str] | None = None, *, per_dtype: bool = False) -> int:
    """Run a one-sided benchmark as OMB's main() does; returns the exit status. per_dtype: the
    header and body repeat for every -T datatype (acc, fop, cas), ctx.opts.dtype naming the
    current one."""
    started = omb.begin(bench, argv, parse_options, defaults, help_text)
    if isinstance(started, int):
        return started
    MPI, comm, rank, nprocs, opts, leave = started
    if nprocs != 2:
        return leave(1, "This test requires exactly two processes", sys.stderr)
    ctx = omb.Ctx(MPI, comm, rank, nprocs, bench, opts)
    every = opts.dtypes if per_dtype else [opts.dtypes[0]]
    for name in every:
        opts.dtype = name
        for line in preamble(bench, opts, name):
            ctx.out(line)
        body(ctx)
    comm.Barrier()
    return 0


def dtype_of(ctx: omb.Ctx) -> Any:
    """The numpy dtype of the current -T datatype."""
    return DTYPES[ctx.opts.dtype][1]
