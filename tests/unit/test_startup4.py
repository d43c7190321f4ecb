"""Start-up work of issue #20 (startup4): quick signatures, launcher without dataclasses, the
default config's cache, a rank's quick exit (its parts that run in-process)."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
import tomllib
import types
from pathlib import Path

import pytest

from toro_mpi import config
from toro_mpi.mpi import docstrings

ROOT = Path(__file__).resolve().parents[2]


def _samples() -> list[types.FunctionType]:
    """Functions of every parameter kind, with and without annotations and defaults."""
    namespace: dict = {}
    exec(  # noqa: S102 - functions of each kind, annotated as toro_mpi's modules are
        "from __future__ import annotations\n"
        "def a(): pass\n"
        "def b(x, y=1, *args, z, w='q', **kw) -> int: pass\n"
        "def c(x: int, /, y: str = 'a', *, z: list[int] | None = None) -> None: pass\n"
        "def d(x, y, /): pass\n"
        "def e(*, k): pass\n"
        "def f(self, *args: int, **kwargs: object) -> tuple[int, ...]: pass\n"
        "def g(x=None, y=(1, 2), z=float('nan')): pass\n"
        "def h(a, b: 'Buffer' = b'x', /, c=3, *, d: int): pass\n"
        "S = object()\n"
        "def i(x=S, *, y=S, z: int = S): pass\n",
        namespace)
    return [v for v in namespace.values() if isinstance(v, types.FunctionType)]


def _plain_functions() -> list[tuple[str, types.FunctionType]]:
    """Every function and method the modules of toro_mpi.mpi define (not wrapped yet)."""
    import toro_mpi.mpi

    found = []
    for info in pkgutil.iter_modules(toro_mpi.mpi.__path__, "toro_mpi.mpi."):
        module = importlib.import_module(info.name)
        for value in list(vars(module).values()):
            members = vars(value).items() if isinstance(value, type) else [(getattr(value, "__name__", ""), value)]
            for name, member in members:
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, types.FunctionType):
                    found.append((name, member))
    return found


def test_quick_signature_is_inspects_for_every_kind() -> None:
    for fn in _samples():
        assert docstrings._signature(fn.__name__, fn) == docstrings._inspect_signature(fn.__name__, fn)
        assert docstrings._quick_signature(fn) is not None


def test_quick_signature_is_inspects_for_the_mpi_layer() -> None:
    functions = _plain_functions()
    assert len(functions) > 500  # the walk found the layer's methods
    quick = 0
    for name, fn in functions:
        assert docstrings._signature(name, fn) == docstrings._inspect_signature(name, fn), fn
        quick += docstrings._quick_signature(fn) is not None
    assert quick > 0.9 * len(functions)  # the quick path is the common one


def test_wrappers_and_explicit_signatures_go_through_inspect() -> None:
    def inner(a: int, b: int = 2) -> int:
        return a + b

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        return inner(*args, **kwargs)

    assert docstrings._quick_signature(wrapper) is None
    assert docstrings._signature("wrapper", wrapper) == "wrapper(a: int, b: int = 2) -> int"

    def explicit(*args):  # type: ignore[no-untyped-def]
        pass

    explicit.__signature__ = inspect.Signature([inspect.Parameter("q", inspect.Parameter.POSITIONAL_ONLY)])
    assert docstrings._quick_signature(explicit) is None
    assert docstrings._signature("explicit", explicit) == "explicit(q, /)"

    def evaluated(x: int) -> None:  # annotations are strings here; make one an object
        pass

    evaluated.__annotations__ = {"x": int}
    assert docstrings._quick_signature(evaluated) is None
    assert docstrings._signature("evaluated", evaluated) == "evaluated(x: int)"


def test_embedded_docstrings_keep_mpi4pys_layout() -> None:
    def Get_thing(self, which: int = 0) -> str:  # noqa: N802 - an MPI-style name
        """Return a
        thing.

        More text.
        """
        return ""

    namespace = {"Get_thing": Get_thing}
    docstrings.embed_signatures(namespace)
    assert Get_thing.__doc__ == "Get_thing(self, which: int = 0) -> str\n\nReturn a thing.\n\nMore text.\n"
    docstrings.embed_signatures(namespace)  # once only
    assert Get_thing.__doc__.count("Get_thing(") == 1


# -- the launcher ----------------------------------------------------------------------------

def test_default_config_parse_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    want = tomllib.loads(config.DEFAULT_FILE.read_text())
    first = config.load_config()
    cached = list(tmp_path.glob("toro_mpi-default-*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text()) == want
    assert first.bus == want["bus"] and first.sched == want["sched"] and first.coll == want["coll"]
    # The second load reads the cache: it works without tomllib.
    monkeypatch.setitem(sys.modules, "tomllib", None)
    assert config.load_config() == first
    # A damaged cache file is parsed anew (tomllib back) and rewritten.
    monkeypatch.delitem(sys.modules, "tomllib")
    for damaged in ("{not json", "{}", json.dumps({**want, "bus": {"queue_size": 64}})):
        # (Not JSON, and JSON without every key of the file: found in review, `{}` gave an
        # empty configuration.)
        cached[0].write_text(damaged)
        assert config.load_config() == first
        assert json.loads(cached[0].read_text()) == want
    assert not list(tmp_path.glob("*.tmp"))


def test_default_config_cache_follows_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    edited = tmp_path / "default.toml"
    edited.write_text(config.DEFAULT_FILE.read_text().replace("queue_size = 64", "queue_size = 128", 1))
    before = config.load_config()
    monkeypatch.setattr(config, "_DEFAULT_PATH", str(edited))
    after = config.load_config()
    assert before.bus["queue_size"] == 64 and after.bus["queue_size"] == 128
    assert len(list((tmp_path / "cache").glob("toro_mpi-default-*.json"))) == 2
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert config.load_config() == after  # no cache directory: parsed
    edited.write_bytes(b"[bus]\nqueue_size = \xff\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load_config()


def test_records_compare_and_print_as_dataclasses_did() -> None:
    from toro_mpi.launcher.plan import App, Plan
    from toro_mpi.launcher.report import SlotView

    cfg = config.Config(bus={"a": 1})
    assert cfg == config.Config(bus={"a": 1}) and cfg != config.Config()
    assert repr(cfg) == "Config(bus={'a': 1}, sched={}, launcher={}, coll={})"
    plan = Plan(["p"], 2, [0, 1], cfg, wdir="/w")
    assert plan.apps == [App(["p"], 2, wdir="/w")] and plan.exports == {} and plan.hosts is None
    assert Plan(["p"], 2, [0, 1], cfg).host_argvs is not Plan(["p"], 2, [0, 1], cfg).host_argvs
    assert SlotView(1, None, 2, 3, 4, 5).idle is None
    assert SlotView(1, None, 2, 3, 4, 5) == SlotView(1, None, 2, 3, 4, 5, None)
    with pytest.raises(TypeError):
        hash(cfg)


def test_the_warm_stamp_is_sha256_without_openssl(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    from toro_mpi import warm

    monkeypatch.setenv("NUMBA_CACHE_DIR", "/nonexistent")
    quick = warm._stamp()
    monkeypatch.setattr(warm, "_sha256", hashlib.sha256)
    assert quick == warm._stamp() and quick is not None


def test_the_launcher_imports_neither_dataclasses_nor_tomllib(tmp_path: Path) -> None:
    """Everything the launcher runs before its ranks start, in a fresh interpreter (no job)."""
    probe = textwrap.dedent("""
        import sys
        heavy = {"dataclasses", "inspect", "tomllib", "_hashlib", "pathlib", "shutil"}
        before = heavy & set(sys.modules)
        from toro_mpi.launcher import cli, environ, job, plan, refshm
        environ.setup_numba_cache_dir({})
        p = plan.make_plan(["python", "-c", "pass"], 2, oversubscribe=True)
        job.Job(p)
        from toro_mpi import warm
        warm._stamp()  # what the launcher checks before it starts the ranks
        print(sorted(heavy & set(sys.modules) - before))
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(tmp_path))
    # The first launch on a machine parses default.toml (and caches the parse); the next do not.
    runs = [subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
            for _ in range(2)]
    assert all(out.returncode == 0 for out in runs), runs
    assert [out.stdout.strip() for out in runs] == ["['tomllib']", "[]"]


