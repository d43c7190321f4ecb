"""What the bounds checks cost on the latency path: the virtqueue ping-pong with and without them.

The kernels validate every index, descriptor and header they read from shared memory (see
toro_mpi/bus/ring.py). To price that, this script builds a copy of ring.py in a temporary
folder with each `if <check>: return <error>` turned into `if False:` (the compiler then drops
the check), plus an unmodified copy built the same way, and times the 8-byte ping-pong between
two pinned processes with the whole loop in jitted code for both, alternating.
The shipped kernels always keep their checks: this is a measurement, not a switch.
Run: python -m osu.probes check_cost [--reps 5] [--rounds 200000]
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import statistics
import sys
import tempfile
from pathlib import Path

from . import parser
from .calibrate import measure
from .ring_floor import run

# Found through the import system, so the probe reads the ring.py that toro_mpi actually runs.
RING = Path(importlib.util.find_spec("toro_mpi.bus.ring").origin)
LOOPS = '''

@njit(cache=True)
def ping(qout, qin, buf, info, rounds):
    for _ in range(rounds):
        while tx_send(qout, 1, 0, buf) < 0:
            pass
        while rx_match(qin, 1, 0, buf, info) != L.RX_COMPLETE:
            pass


@njit(cache=True)
def pong(qout, qin, buf, info, rounds):
    for _ in range(rounds):
        while rx_match(qin, 1, 0, buf, info) != L.RX_COMPLETE:
            pass
        while tx_send(qout, 1, 0, buf) < 0:
            pass
'''


def variant_source(checks: bool) -> str:
    """ring.py made importable from elsewhere, with or without its bounds checks."""
    lines = RING.read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        m = re.match(r"^(\s*)if (.*):\s*(#.*)?$", line)
        if not checks and m and ("return L.ERR_" in following or "return L.TX_ERR_BASE" in following):
            line = f"{m.group(1)}if False:  # check removed for the measurement"
        out.append(line)
    src = "\n".join(out)
    # The copy lives outside the package: its relative imports (layout, atomics, futex, ...) become
    # absolute ones, whatever ring.py imports today.
    src = re.sub(r"^from \.(\w*) import", lambda m: f"from toro_mpi.bus{'.' + m.group(1) if m.group(1) else ''} import",
                 src, flags=re.M)
    return src + LOOPS


def main(argv: list[str] | None = None) -> int:
    """Build both variants, time them alternately, print medians."""
    ap = parser("check_cost", __doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=200_000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for name, checks in (("ring_checked", True), ("ring_unchecked", False)):
            Path(tmp, f"{name}.py").write_text(variant_source(checks))
        sys.path.insert(0, tmp)
        try:
            mods = {name: importlib.import_module(name) for name in ("ring_checked", "ring_unchecked")}
            times: dict[str, list[float]] = {name: [] for name in mods}
            calib = []
            for _ in range(args.reps):
                calib.append(measure(rounds=args.rounds // 2))
                for name, mod in mods.items():
                    times[name].append(run(args.rounds, 8, mod.ping, mod.pong))
        finally:
            sys.path.remove(tmp)
    print(f"calibration (cache line, one-way): {', '.join(f'{c:.0f}' for c in calib)} ns")
    for name, ts in times.items():
        print(f"{name:15s} median {statistics.median(ts):6.1f} ns one-way (min {min(ts):.1f}, max {max(ts):.1f})")
    diffs = [a - b for a, b in zip(times["ring_checked"], times["ring_unchecked"], strict=True)]
    print(f"checks cost: median {statistics.median(diffs):+.1f} ns per one-way message (paired differences)")
    return 0
