"""Communicators: Dup, Split (colors, keys, UNDEFINED), Get_group / Create, Free. Traffic on one
communicator never matches traffic on another, even with the same source and tag."""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, out


def main() -> None:
    dup = COMM.Dup()
    assert (dup.Get_rank(), dup.Get_size()) == (RANK, SIZE)
    if SIZE > 1:
        if RANK == 0:
            COMM.Send(np.array([1], np.int64), dest=1, tag=5)
            dup.Send(np.array([2], np.int64), dest=1, tag=5)
        elif RANK == 1:
            a, b = np.zeros(1, np.int64), np.zeros(1, np.int64)
            dup.Recv(b, source=0, tag=5)  # the later message, on the other communicator, first
            COMM.Recv(a, source=0, tag=5)
            out("dup isolation", int(a[0]), int(b[0]))
    sub = COMM.Split(color=RANK % 2, key=-RANK)
    world_of_sub = sub.Get_group().Translate_ranks(list(range(sub.Get_size())), COMM.Get_group())
    out("split", sub.Get_rank(), sub.Get_size(), world_of_sub)
    mine = np.array([RANK], np.int64)
    left = np.zeros(1, np.int64)
    sub.Sendrecv(mine, dest=(sub.Get_rank() + 1) % sub.Get_size(), sendtag=9, recvbuf=left,
                 source=(sub.Get_rank() - 1) % sub.Get_size(), recvtag=9)
    out("split ring got", int(left[0]))
    obj = sub.sendrecv({"from": RANK}, dest=(sub.Get_rank() + 1) % sub.Get_size(), sendtag=3,
                       source=(sub.Get_rank() - 1) % sub.Get_size(), recvtag=3)
    out("split ring object", obj)
    none = COMM.Split(MPI.UNDEFINED if RANK == 0 else 1, 0)
    out("undefined color gives COMM_NULL", none == MPI.COMM_NULL)
    group = COMM.Get_group().Excl([0])
    created = COMM.Create(group)
    if created == MPI.COMM_NULL:
        out("create: not a member")
    else:
        out("create", created.Get_rank(), created.Get_size())
        created.Barrier()
    dup.Free()
    try:
        dup.Send(np.zeros(1), dest=0, tag=0)
    except MPI.Exception as exc:
        out("use after Free", exc.Get_error_class() == MPI.ERR_COMM)
    sub.Barrier()
    COMM.Barrier()
    done()


if __name__ == "__main__":
    main()
