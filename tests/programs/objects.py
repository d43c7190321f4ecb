"""Object (pickle) calls: send/recv, isend/irecv().wait(), ssend, sendrecv, to self, ANY_SOURCE;
None, nested containers, large numpy arrays (over 64 KiB they travel out of band)."""

import dataclasses

import numpy as np
from _mpi import COMM, IMPL, MPI, RANK, SIZE, digest, done, out, pattern


@dataclasses.dataclass
class Point:
    x: int
    y: float
    label: str


def objects(seed: int) -> list:
    return [
        None,
        {"a": 1, "b": [1, 2, {"c": (3, 4.5)}], "s": "x" * 100, "t": True},
        Point(seed, 2.5, "p"),
        pattern("float64", 100000, seed),  # 800 KB: out of band, rendezvous
        pattern("uint8", 70000, seed),  # out of band, fragmented eager
        pattern("uint8", 65535, seed),  # in band
        {"arrays": [pattern("int32", 20000, seed + i) for i in range(3)], "meta": ("m", seed)},
        bytes(range(256)) * 4096,
        "é" * 50000,
        pattern("complex128", 9000, seed)[::3],  # non-contiguous: pickled as a copy
        [[[[seed]]]],
        {},
        np.zeros((0, 3)),
        pattern("int16", 100000, seed).reshape(200, 500),
    ]


def same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def describe(obj) -> str:
    if isinstance(obj, np.ndarray):
        return f"ndarray {obj.dtype} {obj.shape} {digest(obj)}"
    if isinstance(obj, (bytes, str)):
        return f"{type(obj).__name__} {len(obj)} {digest(np.frombuffer(str(obj).encode(), np.uint8))}"
    if isinstance(obj, dict) and "arrays" in obj:
        return f"dict arrays {[digest(a) for a in obj['arrays']]} {obj['meta']}"
    return repr(obj)


def irecv(source: int, tag: int):
    """comm.irecv() as a user writes it; mpi4py needs a buffer for objects over 32 KiB."""
    if IMPL == "mpi4py":
        return COMM.irecv(bytearray(8 << 20), source=source, tag=tag)
    return COMM.irecv(source=source, tag=tag)


def main() -> None:
    right, left = (RANK + 1) % SIZE, (RANK - 1) % SIZE
    mine = objects(RANK)
    theirs = objects(left)
    # Blocking send/recv around the ring (isend first so nobody deadlocks).
    reqs = [COMM.isend(obj, dest=right, tag=i) for i, obj in enumerate(mine)]
    for i, want in enumerate(theirs):
        st = MPI.Status()
        got = COMM.recv(source=left, tag=i, status=st)
        assert st.Get_source() == left and st.Get_tag() == i
        assert same(want, got), (i, describe(got))
        out("recv", i, describe(got))
    MPI.Request.waitall(reqs)
    assert all(r == MPI.REQUEST_NULL for r in reqs)
    COMM.Barrier()
    # sendrecv, ssend (ring order avoids a cycle of synchronous sends), to self.
    got = COMM.sendrecv(mine[6], dest=right, sendtag=200, source=left, recvtag=200)
    assert same(theirs[6], got)
    if SIZE > 1:
        if RANK % 2 == 0:
            COMM.ssend(mine[3], dest=right, tag=201)
            got = COMM.recv(source=left, tag=201)
        else:
            got = COMM.recv(source=left, tag=201)
            COMM.ssend(mine[3], dest=right, tag=201)
        assert same(theirs[3], got)
    req = COMM.isend(mine[3], dest=RANK, tag=202)
    assert same(COMM.recv(source=RANK, tag=202), mine[3])
    req.wait()
    # Everyone sends rank 0 a big object; rank 0 takes them with ANY_SOURCE.
    COMM.Barrier()
    req = COMM.isend({"rank": RANK, "big": pattern("float64", 50000, RANK)}, dest=0, tag=300)
    if RANK == 0:
        seen = []
        for _ in range(SIZE):
            st = MPI.Status()
            got = irecv(MPI.ANY_SOURCE, 300).wait(st)
            assert got["rank"] == st.Get_source()
            assert same(got["big"], pattern("float64", 50000, got["rank"]))
            seen.append(got["rank"])
        out("ANY_SOURCE objects from", sorted(seen))
    req.wait()
    COMM.Barrier()
    # irecv() posted before the matching blocking send; wait() only after this rank's own sends.
    # The posted receive lets every send complete (MPI's progress rule), also for large objects.
    rreqs = [irecv(left, 100 + i) for i in range(len(mine))]
    COMM.Barrier()
    for i, obj in enumerate(mine):
        COMM.send(obj, dest=right, tag=100 + i)
    for i, req in enumerate(rreqs):
        got = req.wait()
        assert same(theirs[i], got), (i, describe(got))
        assert req == MPI.REQUEST_NULL
    out("irecv.wait", len(rreqs))
    COMM.Barrier()
    done()


main()
