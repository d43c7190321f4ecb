"""`python -m toro_mpi ...` is `toro-mpirun ...`."""

from toro_mpi.launcher.cli import main

raise SystemExit(main())
