"""Planning ranks as green threads (which ranks share a process, how a hosted argv reads) and
where float sums may go two-level. The jobs in both modes: tests/test_green.py."""

from __future__ import annotations

import sys

from helpers import NCORES

from toro_mpi.launcher.plan import assign_hosts, hosted_argv, make_plan


# -- planning ---------------------------------------------------------------------------------
def test_hosted_argv_keeps_interpreter_options() -> None:
    py = sys.executable
    host = [py, "-m", "toro_mpi.hosting"]
    assert hosted_argv([py, "prog.py", "a"]) == [*host, "prog.py", "a"]
    assert hosted_argv([py, "-u", "-W", "ignore", "-m", "mod", "-x"]) == [py, "-u", "-W", "ignore", "-m",
                                                                       "toro_mpi.hosting", "-m", "mod", "-x"]
    assert hosted_argv([py, "-c", "print(1)"]) == [*host, "-c", "print(1)"]
    assert hosted_argv([py, "-Xdev", "p.py"]) == [py, "-Xdev", "-m", "toro_mpi.hosting", "p.py"]
    # Not hostable: another executable, a program on stdin, an interactive flag, nothing to run.
    assert hosted_argv(["/bin/sh", "x"]) is None
    assert hosted_argv([py, "-"]) is None
    assert hosted_argv([py, "-i", "p.py"]) is None
    assert hosted_argv([py, "-m"]) is None
    assert hosted_argv([py]) is None


def test_hosts_are_contiguous_and_balanced() -> None:
    assert assign_hosts(8, 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert assign_hosts(5, 2) == [[0, 1], [2, 3, 4]]
    assert assign_hosts(3, 3) == [[0], [1], [2]]


def test_plan_modes() -> None:
    py = sys.executable
    over = NCORES * 4
    green = make_plan(["python", "p.py"], over, oversubscribe=True)
    assert green.hosts is not None and len(green.hosts) == NCORES
    assert sorted(r for h in green.hosts for r in h) == list(range(over))
    assert make_plan(["python", "p.py"], over, oversubscribe=True, process_per_rank=True).hosts is None
    assert make_plan(["python", "p.py"], NCORES, oversubscribe=True).hosts is None
    two = make_plan(["python", "p.py"], 2, ranks_per_core=2)
    assert two.hosts == [[0, 1]] and two.host_argvs == [[py, "-m", "toro_mpi.hosting", "p.py"]]
    assert make_plan(["true"], over, oversubscribe=True).hosts is None  # not Python: one process each


def test_float_sums_go_two_level_only_where_the_grouping_is_the_same() -> None:
    from toro_mpi.coll import elementwise as E
    from toro_mpi.mpi import hosted as H

    eight = [0, 0, 0, 0, 1, 1, 1, 1]
    assert H.Layout(eight, list(range(8)), 0, 1).block == 4
    assert H.Layout([0, 0, 0, 1, 1, 1], list(range(6)), 0, 1).block == 0  # blocks of 3
    assert H.Layout([0, 0, 1, 1, 1, 2], list(range(6)), 0, 1).block == 0  # uneven
    assert H.Layout([0, 1, 0, 1], list(range(4)), 0, 1).block == 0  # not consecutive
    sub = H.Layout(eight, [1, 2, 5, 6], 0, 1)  # comm ranks 0, 1 in process 0; 2, 3 in process 1
    assert sub.block == 2
    assert H.same_tree(sub, "Allreduce", E.OP_SUM, 0, 64, 65536)
    assert not H.same_tree(sub, "Allreduce", E.OP_SUM, 0, 65536, 65536)  # the ring groups otherwise
    assert H.same_tree(sub, "Reduce", E.OP_PROD, 2, 64, 65536)
    assert not H.same_tree(sub, "Reduce", E.OP_SUM, 1, 64, 65536)  # a root inside a block
    assert not H.same_tree(sub, "Reduce", E.OP_MAX, 0, 64, 65536)  # order-free anyway
