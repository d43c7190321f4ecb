"""The conformance runner's reading of unittest's verbose output (tests/conformance/unittest_log.py)
and its verdict on a job (mpi4py_suite.classify): pure functions, no job started."""

from __future__ import annotations

import pytest
from conformance.mpi4py_suite import (
    MPI4PY_VERSION,
    OUT_OF_SCOPE,
    Job,
    Pair,
    cache_dir,
    classify,
    main,
    share,
    suite_files,
)
from conformance.unittest_log import (
    ERROR,
    FAIL,
    LOST,
    PASS,
    SKIP,
    XFAIL,
    combine,
    count,
    parse_rank,
    split_tagged,
)

RANK0 = """\
[0@vm] Python 3.11.7 (/usr/bin/python)
testA (test_x.TestX.testA) ... ok
testB (test_x.TestX.testB) ... FAIL
testC (test_x.TestX.testC) ... skipped 'mpi-world-size<2'
testD (test_x.TestX.testD) ... expected failure
testE (test_x.TestX.testE) ... ERROR

======================================================================
FAIL: testB (test_x.TestX.testB)
----------------------------------------------------------------------
Traceback (most recent call last):
AssertionError: 1 != 2

----------------------------------------------------------------------
Ran 5 tests in 0.010s

FAILED (failures=1, errors=1, skipped=1, expected failures=1)
"""


def _tag_toro(rank: int, text: str) -> list[str]:
    return [f"[{rank}] {line}" for line in text.splitlines()]


def _tag_ompi(rank: int, text: str) -> list[str]:
    return [f"[1,{rank}]<stderr>: {line}" for line in text.splitlines()]


def test_one_rank_statuses_and_summary():
    log = parse_rank(RANK0.splitlines())
    assert log.results == {"test_x.TestX.testA": PASS, "test_x.TestX.testB": FAIL, "test_x.TestX.testC": SKIP,
                           "test_x.TestX.testD": XFAIL, "test_x.TestX.testE": ERROR}
    assert log.reasons["test_x.TestX.testC"] == "skipped 'mpi-world-size<2'"
    assert log.complete and log.ran == 5 and log.verdict.startswith("FAILED")
    assert log.unfinished is None
    # The traceback's `FAIL: testB (...)` header is not a test line.
    assert count(combine({0: log}, 1)).as_dict() == dict(run=5, passed=2, failed=1, errors=1, skipped=1, lost=0)


def test_two_ranks_interleaved_any_order():
    # Lines of two ranks interleave arbitrarily (each line whole); per rank, order is kept.
    r0 = _tag_ompi(0, "testA (m.C.testA) ... ok\ntestB (m.C.testB) ... ok\nRan 2 tests in 0.1s\n\nOK")
    r1 = _tag_ompi(1, "testA (m.C.testA) ... ok\ntestB (m.C.testB) ... FAIL\nRan 2 tests in 0.1s\n\n"
                      "FAILED (failures=1)")
    mixed = [r1[0], r0[0], r0[1], r1[1], "some launcher message", r1[2], r0[2], r0[3], r1[3], r1[4], r0[4]]
    ranks, other = split_tagged(mixed)
    assert other == ["some launcher message"]
    logs = {r: parse_rank(lines) for r, lines in ranks.items()}
    assert all(log.complete for log in logs.values())
    combined = combine(logs, 2)
    # A test passes only if it passes on every rank.
    assert combined == {"m.C.testA": PASS, "m.C.testB": FAIL}


def test_toro_tags_and_ompi_tags_read_alike():
    text = "testA (m.C.testA) ... ok\nRan 1 test in 0.0s\n\nOK"
    a, _ = split_tagged(_tag_toro(3, text))
    b, _ = split_tagged(_tag_ompi(3, text))
    assert a == b == {3: text.splitlines()}


