"""What a program sees as it ends: an atexit handler registered before MPI is imported still
communicates (MPI is finalized after every handler, as mpi4py does from Py_AtExit), one
registered after it too, and a file that a helper module of the program left open keeps what
was written to it (released at exit as by the interpreter's teardown). Lines "RANK text"."""

import atexit
import os
import sys

out_dir = sys.argv[1]  # an empty directory: the helper modules and their logs go there


def early() -> None:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    print(comm.Get_rank(), "early handler: finalized", MPI.Is_finalized(), "sum", comm.allreduce(comm.Get_rank()),
          flush=True)
    print(comm.Get_rank(), "ok", flush=True)  # the last handler to run: the checks are done


atexit.register(early)

from mpi4py import MPI  # noqa: E402 - after the first handler on purpose

comm = MPI.COMM_WORLD
rank = comm.Get_rank()
sys.path.insert(0, out_dir)
with open(os.path.join(out_dir, f"exit_order_log{rank}.py"), "w") as fh:
    fh.write(f"import os\nlog = open(os.path.join(os.path.dirname(__file__), 'log{rank}'), 'w')\n")
log_module = __import__(f"exit_order_log{rank}")
log_module.log.write(f"unclosed {rank}")


def late() -> None:
    print(rank, "late handler: finalized", MPI.Is_finalized(), flush=True)


atexit.register(late)
print(rank, "body done", flush=True)
