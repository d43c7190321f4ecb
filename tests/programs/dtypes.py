"""Send/Recv of every numeric dtype at sizes around the fragment and rendezvous boundaries
(8192-byte buffers less a 32-byte header; rendezvous from 256 KiB or 512 KiB, so both).

Rank 0 sends each (dtype, count) message to every other rank, which checks the content and the
status and sends it back; rank 0 checks the echo. Buffer specs rotate between a bare array,
[buf, datatype] and [buf, count, datatype]. Arguments: dtype names (default: all).
"""

import sys

import numpy as np
from _mpi import COMM, DTYPES, MPI, RANK, SIZE, digest, done, mpi_type, out, pattern

MIB4 = 4 << 20
# Around the one-fragment limit of an 8 KiB and of a 32 KiB (default) buffer (buffer - 32-byte
# header), whole buffers, and the rendezvous thresholds used in the tests.
BYTE_SIZES = (8159, 8160, 8161, 8192, 16352, 16384, 16385, 32735, 32736, 32737, 32768, 65504, 65536,
              262143, 262144, 262145, 524287, 524288, 524289)
FRAGMENT_LIMITS = (8160, 32736)


def counts(dtype: str) -> list[int]:
    size = np.dtype(dtype).itemsize
    found = {0, 1, 7, 8159, 8160, 8161, 100000, MIB4 // size}
    found |= {max(0, (b + size - 1) // size + d) for b in FRAGMENT_LIMITS for d in (-1, 0, 1)}
    if size == 1:
        found |= set(BYTE_SIZES)
    return sorted(found)


def spec(arr: np.ndarray, dtype: str, i: int):
    if i % 3 == 0:
        return arr
    if i % 3 == 1:
        return [arr, mpi_type(dtype)]
    return [arr, arr.size, mpi_type(dtype)]


def main() -> None:
    names = sys.argv[1:] or list(DTYPES)
    assert SIZE >= 2, "dtypes needs at least 2 ranks"
    i = 0
    for dtype in names:
        dt = mpi_type(dtype)
        for count in counts(dtype):
            i += 1
            tag = i
            if RANK == 0:
                for peer in range(1, SIZE):
                    data = pattern(dtype, count, peer)
                    COMM.Send(spec(data, dtype, i), dest=peer, tag=tag)
                for peer in range(1, SIZE):
                    back = np.zeros(count, dtype)
                    st = MPI.Status()
                    COMM.Recv(spec(back, dtype, i + 1), source=peer, tag=tag, status=st)
                    assert st.Get_source() == peer and st.Get_tag() == tag, (st.Get_source(), st.Get_tag())
                    assert st.Get_count(dt) == count, (dtype, count, st.Get_count(dt))
                    expect = pattern(dtype, count, peer)
                    assert np.array_equal(back, expect), f"echo from {peer} differs: {dtype} x {count}"
                    out("echo", peer, dtype, count, digest(back))
            else:
                buf = np.zeros(count, dtype)
                st = MPI.Status()
                COMM.Recv(spec(buf, dtype, i + 2), source=0, tag=tag, status=st)
                assert st.source == 0 and st.tag == tag
                assert st.Get_count(dt) == count, (dtype, count, st.Get_count(dt))
                assert st.Get_count(MPI.BYTE) == count * np.dtype(dtype).itemsize
                expect = pattern(dtype, count, RANK)
                if not np.array_equal(buf, expect):
                    bad = np.flatnonzero(buf != expect)
                    raise AssertionError(f"{dtype} x {count}: {bad.size} elements differ, first at {bad[0]}")
                out("recv", dtype, count, digest(buf))
                COMM.Send(spec(buf, dtype, i), dest=0, tag=tag)
    done()


main()
