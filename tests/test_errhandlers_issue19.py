"""Error handlers (issue #19): against mpi4py + Open MPI, and the guard's own invariants.

Differential (toro-mpirun and mpiexec + mpi4py, same program, same lines / exit status):
- tests/programs/errhandlers_issue19.py: which handler runs for which error (user functions on
  communicators, sessions, requests, calls on no object), with which handle and error class,
  and what the call raises after; Call_errhandler; the wrong-kind and bad-argument errors; the
  32 slots of user handlers.
- tests/programs/errhandler_fatal.py: ERRORS_ARE_FATAL, ERRORS_ABORT and a raising user handler
  end the job with the status Open MPI gives (the error code, 1 for the raising handler), and the
  failing call never returns.

In process (no job): with ERRORS_RETURN nothing of the guard stays in a communicator or in the
Request and Datatype classes (the default hot paths run unwrapped), and a call a communicator
installs for itself (hot_sites' Barrier) stays under the guard.
"""

from __future__ import annotations

import difflib

import pytest
from helpers import assert_ok, ref_available, run_ref, run_toro

_why_not = ref_available()
needs_ref = pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}")


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("shm_clean")
@needs_ref
@pytest.mark.parametrize("n", [1, 2, 4])
def test_errhandlers_same_as_mpi4py(n: int) -> None:
    """Every case prints the handler's calls and the call's outcome: the same under both."""
    ref = run_ref("errhandlers_issue19", n, timeout=120)
    want = assert_ok(ref, n)
    got = assert_ok(run_toro("errhandlers_issue19", n, timeout=180), n)
    for rank in range(n):
        if got.get(rank) != want.get(rank):
            diff = "\n".join(difflib.unified_diff(want.get(rank, []), got.get(rank, []), "mpi4py", "toro_mpi",
                                                  lineterm=""))
            pytest.fail(f"rank {rank} printed different lines under toro_mpi:\n{diff}")


# mode -> what stderr must say (both implementations)
FATAL_MODES = {
    "fatal-send": "MPI_ERRORS_ARE_FATAL",
    "abort-send": "MPI_ERRORS_ABORT",
    "fatal-call": "MPI_ERRORS_ARE_FATAL",
    "fatal-type": "MPI_ERRORS_ARE_FATAL",
    "user-raises": "Fatal Python error: exception in user-defined error handler function",
    "return-send": "",
}


@pytest.mark.timeout(300)
@pytest.mark.usefixtures("shm_clean")
@needs_ref
@pytest.mark.parametrize("mode", sorted(FATAL_MODES))
def test_fatal_handlers_end_the_job_as_open_mpi(mode: str) -> None:
    """The exit status is the reference's (the error code; 1 for a raising user handler; 0 when
    ERRORS_RETURN lets the program catch it), the report is on stderr, and rank 0's output is
    the same (nothing after an aborting call)."""
    ref = run_ref("errhandler_fatal", 2, mode, timeout=120)
    got = run_toro("errhandler_fatal", 2, mode, timeout=120)
    assert got.rc == ref.rc, f"exit status {got.rc}, the reference's is {ref.rc}{got.explain()}{ref.explain()}"
    assert ref.rc == (0 if mode == "return-send" else {"fatal-call": 4, "fatal-type": 3, "user-raises": 1}.get(mode, 6))
    marker = FATAL_MODES[mode]
    if marker:
        assert marker in ref.err, f"the reference did not say {marker!r}{ref.explain()}"
        assert marker in got.err, f"toro_mpi did not say {marker!r}{got.explain()}"
    assert got.lines(0) == ref.lines(0), f"rank 0 printed {got.lines(0)}, the reference {ref.lines(0)}"


def test_default_handler_leaves_no_wrapper() -> None:
    """A user handler puts the guard in (wrappers in the comm's __dict__, in Request's and
    Datatype's methods); ERRORS_RETURN takes every piece out again."""
    from toro_mpi import MPI
    from toro_mpi.mpi import errhandler as E

    comm = MPI.COMM_WORLD.Dup()
    plain = dict(comm.__dict__)
    wait, free = MPI.Request.Wait, MPI.Datatype.Free
    calls: list[int] = []
    eh = MPI.Comm.Create_errhandler(lambda c, code: calls.append(code))
    try:
        comm.Set_errhandler(eh)
        assert "Send" in comm.__dict__ and "_errh_guard" in comm.__dict__
        assert MPI.Request.Wait is not wait
        with pytest.raises(MPI.Exception):
            comm.Send(b"x", dest=comm.size + 1)
        assert calls == [MPI.ERR_RANK]
        MPI.COMM_WORLD.Set_errhandler(eh)  # COMM_WORLD's handler takes the calls on no object
        assert MPI.Datatype.Free is not free
        with pytest.raises(MPI.Exception):
            MPI.INT.Free()
        assert calls == [MPI.ERR_RANK, MPI.ERR_TYPE]
    finally:
        MPI.COMM_WORLD.Set_errhandler(MPI.ERRORS_RETURN)
        comm.Set_errhandler(MPI.ERRORS_RETURN)
    assert comm.__dict__.keys() == plain.keys()
    assert MPI.Request.Wait is wait and MPI.Datatype.Free is free
    assert E._REQUESTS.users == 0 and E._OBJECTLESS.users == 0
    comm.Free()


