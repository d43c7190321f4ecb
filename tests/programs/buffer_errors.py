"""The Python exceptions bad buffer arguments raise, as mpi4py raises them: TypeError for what is
not a buffer (or a count that is not an integer), BufferError for a read-only receive buffer,
ValueError for a spec of the wrong length or bad counts and displacements, KeyError for an
unknown typecode. Each case prints `<case> = <classes>`: the Python exception classes the error
is an instance of (toro_mpi's are also MPI.Exception, which is not printed), or the MPI error
class where both raise an MPI error. Every case is one every rank raises by itself before any
message moves (point-to-point cases on a self Sendrecv, so a wrongly accepted spec cannot leave a
message behind). Run with 2 ranks under toro-mpirun and under mpiexec + mpi4py: same lines.
"""

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, done, error_class, out

N = 4


def classes(exc: BaseException) -> str:
    names = [c.__name__ for c in (TypeError, ValueError, BufferError, KeyError) if isinstance(exc, c)]
    return "+".join(names) or error_class(exc)


def case(what: str, fn) -> None:
    try:
        fn()
        got = "no-error"
    except Exception as exc:  # noqa: BLE001 - the classes are what is printed
        got = classes(exc)
    out(what, "=", got)


def selfsend(send, recv=None) -> None:
    """A message to this rank itself (send and receive both parsed before anything moves)."""
    COMM.Sendrecv(send, dest=RANK, sendtag=5, recvbuf=np.zeros(N) if recv is None else recv, source=RANK,
                  recvtag=5)


def p2p() -> None:
    z = np.zeros(N)
    ro = np.zeros(N)
    ro.flags.writeable = False
    for name, obj in (("dict", {}), ("int", 7), ("None", None), ("str", "abcd"), ("object", object())):
        case(f"Send {name}", lambda o=obj: selfsend(o))
        case(f"Recv into {name}", lambda o=obj: selfsend(z, o))
    case("Send [dict, DOUBLE]", lambda: selfsend([{}, MPI.DOUBLE]))
    case("Isend dict", lambda: COMM.Isend({}, dest=RANK, tag=1))
    case("Send_init dict", lambda: COMM.Send_init({}, dest=RANK, tag=1))
    case("Sendrecv without recvbuf", lambda: COMM.Sendrecv(z, dest=RANK, sendtag=5, source=RANK, recvtag=5))
    # Read-only receive buffers.
    case("Recv into bytes", lambda: selfsend(z, bytes(8 * N)))
    case("Recv into [bytes, BYTE]", lambda: selfsend(z, [bytes(8 * N), MPI.BYTE]))
    case("Recv into read-only array", lambda: selfsend(z, ro))
    case("Recv into read-only memoryview", lambda: selfsend(z, memoryview(bytes(8 * N))))
    case("Irecv into bytes", lambda: COMM.Irecv(b"abcd", source=RANK, tag=1))
    case("Recv_init into bytes", lambda: COMM.Recv_init(bytes(8), source=RANK, tag=1))
    case("Sendrecv_replace bytes", lambda: COMM.Sendrecv_replace(bytes(8), dest=RANK, source=RANK))
    # Spec shapes, datatypes, counts and displacements.
    for what, spec in (
        ("1 item", [z]),
        ("5 items", [z, 1, 0, MPI.DOUBLE, 9]),
        ("typecode 'zz'", [z, "zz"]),
        ("datatype 5", [z, 2, 5]),
        ("datatype [1]", [z, 2, [1]]),
        ("count 2.0", [z, 2.0, MPI.DOUBLE]),
        ("count 'x'", [z, "x", MPI.DOUBLE]),
        ("count -1", [z, -1, MPI.DOUBLE]),
        ("displ -1", [z, (1, -1), MPI.DOUBLE]),
        ("displ 'a'", [z, (1, "a"), MPI.DOUBLE]),
        ("displ beyond", [z, (1, N + 1), MPI.DOUBLE]),
        ("(count,) only", [z, (1,), MPI.DOUBLE]),
        ("(count, displ, x)", [z, (1, 0, 0), MPI.DOUBLE]),
        ("length not a multiple", [np.zeros(6, np.uint8), MPI.INT]),
        ("None with count 2", [None, 2, MPI.INT]),
        ("DATATYPE_NULL", [z, MPI.DATATYPE_NULL]),
    ):
        case(f"Send spec {what}", lambda s=spec: selfsend(s))
        case(f"Recv spec {what}", lambda s=spec: selfsend(z, s))
    # Well-formed specs of every shape mpi4py takes.
    for what, spec in (("[buf, count]", [z, N]), ("[buf, (count, displ)]", [z, (2, 2)]),
                       ("[buf, count, None]", [z, N, None]), ("[buf, count, displ, type]", [z, 2, 2, MPI.DOUBLE])):
        case(f"Send spec {what}", lambda s=spec: selfsend(s, np.zeros(N)))


