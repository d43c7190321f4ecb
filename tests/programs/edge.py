"""Edge cases found in review: synchronous sends whose ack overtakes their last fragment,
truncation status, element-type mismatches (every receive path), Cancel, dtypes numba lacks,
a green thread spawned by a green thread, and a blocking Probe on a rank that has finalized.
toro_mpi only (uses toro_mpi.spawn)."""

import sys
import time

import numpy as np
from _mpi import COMM, MPI, RANK, done, out

import toro_mpi


def sync_sends() -> None:
    big = np.arange(2 << 20, dtype=np.uint8)
    if RANK == 0:
        req = COMM.Issend(big, dest=1, tag=1)
        time.sleep(0.2)
        req.Wait()
        COMM.Ssend(big[:65536], dest=1, tag=2)
        COMM.ssend({"payload": big[:300000]}, dest=1, tag=3)
        out("sync sends done")
    elif RANK == 1:
        time.sleep(0.3)
        got = np.zeros_like(big)
        COMM.Recv(got, source=0, tag=1)
        assert (got == big).all()
        part = np.zeros(65536, np.uint8)
        COMM.Recv(part, source=0, tag=2)
        assert (part == big[:65536]).all()
        obj = COMM.recv(source=0, tag=3)
        assert (obj["payload"] == big[:300000]).all()
        out("sync receives done")


def truncation_status() -> None:
    if RANK == 0:
        COMM.Send(np.arange(8, dtype=np.int64), dest=1, tag=4)
        COMM.Send(np.arange(8, dtype=np.float32), dest=1, tag=5)
    elif RANK == 1:
        for tag, buf in ((4, np.zeros(1, np.int64)), (5, np.zeros(1, np.float32))):
            st = MPI.Status()
            try:
                COMM.Recv(buf, source=0, tag=tag, status=st)
            except MPI.Exception as exc:
                assert exc.Get_error_class() == MPI.ERR_TRUNCATE
            else:
                raise AssertionError("no ERR_TRUNCATE")
            assert (st.Get_source(), st.Get_tag(), st.Get_error()) == (0, tag, MPI.ERR_TRUNCATE), st
            out("truncation status", tag, st.Get_source(), st.Get_tag())


def expect_type_error(buf, source: int, tag: int, sent: str = "float64") -> None:
    """A receive whose buffer holds another element type than the message: ERR_TYPE naming both
    types, status set."""
    st = MPI.Status()
    try:
        COMM.Recv(buf, source=source, tag=tag, status=st)
    except MPI.Exception as exc:
        assert exc.Get_error_class() == MPI.ERR_TYPE, exc
        assert f"carries {sent} elements" in str(exc) and f"holds {buf.dtype.name}" in str(exc), str(exc)
    else:
        raise AssertionError(f"tag {tag}: no ERR_TYPE for {buf.dtype}")
    assert (st.Get_source(), st.Get_tag(), st.Get_error()) == (source, tag, MPI.ERR_TYPE), st
    out("type mismatch", tag)


def type_mismatch() -> None:
    big = np.arange(300000, dtype=np.float64)  # fragmented, or rendezvous on that bus
    if RANK == 0:
        COMM.Send(np.arange(4.0), dest=1, tag=20)  # receiver's fast path
        COMM.Send(big, dest=1, tag=21)
        COMM.Ssend(np.arange(4.0), dest=1, tag=25)  # acknowledged although the receive fails
        COMM.Send(np.arange(5, dtype=np.float32), dest=1, tag=22)  # these three arrive unexpected
        COMM.Send(np.arange(3, dtype=np.int32), dest=1, tag=27)
        COMM.Send([np.arange(3, dtype=np.int32), MPI.INT32_T], dest=1, tag=28)
        COMM.Send(np.arange(4.0), dest=1, tag=23)
        COMM.Send(np.arange(6, dtype=np.int64), dest=1, tag=29)
        COMM.Send(np.zeros((2, 2)), dest=1, tag=31)  # other shapes carry their element type too
        COMM.Send(np.zeros(4), dest=1, tag=32)
    elif RANK == 1:
        expect_type_error(np.zeros(4, np.int64), 0, 20)
        expect_type_error(np.zeros(big.size, np.int64), 0, 21)
        expect_type_error(np.zeros(4, np.int64), 0, 25)
        raw = np.zeros(32, np.uint8)  # bytes take any element type
        COMM.Recv(raw, source=0, tag=23)
        assert (raw.view(np.float64) == np.arange(4.0)).all()
        expect_type_error(np.zeros(5, np.int32), 0, 22, "float32")  # from the unexpected list
        as_bytes = np.zeros(12, np.uint8)
        COMM.Recv([as_bytes, MPI.INT], source=0, tag=27)  # a typed spec over bytes: unchecked
        assert (as_bytes.view(np.int32) == np.arange(3)).all()
        same = np.zeros(3, np.intc)  # MPI_INT32_T and MPI_INT are one signature here
        COMM.Recv(same, source=0, tag=28)
        assert (same == np.arange(3)).all()
        after = np.zeros(6, np.int64)
        COMM.Recv(after, source=0, tag=29)  # nothing left jammed behind the failures
        assert (after == np.arange(6)).all()
        expect_type_error(np.zeros(4, np.int64), 0, 31)
        expect_type_error(np.zeros((2, 2), np.int64), 0, 32)
        req = COMM.Isend(np.arange(2.0), dest=1, tag=30)
        expect_type_error(np.zeros(2, np.int64), 1, 30)  # to itself
        req.Wait()
        out("type checks done")


def cancel() -> None:
    if RANK == 0:
        COMM.Send(np.arange(3, dtype=np.int32), dest=1, tag=6)
    elif RANK == 1:
        matched = COMM.Irecv(buf := np.zeros(3, np.int32), source=0, tag=6)
        while not COMM.Iprobe(source=0, tag=999) and not matched.Get_status():
            pass
        matched.Cancel()  # already matched: completes normally
        st = MPI.Status()
        matched.Wait(st)
        assert not st.Is_cancelled() and (buf == np.arange(3)).all()
        pending = COMM.Irecv(np.zeros(3, np.int32), source=0, tag=777)
        pending.Cancel()
        st = MPI.Status()
        pending.Wait(st)
        assert st.Is_cancelled()
        out("cancel ok")


def odd_dtypes() -> None:
    for dtype in (np.float16, np.longdouble):
        data = np.arange(10, dtype=dtype)
        if RANK == 0:
            COMM.Send(data, dest=1, tag=8)
        elif RANK == 1:
            got = np.zeros(10, dtype)
            COMM.Recv(got, source=0, tag=8)
            assert (got == data).all()
            out("dtype", np.dtype(dtype).name)


def nested_green_threads() -> None:
    log = []

    def child():
        log.append("child")

    def parent():
        toro_mpi.spawn(child)
        log.append("parent")

    toro_mpi.spawn(parent).join()
    toro_mpi.yield_()
    assert log == ["parent", "child"], log
    out("nested spawn ok")


def probe_orphan() -> None:
    if RANK == 1:
        try:
            COMM.Probe(source=0, tag=55)
        except MPI.Exception as exc:
            out("probe on a finalized rank:", MPI.Get_error_string(exc.Get_error_class()))


if __name__ == "__main__":
    sync_sends()
    truncation_status()
    type_mismatch()
    cancel()
    odd_dtypes()
    nested_green_threads()
    COMM.Barrier()
    if "probe" in sys.argv:
        probe_orphan()
    done()
