"""The same deterministic point-to-point programs under toro-mpirun and under mpiexec + mpi4py:
every rank must print the same lines (compared sorted per rank; interleaving across ranks and
the order of a rank's own lines never matter).

The toro_mpi runs are shared with test_p2p.py (one run per program and rank count a session),
the reference runs between the variants here: the default bus, a bus with rendezvous on, and
ranks hosted as green threads.
"""

from __future__ import annotations

import pytest
from helpers import (
    HOSTED,
    RENDEZVOUS_ENV,
    assert_same_as_reference,
    ref_available,
    ref_cached,
    rendezvous_reads,
    run_ref,
    run_toro,
    toro_cached,
)

_why_not = ref_available()
pytestmark = [
    pytest.mark.usefixtures("shm_clean"),
    pytest.mark.skipif(_why_not is not None, reason=f"no reference MPI: {_why_not}"),
]

CASES = [
    # (program, ranks, arguments)
    ("dtypes", 2, ()),  # every dtype, fragment and rendezvous boundaries, content digests
    ("dtypes", 3, ("uint8", "float32", "complex128")),
    ("matching", 1, ()),  # self sends, PROC_NULL
    ("matching", 3, ()),  # tags, ANY_TAG, ANY_SOURCE, order, Status counts, Sendrecv ring
    ("matching", 4, ()),
    ("bufspecs", 2, ()),
    ("nonblocking", 3, ()),
    ("probe", 3, ()),  # probed sizes
    ("objects", 2, ()),
    ("objects", 3, ()),
    ("sessions_grequests", 1, ()),  # MPI-4 sessions and psets, generalized requests and their callbacks
    ("sessions_grequests", 3, ()),
    ("matched", 1, ()),  # Mprobe/Improbe, MPI.Message, request truthiness, raw pickles
    ("matched", 3, ()),
    ("errors", 2, ()),  # error classes: ERR_RANK, ERR_TAG, ERR_TRUNCATE
    ("wrap", 2, (70000,)),
    ("comms", 1, ()),  # Dup, Split (keys, UNDEFINED), Create, Free, isolation of contexts
    ("comms", 3, ()),
    ("comms", 4, ()),
    ("surface", 1, ()),  # Info, keyval attributes, groups, Status, handles, COMM_NULL, Split_type, errors
    ("surface", 3, ()),
    ("surface", 4, ()),
    ("derived", 1, ()),  # derived datatypes: constructors, p2p, collectives, Pack, BOTTOM, bad input
    ("derived", 2, ()),
    ("derived", 4, ()),
    ("alltoallw", 1, ()),  # Alltoallw (+I, init) and Neighbor_alltoallw: derived types, BOTTOM, IN_PLACE
    ("alltoallw", 2, ()),
    ("alltoallw", 3, ()),
]




def _ids(cases) -> list[str]:
    return [f"{p}-n{n}{'-' + '-'.join(map(str, a)) if a else ''}" for p, n, a in cases]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("prog, n, args", CASES, ids=_ids(CASES))
def test_same_output_as_mpi4py(prog: str, n: int, args: tuple) -> None:
    ref = ref_cached(prog, n, *args, timeout=90)
    toro = toro_cached(prog, n, *args, timeout=120 if prog == "dtypes" else 75)
    assert_same_as_reference(toro, ref, n)


# The programs whose large messages cross the 64 KiB rendezvous threshold, each again on a bus with
# rendezvous on (the default config has it off). Same runs of the reference as above.
RENDEZVOUS_CASES = [
    ("dtypes", 2, ()),  # every dtype at 100000 elements and 4 MiB
    ("matching", 3, ()),  # non-overtaking with rendezvous mixed in, ANY_SOURCE, 560 KB Sendrecv ring
    ("nonblocking", 3, ()),  # 300000-double Isend/Irecv, flood of 600 KB Isends, 1 MiB Ssend
    ("errors", 2, ()),  # ERR_TRUNCATE of rendezvous messages
    ("objects", 2, ()),  # out-of-band numpy arrays over 64 KiB
]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("prog, n, args", RENDEZVOUS_CASES, ids=_ids(RENDEZVOUS_CASES))
def test_rendezvous_same_output_as_mpi4py(prog: str, n: int, args: tuple, rendezvous_config) -> None:
    """The same programs with rendezvous on print what mpi4py prints, and rendezvous was taken:
    every rank had the threshold in force and copied payloads by process_vm_readv (counted by a
    test hook in tests/programs/_mpi.py around the transport's read_remote)."""
    ref = ref_cached(prog, n, *args, timeout=90)
    # One process per rank: green-thread ranks (the default with more ranks than cores) do not
    # use rendezvous (mpi/p2p.py, Engine).
    toro = toro_cached(prog, n, *args, timeout=120 if prog == "dtypes" else 75,
                       launcher=(*rendezvous_config, "--process-per-rank"), env=RENDEZVOUS_ENV)
    assert_same_as_reference(toro, ref, n)
    reads = rendezvous_reads(toro)
    assert sorted(reads) == list(range(n)), f"not every rank reported its rendezvous reads{toro.explain()}"
    # Every rank receives messages above the threshold in these programs (errors: only rank 1).
    receivers = [1] if prog == "errors" else range(n)
    idle = [r for r in receivers if reads[r] == 0]
    assert not idle, f"ranks {idle} never copied by rendezvous: {reads}{toro.explain()}"


