"""`python -m mpi4py ...` under `toro-mpirun --mpi4py`: see mpi4py.run."""

import sys

from .run import main

sys.exit(main())
