"""The `mpi4py` package as seen by a program run with `toro-mpirun --mpi4py`: toro_mpi answers.

`from mpi4py import MPI` gives `toro_mpi.MPI`; `mpi4py.rc`, `mpi4py.run` and `python -m mpi4py`
behave as in mpi4py. mpi4py's pure-Python modules (`mpi4py.util.pkl5`, `.sync`, `.dtlib`, `.pool`,
`mpi4py.bench`, `mpi4py.futures`, `mpi4py.typing`) come from the real mpi4py installed beside
toro_mpi, when there is one: this package's search path goes on to the real package's directory,
after this one, so those modules run on top of toro_mpi (their `from .. import MPI` finds this
package's MPI) and the real `mpi4py.MPI` extension is never imported.

The launcher puts this package's parent directory first on the ranks' PYTHONPATH only in that
mode, so a real mpi4py installed beside toro_mpi is never shadowed anywhere else.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from typing import Any

# The mpi4py release whose Python-level API this shim follows.
__version__ = "4.1.2"
__all__ = ["MPI", "get_config", "get_include", "profile", "rc"]
TORO_SHIM = True  # lets a program (or a test) tell the shim from the real package


class Rc:
    """mpi4py's runtime options (`mpi4py.rc`). toro_mpi reads none of them: it always starts at
    import, finalizes at exit and provides THREAD_SINGLE; unknown names are refused as in mpi4py."""

    initialize = True
    threads = True
    thread_level = "multiple"
    finalize = None
    fast_reduce = True
    recv_mprobe = True
    irecv_bufsz = 32768
    errors = "exception"

    def __init__(self, **options: Any) -> None:
        self(**options)

    def __setattr__(self, name: str, value: Any) -> None:
        if not hasattr(type(self), name):
            raise TypeError(f"mpi4py.rc has no option {name!r}")
        super().__setattr__(name, value)

    def __call__(self, **options: Any) -> None:
        """Set several options at once: rc(threads=False, ...)."""
        unknown = [k for k in options if not hasattr(type(self), k)]
        if unknown:
            raise TypeError(f"mpi4py.rc has no option {unknown[0]!r}")
        for key, value in options.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return "<mpi4py.rc (toro_mpi)>"


def _real_package_dirs() -> list[str]:
    """The directories of the real mpi4py package, found on sys.path without this shim's."""
    here = os.path.dirname(os.path.abspath(__file__))
    shim_root = os.path.dirname(here)
    paths = [p for p in sys.path if os.path.abspath(p or os.curdir) != shim_root]
    spec = importlib.machinery.PathFinder.find_spec("mpi4py", paths)
    if spec is None or not spec.submodule_search_locations:
        return []
    return [d for d in spec.submodule_search_locations if os.path.abspath(d) != here]


# This directory first (MPI, run, __main__ are the shim's), then the real package's.
__path__ = [*__path__, *_real_package_dirs()]  # noqa: PLE0643 - a package's own __path__

rc = Rc()
sys.modules[__name__ + ".rc"] = rc  # `import mpi4py.rc` works, as in mpi4py


def get_include() -> str:
    """Return the directory in the package that contains header files.

    toro_mpi has no C API of its own: this is the include directory of the real mpi4py
    installed beside it (what an extension built under the launcher compiles against; at run
    time such an extension needs the real mpi4py, whose C API toro_mpi does not provide).
    """
    for directory in _real_package_dirs():
        include = os.path.join(directory, "include")
        if os.path.isdir(include):
            return include
    raise NotImplementedError("mpi4py.get_include(): toro_mpi has no C API, and no real mpi4py is installed "
                              "beside it to take the headers from")


def get_config() -> dict[str, str]:
    """Return a dictionary with information about MPI: none for toro_mpi (mpi4py's default is empty too)."""
    return {}


def _find_library(name: str, path: list[str]) -> str | None:
    """The profiler library `name` (or lib<name>.so) in one of the directories of path."""
    import pathlib

    pattern = [("", ""), ("lib", ".dylib" if sys.platform == "darwin" else ".so")]
    for directory in map(pathlib.Path, path):
        for prefix, suffix in pattern:
            filename = directory / f"{prefix}{name}{suffix}"
            if filename.is_file():
                return str(filename.resolve())
    return None


def profile(name: str, *, path: Any = None) -> None:
    """Support for the MPI profiling interface.

    As mpi4py's: load the profiler library `name` (searched in `path`, a sequence of
    directories or an os.pathsep-separated string) with RTLD_GLOBAL; ValueError if it is not
    found, a warning if it cannot be loaded. A PMPI profiler intercepts the calls a program
    makes into a C MPI library, and toro_mpi makes none: the library is loaded, and a
    RuntimeWarning says it will see no MPI calls.
    """
    import warnings
    from _ctypes import dlopen  # type: ignore[attr-defined]  # what mpi4py uses

    if path is None:
        path = [""]
    elif isinstance(path, os.PathLike):
        path = [path]
    elif isinstance(path, str):
        path = path.split(os.pathsep)
    elif isinstance(path, bytes):
        path = path.split(os.fsencode(os.pathsep))
    name = os.fsdecode(name)
    filename = _find_library(name, [os.fsdecode(p) for p in path])
    if filename is None:
        raise ValueError(f"profiler {name!r} not found")
    try:
        handle = dlopen(filename, os.RTLD_NOW | os.RTLD_GLOBAL)
    except OSError as exc:
        warnings.warn(exc.args[0], stacklevel=2)
        return
    vars(profile).setdefault("registry", []).append((name, (handle, filename)))
    warnings.warn(f"mpi4py.profile({name!r}): loaded, but toro_mpi makes no calls into a C MPI library "
                  "for a profiler to intercept", RuntimeWarning, stacklevel=2)
