# Type stub of mpi4py.MPI under the toro_mpi shim: the module is toro_mpi.MPI itself, whose
# annotations describe it.
from toro_mpi.MPI import *  # noqa: F403