# Ranks hosted as green threads of a shared process (two per process): the programs that otherwise
# only ever run one process per rank.
HOSTED_CASES = [("errors", 2, ()), ("bufspecs", 2, ())]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("prog, n, args", HOSTED_CASES, ids=_ids(HOSTED_CASES))
def test_hosted_same_output_as_mpi4py(prog: str, n: int, args: tuple) -> None:
    """The same programs with ranks hosted as green threads print what mpi4py prints."""
    ref = ref_cached(prog, n, *args, timeout=90)
    toro = toro_cached(prog, n, *args, timeout=75, launcher=HOSTED)
    assert_same_as_reference(toro, ref, n)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("launcher", [(), HOSTED], ids=["process-per-rank", "green-threads"])
def test_exit_order_like_mpi4py(tmp_path, launcher: tuple[str, ...]) -> None:
    """At a program's end: atexit handlers registered before and after `from mpi4py import MPI`
    run with MPI still initialized and can communicate, and a file a helper module of the
    program never closed keeps its data (tests/programs/exit_order.py), under both."""
    ref_dir, toro_dir = tmp_path / "ref", tmp_path / "toro"
    ref_dir.mkdir()
    toro_dir.mkdir()
    ref = run_ref("exit_order", 2, ref_dir, timeout=90)
    toro = run_toro("exit_order", 2, toro_dir, timeout=75, launcher=launcher)
    assert_same_as_reference(toro, ref, 2)
    for folder in (ref_dir, toro_dir):
        assert [(folder / f"log{r}").read_text() for r in range(2)] == ["unclosed 0", "unclosed 1"], folder


# Calls no other program makes (Reduce_scatter vector form, Comm/Group.Compare, group algebra,
# Testsome, Irsend, persistent Ssend/Bsend/Rsend, Reduce_local, object issend/waitany, ...).
RARE_CASES = [("rare_calls", 1, ()), ("rare_calls", 3, ()), ("rare_calls", 4, ())]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("prog, n, args", RARE_CASES, ids=_ids(RARE_CASES))
def test_rare_calls_same_output_as_mpi4py(prog: str, n: int, args: tuple) -> None:
    ref = ref_cached(prog, n, *args, timeout=90)
    toro = toro_cached(prog, n, *args, timeout=75)
    assert_same_as_reference(toro, ref, n)


@pytest.mark.timeout(240)
def test_abort_ends_the_job_like_mpi4py() -> None:
    """Comm.Abort(7) on rank 1 ends the whole job with status 7 under both: rank 0, blocked in a
    Recv nobody matches, and rank 2, asleep 30 s outside MPI, are stopped (neither prints what it
    would print after its wait; the runs' 90 s timeouts exceed the sleep, so waiting for it would
    show). The exit status is compared with the reference's."""
    n = 3
    ref = run_ref("abort", n, timeout=90)
    # One process per rank: a hosted rank sleeping outside MPI would hold its whole process (and
    # with it the aborting rank, were they hosted together) for the 30 s.
    toro = run_toro("abort", n, timeout=90, launcher=("--process-per-rank",))
    for run in (ref, toro):
        ranks = run.by_rank()
        assert "aborting" in ranks.get(1, []), f"rank 1 never got to Abort{run.explain()}"
        for line in ("recv returned", "slept 30 s", "Abort returned"):
            assert line not in run.out, f"{line!r}: a rank outlived the Abort{run.explain()}"
    assert toro.rc == ref.rc == 7, f"exit status {toro.rc}, the reference's {ref.rc}{toro.explain()}{ref.explain()}"
