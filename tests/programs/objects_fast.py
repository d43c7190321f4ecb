"""Object send/recv on the paths a plain pickle takes (one message, received whole from its
source's ring head) and around them: every size class of frame, out-of-band buffers, a head of
another tag, ANY_SOURCE and ANY_TAG with statuses, a synchronous send, objects sent as buffers
and buffers received as objects, PROC_NULL and bad arguments. Prints what arrived.

Run: python tests/programs/objects_fast.py (under toro-mpirun or mpiexec).
"""

from __future__ import annotations

import pickle

import numpy as np
from _mpi import COMM, MPI, RANK, SIZE, digest, error_class, out

RIGHT, LEFT = (RANK + 1) % SIZE, (RANK - 1) % SIZE


def shown(obj: object) -> str:
    """A short, implementation-independent rendering of a received object."""
    if isinstance(obj, np.ndarray):
        return f"array {obj.dtype} {obj.shape} {digest(obj)}"
    if isinstance(obj, (bytes, bytearray)) and len(obj) > 64:
        return f"bytes {len(obj)} {digest(np.frombuffer(obj, np.uint8))}"
    return repr(obj)


OBJECTS = [
    7, None, "", "text", {"a": 1, "b": [1.5, None, (2, 3)]}, list(range(50)),
    b"x" * 3000,  # several KiB in band
    b"y" * 40000,  # above the ring's buffer: fragments, or rendezvous
    b"z" * 300000,  # large, in band (bytes are never out of band)
    np.arange(10, dtype=np.int32),  # small array: in band
    np.arange(20000, dtype=np.float64),  # 160 KB array: out of band, a message of its own
    {"big": np.full(70000, 3, np.uint8), "small": np.ones(3)},  # one out-of-band part among others
]
OUT_OF_BAND = 10  # OBJECTS from here on have out-of-band buffers


def ring() -> None:
    """Every object around a ring, several times (the receiver is sometimes first, sometimes not)."""
    st = MPI.Status()
    for rep in range(3):
        for i, obj in enumerate(OBJECTS):
            tag = 10 + i
            if RANK % 2 == 0:
                COMM.send(obj, dest=RIGHT, tag=tag)
                got = COMM.recv(source=LEFT, tag=tag, status=st)
            else:
                got = COMM.recv(source=LEFT, tag=tag, status=st)
                COMM.send(obj, dest=RIGHT, tag=tag)
            if rep == 2:
                # (An object with out-of-band buffers counts its pickle stream here, mpi4py the
                # buffers too, pickled in band: not compared.)
                count = st.Get_count() if i < OUT_OF_BAND else "-"
                out(f"ring {i}: {shown(got)} from {st.Get_source()} tag {st.Get_tag()} count {count}")


def tags_and_wildcards() -> None:
    """A head of another tag stays for its own receive; ANY_TAG and ANY_SOURCE report the sender."""
    st = MPI.Status()
    COMM.send("first, tag 1", dest=RIGHT, tag=1)
    COMM.send("second, tag 2", dest=RIGHT, tag=2)
    b = COMM.recv(source=LEFT, tag=2, status=st)
    out(f"tag 2 before tag 1: {b!r} {st.Get_tag()}")
    a = COMM.recv(source=LEFT, tag=1)
    out(f"then tag 1: {a!r}")
    COMM.send(("any", RANK), dest=RIGHT, tag=5)
    c = COMM.recv(source=LEFT, tag=MPI.ANY_TAG, status=st)
    out(f"any tag: {c!r} tag {st.Get_tag()} source {st.Get_source()}")
    COMM.send(("any source", RANK), dest=RIGHT, tag=6)
    d = COMM.recv(source=MPI.ANY_SOURCE, tag=6, status=st)
    out(f"any source: {d!r} source {st.Get_source()}")
    for k in range(5):  # several waiting at once, taken in order
        COMM.send(k, dest=RIGHT, tag=7)
    out(f"in order: {[COMM.recv(source=LEFT, tag=7) for _ in range(5)]}")