# -- a rank's exit ---------------------------------------------------------------------------

_EXIT_PROBE = textwrap.dedent("""
    import atexit, json, sys, threading, time
    from toro_mpi import runtime

    class Loud:
        def __init__(self, what):
            self.what = what

        def __del__(self, write=sys.stdout.write):
            write(self.what + ";")

    _first = Loud("del-underscored")  # released before the other globals, as at teardown
    last = Loud("del-main")
    json.kept = Loud("del-other")  # held by another module: only a full teardown releases it
    atexit.register(lambda: sys.stdout.write("atexit;"))
    late = []
    worker = threading.Thread(target=lambda: (time.sleep(0.2), late.append("thread")))
    worker.start()
    atexit.register(lambda: sys.stdout.write("+".join(late) + ";"))  # the thread ended first
    sys.stdout.write("partial;")
    import ctypes, os
    ctypes.CDLL(None).printf(b"c-stdio;")  # buffered by the C library (stdout is a pipe)
    if os.environ.get("PROBE_LIBMPI"):
        ctypes.CDLL(os.environ["PROBE_LIBMPI"])  # a library mapped under libmpi's name
    runtime.quick_exit(int(sys.argv[1]))
    sys.stdout.write("declined;")
""")


def _exit_probe(status: int, **env: str) -> subprocess.CompletedProcess[str]:
    # Buffered stdio, Python's and the C library's, as a rank's (a pipe to the launcher).
    base = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-c", _EXIT_PROBE, str(status)], capture_output=True, text=True,
                          timeout=60, env={**base, "PYTHONPATH": str(ROOT), **env})