def collectives() -> None:
    z = np.zeros(N)
    n = SIZE
    case("Bcast dict", lambda: COMM.Bcast({}, root=0))
    case("Allreduce into bytes", lambda: COMM.Allreduce(z, bytes(8 * N), op=MPI.SUM))
    case("Allreduce send int", lambda: COMM.Allreduce(7, z, op=MPI.SUM))
    case("Allreduce recv larger", lambda: COMM.Allreduce(z, np.zeros(2 * N), op=MPI.SUM))
    case("Allreduce recv smaller", lambda: COMM.Allreduce(z, np.zeros(N // 2), op=MPI.SUM))
    case("Allreduce types differ", lambda: COMM.Allreduce(z, np.zeros(N, np.int64), op=MPI.SUM))
    case("Scan recv larger", lambda: COMM.Scan(z, np.zeros(2 * N), op=MPI.SUM))
    case("Allgather into bytes", lambda: COMM.Allgather(z, bytes(8 * N * n)))
    case("Allgather recv int", lambda: COMM.Allgather(z, 7))
    case("Allgather recv not n blocks", lambda: COMM.Allgather(z, np.zeros(N * n + 1)))
    case("Alltoall send not n blocks", lambda: COMM.Alltoall(np.zeros(N * n + 1), np.zeros(N * n)))
    case("Alltoall into read-only", lambda: COMM.Alltoall(np.zeros(N * n), bytes(8 * N * n)))
    case("Reduce_scatter_block recv larger",
         lambda: COMM.Reduce_scatter_block(np.zeros(N * n), np.zeros(N + 1), op=MPI.SUM))
    case("Reduce_scatter counts length", lambda: COMM.Reduce_scatter(np.zeros(N * n), z, [N] * (n + 1)))
    case("Reduce_scatter counts sum", lambda: COMM.Reduce_scatter(np.zeros(N * n), z, [N] * (n - 1) + [N + 1]))
    case("Reduce_scatter counts float", lambda: COMM.Reduce_scatter(np.zeros(N * n), z, [float(N)] * n))
    counts = [N] * n
    recv = np.zeros(N * n)
    for what, spec in (
        ("counts length", [recv, counts + [N]]),
        ("counts str", [recv, ["a"] * n]),
        ("counts float", [recv, [float(N)] * n]),
        ("counts 4.0", [recv, float(N)]),
        ("displs length", [recv, (counts, [0] * (n + 1)), MPI.DOUBLE]),
        ("displs str", [recv, counts, ["a"] * n, MPI.DOUBLE]),
        ("1 item", [recv]),
        ("5 items", [recv, counts, None, MPI.DOUBLE, 0]),
        ("typecode 'zz'", [recv, counts, "zz"]),
        ("dict", {}),
        ("bytes", [bytes(8 * N * n), counts]),
    ):
        case(f"Allgatherv recv {what}", lambda s=spec: COMM.Allgatherv(z, s))
        case(f"Alltoallv recv {what}", lambda s=spec: COMM.Alltoallv([np.zeros(N * n), counts], s))
    # Well-formed v-specs mpi4py takes: one count for all, a stride, an even split.
    case("Allgatherv recv [buf, N]", lambda: COMM.Allgatherv(z, [recv, N]))
    case("Allgatherv recv [buf, (N, stride)]", lambda: COMM.Allgatherv(z, [np.zeros(2 * N * n), (N, 2 * N)]))
    case("Allgatherv recv plain", lambda: COMM.Allgatherv(z, recv))


def main() -> None:
    p2p()
    COMM.Barrier()
    collectives()
    COMM.Barrier()
    # Nothing is stuck or out of step.
    got = np.zeros(1)
    COMM.Allreduce(np.ones(1), got, op=MPI.SUM)
    token = COMM.sendrecv(RANK, dest=(RANK + 1) % SIZE, source=(RANK - 1) % SIZE)
    out("after the errors", got.tolist(), token)
    done()


main()
