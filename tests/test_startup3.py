"""Start-up work a rank or the launcher no longer does (issue #20, third round).

- bus/views.pointer_view builds the interpreter's array views instead of numba.carray, whose
  compiled environment made every rank import numba.np.arrayobj when the kernel was unpickled.
- A rank reads its settings as JSON: it no longer imports tomllib; the launcher imports socket,
  shutil and secrets only where an option needs them.
- A process hosting green-thread ranks preloads the runtime with the collector paused, then
  frozen (as a rank's own process does).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from helpers import TORO_ENV, run_toro
from numba.core.errors import TypingError

from toro_mpi.bus.atomics import array_address, int64_pointer, typed_pointer, uint8_pointer
from toro_mpi.bus.views import pointer_view


@numba.njit
def _views(a, n):
    """pointer_view and numba.carray over the same typed memory, and a byte view of it."""
    ptr = typed_pointer(array_address(a), a[0])
    return pointer_view(ptr, n), numba.carray(ptr, n), pointer_view(uint8_pointer(array_address(a)), n * a.itemsize)


@numba.njit
def _write_words(a, n32):
    """Write through an int64 view whose count is an int32."""
    v = pointer_view(int64_pointer(array_address(a)), n32)
    for i in range(v.size):
        v[i] = v[i] * 10 + i
    return v.size, v.ndim


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("n", [0, 1, 5])
def test_pointer_view_is_carray(dtype: type, n: int) -> None:
    """Same elements, shape, strides, layout and memory as numba.carray; borrowing, not copying."""
    a = (np.arange(7) * 3 + 1).astype(dtype)
    view, ref, raw = _views(a, n)
    assert view.dtype == ref.dtype == a.dtype
    assert view.shape == ref.shape == (n,)
    assert view.strides == ref.strides == (a.itemsize,)
    assert view.flags.c_contiguous and not view.flags.owndata
    np.testing.assert_array_equal(view, a[:n])
    assert raw.dtype == np.uint8 and raw.tobytes() == a[:n].tobytes()
    if n:
        view[n - 1] = 2
        assert a[n - 1] == 2  # the view is the array's own memory


def test_pointer_view_writes_through_with_an_int32_count() -> None:
    a = np.arange(6, dtype=np.int64)
    assert _write_words(a, np.int32(4)) == (4, 1)
    assert a.tolist() == [0, 11, 22, 33, 4, 5]


def test_pointer_view_refuses_what_is_not_a_pointer() -> None:
    @numba.njit
    def from_int(addr):
        return pointer_view(addr, 3)

    with pytest.raises(TypingError):
        from_int(np.int64(0))


def _module_lines(n: int, *launcher: str) -> dict[int, list[str]]:
    """Run tests/programs/startup3_modules.py; rank -> its flags (arrayobj, tomllib, frozen,
    gc on, kernels compiled), after checking its sums. Once more when some process compiled a
    kernel instead of loading it (a compile imports numba.np.arrayobj anyway)."""
    expect = f"{np.sum([np.arange(3) + k for k in range(n)], axis=0).tolist()} {n * (n + 1) // 2}"
    for _ in range(2):
        r = run_toro("startup3_modules.py", n=n, timeout=180, launcher=launcher)
        assert r.rc == 0, r.explain()
        got: dict[int, list[str]] = {}
        for rank, lines in r.by_rank().items():
            m = re.fullmatch(r"(\[.*\] \d+) (.*)", lines[0])
            assert m and m.group(1) == expect, f"rank {rank}: {lines}{r.explain()}"
            got[rank] = m.group(2).split()
            assert lines[1:] == ["exit numpy.ma 0"], f"rank {rank}: numpy.ma imported by its exit: {lines}"
        assert sorted(got) == list(range(n)), r.explain()
        if all(flags[-1] == "0" for flags in got.values()):
            break
    return got


def test_a_rank_imports_neither_arrayobj_nor_tomllib() -> None:
    """One process per rank: the collective and point-to-point kernels load without
    numba.np.arrayobj, the settings without tomllib; the start-up froze its objects and left
    the collector on."""
    got = _module_lines(2)
    for rank, fields in got.items():
        assert fields[-1] == "0", f"rank {rank} compiled kernels twice running: {fields}"
        assert fields[:4] == ["0", "0", "1", "1"], f"rank {rank}: arrayobj, tomllib, frozen, gc on = {fields}"


def test_hosted_ranks_start_with_the_collector_frozen() -> None:
    """Two green-thread ranks per process: the hosting process's preload is frozen out of the
    collector (hosting.main), the collector is on for the programs, no arrayobj either."""
    got = _module_lines(4, "--ranks-per-core", "2")
    for rank, fields in got.items():
        if fields[-1] == "0":
            assert fields[0] == "0", f"rank {rank}: {fields}"
        assert fields[1:4] == ["0", "1", "1"], f"rank {rank}: tomllib, frozen, gc on = {fields}"


def test_the_launcher_imports_socket_shutil_secrets_only_on_use() -> None:
    """Importing the launcher's job path, naming a segment and planning a python job without -H
    pull in none of socket, shutil, secrets (tomllib: only to read the config, not on import);
    segment names keep their form (launcher pid, 24 random hex digits)."""
    code = textwrap.dedent("""
        import os, sys
        before = set(sys.modules)  # site may have imported some (an editable install's finder)
        from toro_mpi.launcher import cli, job, plan, report
        from toro_mpi.bus.segment import make_name
        names = [make_name(), make_name(4242)]
        plan.make_plan(["python", "-c", "pass"], 2, oversubscribe=True)  # no -H: no host name lookup
        new = set(sys.modules) - before
        print(*sorted({"socket", "shutil", "secrets"} & new), "|", *names, os.getpid())
    """)
    out = subprocess.run([sys.executable, "-c", code], env=TORO_ENV, capture_output=True, text=True, check=True,
                         timeout=60).stdout.split()
    assert out[0] == "|", out
    a, b, pid = out[1:]
    assert re.fullmatch(rf"/toro_mpi\.{pid}\.[0-9a-f]{{24}}", a), a
    assert re.fullmatch(r"/toro_mpi\.4242\.[0-9a-f]{24}", b), b


def _numba_hooks() -> list:
    from llvmlite.binding import ffi

    return [pair for pair in ffi.lib._lock._cblist if "_initialize_llvm_lock_event" in pair[0].__qualname__]


def test_llvm_lock_hooks_skipped_only_while_nobody_listens() -> None:
    """compiling.llvm_lock_events_off drops numba's per-FFI-call event hooks for the block and
    puts them back (also after an exception); with a listener on the event they stay."""
    import llvmlite.binding as ll
    from numba.core import event

    from toro_mpi.bus.compiling import llvm_lock_events_off

    hooks = _numba_hooks()
    assert len(hooks) == 1
    with llvm_lock_events_off():
        assert _numba_hooks() == []
        ll.get_process_triple()  # an FFI call without them
    assert _numba_hooks() == hooks
    with pytest.raises(KeyError), llvm_lock_events_off():
        raise KeyError
    assert _numba_hooks() == hooks
    with event.install_recorder("numba:llvm_lock") as rec:
        with llvm_lock_events_off():
            assert _numba_hooks() == hooks
            ll.get_process_triple()
        assert [ev.kind for _, ev in rec.buffer][:2] == ["numba:llvm_lock"] * 2
    assert _numba_hooks() == hooks


TYPEOF_WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    from numba import njit, typeof
    from numba.core.errors import NumbaTypeError, NumbaValueError
    from numba.core.typing import typeof as tf
    from toro_mpi.bus import compiling

    original = tf.typeof_impl.dispatch(np.ndarray)
    compiling.typeof_without_numpy_ma()
    compiling.typeof_without_numpy_ma()  # idempotent
    assert tf.typeof_impl.dispatch(np.ndarray)._toro_mpi_original is original
    ro = np.arange(3.0)
    ro.flags.writeable = False
    arrays = [np.arange(6), np.arange(6.0).reshape(2, 3), np.asfortranarray(np.ones((2, 3), np.float32)),
              np.arange(10)[::2], np.array(5), ro, np.zeros(2, [("a", np.int32), ("b", "S3")]),
              np.zeros(3, np.complex64), np.recarray(2, [("x", np.int64)])]
    got = [typeof(a) for a in arrays]
    try:
        typeof(np.arange(3).astype(">i8"))
    except NumbaValueError as exc:
        bad = str(exc)
    before = "numpy.ma" in sys.modules
    total = njit(lambda a: a.sum()).typeof_pyval(np.arange(4))  # a dispatcher's argument typing
    after_call = "numpy.ma" in sys.modules
    same = got == [original(a, None) for a in arrays]  # numba's own function (imports numpy.ma)
    import numpy.ma
    try:
        typeof(numpy.ma.MaskedArray([1]))
        masked = "typed"
    except NumbaTypeError as exc:
        masked = str(exc)
    print(same, bad, before, total, after_call, masked, sep="|")
""")


def test_array_typing_without_numpy_ma() -> None:
    """After compiling.typeof_without_numpy_ma, numba types every kind of array as its own
    function does, refuses a byte-swapped dtype the same way, types a dispatcher's array
    argument without importing numpy.ma, and once numpy.ma is imported still refuses a masked
    array (numba's own check). The 2-rank tests above check a rank's exit imports no numpy.ma."""
    out = subprocess.run([sys.executable, "-c", TYPEOF_WORKER], env=TORO_ENV, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    same, bad, before, total, after_call, masked = out.stdout.strip().split("|")
    assert (same, before, total, after_call) == ("True", "False", "array(int64, 1d, C)", "False"), out.stdout
    assert "Unsupported array dtype: >i8" in bad, out.stdout
    assert "Unsupported array type: numpy.ma.MaskedArray" in masked, out.stdout