def test_quick_exit_runs_what_the_interpreters_exit_would() -> None:
    out = _exit_probe(7)
    assert (out.returncode, out.stderr) == (7, "")
    assert out.stdout == "partial;thread;atexit;del-underscored;del-main;c-stdio;"


def test_quick_exit_declines_where_it_would_differ(tmp_path: Path) -> None:
    import _json  # any small shared library will do, mapped as a libmpi
    import shutil

    fake = tmp_path / "libmpi.so.40"
    shutil.copy(_json.__file__, fake)
    for env in ({"TORO_MPI_FULL_EXIT": "1"}, {"PYTHONDEVMODE": "1"}, {"PROBE_LIBMPI": str(fake)}):
        out = _exit_probe(7, **env)
        assert out.returncode == 0, out.stderr  # the probe went on and ended normally
        assert out.stdout.startswith("partial;declined;") and out.stdout.endswith("del-other;c-stdio;"), out.stdout
    out = _exit_probe(2**40)  # beyond a C int: the interpreter's conversion decides
    assert out.stdout.startswith("partial;declined;")


@pytest.mark.parametrize(("code", "status"), [(None, 0), (0, 0), (3, 3), (True, 1), (-1, -1), ("bye", None)])
def test_system_exit_statuses(code: object, status: int | None) -> None:
    from toro_mpi.rank_main import _system_exit_status

    assert _system_exit_status(SystemExit(code)) == status


def test_the_launcher_exits_at_once_with_its_status() -> None:
    code = textwrap.dedent("""
        import atexit, json, sys
        from toro_mpi.launcher import cli

        class Loud:
            def __del__(self, write=sys.stdout.write):
                write("torn-down;")

        json.kept = Loud()
        atexit.register(lambda: sys.stdout.write("atexit;"))
        sys.stdout.write("partial;")
        cli._exit_now(int(sys.argv[1]))
        sys.stdout.write("declined;")
    """)
    base = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    for env, status, want in (({}, 5, "partial;atexit;"), ({"TORO_MPI_FULL_EXIT": "1"}, 0, "partial;declined;")):
        out = subprocess.run([sys.executable, "-c", code, "5"], capture_output=True, text=True, timeout=60,
                             env={**base, "PYTHONPATH": str(ROOT), **env})
        assert out.returncode == status and out.stdout.startswith(want), out
        assert ("torn-down;" in out.stdout) == bool(env)


@pytest.mark.parametrize(("argv", "want"), [
    (["py", "-m", "toro_mpi.rank_main", "prog.py"], True),
    (["py", "-X", "dev", "-u", "-m", "toro_mpi.rank_main", "-c", "pass"], False),  # -X's value: not an option
    (["py", "-u", "-m", "toro_mpi.rank_main", "-c", "pass"], True),
    (["py", "-m", "toro_mpi.hosting", "prog.py"], False),
    (["py", "prog.py", "-m", "toro_mpi.rank_main"], False),
    (["/bin/sh", "-c", "true"], False),
])
def test_which_ranks_start_without_preexec_fn(argv: list[str], want: bool) -> None:
    from toro_mpi.launcher.spawn import _runs_rank_main

    assert _runs_rank_main(argv) is want