def test_crash_mid_file_loses_the_current_test_and_the_rest():
    r0 = _tag_toro(0, "testA (m.C.testA) ... ok\ntestB (m.C.testB) ... ok\ntestC (m.C.testC) ... ok\n"
                      "Ran 3 tests in 0.1s\n\nOK")
    # Rank 1 died inside testB (a segfault: no status, no summary).
    r1 = _tag_toro(1, "testA (m.C.testA) ... ok\ntestB (m.C.testB) ... ")
    ranks, _ = split_tagged(r0 + r1)
    logs = {r: parse_rank(lines) for r, lines in ranks.items()}
    assert logs[1].unfinished == "m.C.testB" and not logs[1].complete
    combined = combine(logs, 2)
    assert combined == {"m.C.testA": PASS, "m.C.testB": LOST, "m.C.testC": LOST}
    assert count(combined).as_dict() == dict(run=3, passed=1, failed=0, errors=0, skipped=0, lost=2)
    outcome, note = classify("toro", 139, False, logs, 2, ["toro-mpirun: rank 1 (pid 7) killed by signal 11"])
    assert outcome == "CRASH" and "SIGSEGV" in note and "rank 1 stopped in m.C.testB" in note


def test_rank_that_printed_nothing_loses_everything():
    ranks, _ = split_tagged(_tag_toro(0, "testA (m.C.testA) ... ok\nRan 1 test in 0.1s\n\nOK"))
    logs = {r: parse_rank(lines) for r, lines in ranks.items()}
    assert combine(logs, 2) == {"m.C.testA": LOST}
    outcome, _ = classify("toro", 0, False, logs, 2, [])
    assert outcome == "CRASH"  # exit 0 but rank 1 never finished: not an ordinary pass


def test_output_between_start_and_status():
    # A test that prints (a warning) gets its status on a later line.
    log = parse_rank(["testA (m.C.testA) ... /x.py:3: UserWarning: careful", "  warnings.warn(", "ok",
                      "testB (m.C.testB) ... hello", "skipped 'no numpy'"])
    assert log.results == {"m.C.testA": PASS, "m.C.testB": SKIP}
    assert log.reasons["m.C.testB"] == "skipped 'no numpy'"


def test_failing_subtests_fail_their_test():
    log = parse_rank([
        "testA (m.C.testA) ... ",
        "  testA (m.C.testA) (typecode='i', count=2) ... FAIL",
        "  testA (m.C.testA) [msg] (typecode='d') ... ERROR",
        "testB (m.C.testB) ... ",
        "  testB (m.C.testB) (i=1) ... FAIL",
        "testC (m.C.testC) ... ok",
        "Ran 3 tests in 0.1s", "", "FAILED (failures=1, errors=1)",
    ])
    assert log.results == {"m.C.testA": ERROR, "m.C.testB": FAIL, "m.C.testC": PASS}
    assert log.complete


def test_class_fixture_error_and_unexpected_success():
    log = parse_rank(["setUpClass (m.C) ... ERROR", "testX (m.D.testX) ... unexpected success",
                      "setUpModule (m) ... skipped 'no MPI'"])
    assert log.results == {"m.C.setUpClass": ERROR, "m.D.testX": "unexpected success", "m.setUpModule": SKIP}
    assert combine({0: log}, 1)["m.D.testX"] == FAIL


def test_docstring_descriptions():
    log = parse_rank(["testA (m.C.testA)", "Check the thing. ... ok", "Ran 1 test in 0.0s", "", "OK"])
    assert log.results == {"m.C.testA": PASS} and log.complete


def test_skip_on_some_ranks_is_not_a_failure():
    a = parse_rank(["testA (m.C.testA) ... ok", "testB (m.C.testB) ... skipped 'x'"])
    b = parse_rank(["testA (m.C.testA) ... skipped 'rank 1'", "testB (m.C.testB) ... skipped 'x'"])
    assert combine({0: a, 1: b}, 2) == {"m.C.testA": PASS, "m.C.testB": SKIP}


def _logs(*texts: str):
    return {r: parse_rank(t.splitlines()) for r, t in enumerate(texts)}