def test_own_calls_stay_under_the_guard() -> None:
    """install_call (hot_sites' Barrier) under a guard: the wrapper stays the attribute and calls
    the installed function; remove_call and unguarding put things back as they were."""
    from toro_mpi import MPI
    from toro_mpi.mpi import errhandler as E

    comm = MPI.COMM_WORLD.Dup()
    ran: list[str] = []
    E.install_call(comm, "Barrier", lambda: ran.append("own"))
    comm.Barrier()
    assert ran == ["own"]
    comm.Set_errhandler(MPI.ERRORS_ARE_FATAL)
    wrapper = comm.__dict__["Barrier"]
    comm.Barrier()
    assert ran == ["own", "own"]
    E.install_call(comm, "Barrier", lambda: ran.append("newer"))
    assert comm.__dict__["Barrier"] is wrapper
    comm.Barrier()
    E.remove_call(comm, "Barrier")
    assert comm.__dict__["Barrier"] is wrapper
    comm.Barrier()  # the class's Barrier now: it makes its plan hot and installs it (hot_sites)
    comm.Barrier()
    assert ran == ["own", "own", "newer"]
    assert comm.__dict__["Barrier"] is wrapper, "the hot Barrier replaced the guard's wrapper"
    comm.Set_errhandler(MPI.ERRORS_RETURN)
    assert comm.__dict__.get("Barrier") is not wrapper  # the hot one (if any) is back in place
    comm.Barrier()
    comm.Free()


def test_another_class_plugs_in() -> None:
    """The hook a window (or file) class uses: ErrhandlerMixin, _errh_kind, _errh_check, the
    handler in _errhandler, handles sharing one __dict__. Its Create/Set/Get/Call_errhandler
    work, a user handler of its own kind runs on an error in its calls (with a new handle, nulled
    after), a Comm handler is refused, and ERRORS_RETURN takes the guard out."""
    from toro_mpi import MPI
    from toro_mpi.errors import ERR_RMA_SYNC, ERR_WIN, MPIException
    from toro_mpi.mpi.errhandler import ERRORS_RETURN, ErrhandlerMixin

    class Window(ErrhandlerMixin):
        _errh_kind = "Win"

        def __init__(self, other: Window | None = None) -> None:
            if other is not None:
                self.__dict__ = other.__dict__  # another handle to the same window
            else:
                self._errhandler = ERRORS_RETURN
                self.live = True

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Window) and other.__dict__ is self.__dict__

        def __bool__(self) -> bool:
            return self.__dict__.get("live", False)

        def _errh_check(self) -> None:
            if not self:
                raise MPIException(ERR_WIN, "invalid window")

        def _errh_null(self) -> None:
            self.__dict__ = {}

        def Fence(self) -> None:
            raise MPIException(ERR_RMA_SYNC, "wrong synchronization of RMA calls")

    win = Window()
    calls: list[tuple[bool, bool, int]] = []
    kept: list[Window] = []

    def handler(w: Window, code: int) -> None:
        calls.append((w == win, w is win, code))
        kept.append(w)

    eh = Window.Create_errhandler(handler)
    with pytest.raises(MPI.Exception) as refused:
        win.Set_errhandler(MPI.Comm.Create_errhandler(lambda c, e: None))
    assert refused.value.Get_error_class() == MPI.ERR_ARG
    win.Set_errhandler(eh)
    assert win.Get_errhandler() == eh
    with pytest.raises(MPI.Exception) as raised:
        win.Fence()
    assert raised.value.Get_error_class() == ERR_RMA_SYNC
    assert calls == [(True, False, ERR_RMA_SYNC)] and not kept[0]  # a new handle, null afterwards
    win.Call_errhandler(MPI.ERR_OTHER)
    assert calls[-1] == (True, False, MPI.ERR_OTHER)
    win.Set_errhandler(MPI.ERRORS_RETURN)
    assert "Fence" not in win.__dict__
    with pytest.raises(MPI.Exception):
        win.Fence()
    assert len(calls) == 2
    with pytest.raises(MPI.Exception) as null:
        Window.__new__(Window).Get_errhandler()
    assert null.value.Get_error_class() == ERR_WIN


def test_free_takes_the_guard_out() -> None:
    """Freeing a communicator that has a handler ends its guard (and the class guards it held)."""
    from toro_mpi import MPI
    from toro_mpi.mpi import errhandler as E

    users = E._REQUESTS.users
    comm = MPI.COMM_WORLD.Dup()
    comm.Set_errhandler(MPI.Comm.Create_errhandler(lambda c, e: None))
    assert E._REQUESTS.users == users + 1
    comm.Free()
    assert "_errh_guard" not in comm.__dict__ and "Send" not in comm.__dict__
    assert E._REQUESTS.users == users
