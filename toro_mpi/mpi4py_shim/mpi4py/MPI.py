"""`mpi4py.MPI` under `toro-mpirun --mpi4py`: this module is replaced by `toro_mpi.MPI` itself, so
`from mpi4py import MPI` and `import toro_mpi.MPI` give one and the same module object."""

import sys

from toro_mpi import MPI as _toro_MPI

sys.modules[__name__] = _toro_MPI