def test_a_rank_sets_its_death_signal_itself() -> None:
    """runtime.die_with_launcher: PR_SET_PDEATHSIG to SIGKILL when the launcher's pid is its
    parent's, exit 1 when not (the launcher died before); nothing without the variable."""
    code = textwrap.dedent("""
        import ctypes, os, sys
        from toro_mpi import runtime
        runtime.die_with_launcher()
        sig = ctypes.c_int(-1)
        ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG
        print(sig.value, runtime.DEATHSIG_VAR in os.environ)
    """)
    base = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = {name: subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                 env={**base, **extra})
            for name, extra in (("ours", {"TORO_MPI_DEATHSIG": str(os.getpid())}),
                                ("gone", {"TORO_MPI_DEATHSIG": "1"}), ("none", {}))}
    assert (runs["ours"].returncode, runs["ours"].stdout.split()) == (0, ["9", "False"]), runs["ours"]
    assert (runs["gone"].returncode, runs["gone"].stdout) == (1, ""), runs["gone"]
    assert (runs["none"].returncode, runs["none"].stdout.split()) == (0, ["0", "False"]), runs["none"]


# -- cached kernels: the linking bitcode parsed on use ---------------------------------------

def test_cached_kernels_load_without_parsing_their_bitcode(monkeypatch: pytest.MonkeyPatch) -> None:
    """The symbols read from a loaded kernel's machine code are the ones numba reads from its
    bitcode (what is not private to the library); the bitcode is parsed when first asked for."""
    import llvmlite.binding as ll
    import numba
    import numpy as np

    from toro_mpi.bus import compiling, ring

    compiling.guard_compiles()
    ring.relax(1)
    scratch = np.zeros(1, np.uint8)
    ring.copy_bytes(scratch, scratch, 0)
    read: list[set[str] | None] = []
    elf = compiling.elf_defined_symbols
    monkeypatch.setattr(compiling, "elf_defined_symbols", lambda obj: read.append(elf(obj)) or read[-1])
    libraries = []
    for dispatcher in (ring.relax, ring.copy_bytes):
        # A new dispatcher of the same function: its kernel loads from numba's cache again, here.
        fresh = numba.njit(cache=True)(dispatcher.py_func)
        sig = dispatcher.signatures[0]
        assert compiling.load_cached(fresh, sig) is not None
        libraries.append(fresh.overloads[tuple(sig)].library)
    assert len(read) == 2
    engine = libraries[0]._codegen._engine
    for library, symbols in zip(libraries, read, strict=True):
        assert isinstance(library, compiling._LinkBitcodeOnUse) and "_toro_mpi_bitcode" in vars(library)
        module = library._get_module_for_linking()  # what linking it into a caller asks for
        assert "_toro_mpi_bitcode" not in vars(library) and library._shared_module is module
        defined = {g.name for group in (module.functions, module.global_variables) for g in group
                   if not g.is_declaration and g.linkage not in (ll.Linkage.internal, ll.Linkage.private)}
        assert symbols == defined and len(defined) >= 3
        assert all(engine.is_symbol_defined(name) for name in defined)


def test_elf_symbols_refuse_what_is_not_an_elf64_object() -> None:
    from toro_mpi.bus.compiling import elf_defined_symbols

    assert elf_defined_symbols(b"") is None
    assert elf_defined_symbols(b"BC\xc0\xde" + bytes(100)) is None  # bitcode, not ELF
    assert elf_defined_symbols(b"\x7fELF\x01\x01" + bytes(100)) is None  # 32-bit
    header = bytearray(b"\x7fELF\x02\x01" + bytes(58))
    header[0x28:0x30] = (10**6).to_bytes(8, "little")  # section headers past the end
    header[0x3A:0x3E] = (64).to_bytes(2, "little") + (3).to_bytes(2, "little")
    assert elf_defined_symbols(bytes(header)) is None


def test_the_program_imports_importlib_metadata_from_threads() -> None:
    """Found in review: importlib.metadata left lazy by numba's import (LazyLoader) is not
    thread-safe (Python 3.11 switches its class before executing it), so eight threads of the
    program importing from it at once failed in seven. It is imported normally now."""
    code = textwrap.dedent("""
        import threading
        from toro_mpi import runtime
        runtime._import_numba()
        barrier, errors = threading.Barrier(8), []
        def work():
            barrier.wait()
            try:
                from importlib.metadata import version
                version("numpy")
            except Exception as exc:
                errors.append(repr(exc))
        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(errors)
    """)
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
