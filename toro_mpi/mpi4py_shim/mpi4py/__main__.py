"""`python -m mpi4py ...` under `toro-mpirun --mpi4py`: see mpi4py.run."""

import sys

from .run import main

if __name__ == "__main__":  # importing it (as mpi4py's tests do) runs nothing
    sys.exit(main())
