"""Stream advice kept from one job to the next, per machine and pair of cores.

The stream trials (bus/layout.py, "Streaming stores") decide per queue whether its sender should
write large fragments with streaming or plain stores, and until their first decision a sender
streams. That decision takes about 500 of the queue's fragments (16 MiB of 32 KiB fragments), so
a job shorter than that (a benchmark's size run, a solver's first steps) never learns, and on a
host whose cores share a cache it streams all along: collectives of 64 KiB - 1 MiB ran 1.2-1.7x
slower there than with plain stores (BENCHMARKS.md, "Stream advice between jobs").

So the launcher records, when a job ends, the advice each queue's receiver reached, keyed by the
machine and the cores the queue's two ends were pinned to, and starts the next job's queues
between the same cores with it. The trials still run and each decision replaces the preset, so
a stale record (a VM whose vCPUs moved to other hardware) costs what an unmeasured start costs:
one trial window. Unpinned ranks (--bind-to none), ranks of one process (they never stream) and
simulated nodes (--nodes, a bus per node) are left alone.

The record is one JSON file in the kernel cache's directory (NUMBA_CACHE_DIR), replaced whole:
{"version": 2, "machines": {MACHINE: {"PLANE:BUFFER:CORE:CORE": ADVICE}}}, ADVICE a STREAM_ON
or STREAM_OFF value of bus/layout.py, BUFFER the ring's buffer size (the fragments the trials
timed: a test's 256-byte buffers say little about 32 KiB ones). Two jobs ending at once may each
drop the other's update; that only costs the next job its head start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..bus import layout as L
from ..config import replace_file

if TYPE_CHECKING:
    from ..bus.segment import Segment
    from .plan import Plan

FILE_NAME = "stream-advice.json"
VERSION = 2
_KNOWN = (L.STREAM_ON, L.STREAM_OFF)


def record_path() -> str | None:
    """Where the advice is kept: NUMBA_CACHE_DIR/stream-advice.json (None without that directory,
    which the launcher sets before anything else)."""
    cache = os.environ.get("NUMBA_CACHE_DIR")
    return os.path.join(cache, FILE_NAME) if cache else None


def machine_key() -> str:
    """This machine: its host name and processor model (a shared home directory may hold the
    record of several machines; the same cores of another model say nothing about these)."""
    model = os.uname().machine
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                name, sep, value = line.partition(":")
                if sep and name.strip() in ("model name", "Model", "cpu model"):
                    model = value.strip()
                    break
    except OSError:
        pass
    return f"{os.uname().nodename}|{model}"


def enabled(plan: Plan) -> bool:
    """Whether this job's queues follow trials at all, and the record is wanted."""
    bus = plan.cfg.bus
    return bool(bus["remember_stream_advice"] and bus["stream_probe"] and bus["stream_threshold"] > 0
                and plan.nranks > 1 and plan.node_map is None)


def queue_cores(plan: Plan) -> Iterator[tuple[int, int, int, int]]:
    """(src, dst, src's core, dst's core) of every queue between two processes whose cores are
    known: the queues a sender may stream on (Segment.stream_from)."""
    n = plan.nranks
    if plan.hosts is not None:
        process = [0] * n
        core: list[int | None] = [None] * n
        for h, hosted in enumerate(plan.hosts):
            for r in hosted:
                process[r], core[r] = h, plan.host_cpus[h]
    else:
        process, core = list(range(n)), list(plan.cpus)
    for src in range(n):
        cs = core[src]
        if cs is None:
            continue
        for dst in range(n):
            cd = core[dst]
            if cd is not None and process[src] != process[dst]:
                yield src, dst, cs, cd


def _keyed_queues(plan: Plan) -> Iterator[tuple[int, int, int, str]]:
    """(plane, src, dst, record key) of every queue the record covers: the queue_cores of each
    plane, keyed "PLANE:BUFFER:CORE:CORE" (see the module's text)."""
    bsize = plan.cfg.bus["buffer_size"]
    cores = list(queue_cores(plan))
    for plane in range(L.PLANES):
        for src, dst, cs, cd in cores:
            yield plane, src, dst, f"{plane}:{bsize}:{cs}:{cd}"


def _load(path: str) -> dict[str, dict[str, int]]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("machines"), dict):
        return {}
    # Only well-formed entries: a file damaged outside toro_mpi must not preset garbage.
    return {m: {k: v for k, v in pairs.items() if isinstance(k, str) and v in _KNOWN}
            for m, pairs in data["machines"].items() if isinstance(m, str) and isinstance(pairs, dict)}


def preset(plan: Plan) -> dict[tuple[int, int, int], int]:
    """The advice recorded for the cores of this job's queues: (plane, src, dst) -> advice, for
    Segment.create, which writes it before any rank can attach."""
    path = record_path()
    if path is None or not enabled(plan):
        return {}
    known = _load(path).get(machine_key())
    if not known:
        return {}
    start = {}
    for plane, src, dst, key in _keyed_queues(plan):
        advice = known.get(key)
        if advice is not None:
            start[plane, src, dst] = advice
    return start


def record(seg: Segment, plan: Plan) -> bool:
    """Keep the advice this job's receivers reached (queues still unmeasured keep what the record
    had); return whether the file changed. Never raises for an unwritable directory."""
    path = record_path()
    if path is None or not enabled(plan):
        return False
    reached: dict[str, int] = {}
    for plane, src, dst, key in _keyed_queues(plan):
        advice = seg.stream_advice(src, dst, plane)
        if advice in _KNOWN:
            reached[key] = advice  # ranks sharing two cores: the last one's
    if not reached:
        return False
    machines = _load(path)
    mine = machines.setdefault(machine_key(), {})
    if all(mine.get(k) == v for k, v in reached.items()):
        return False
    mine.update(reached)
    return replace_file(path, json.dumps({"version": VERSION, "machines": machines}, sort_keys=True))
