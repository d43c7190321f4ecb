"""Sessions (MPI-4) and generalized requests, the same under toro_mpi and mpi4py + Open MPI.

Sessions: the two process sets every implementation has, their sizes, the groups they give and
a communicator made from the world set that carries a collective. Generalized requests: the
callbacks' order and arguments, the status query_fn fills, Test before and after Complete,
Waitall mixing one with a receive, a callback's MPI error reaching the caller, and the objects
complete() hands to wait()/test()."""

from _mpi import COMM, MPI, RANK, SIZE, out

# -- sessions ------------------------------------------------------------------------------
session = MPI.Session.Init()
out("session", bool(session), session == MPI.SESSION_NULL, MPI.Session() == MPI.SESSION_NULL)
names = [session.Get_nth_pset(n) for n in range(session.Get_num_psets())]
for name in ("mpi://WORLD", "mpi://SELF"):
    info = session.Get_pset_info(name)
    group = session.Create_group(name)
    out("pset", name, name in names, info.Get("mpi_size"), group.Get_size(), group.Get_rank())
    info.Free()
    group.Free()
group = MPI.Group.Create_from_session_pset(session, "mpi://WORLD")
comm = MPI.Intracomm.Create_from_group(group, "toro.test.sessions")
out("session comm", comm.Get_size(), comm.Get_rank(), comm.allreduce(RANK + 1))
comm.Free()
group.Free()
session.Finalize()
out("finalized", session == MPI.SESSION_NULL)

# -- generalized requests ------------------------------------------------------------------
calls = []


def query(status, label):
    calls.append(("query", label))
    status.Set_source(RANK)
    status.Set_tag(40 + len(calls))


def free(label):
    calls.append(("free", label))


def cancel(completed, label):
    calls.append(("cancel", label, completed))


greq = MPI.Grequest.Start(query, free, cancel, args=("a",))
out("active", bool(greq), greq.Test())
greq.Cancel()
greq.Complete()
status = MPI.Status()
out("done", greq.Test(status), status.Get_source(), status.Get_tag(), status.Is_cancelled(), greq == MPI.REQUEST_NULL)
out("calls", calls)

calls.clear()
peer = (RANK + 1) % SIZE
buf = bytearray(4)
recv = COMM.Irecv(buf, source=(RANK - 1) % SIZE, tag=5)
COMM.Send(bytes([RANK] * 4), dest=peer, tag=5)
greq = MPI.Grequest.Start(query, free, None, args=("b",))
greq.Complete()
statuses = [MPI.Status(), MPI.Status()]
MPI.Request.Waitall([recv, greq], statuses)
out("waitall", list(buf), [(s.Get_source(), s.Get_tag()) for s in statuses], calls)


def failing_query(status):
    raise MPI.Exception(MPI.ERR_BUFFER)


greq = MPI.Grequest.Start(failing_query, None, None)
greq.Complete()
try:
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()) as err:
        greq.Wait()
    out("no error")
except MPI.Exception as exc:
    out("query error", exc.Get_error_class() == MPI.ERR_BUFFER, "Traceback" in err.getvalue())

greq = MPI.Grequest.Start()
out("py test before", greq.test())
greq.complete({"rank": RANK})
out("py wait", greq.wait(), greq.test())
out("ok")
