"""`python -m osu.probes [NAME [ARGS...]]`: list the probes, or run one with its arguments."""

from __future__ import annotations

import importlib
import sys

from . import describe, names


def listing() -> str:
    """One line per probe: its name, what it measures, and (for the probes that run as MPI ranks)
    the launcher to start it under."""
    probes = [describe(name) for name in names()]
    width = max(len(p.name) for p in probes)
    lines = ["python -m osu.probes NAME [ARGS...] runs a probe; NAME -h gives its options and how it is run.",
             "Marked [toro-mpirun -n 2]: start it as `toro-mpirun -n 2 python -m osu.probes NAME`.", ""]
    for p in probes:
        launch = p.run.partition(" python")[0] if p.run.startswith("toro-mpirun") else ""
        lines.append(f"  {p.name:<{width}}  {p.summary}" + (f" [{launch}]" if launch else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """List the probes (no NAME, or -h), or import probe NAME and pass it the remaining arguments."""
    argv = sys.argv[1:] if argv is None else argv
    # No argparse here: everything after NAME, -h included, belongs to the probe.
    if not argv or argv[0] in ("-h", "--help"):
        print(listing())
        return 0
    name, args = argv[0], argv[1:]
    if name not in names():
        print(f"python -m osu.probes: no probe {name!r}\n\n{listing()}", file=sys.stderr)
        return 2
    status = importlib.import_module(f"{__package__}.{name}").main(args)
    return int(status or 0)

if __name__ == "__main__":
    sys.exit(main())
