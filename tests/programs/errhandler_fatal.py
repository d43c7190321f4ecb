"""What ends the job through an error handler (issue #19), one mode per run (argv[1]):

  fatal-send   COMM_WORLD with ERRORS_ARE_FATAL, rank 0 sends to a bad rank: exit status ERR_RANK
  abort-send   a Dup with ERRORS_ABORT, the same error: exit status ERR_RANK
  fatal-call   Call_errhandler(ERR_TAG) under ERRORS_ARE_FATAL: exit status ERR_TAG
  fatal-type   COMM_WORLD with ERRORS_ARE_FATAL, rank 0 frees MPI.INT (no object: COMM_WORLD's)
  user-raises  a user handler that raises: traceback, "Fatal Python error: ...", exit status 1
  return-send  ERRORS_RETURN: the error is caught and the job ends normally (exit status 0)

Rank 0 prints `caught` if the call raised and it caught it, then `continues`; the other ranks wait
for it (so a job that is not aborted ends normally) and print `ok`.
"""

import sys

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, out

mode = sys.argv[1]
target = COMM.Dup() if mode == "abort-send" else COMM
if RANK == 0:
    if mode.startswith("fatal"):
        target.Set_errhandler(MPI.ERRORS_ARE_FATAL)
    elif mode.startswith("abort"):
        target.Set_errhandler(MPI.ERRORS_ABORT)
    elif mode == "user-raises":
        target.Set_errhandler(MPI.Comm.Create_errhandler(lambda comm, code: 1 / 0))
    try:
        if mode == "fatal-call":
            target.Call_errhandler(MPI.ERR_TAG)
        elif mode == "fatal-type":
            MPI.INT.Free()
        else:
            target.Send(np.zeros(3), dest=SIZE + 5)
    except MPI.Exception:
        out("caught")
    out("continues")
    for peer in range(1, SIZE):
        COMM.send("go", dest=peer)
else:
    COMM.recv(source=0)
out("ok")
