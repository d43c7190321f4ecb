"""Diagnostic probes: the measurements behind BENCHMARKS.md that are not OSU benchmarks.

Each probe is a module of this package with a docstring whose first line says what it measures
and whose `Run:` line says how to launch it, and a `main(argv)` that takes its options. One entry
point lists and runs them (as `python -m mpi4py.bench` does its commands):

    python -m osu.probes                       # every probe, one line each
    python -m osu.probes NAME [ARGS...]        # run one; NAME -h for its options
    toro-mpirun -n 2 python -m osu.probes NAME [ARGS...]   # the probes that run as MPI ranks

The registry is the package itself: a module here whose name does not start with `_` is a probe.
Listing reads the docstrings without importing the modules, because most probes import numba and
toro_mpi (about a second) and some of them start MPI at import.
"""

from __future__ import annotations

import argparse
import ast
import pkgutil
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Probe:
    """A probe's name, the first line of its docstring, and its docstring's `Run:` line."""

    name: str
    summary: str
    run: str


def names() -> list[str]:
    """The probes' module names, sorted."""
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))


def describe(name: str) -> Probe:
    """A probe's summary and launch line, read from its source (the module is not imported)."""
    doc = ast.get_docstring(ast.parse((HERE / f"{name}.py").read_text())) or ""
    lines = [line.strip() for line in doc.splitlines()]
    run = next((line.removeprefix("Run:").strip() for line in lines if line.startswith("Run:")), "")
    return Probe(name, lines[0] if lines else "", run)


def parser(name: str, doc: str | None) -> argparse.ArgumentParser:
    """An argument parser for probe `name`, its usage naming the entry point that runs it."""
    return argparse.ArgumentParser(prog=f"python -m osu.probes {name}", description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