def test_classify_outcomes():
    done_ok = "testA (m.C.testA) ... ok\nRan 1 test in 0.1s\n\nOK"
    done_failed = "testA (m.C.testA) ... FAIL\nRan 1 test in 0.1s\n\nFAILED (failures=1)"
    started = "testA (m.C.testA) ... "
    assert classify("toro", 0, False, _logs(done_ok, done_ok), 2, [])[0] == "OK"
    assert classify("ref", 1, False, _logs(done_failed, done_ok), 2, [])[0] == "FAILED"
    # One rank finished with a failure and exited 1; the launcher ended the other mid-run.
    msg = ["toro-mpirun: rank 0 (pid 5) exited with code 1; aborting the job"]
    outcome, note = classify("toro", 1, False, _logs(done_failed, started), 2, msg)
    assert outcome == "ABORT" and "rank 1 stopped in m.C.testA" in note
    assert classify("toro", 110, False, _logs(started, started), 2, [])[0] == "HANG"
    assert classify("ref", None, True, _logs(started, started), 2, [])[0] == "HANG"
    assert classify("toro", 111, False, _logs(done_ok, started), 2, ["deadlock: every rank is blocked"]) == \
        ("DEADLOCK", "rank 1 stopped in m.C.testA; deadlock: every rank is blocked")
    # Every rank finished its tests, then one died at exit (finalize): still a crash.
    assert classify("toro", 134, False, _logs(done_ok, done_ok), 2, [])[0] == "CRASH"
    # An exception before any test (an import error): exit 1 and no summary anywhere.
    tb = "Traceback (most recent call last):\n  File \"t.py\", line 1\n    x = MPI.Y\nAttributeError: no Y"
    assert classify("toro", 1, False, _logs(tb, ""), 2, []) == ("ERROR", "rank 0: AttributeError: no Y")
    # Exit 1 with a rank that neither finished nor raised: it died some other way.
    assert classify("toro", 1, False, _logs(done_ok, started), 2, [])[0] == "CRASH"


def test_share_counts_reference_passes_in_scope_only():
    def job(side, file, tests):
        return Job(side, file, 2, outcome="FAILED", tests=tests)

    pairs = [
        Pair("test_a.py", 2, job("ref", "test_a.py", {"a.1": PASS, "a.2": PASS, "a.3": SKIP}),
             job("toro", "test_a.py", {"a.1": PASS, "a.2": FAIL, "a.3": PASS})),
        Pair("test_b.py", 2, job("ref", "test_b.py", {"b.1": PASS}), None),  # toro not run: 0 of 1
        Pair("test_file.py", 2, job("ref", "test_file.py", {"f.1": PASS}), job("toro", "test_file.py", {})),
    ]
    assert "test_file.py" in OUT_OF_SCOPE
    assert share(pairs, 2) == (3, 1)
    assert share(pairs, 4) == (0, 0)


def test_out_of_scope_names_are_files_of_the_suite():
    # A typo in the list would quietly leave a file in scope: check it against the cached suite.
    test_dir = cache_dir() / f"mpi4py-{MPI4PY_VERSION}" / "test"
    if not (test_dir / "main.py").is_file():
        pytest.skip("the suite is not cached (python -m tests.conformance.mpi4py_suite fetches it)")
    assert set(OUT_OF_SCOPE) <= set(suite_files(test_dir))
    assert all(reason for reason in OUT_OF_SCOPE.values())


def test_command_line_refuses_bad_input(tmp_path, capsys):
    (tmp_path / "main.py").write_text("")
    (tmp_path / "test_a.py").write_text("")
    for argv in (["--files", "test_nope.py"], ["--ranks", "0"], ["--jobs", "0"], ["--side", "mpich"]):
        with pytest.raises(SystemExit) as exc:
            main(["--suite", str(tmp_path), *argv])
        assert exc.value.code == 2, argv
    assert "test_nope.py" in capsys.readouterr().err
    # A suite that cannot be had is exit status 2 with the reason, not a traceback.
    assert main(["--suite", str(tmp_path / "missing"), "--side", "toro"]) == 2
    assert "no main.py" in capsys.readouterr().err


def test_job_temporary_files_removed(tmp_path, monkeypatch):
    """A job runs with a temporary directory of its own, removed afterwards: a suite test that
    fails before its cleanup (test_spawn.py's child scripts) leaves nothing in the real /tmp."""
    import os
    import sys

    import conformance.mpi4py_suite as suite

    code = ("import os, tempfile; fd, p = tempfile.mkstemp(prefix='mpi4py-'); "
            "open(os.environ['OUT'], 'w').write(p)")
    monkeypatch.setattr(suite, "toro_command", lambda n, file, timeout: [sys.executable, "-c", code])
    monkeypatch.setenv("OUT", str(tmp_path / "where"))
    suite.run_job("toro", tmp_path, "test_x.py", 1, 30)
    left = (tmp_path / "where").read_text()
    assert "toro-mpi4py-suite-" in left
    assert not os.path.exists(left)
