"""Output that differs between toro_mpi and mpi4py on purpose, for the --compare tests. First the
same lines as compare_same.py, then, by the argument:

  impl       rank 1 prints the name of its MPI (toro or mpi4py)
  extra      rank 0 prints one more line under toro_mpi
  noise      every rank prints a float 1e-9 larger (relatively) under toro_mpi, and an integer
  fail-toro  rank 1 exits with code 3 at the very end, under toro_mpi only
  fail-ref   the same under mpi4py only
  hang-ref   under mpi4py, rank 0 writes Open MPI's shared-memory backing directory and its files to
             the file named by $COMPARE_NOTE, then every rank sleeps until --timeout stops them
"""

import os
import sys
import time

import compare_same
from _mpi import IMPL, RANK, out

MODE = sys.argv[1]
assert MODE in ("impl", "extra", "noise", "fail-toro", "fail-ref", "hang-ref"), MODE


def main() -> None:
    if MODE == "impl" and RANK == 1:
        out("impl", IMPL)
    if MODE == "extra" and RANK == 0 and IMPL == "toro":
        out("extra line")
    if MODE == "noise":
        value = (RANK + 1) / 7 * (1 + 1e-9 if IMPL == "toro" else 1)
        out("value", value, "count", 1000 + RANK)
    compare_same.main()  # after everything else, so failing at the end cannot leave a peer waiting
    if MODE == f"fail-{'toro' if IMPL == 'toro' else 'ref'}" and RANK == 1:
        sys.exit(3)
    if MODE == "hang-ref" and IMPL != "toro":
        if RANK == 0:
            where = os.environ.get("OMPI_MCA_btl_sm_backing_directory", "/dev/shm")
            with open(os.environ["COMPARE_NOTE"], "w") as note:
                print(where, *sorted(os.listdir(where)), file=note)
        time.sleep(3600)


if __name__ == "__main__":
    main()
