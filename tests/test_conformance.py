"""mpi4py 4.1.2's own test suite, unchanged, under toro-mpirun --mpi4py against the reference
(mpiexec + mpi4py over Open MPI), through tests/conformance/mpi4py_suite.py.

- test_sample (default run, about a minute): a few representative files at 2 ranks; no toro_mpi
  job may crash or hang (beyond the outcome SAMPLE tolerates), and toro_mpi must pass every test
  the reference passes, less the file's allowance in SAMPLE.
- test_whole_suite (marker `conformance`, out of the default run; 1.5-2 hours on 2 cores):
  every file at 1, 2 and 4 ranks, `python -m pytest -m conformance tests/test_conformance.py -s`
  (-s shows the table). It asserts the share of reference-passed tests that toro_mpi passes at
  each rank count (MIN_SHARE) and that no toro_mpi job in scope crashes or hangs beyond
  KNOWN_BROKEN.

The tables are data to tune as features land (lower an allowance, raise a share, remove a file
from KNOWN_BROKEN); `python -m tests.conformance.mpi4py_suite --ranks 2 --files FILE ...` gives
the current figures.
"""

from __future__ import annotations

import pytest
from conformance.mpi4py_suite import BROKEN, Pair, fetch_suite, run_suite, share, suite_files, table
from helpers import ref_available

# File -> (how many of the reference's passed tests, at 2 ranks, toro_mpi may fail, lose or skip;
# the one way its job may end that is worse than a failure, if any). Measured 2026-12-06 on issue
# #19's merged work; lower an allowance when a fix lands.
# (test_p2p_buf.py, the buffer twin of test_p2p_obj.py, takes about a minute in the reference
# alone: it is in the whole-suite run only.)
SAMPLE: dict[str, tuple[int, str | None]] = {
    "test_status.py": (0, None),
    "test_group.py": (0, None),
    "test_op.py": (0, None),
    "test_comm.py": (0, None),
    "test_comm_topo.py": (0, None),
    "test_p2p_obj.py": (0, None),
    "test_cco_obj.py": (0, None),
    "test_mpimem.py": (0, None),
    "test_win.py": (0, None),
    "test_errhandler.py": (6, None),  # the MPI.File classes: MPI-IO is out of scope
}
SAMPLE_RANKS = 2
SAMPLE_TIMEOUT = 120.0  # seconds per file and side

# Rank count -> the least share (percent) of reference-passed tests, in the files in scope, that
# toro_mpi must pass (the whole suite, marker `conformance`). Measured 2026-12-06 (BENCHMARKS.md):
# 98.9% at 1, 2 and 4 ranks; the floors leave room for the machine's noise.
# Issue #19's target is 95% at every rank count.
MIN_SHARE: dict[int, float] = {1: 97.0, 2: 97.0, 4: 97.0}
# (file, rank count) whose toro_mpi job may crash, hang or deadlock now and then.
# (test_cco_buf.py at 4 ranks, once listed for a deadlock after a wrong Reduce_scatter result, is
# no longer: on 4242150 no run of it gave a wrong result or a deadlock, 25 runs of the file and
# 14 rounds of its Reduce_scatter tests in one job, nor did the stress of test_hosted_race.py.)
KNOWN_BROKEN: set[tuple[str, int]] = set()


def _suite():
    why = ref_available()
    if why:
        pytest.skip(why)
    try:
        return fetch_suite()
    except OSError as exc:
        pytest.skip(f"mpi4py's test suite cannot be fetched: {exc}")


def _explain(pairs: list[Pair]) -> str:
    text = "\n" + table(pairs)
    for p in pairs:
        if p.toro and p.toro.outcome != "OK" and p.toro.stderr_tail:
            text += f"\n--- toro_mpi {p.file} at {p.nranks} ranks ({p.toro.outcome}), stderr tail ---\n"
            text += p.toro.stderr_tail[-3000:]
    return text


@pytest.mark.timeout(len(SAMPLE) * 2 * (SAMPLE_TIMEOUT + 90))
def test_sample():
    """A few files at 2 ranks: no crash or hang (but the tolerated outcome), and at least the
    reference's passes less the file's allowance."""
    test_dir = _suite()
    pairs = run_suite(test_dir, list(SAMPLE), [SAMPLE_RANKS], ("ref", "toro"), SAMPLE_TIMEOUT)
    problems = []
    for p in pairs:
        assert p.ref is not None and p.toro is not None
        if p.ref.outcome in BROKEN:
            problems.append(f"{p.file}: the reference's job ended in {p.ref.outcome} ({p.ref.note})")
        allowance, tolerated = SAMPLE[p.file]
        if p.toro.outcome in BROKEN and p.toro.outcome != tolerated:
            problems.append(f"{p.file}: toro_mpi's job ended in {p.toro.outcome} ({p.toro.note})")
        ref_passed, both = p.both_passed()
        if both < ref_passed - allowance:
            missed = sorted(t for t, s in p.ref.tests.items() if s == "ok" and p.toro.tests.get(t) != "ok")
            problems.append(f"{p.file}: toro_mpi passes {both} of the reference's {ref_passed} passed tests, "
                            f"allowance {allowance}; not passed: {', '.join(missed[:20])}")
    assert not problems, "\n".join(problems) + _explain(pairs)


@pytest.mark.conformance
@pytest.mark.timeout(6 * 3600)
def test_whole_suite():
    """Every file at 1, 2 and 4 ranks: the share of reference-passed tests toro_mpi passes, and
    no crash or hang beyond the known ones."""
    test_dir = _suite()
    ranks = sorted(MIN_SHARE)
    pairs = run_suite(test_dir, suite_files(test_dir), ranks, ("ref", "toro"), 300.0,
                      progress=lambda p: print(p.file, p.nranks, p.toro.outcome if p.toro else "-", flush=True))
    print(table(pairs))
    problems = []
    for n in ranks:
        total, both = share(pairs, n)
        pct = 100.0 * both / total if total else 100.0
        if pct < MIN_SHARE[n]:
            problems.append(f"{n} ranks: toro_mpi passes {both} of {total} reference-passed tests ({pct:.1f}%), "
                            f"below {MIN_SHARE[n]}%")
    broken = {(p.file, p.nranks): p.toro.outcome for p in pairs
              if p.in_scope and p.toro and p.toro.outcome in BROKEN}
    new = sorted(set(broken) - KNOWN_BROKEN)
    problems += [f"{f} at {n} ranks: toro_mpi's job ended in {broken[f, n]}" for f, n in new]
    assert not problems, "\n".join(problems) + _explain([p for p in pairs if (p.file, p.nranks) in broken])
