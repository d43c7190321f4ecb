"""toro-mpirun --compare: the comparison itself (pure functions), the tagged output stream and the
reference's command and environment. Whole runs of `python -m toro_mpi --compare ...`:
tests/test_compare.py."""

from __future__ import annotations

import os
import sys

import pytest

from toro_mpi.launcher.compare import (
    REFERENCE_ENV,
    RankDifference,
    Tolerance,
    compare_outputs,
    compare_rank,
    describe_difference,
    lines_equal,
    parse_tolerance,
    reference_command,
    reference_env,
    split_lines,
)
from toro_mpi.launcher.output import MAX_LINE, RankStream
from toro_mpi.launcher.plan import make_plan

TOL = Tolerance(1e-6)


# -- exact comparison ---------------------------------------------------------------------------
def test_identical() -> None:
    out = {0: ["0 a", "0 b"], 1: ["1 a"]}
    assert compare_outputs(out, {0: ["0 a", "0 b"], 1: ["1 a"]}, 2) == []


def test_first_differing_line() -> None:
    toro = {0: ["same"], 1: ["1 a", "1 b", "1 c", "1 d"]}
    ref = {0: ["same"], 1: ["1 a", "1 B", "1 c", "1 D"]}
    assert compare_outputs(toro, ref, 2) == [RankDifference(1, 2, "1 b", "1 B", 4, 4)]


def test_missing_lines_on_either_side() -> None:
    toro = {0: ["a", "b", "c"], 1: ["x"]}
    ref = {0: ["a", "b"], 1: ["x", "y"]}
    assert compare_outputs(toro, ref, 2) == [RankDifference(0, 3, "c", None, 3, 2),
                                             RankDifference(1, 2, None, "y", 1, 2)]


def test_a_rank_that_printed_nothing_may_be_absent() -> None:
    assert compare_outputs({0: ["a"]}, {0: ["a"], 1: []}, 2) == []
    assert compare_outputs({0: ["a"]}, {0: ["a"], 1: ["b"]}, 2) == [RankDifference(1, 1, None, "b", 0, 1)]


def test_exact_means_exact() -> None:
    assert not lines_equal("0 x  1.0", "0 x 1.0")
    assert not lines_equal("0.1", "0.10000000001")
    assert not lines_equal("a ", "a")


def test_sorted() -> None:
    toro, ref = ["b", "a", "c"], ["c", "b", "a"]
    assert compare_rank(0, toro, ref) is not None
    assert compare_rank(0, toro, ref, sort=True) is None
    assert compare_rank(0, ["b", "a"], ["a", "c"], sort=True) == RankDifference(0, 2, "b", "c", 2, 2)


def test_describe_difference() -> None:
    text = describe_difference(RankDifference(3, 7, "3 x 1", None, 7, 6))
    assert text.splitlines() == [
        "rank 3: line 7 differs; 7 lines under toro_mpi, 6 under mpiexec + mpi4py",
        "  toro_mpi:          '3 x 1'",
        "  mpiexec + mpi4py:  (no line 7)",
    ]
    assert "line 2 (after sorting) differs" in describe_difference(RankDifference(0, 2, "a", "b", 2, 2), sort=True)


# -- tolerance ------------------------------------------------------------------------------------
def test_parse_tolerance() -> None:
    assert parse_tolerance("1e-6") == Tolerance(1e-6, 0.0)
    assert parse_tolerance("1e-6,1e-12") == Tolerance(1e-6, 1e-12)
    assert parse_tolerance("0,0.5") == Tolerance(0.0, 0.5)
    for bad in ("", "x", "1,2,3", "-1", "1,-1", "nan", "inf", "1e-6,"):
        with pytest.raises(ValueError):
            parse_tolerance(bad)


@pytest.mark.parametrize("a, b", [
    ("0 value 0.14285714285714285", "0 value 0.142857143"),  # relative 1e-9
    ("x 1.5e-07 y", "x 1.5000001e-07 y"),
    ("[1.5e-07 2.0e+00]", "[1.50000001e-07 2.00000001e+00]"),  # numpy arrays: numbers inside tokens
    ("[0.1, 0.2]", "[0.1000000001, 0.2]"),
    ("(1+2j) 3j", "(1.0000000001+2j) 3.0000000001j"),
    ("[1.+2.j 3.-1.j]", "[1.0000000001+2.j 3.-1.j]"),
    ("nan inf -inf", "NaN inf -inf"),
    ("1 2.0", "1.0000000001 2"),  # an integer against a float compares as a number
    ("a   b\t1.0", " a b 1.0 "),  # runs of whitespace are alike, leading and trailing ones too
])
def test_within_tolerance(a: str, b: str) -> None:
    assert lines_equal(a, b, TOL) and lines_equal(b, a, TOL)