def synchronous_and_mixed() -> None:
    """An ssend completes once received; a buffer Send of a pickle is an object, and an object
    is a pickle in a buffer."""
    if RANK % 2 == 0:
        COMM.ssend({"sync": RANK}, dest=RIGHT, tag=20)
        got = COMM.recv(source=LEFT, tag=20)
    else:
        got = COMM.recv(source=LEFT, tag=20)
        COMM.ssend({"sync": RANK}, dest=RIGHT, tag=20)
    out(f"ssend: {got!r}")
    data = np.frombuffer(pickle.dumps(["as buffer", RANK], protocol=5), np.uint8)
    COMM.Send(data, dest=RIGHT, tag=21)
    out(f"Send of a pickle, recv: {COMM.recv(source=LEFT, tag=21)!r}")
    COMM.send(["as object", RANK], dest=RIGHT, tag=22)
    st = MPI.Status()
    COMM.Probe(source=LEFT, tag=22, status=st)
    raw = np.empty(st.Get_count(), np.uint8)
    COMM.Recv(raw, source=LEFT, tag=22)
    out(f"send, Recv of the pickle: {pickle.loads(raw.tobytes())!r}")


def edges() -> None:
    """PROC_NULL, and the errors of a bad rank or tag."""
    COMM.send("nowhere", dest=MPI.PROC_NULL)
    out(f"recv from PROC_NULL: {COMM.recv(source=MPI.PROC_NULL)!r}")
    for what, call in (("send to a rank out of range", lambda: COMM.send(1, dest=SIZE)),
                       ("send with a negative tag", lambda: COMM.send(1, dest=RIGHT, tag=-5)),
                       ("recv from a rank out of range", lambda: COMM.recv(source=SIZE))):
        try:
            call()
            out(f"{what}: no error")
        except Exception as exc:  # noqa: BLE001 - the class is what is compared
            out(f"{what}: {error_class(exc)}")


def collectives() -> None:
    """The object collectives with pickles that fit their slot and ones that do not, some ranks'
    only, repeated (so the buffer collectives under them hit their records); results kept from
    one call to the next must not change (they may not share the slot's memory)."""
    kept = []
    for step in range(4):
        root = step % SIZE
        small = {"rank": RANK, "step": step}
        big = np.arange(200 + 100 * RANK, dtype=np.int64) + step  # 1.6-2.4 KB: past the slot
        mine = big if (RANK + step) % 2 else small  # overflow on some ranks only
        b = COMM.bcast(mine if RANK == root else None, root=root)
        kept.append(b)
        out(f"bcast {step}: {shown(b)}")
        g = COMM.gather(mine, root=root)
        out(f"gather {step}: {[shown(x) for x in g] if g is not None else None}")
        a = COMM.allgather(mine)
        kept.append(a)
        out(f"allgather {step}: {[shown(x) for x in a]}")
        a = COMM.allgather(small)
        out(f"allgather small {step}: {a}")
        items = [big if (r + step) % 2 else {"to": r, "from": RANK} for r in range(SIZE)] if RANK == root else None
        out(f"scatter {step}: {shown(COMM.scatter(items, root=root))}")
        sent = [big if (r + RANK + step) % 3 == 0 else ("to", r, "from", RANK) for r in range(SIZE)]
        out(f"alltoall {step}: {[shown(x) for x in COMM.alltoall(sent)]}")
        out(f"reduce {step}: {COMM.reduce(RANK + step, op=MPI.SUM, root=root)}")
        out(f"allreduce {step}: {COMM.allreduce([RANK] * (1 + 100 * (RANK % 2)), op=MPI.SUM)[:3]}")
        out(f"scan/exscan {step}: {COMM.scan(RANK + 1)} {COMM.exscan(RANK + 1)}")
    out(f"kept: {[shown(x) if not isinstance(x, list) else [shown(y) for y in x] for x in kept]}")


def main() -> None:
    ring()
    tags_and_wildcards()
    synchronous_and_mixed()
    edges()
    collectives()
    COMM.Barrier()
    out("ok")


if __name__ == "__main__":
    main()
