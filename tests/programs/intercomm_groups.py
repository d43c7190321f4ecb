"""Intercomm.Create_from_groups (MPI-4; toro_mpi only here: the reference's Open MPI runs it at
two ranks at most): the two halves of COMM_WORLD, leaders at either end, twice with different
string tags; the result matches Create_intercomm's and carries traffic."""

from _mpi import COMM, MPI, RANK, SIZE, done, out


def main() -> None:
    half = SIZE // 2
    world = COMM.Get_group()
    low, high = world.Incl(list(range(half))), world.Incl(list(range(half, SIZE)))
    color = 0 if RANK < half else 1
    mine, theirs = (low, high) if color == 0 else (high, low)
    for stringtag, leader in (("first", 0), ("second", -1)):
        lead = leader % mine.Get_size()
        rlead = leader % theirs.Get_size()
        ic = MPI.Intercomm.Create_from_groups(mine, lead, theirs, rlead, stringtag)
        local = COMM.Split(color, 0)
        ref = local.Create_intercomm(0, COMM, half if color == 0 else 0)
        out(stringtag, "congruent", MPI.Comm.Compare(ic, ref) == MPI.CONGRUENT)
        out("allgather", stringtag, ic.allgather(RANK), ic.Get_rank(), ic.Get_size(), ic.Get_remote_size())
        for c in (ic, ref, local):
            c.Free()
    try:
        MPI.Intercomm.Create_from_groups(mine, mine.Get_size(), theirs, 0)
    except MPI.Exception as exc:
        out("bad leader", exc.Get_error_class() == MPI.ERR_ARG)
    done()


main()
