"""The full collectives matrix: tests/programs/collectives.py at its full level (every call x op x
dtype x size 0, 1, 7, 1001 x every root x in place or not, on COMM_WORLD, a Split and a Dup, plus
9 000 and 3 MiB elements) under toro_mpi and under the reference, compared rank by rank with the
rules of tests/test_collectives.py (digests exact, float sums and products within rtol).

    python tests/coll_matrix.py                 # n = 1, 2, 3, 4, 5, 8 (the reference alone: minutes)
    python tests/coll_matrix.py --sizes 2,5     # some job sizes
    python tests/coll_matrix.py --quick         # the suite's level
    python tests/coll_matrix.py --ref-twice     # no toro_mpi: the reference against itself, which
                                                # must be identical byte for byte (determinism)
tests/test_collectives.py runs the quick level in the suite.
"""

from __future__ import annotations

import argparse
import sys

from helpers import compare, ref_available, run_ref, run_toro


def _run(fn, *args, **kw):
    """A run, or the reason it failed (helpers raises pytest's Failed on a timeout)."""
    try:
        return fn(*args, **kw), None
    except BaseException as exc:  # noqa: BLE001 - pytest.fail raises a BaseException
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _finished(run, n: int) -> str | None:
    if run.rc != 0:
        return f"exit {run.rc}"
    missing = [r for r in range(n) if "ok" not in run.by_rank().get(r, [])]
    return f"ranks {missing} did not finish" if missing else None


def main(argv: list[str] | None = None) -> int:
    """Run the matrix, one table row per job size; exit 1 if any row failed."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1,2,3,4,5,8", help="comma-separated job sizes")
    ap.add_argument("--quick", action="store_true", help="the quick level instead of the full one")
    ap.add_argument("--ref-twice", action="store_true", help="compare the reference with itself, exactly")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per job")
    args = ap.parse_args(argv)
    level = "quick" if args.quick else "full"
    why = ref_available()
    if why:
        print(f"no reference MPI: {why}")
        return 2
    failed = 0
    second = "reference again" if args.ref_twice else "toro_mpi"
    print(f"level {level}: reference vs {second}\n")
    print(f"| n | reference s | {second} s | lines | float lines rounded differently | result |")
    print("|---:|---:|---:|---:|---:|---|")
    for n in map(int, args.sizes.split(",")):
        ref, err = _run(run_ref, "collectives", n, level, timeout=args.timeout)
        other, err2 = (_run(run_ref, "collectives", n, level, timeout=args.timeout) if args.ref_twice
                       else _run(run_toro, "collectives", n, level, timeout=args.timeout))
        problems = [p for p in (err and f"reference: {err}", err2 and f"{second}: {err2}") if p]
        if ref and not err:
            problems += [f"reference: {p}" for p in [_finished(ref, n)] if p]
        if other and not err2:
            problems += [f"{second}: {p}" for p in [_finished(other, n)] if p]
        lines = rounded = 0
        if not problems:
            want, got = ref.by_rank(), other.by_rank()
            lines = sum(map(len, want.values()))
            rounded = sum(len(set(want[r]) - set(got.get(r, []))) for r in want)
            if args.ref_twice:
                problems = [f"rank {r} differs" for r in want if want[r] != got.get(r)]
            else:
                problems = compare(want, got, n, limit=10)
        failed += bool(problems)
        result = "ok" if not problems else "<br>".join(p.replace("\n", " ") for p in problems)
        print(f"| {n} | {ref.seconds if ref else float('nan'):.1f} | {other.seconds if other else float('nan'):.1f} "
              f"| {lines} | {rounded} | {result} |", flush=True)
    print(f"\n{failed} failed" if failed else "\nall passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
