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
    """mpi4py's C headers: toro_mpi has no C API, so there are none to compile against."""
    raise NotImplementedError("mpi4py.get_include(): toro_mpi has no C API (run without --mpi4py to build "
                              "extensions against the real mpi4py)")


def get_config() -> dict[str, str]:
    """Build information about the MPI library: none for toro_mpi (mpi4py's default is empty too)."""
    return {}


def profile(name: str, *, path: Any = None) -> None:
    """Load an MPI profiling library: not supported by toro_mpi."""
    raise NotImplementedError(f"mpi4py.profile({name!r}): toro_mpi has no PMPI profiling interface")
