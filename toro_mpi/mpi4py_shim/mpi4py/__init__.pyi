# Type stub of the toro_mpi shim of the mpi4py package (mpi4py's own API, see __init__.py).
from collections.abc import Sequence

from . import MPI as MPI

__version__: str
__all__: list[str]
TORO_SHIM: bool

class Rc:
    initialize: bool
    threads: bool
    thread_level: str
    finalize: bool | None
    fast_reduce: bool
    recv_mprobe: bool
    irecv_bufsz: int
    errors: str
    def __init__(self, **options: bool | int | str | None) -> None: ...
    def __call__(self, **options: bool | int | str | None) -> None: ...
    def __setattr__(self, name: str, value: bool | int | str | None) -> None: ...

rc: Rc

def get_include() -> str: ...
def get_config() -> dict[str, str]: ...
def profile(name: str, *, path: str | Sequence[str] | None = None) -> None: ...