@pytest.mark.parametrize("a, b", [
    ("0 value 0.1", "0 value 0.1001"),  # out of bounds
    ("0.0", "1e-300"),  # relative tolerance alone says nothing near zero
    ("(1+2j)", "(1+2.1j)"),
    ("1000000", "1000001"),  # integers are exact whatever the tolerance
    ("-0", "0.0000001"),
    ("nan", "1.0"),
    ("x1.0", "x1.0000000001"),  # a number glued to a word is text
    ("a 1.0", "b 1.0"),  # text exact
    ("[1.0]", "(1.0)"),
    ("1.0 2.0", "1.0"),  # token counts
])
def test_outside_tolerance(a: str, b: str) -> None:
    assert not lines_equal(a, b, TOL) and not lines_equal(b, a, TOL)


def test_absolute_tolerance() -> None:
    assert lines_equal("0.0", "1e-17", Tolerance(1e-6, 1e-12))
    assert not lines_equal("0.0", "1e-11", Tolerance(1e-6, 1e-12))
    assert not lines_equal("0", "1", Tolerance(1e-6, 10))  # still integers


def test_compare_with_tolerance() -> None:
    toro = {0: ["0 sum 4.0000000001", "0 n 3"]}
    assert compare_outputs(toro, {0: ["0 sum 4.0", "0 n 3"]}, 1, TOL) == []
    assert compare_outputs(toro, {0: ["0 sum 4.0", "0 n 4"]}, 1, TOL) == [
        RankDifference(0, 2, "0 n 3", "0 n 4", 2, 2)]


# -- capturing lines ------------------------------------------------------------------------------
def test_split_lines() -> None:
    assert split_lines(b"") == []
    assert split_lines(b"a\nb\n") == ["a", "b"]
    assert split_lines(b"a\n\nb") == ["a", "", "b"]
    assert split_lines(b"a\r\nb\xff\n") == ["a\r", "b\\xff"]


def test_tagged_stream_keeps_lines_whole() -> None:
    """With a sink the lines are kept, not written, and a long one is not cut at MAX_LINE."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    sink: list[bytes] = []
    stream = RankStream(r, None, sink=sink)
    long = b"x" * (MAX_LINE * 3)
    data = b"first\n" + long + b"\nlast, no newline"
    try:
        for start in range(0, len(data), 4096):
            os.write(w, data[start:start + 4096])
            assert stream.on_readable()
        os.close(w)
        w = -1
        while stream.on_readable():
            pass
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    assert sink == [b"first", long, b"last, no newline"]


# -- the reference's command and environment ------------------------------------------------------
def test_reference_command_binds_like_toro() -> None:
    ncores = len(os.sched_getaffinity(0))
    prog = ["python", "prog.py", "--flag"]
    cmd = reference_command(make_plan(prog, ncores), "/tmp/x/rank")
    assert cmd == ["mpiexec", "--oversubscribe", "--bind-to", "core", "-n", str(ncores),
                   "--output", "file=/tmp/x/rank", sys.executable, "prog.py", "--flag"]
    over = reference_command(make_plan(prog, ncores + 1, oversubscribe=True), "p")
    assert over[over.index("--bind-to") + 1] == "none"
    unbound = reference_command(make_plan(prog, 1, bind_to="none"), "p")
    assert unbound[unbound.index("--bind-to") + 1] == "none"


def test_reference_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORO_MPI_RANK", "3")
    monkeypatch.setenv("TORO_MPI_SEGMENT", "toro_mpi.x")
    env = reference_env(make_plan(["python", "p.py"], 1, exports={"FOO": "bar"}))
    assert "TORO_MPI_RANK" not in env and "TORO_MPI_SEGMENT" not in env
    assert env["FOO"] == "bar"
    assert REFERENCE_ENV.items() <= env.items()
