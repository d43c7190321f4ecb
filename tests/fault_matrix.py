"""The fault matrix: every fault at every point, for several job sizes, checked like a user would.

Each case must: be ended by the fault, which shows causally: the job exits with the failing
rank's code (1 for an exception, 3 for os._exit(3), 128+signal when killed) or 130 / 143 when
the launcher got SIGINT / SIGTERM, never with the launcher's timeout status (the surviving ranks
wait for messages that never come, so nothing else could end the job), and no rank got past its
30 s sleep (the launcher stopped it rather than waiting for it); name the failing rank on stderr
(with its traceback for an exception); leave no rank process and nothing of the job in /dev/shm.
How long the job took to end after the fault is measured and printed (the "s after fault"
column), never asserted: that is a benchmark, not a correctness property.

    python tests/fault_matrix.py            # the full matrix: n = 2, 4, 8 (a few minutes)
    python tests/fault_matrix.py --quick    # n = 2 only
tests/test_fault_matrix.py runs a sample of it in the suite.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "programs" / "fault_point.py"
FAULTS = ("exception", "sigkill", "sigsegv", "exit3", "sigint", "sigterm")
POINTS = ("startup", "midsend", "recv", "collective", "after")
EXPECTED_STATUS = {"exception": 1, "sigkill": 137, "sigsegv": 139, "exit3": 3, "sigint": 130, "sigterm": 143}
TIMEOUT_STATUS = 110  # the launcher's --timeout


def names_rank(err: str, rank: int) -> bool:
    """Whether the launcher named `rank`: itself, or (ranks hosted as green threads, their
    process killed) the range of ranks of its process, "ranks 4-7"."""
    if re.search(rf"\brank {rank}\b", err):
        return True
    return any(int(a) <= rank <= int(b) for a, b in re.findall(r"\branks (\d+)-(\d+)\b", err))


@dataclass
class Outcome:
    """What one case did, and what was wrong with it (empty when it passed)."""

    n: int
    fault: str
    point: str
    status: int
    seconds: float
    problems: list[str]


def _alive(pid: int) -> bool:
    from helpers import pid_alive

    return pid_alive(pid)


def run_case(n: int, fault: str, point: str, timeout: float = 60) -> Outcome:
    """Run one cell of the matrix through toro-mpirun and check it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORO_MPI_")}
    cmd = [sys.executable, "-m", "toro_mpi", "-n", str(n), "--oversubscribe", "--timeout", str(int(timeout)),
           sys.executable, str(PROGRAM), fault, point]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    fault_at = None
    pids = []
    lines = []
    for line in proc.stdout:  # type: ignore[union-attr]
        lines.append(line)
        words = line.split()
        if len(words) == 3 and words[1] == "pid" and words[2].isdigit():
            pids.append(int(words[2]))
        if len(words) == 4 and words[1:3] == ["fault", "now"] and fault_at is None:
            fault_at = float(words[3])
            if fault in ("sigint", "sigterm"):
                proc.send_signal(signal.SIGINT if fault == "sigint" else signal.SIGTERM)
    status = proc.wait(timeout=timeout)
    ended = time.time()
    err = proc.stderr.read()  # type: ignore[union-attr]
    problems = []
    if fault_at is None:
        problems.append("the fault never happened")
        fault_at = ended
    if status == TIMEOUT_STATUS:
        problems.append("the launcher's timeout ended the job, not the fault")
    elif status != EXPECTED_STATUS[fault]:
        problems.append(f"exit status {status}, expected {EXPECTED_STATUS[fault]}")
    slept = [line.split()[0] for line in lines if line.split()[1:3] == ["slept", "30"]]
    if slept:
        problems.append(f"ranks {slept} finished a 30 s sleep: the launcher waited instead of stopping them")
    if fault not in ("sigint", "sigterm") and not names_rank(err, n - 1):
        problems.append(f"stderr does not name rank {n - 1}")
    if fault == "exception" and "Traceback" not in err:
        problems.append("no traceback on stderr")
    time.sleep(0.2)
    alive = [p for p in pids if _alive(p)]
    if alive:
        problems.append(f"rank processes still alive: {alive}")
    leftovers = [e for e in os.listdir("/dev/shm") if e.startswith(f"toro_mpi.{proc.pid}.")]
    if leftovers:
        problems.append(f"left in /dev/shm: {leftovers}")
    return Outcome(n, fault, point, status, ended - fault_at, problems)


def main(argv: list[str] | None = None) -> int:
    """Run the matrix and print one row per case; exit 1 if any case failed."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="n = 2 only")
    ap.add_argument("--sizes", default=None, help="comma-separated job sizes (default 2,4,8)")
    args = ap.parse_args(argv)
    sizes = [2] if args.quick else [int(s) for s in (args.sizes or "2,4,8").split(",")]
    failed = 0
    print("| n | fault | point | exit | s after fault | result |")
    print("|---:|---|---|---:|---:|---|")
    for n in sizes:
        for point in POINTS:
            for fault in FAULTS:
                o = run_case(n, fault, point)
                failed += bool(o.problems)
                result = "ok" if not o.problems else "; ".join(o.problems)
                print(f"| {n} | {fault} | {point} | {o.status} | {o.seconds:.2f} | {result} |", flush=True)
    print(f"\n{failed} failed" if failed else "\nall passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
