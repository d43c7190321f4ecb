"""buffers.plain_array / plain_spec: which buffer specs name exactly their whole array (and may
take the bare array's hot paths), and which keep the general parsing."""

from __future__ import annotations

import numpy as np
import pytest

from toro_mpi import MPI
from toro_mpi.mpi.buffers import plain_array, plain_spec


@pytest.mark.parametrize(("dtype", "datatype"), [
    ("i4", MPI.INT), ("i4", MPI.INT32_T), ("f8", MPI.DOUBLE), ("f4", MPI.FLOAT), ("i8", MPI.LONG),
    ("u1", MPI.BYTE), ("c16", MPI.C_DOUBLE_COMPLEX), ("?", MPI.C_BOOL), ("i2", MPI.SHORT)])
def test_whole_array_of_its_own_type(dtype: str, datatype: MPI.Datatype) -> None:
    arr = np.zeros(5, dtype)
    assert plain_array([arr, datatype]) is arr
    assert plain_array((arr, datatype)) is arr
    assert plain_spec([arr, datatype]) is arr


def test_specs_that_select_something_else() -> None:
    arr = np.zeros(6, np.int32)
    assert plain_array([arr, MPI.FLOAT]) is None  # same size, another type: bytes as they are
    assert plain_array([arr, MPI.BYTE]) is None
    assert plain_array([arr, 4, MPI.INT]) is None  # a shorter count
    # A count makes the message untyped bytes (buffers._sized), not the array's typed message.
    assert plain_array([arr, 6, MPI.INT]) is None
    assert plain_array([arr, (6, 0), MPI.INT]) is None  # (count, displacement)
    assert plain_array([arr, 6, 0, MPI.INT]) is None
    assert plain_array([arr, 6]) is None  # a count without a datatype
    assert plain_array([arr, "i"]) is None  # a typecode: parsed the general way
    assert plain_array([arr.tolist(), MPI.INT]) is None  # not an ndarray
    assert plain_array([bytearray(24), MPI.INT]) is None
    assert plain_array([np.zeros(6, ">i4"), MPI.INT]) is None  # foreign byte order
    dup = MPI.INT.Dup()
    try:
        assert plain_array([arr, dup]) is None  # not a predefined object (same meaning: parsed)
    finally:
        dup.Free()
    vector = MPI.INT.Create_vector(2, 1, 2).Commit()
    try:
        assert plain_array([arr, vector]) is None
    finally:
        vector.Free()
    pairs = np.zeros(2, MPI.FLOAT_INT.dtype)
    assert plain_array([pairs, MPI.FLOAT_INT]) is None  # pair types keep the general path


def test_plain_spec_passes_everything_else_through() -> None:
    arr = np.zeros(3)
    spec = [arr, MPI.INT]
    assert plain_spec(spec) is spec
    assert plain_spec(arr) is arr
    assert plain_spec(MPI.IN_PLACE) is MPI.IN_PLACE
    assert plain_spec(None) is None
    assert plain_spec([]) == []


@pytest.mark.parametrize(("dtype", "name"), [("u1", "CHAR"), ("u1", "SIGNED_CHAR"), ("u1", "INT8_T"),
                                           ("i1", "UNSIGNED_CHAR"), ("i1", "BYTE"), ("i1", "UINT8_T")])
def test_one_byte_arrays_under_the_other_signedness_are_parsed(dtype: str, name: str) -> None:
    """[int8 array, MPI.UNSIGNED_CHAR] is reduced as unsigned bytes (the general parse's view),
    not as the array's own int8: it keeps the general path."""
    assert plain_array([np.zeros(4, dtype), getattr(MPI, name)]) is None


def test_one_byte_arrays_under_their_own_signedness() -> None:
    u8, i8 = np.zeros(4, "u1"), np.zeros(4, "i1")
    assert plain_array([u8, MPI.UNSIGNED_CHAR]) is u8
    assert plain_array([u8, MPI.BYTE]) is u8
    assert plain_array([i8, MPI.SIGNED_CHAR]) is i8
