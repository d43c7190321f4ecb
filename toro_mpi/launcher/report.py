"""Words for what happened: how a rank ended, and what each rank was blocked in at a timeout."""

from __future__ import annotations

import os
import signal

from ..bus import layout as L
from ..config import Record

# Name of the peer argument of each blocking call in the report.
_PEER_ARG = {"Recv": "source", "Probe": "source", "Send": "dest", "Ssend": "dest"}


def exit_status(returncode: int) -> int:
    """The shell-style status of a returncode: the code itself, or 128 + signal."""
    return 128 - returncode if returncode < 0 else returncode


def signal_name(signum: int) -> str:
    """SIGKILL for 9, or `signal N` for numbers Python does not know."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def describe_exit(returncode: int) -> str:
    """`exited with code 3` or `killed by signal 9 (SIGKILL)`."""
    if returncode < 0:
        return f"killed by signal {-returncode} ({signal_name(-returncode)})"
    return f"exited with code {returncode}"


class SlotView(Record):
    """What the launcher sees of one rank at a timeout: its process and its bus slot."""

    def __init__(self, rank: int, returncode: int | None, state: int, call: int, peer: int, tag: int,
                 idle: bool | None = None) -> None:
        self.rank = rank
        self.returncode = returncode
        self.state = state
        self.call = call
        self.peer = peer
        self.tag = tag
        # Whether the rank's process was idle (nothing to run, its polls empty); None: not known.
        # The slot's call is written when the process goes idle and is not cleared when the call
        # returns (that would cost every blocking call a store), so it is current only while idle.
        self.idle = idle


def _value(value: int, wildcard: str) -> str:
    return wildcard if value == L.ANY else str(value)


def describe_slot(view: SlotView) -> str:
    """`rank 0 blocked in Recv(source=1, tag=5)`, `rank 1 running`, `rank 2 exited with code 0`;
    a rank whose process was busy: `rank 3 running (last blocked in Recv(source=0, tag=2))`."""
    head = f"rank {view.rank}"
    if view.returncode is not None:
        return f"{head} {describe_exit(view.returncode)}"
    if view.state == L.RANK_ABSENT:
        return f"{head} running (not attached to the bus)"
    if view.state == L.RANK_FINISHED:
        return f"{head} finished with the bus"
    if view.call == 0:
        return f"{head} running"
    name = L.CALL_NAMES.get(view.call, f"call {view.call}")
    args = []
    if view.peer != -2:
        args.append(f"{_PEER_ARG.get(name, 'peer')}={_value(view.peer, 'ANY_SOURCE')}")
    args.append(f"tag={_value(view.tag, 'ANY_TAG')}")
    call = f"{name}({', '.join(args)})"
    if view.idle is False:
        # Busy: computing, compiling, or between two waits; the call may be over.
        return f"{head} running (last blocked in {call})"
    return f"{head} blocked in {call}"


def timeout_report(seconds: float, views: list[SlotView]) -> str:
    """The one-line timeout message naming every rank's state."""
    parts = [f"timeout after {float(seconds)} s"] + [describe_slot(v) for v in views]
    return "; ".join(parts)


def deadlock_report(views: list[SlotView], quiet: bool = True) -> str:
    """The one-line deadlock message: what every rank waits in, and for whom. `quiet`: no
    message is in flight (else some wait in queues that no blocked call will take)."""
    head = ("deadlock: every rank is blocked and no message is in flight" if quiet else
            "deadlock: every rank is blocked and no blocked call wants the messages waiting in the queues")
    parts = [head] + [describe_slot(v) for v in views]
    return "; ".join(parts)


def _package_of(cpu: int) -> int:
    """The physical package (socket) of a cpu, 0 where the kernel does not say."""
    try:
        with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 0


def binding_report(rank: int, cpu: int | None, cores: list[int]) -> str:
    """--report-bindings: where a rank runs, in Open MPI's words (`[host:pid] Rank 0 bound to
    package[0][core:L0]`, L numbering the cores the launcher may use)."""
    import socket  # here: 2 ms of every launch for --report-bindings alone

    head = f"[{socket.gethostname().split('.')[0]}:{os.getpid():05d}] Rank {rank}"
    if cpu is None:
        return f"{head} is not bound (or bound to all available processors)"
    return f"{head} bound to package[{_package_of(cpu)}][core:L{cores.index(cpu)}]"
