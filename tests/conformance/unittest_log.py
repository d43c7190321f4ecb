"""Reading the verbose output of unittest (`python main.py -v FILE`) from every rank of a job.

Pure functions, no job started (unit tests: tests/unit/test_conformance_log.py).

The ranks' stderr reaches us through the launcher's `--tag-output`, one whole line at a time:
toro-mpirun prefixes `[R] `, Open MPI's mpiexec `[1,R]<stderr>: `. Lines of several ranks
interleave in any order, so they are first split by rank (`split_tagged`) and each rank's lines
are then read in order (`parse_rank`). unittest's verbose runner (Python 3.11+) writes, per test,
`name (module.Class.name) ... ` and then, once the test ends, its status: `ok`, `FAIL`, `ERROR`,
`skipped 'reason'`, `expected failure` or `unexpected success`, on the same line unless the test
printed something in between (then the status comes alone on a later line). A failing subTest
writes its own indented line (`  name (id) (i=1) ... FAIL`) and the test then gets no `ok`.
An error in `setUpClass`/`setUpModule` shows as `setUpClass (module.Class) ... ERROR`. The run
ends with `Ran N tests in Ts` and `OK` or `FAILED (failures=.., errors=..)`.

A rank that dies or hangs mid-file leaves its current test without a status: it is LOST there,
as is every test that some other rank reported and this one did not. A test passes (`combine`)
only if it passed on every rank of the job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# Per-rank (and combined) statuses of one test.
PASS = "ok"
FAIL = "FAIL"
ERROR = "ERROR"
SKIP = "skipped"
XFAIL = "expected failure"  # unittest counts it as a success
XPASS = "unexpected success"  # unittest counts it as a failure
LOST = "lost"  # started and never finished (crash, hang, abort), or not reported by this rank

PASSING = (PASS, XFAIL)

# `[1] text` (toro-mpirun --tag-output) or `[1,0]<stderr>: text` (Open MPI's --tag-output).
_TAG = re.compile(r"^\[(?:\d+,)?(\d+)\](?:<std(?:out|err)>:)? ?(.*)$")
# The start of a test (or an indented subtest) in verbose mode: description, ` ... `, the rest.
_START = re.compile(r"^(?P<indent> *)(?P<name>\S+) \((?P<paren>[\w.]+)\)(?P<sub> .*?)? \.\.\. ?(?P<rest>.*)$")
# A description with a docstring takes two lines: `name (id)` alone, then `doc line ... status`.
_DESC_ONLY = re.compile(r"^(?P<name>\w+) \((?P<paren>[\w.]+\.\w+)\)$")
_STATUS = re.compile(r"^(?:ok|FAIL|ERROR|expected failure|unexpected success|skipped(?: .*)?)$")
_RAN = re.compile(r"^Ran (\d+) tests? in [\d.]+s$")
_VERDICT = re.compile(r"^(OK|FAILED)(?: \((.*)\))?$")


def split_tagged(lines: Iterable[str]) -> tuple[dict[int, list[str]], list[str]]:
    """Split tagged output into rank -> its lines (in order), and the untagged lines (the
    launcher's own messages)."""
    ranks: dict[int, list[str]] = {}
    other: list[str] = []
    for line in lines:
        m = _TAG.match(line.rstrip("\r\n"))
        if m:
            ranks.setdefault(int(m.group(1)), []).append(m.group(2))
        else:
            other.append(line.rstrip("\r\n"))
    return ranks, other


def _test_id(name: str, paren: str) -> str:
    """`module.Class.name` for a test; `module.Class.setUpClass` for a class or module fixture,
    whose description names its class (or module) only."""
    return paren if paren == name or paren.endswith("." + name) else f"{paren}.{name}"


def _status_word(text: str) -> str | None:
    text = text.strip()
    if not _STATUS.match(text):
        return None
    return SKIP if text.startswith("skipped") else text


@dataclass
class RankLog:
    """What one rank reported: each test's status in the order they ran, the test it was in when
    its output stopped (if any), and unittest's closing summary if it got that far."""

    results: dict[str, str] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # skip reasons
    unfinished: str | None = None  # the test a rank was in when its output ended
    ran: int | None = None  # `Ran N tests`
    verdict: str | None = None  # `OK` or `FAILED (...)`
    exception: str | None = None  # the last traceback's exception line, e.g. `ImportError: ...`

    @property
    def complete(self) -> bool:
        """Whether unittest finished and printed its summary on this rank."""
        return self.ran is not None and self.verdict is not None


def parse_rank(lines: Iterable[str]) -> RankLog:
    """Read one rank's verbose unittest output (untagged, in the order written)."""
    log = RankLog()
    pending: str | None = None  # a test started whose status has not come yet
    sub_failed: dict[str, str] = {}  # test id -> FAIL or ERROR from a failing subTest
    described: str | None = None  # `name (id)` seen alone: a docstring line follows
    in_traceback = False

    def record(test: str, status: str, reason: str = "") -> None:
        # A test whose subTest failed and that then ends in ERROR keeps the worse of the two.
        if log.results.get(test) == ERROR and status == FAIL:
            return
        log.results[test] = status
        if reason:
            log.reasons[test] = reason

    def settle() -> None:
        # A new test starts (or the output ends) while one is pending: its failing subtests
        # decide, otherwise the rank's output stopped inside it.
        nonlocal pending
        if pending is not None and pending in sub_failed:
            record(pending, sub_failed[pending])
            pending = None

    for raw in lines:
        line = raw.rstrip("\r\n")
        # A traceback's exception line is its first unindented line (the one that names the
        # exception): kept to say why a rank ended outside any test.
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
            continue
        if in_traceback and line and not line.startswith(" "):
            in_traceback = False
            log.exception = line.strip()[:300]
        m = _START.match(line)
        if m is None and described is not None and " ... " in line:
            # The docstring line of a two-line description.
            start = described
            described = None
            settle()
            if pending is not None:
                record(pending, LOST)
            pending = start
            rest = line.split(" ... ", 1)[1]
            status = _status_word(rest)
            if status is not None:
                record(pending, status, rest.strip() if status == SKIP else "")
                pending = None
            continue
        described = None
        if m is not None:
            test = _test_id(m.group("name"), m.group("paren"))
            rest = m.group("rest")
            status = _status_word(rest)
            if m.group("indent") and m.group("sub"):
                # A subtest's line: only failures and errors are written in verbose mode.
                if status in (FAIL, ERROR) and sub_failed.get(test) != ERROR:
                    sub_failed[test] = status
                continue
            if pending is not None and pending != test:
                settle()
                if pending is not None:
                    record(pending, LOST)
            pending = test
            if status is not None:
                record(test, status, rest.strip() if status == SKIP else "")
                pending = None
            continue
        if pending is not None:
            status = _status_word(line)
            if status is not None:
                record(pending, status, line.strip() if status == SKIP else "")
                pending = None
                continue
        ran = _RAN.match(line)
        if ran:
            settle()
            log.ran = int(ran.group(1))
            continue
        verdict = _VERDICT.match(line)
        if verdict and log.ran is not None:
            log.verdict = line.strip()
            continue
        d = _DESC_ONLY.match(line)
        if d is not None:
            described = _test_id(d.group("name"), d.group("paren"))
    settle()
    if pending is not None:
        log.unfinished = pending
        record(pending, LOST)
    return log


@dataclass
class Counts:
    """One side's tally for one file: tests run, passed, failed, errors, skipped, lost."""

    run: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    lost: int = 0

    def as_dict(self) -> dict[str, int]:
        """The tally as a plain dict (for JSON)."""
        return dict(run=self.run, passed=self.passed, failed=self.failed, errors=self.errors,
                    skipped=self.skipped, lost=self.lost)


def combine(logs: dict[int, RankLog], nranks: int) -> dict[str, str]:
    """Each test's status over the whole job: LOST if some rank (of 0..nranks-1) has no status
    for it or lost it; else ERROR if any rank errored; else FAIL if any failed (an unexpected
    success is a failure); else skipped if every rank skipped it; else passed (ok, or an expected
    failure; a rank that skipped what the others passed does not make it fail)."""
    order: dict[str, None] = {}
    for rank in sorted(logs):
        order.update(dict.fromkeys(logs[rank].results))
    combined: dict[str, str] = {}
    for test in order:
        statuses = [logs[r].results.get(test, LOST) if r in logs else LOST for r in range(nranks)]
        if LOST in statuses:
            combined[test] = LOST
        elif ERROR in statuses:
            combined[test] = ERROR
        elif FAIL in statuses or XPASS in statuses:
            combined[test] = FAIL
        elif all(s == SKIP for s in statuses):
            combined[test] = SKIP
        else:
            combined[test] = PASS
    return combined


def count(combined: dict[str, str]) -> Counts:
    """Tally combined statuses. `run` counts every test some rank reported, as unittest's
    `Ran N` counts skipped tests too."""
    c = Counts(run=len(combined))
    for status in combined.values():
        if status == PASS:
            c.passed += 1
        elif status == FAIL:
            c.failed += 1
        elif status == ERROR:
            c.errors += 1
        elif status == SKIP:
            c.skipped += 1
        else:
            c.lost += 1
    return c
