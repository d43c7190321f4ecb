# Type stub of `python -m mpi4py` under the toro_mpi shim.
from .run import main as main
