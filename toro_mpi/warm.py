"""Warm numba's on-disk cache once (in the launcher) so ranks load kernels instead of compiling.

This module sits at the start-up level, beside runtime.py, not in bus/: it drives the kernels of
bus/, coll/ and mpi/ alike, so it may import all of them and none of them imports it (the layer
contract, README "Architecture"). The launcher reaches it by name (launcher/job.py).

A cold compile of the kernels costs seconds per process; a warm load ~0.2 s. The launcher calls
`warm_cache()` before starting ranks: it drives every kernel through a private two-rank segment
for 1-D contiguous arrays of the common dtypes (the engine flattens every other array to bytes),
so numba compiles each specialisation here, once, and writes it to NUMBA_CACHE_DIR.

The warm-up runs in a child process (`_child_main`) that the caller waits for. A signal handler
that raises (the launcher's, on Ctrl-C) would otherwise fire inside numba's compiler, between
LLVM emitting a function's object code and numba's callback recording it (llvmlite reports and
swallows an exception raised in that callback): numba then fails with `RuntimeError: no
compiled object yet for <Library ...>` instead of the interrupt reaching the launcher. Here the
interrupt reaches only the wait; the child is killed, which cannot corrupt the cache (numba
writes each cache file under a temporary name and renames it into place), and the next launch
goes on from what it had compiled. The child says on stderr when it starts compiling and how
long it took; loading an already compiled cache says nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from .bus import layout as L


class _LazyNumpy:
    """numpy, imported at its first use. The launcher imports this module for warm_cache, which
    needs no numpy (the warm-up child does): importing it was a third of the launcher's start."""

    def __getattr__(self, name: str) -> Any:
        import numpy

        globals()["np"] = numpy  # later lookups find numpy itself
        return getattr(numpy, name)


if TYPE_CHECKING:
    import numpy as np
else:
    np = _LazyNumpy()

# The toro_mpi package directory. os.path, not pathlib, on the launcher's path: importing pathlib
# (with urllib.parse, ipaddress) cost every launch ~3 ms before the ranks started.
_PACKAGE = os.path.dirname(os.path.realpath(__file__))
# Sources whose jitted functions the ranks load, and the modules whose globals those functions
# freeze in (layout's constants, futex's numbers): when any changes, the cache is warmed again.
# tests/unit/test_layers.py checks that every source defining a jitted function is listed.
KERNEL_SOURCES = ("bus/ring.py", "bus/ring_at.py", "bus/held.py", "bus/atomics.py", "bus/layout.py", "bus/futex.py",
                  "bus/typemap_copy.py", "bus/rma_kernels.py", "coll/interpreter.py", "coll/elementwise.py",
                  "jit/calls.py", "jit/layout.py", "bus/views.py", "mpi/net_take.py")


def _sha256() -> Any:
    """A new SHA-256 hash object. CPython's own implementation where it has one: the launcher
    checks its stamp at every start, and `import hashlib` loads OpenSSL's (_hashlib), 2-2.5 ms
    before any rank starts, for 140 KB of sources that either hashes in well under a ms."""
    for name in ("_sha256", "_sha2"):  # CPython 3.11; 3.12 and later
        try:
            return __import__(name).sha256()
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256()


def _stamp() -> str | None:
    """A file in NUMBA_CACHE_DIR that records a finished warm-up of these exact sources."""
    cache = os.environ.get("NUMBA_CACHE_DIR")
    if not cache:
        return None
    digest = _sha256()
    try:
        # numba's version, from its _version.py found without importing numba or
        # importlib.metadata (which alone cost the launcher 20-50 ms at every start).
        import importlib.util

        spec = importlib.util.find_spec("numba")
        if spec is not None and spec.origin:
            with open(os.path.join(os.path.dirname(spec.origin), "_version.py"), "rb") as fh:
                digest.update(fh.read())
    except Exception:  # noqa: BLE001 - no such file: fall back to sources only
        pass
    # numba keys its cache by the source files' paths: the same sources elsewhere (another
    # checkout) are compiled anew, so they need their own stamp.
    digest.update(_PACKAGE.encode())
    digest.update(kernel_sources_digest())
    return os.path.join(cache, f"toro_mpi-warm-{digest.hexdigest()[:16]}")


def kernel_sources_digest() -> bytes:
    """SHA-256 of the sources of every jitted kernel (KERNEL_SOURCES): what a user's cached
    numba code that calls toro_mpi.jit has compiled in (jit/layout.py JIT_BUILD). About 0.7 ms."""
    digest = _sha256()
    for rel in KERNEL_SOURCES:
        with open(os.path.join(_PACKAGE, rel), "rb") as fh:
            digest.update(fh.read())
    return digest.digest()

# The dtypes most programs send; others compile on first use in a rank (about a second, once
# per machine: that specialisation is cached too).
WARM_DTYPES = ("u1", "i4", "i8", "f4", "f8")


def _drop_stale(cache: str) -> None:
    """Remove numba's cached code of toro_mpi's jitted modules.

    numba checks a cached function against its own source file only: a kernel that inlines a
    function from another module (the interpreter inlines the reduction operators) would keep its
    old code after that module changed. So when the sources changed, start from nothing."""
    import shutil

    for rel in {os.path.dirname(r) for r in KERNEL_SOURCES}:
        src_dir = os.path.join(_PACKAGE, rel)
        # numba's own naming of a source directory's cache (numba.core.caching._CacheLocator).
        import hashlib  # only when the sources changed

        name = f"{os.path.basename(src_dir)}_{hashlib.sha1(src_dir.encode()).hexdigest()}"
        shutil.rmtree(os.path.join(cache, name), ignore_errors=True)


# Said on stderr when the warm-up finds something to compile (measured: 30-50 s on 2 cores).
COMPILING_NOTE = ("toro-mpirun: compiling toro_mpi kernels for this machine, once: this takes about a "
                  "minute (later launches load them in about a second)")


class WarmError(RuntimeError):
    """The warm-up process failed (its own error output says why)."""


def warm_cache() -> None:
    """Compile (or load) every kernel specialisation the ranks will use; a no-op once done.

    Runs the warm-up in a child process and waits for it; an exception raised meanwhile (a
    signal handler's) kills the child and propagates, leaving the cache usable. Raises
    WarmError when the child fails."""
    stamp = _stamp()
    if stamp is None:
        _run_child()
        return
    if os.path.exists(stamp):
        return
    # A warm-up of these very sources that was cut short left good cache entries: keep them.
    # Anything else in the cache may be stale (see _drop_stale).
    cache, name = os.path.split(stamp)
    started = os.path.join(cache, name.replace("-warm-", "-warming-"))
    if not os.path.exists(started):
        _drop_stale(cache)
        os.makedirs(cache, exist_ok=True)
        _touch(started)
    _run_child()
    _touch(stamp)
    try:
        os.unlink(started)
    except FileNotFoundError:
        pass


def _touch(path: str) -> None:
    """Create the file at path (empty) if missing."""
    with open(path, "a"):
        pass


def _run_child() -> None:
    """Run _child_main in a new process and wait for it (see the module docstring)."""
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(_PACKAGE)!r}); "
            "from toro_mpi.warm import _child_main; _child_main()")
    # Its own session: a terminal's Ctrl-C reaches the launcher (which kills it), not the
    # compiler. Its stdout goes to our stderr: stdout is the program's.
    proc = subprocess.Popen([sys.executable, "-c", code, str(os.getpid())], stdin=subprocess.DEVNULL,
                            stdout=sys.stderr.fileno(), start_new_session=True)
    try:
        status = proc.wait()
    except BaseException:
        _kill(proc)
        raise
    if status != 0:
        raise WarmError(f"compiling toro_mpi's kernels failed (warm-up process {_describe(status)})")


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the warm-up process and reap it, whatever signals arrive meanwhile."""
    proc.kill()
    for _ in range(100):
        try:
            proc.wait()
            return
        except BaseException:  # noqa: BLE001 - another signal: the first one is being raised
            continue


def _describe(status: int) -> str:
    if status < 0:
        return f"killed by {signal.Signals(-status).name}"
    return f"exited with status {status}"


def _child_main() -> None:
    """The warm-up process: compile or load every kernel, then say how long compiling took."""
    _die_with_parent(int(sys.argv[1]))
    from numba.core import event

    class CompileNotice(event.Listener):
        """Says once that compiling has started (numba:compile fires for real compiles, not
        for loads from the cache), and remembers when."""

        started: float | None = None

        def on_start(self, event: Any) -> None:
            if self.started is None:
                self.started = time.monotonic()
                print(COMPILING_NOTE, file=sys.stderr, flush=True)

        def on_end(self, event: Any) -> None:
            pass

    notice = CompileNotice()
    event.register("numba:compile", notice)
    _warm()
    if notice.started is not None:
        took = time.monotonic() - notice.started
        print(f"toro-mpirun: compiled toro_mpi kernels in {took:.0f} s", file=sys.stderr, flush=True)


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies (a launcher killed by SIGKILL cannot kill it)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the prctl: nobody waits for us
        raise SystemExit(1)


def _warm_collectives() -> None:
    """Compile the collective interpreter: bytes (data movement) and the common reduction dtypes."""
    from .coll import interpreter as I
    from .coll.elementwise import OP_SUM
    from .coll.engine import plan_words
    from .coll.schedules import Program

    prog = Program()
    prog.reduce((0, 0), (1, 0), (1, 0), 1)
    words = plan_words(prog.array(), 1, [0], [0], 0, 0, OP_SUM, 0)
    for code in WARM_DTYPES:
        arr = np.zeros(1, np.dtype(code))
        words[I.P_PC] = 0
        I.entry_point(arr.dtype)(words, arr, arr, arr)
        # The hot paths' entry (run_at: the arrays' addresses are in the words).
        for at in (I.P_SEND_AT, I.P_RECV_AT, I.P_TMP_AT):
            words[at], words[at + 1] = arr.ctypes.data, arr.size
        if arr.dtype in I.HOT_DTYPES:
            I.entry_point_at(arr.dtype)(words.ctypes.data)
    empty = plan_words(Program().array(), 1, [0], [0], 0, 0, 0, 0)
    empty[I.P_WSTART] = -1
    I.barrier_entry()(empty.ctypes.data)


def warm_reduction_dtypes() -> None:
    """Also compile the collective interpreter for every other dtype a reduction can use (numeric
    dtypes and the MAXLOC/MINLOC pair types): about 6 s each when not cached yet. The launcher
    leaves these to first use; test suites and benchmarks call this once up front."""
    warm_cache()
    from .coll import interpreter as I
    from .mpi.datatypes import PREDEFINED

    dtypes = {np.dtype(c) for c in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8", "c8", "c16", "?")}
    dtypes |= {PREDEFINED[name].dtype for name in ("SHORT_INT", "TWOINT", "LONG_INT", "FLOAT_INT", "DOUBLE_INT")}
    for dtype in sorted(dtypes, key=str):
        I.entry_point(dtype)


def _warm_typemap(scratch: np.ndarray) -> None:
    """The derived-datatype pack/unpack pass (one specialisation: int64 addresses and arrays)."""
    from .bus.typemap_copy import strided_copy, typemap_copy

    segs = np.zeros(1, np.int64)
    addr = scratch.ctypes.data
    typemap_copy(addr, segs, segs, 0, 0, addr, 0, 0, 1)
    strided_copy(addr, 0, 0, 0, 0, 0, 0, addr, 1)


def _warm_rma() -> None:
    """The one-sided kernels (window locks, counters, copies): one specialisation each."""
    from .bus import rma_kernels as K

    words = np.zeros(8, np.int64)
    addr = words.ctypes.data
    K.try_lock_exclusive(addr)
    K.unlock_exclusive(addr)
    K.try_lock_shared(addr)
    K.unlock_shared(addr)
    K.spin_lock(addr, 1, 1)
    K.spin_unlock(addr)
    K.load_word(addr)
    K.add_word(addr, 0)
    K.copy_bytes(addr + 8, addr, 8)
    # The hot paths' specialisations (mpi/rma.py _HOT): Put/Get of each, Accumulate of the signed ones.
    for code in ("u1", "i4", "i8", "f4", "f8"):
        arr = np.zeros(1, np.dtype(code))
        K.put_array(addr + 8, arr)
        K.get_array(arr, addr + 8)
        if code != "u1":
            K.accumulate_array(addr, 1, 1, addr + 8, arr, K.ACC_SUM)
    K.warm_hot()  # the hot calls' kernels on raw addresses (mpi/rma.py's records)


def _warm() -> None:
    from .bus import ring, ring_at
    from .bus.segment import Segment
    from .mpi import net_take

    seg = Segment.create(2, 4, 128)
    try:
        seg.unlink()
        qa = seg.handle(0, 1)
        info = np.zeros(L.INFO_LEN, np.int64)
        ring.load_acquire(seg.base + L.HDR_ABORT)
        ring.store_release(seg.base + L.HDR_ATTACHED, 0)
        ring.fetch_add(seg.base + L.HDR_ATTACHED, 0)
        ring.relax(1)
        # The doorbell's kernels, called at a rank's first wait: missing from the cache, they cost
        # that rank numba's full target refresh (~0.35 s of CPU) and a compile.
        bell = seg.base + seg.slot(0, L.SLOT_BELL)
        timespec = np.array([0, 1000], np.int64)  # 1 us
        ring.doze_wait(bell, int(ring.doze_arm(bell)), timespec.ctypes.data)
        ring.blocked_writer()(seg.base + seg.slot(0, 0), 0, -2, 0)
        ring.rx_scanner()(np.array([0, qa], np.int64), np.zeros(2, np.uint8))
        ring_at.send_at_entry(), ring_at.recv_at_entry()  # Isend's / Irecv's call-site kernels
        ring_at.run_at_entry()  # posted receives matched in a run (mpi/posted_run.py)
        ring_at.send_site_entry(), ring_at.recv_site_entry(), ring_at.wait_site_entry()  # (smallmsg)
        ring_at.run_same_entry(), ring_at.pending_entry()
        scratch = np.zeros(1024, np.uint8)
        for code in WARM_DTYPES:
            dtype = np.dtype(code)
            push = ring.entry_point(ring.tx_push, dtype)
            match = ring.entry_point(ring.rx_match, dtype)
            resume = ring.entry_point(ring.rx_continue, dtype)
            wait = ring.entry_point(ring.rx_wait, dtype)
            send = ring.entry_point(ring.tx_send, dtype)
            recv = ring.entry_point(ring.rx_recv, dtype)
            ring.entry_point(ring.tx_send_rndv, dtype)  # (a blocking Send's rendezvous, an Isend's)
            ring.entry_point(ring.tx_isend_rndv, dtype)
            arr = np.zeros(2, dtype)
            push(qa, L.KIND_EAGER, 0, 0, arr.nbytes, 0, arr, L.TX_NOT_STARTED)
            match(qa, L.ANY, L.ANY, arr, info)
            resume(qa, arr)
            wait(qa, L.ANY, L.ANY, arr, info, 1)
            send(qa, 0, 0, arr)
            recv(qa, L.ANY, L.ANY, arr)
            ring.address_reader(dtype)(arr)
            net_take.entry_point(dtype)(scratch.ctypes.data, 0, L.ANY, 0, arr, info)  # jobs of several nodes
        ring.copy_bytes(scratch, scratch, 0)
        ring.copy_from(scratch.ctypes.data, scratch.ctypes.data, 0)
        # The rendezvous protocol's kernels (bus/layout.py "Rendezvous"): a request, its ack.
        send_rndv, poll, ack, read = ring.rndv_entries()
        match = ring.entry_point(ring.rx_match, np.dtype(np.uint8))
        while match(qa, L.ANY, L.ANY, scratch, info) != L.RX_EMPTY:
            pass
        seq = send_rndv(qa, L.KIND_RNDV | L.FLAG_ACK_SLOT << 16, 0, 0, 8, 0, 0, 0) >> 1
        match(qa, L.ANY, L.ANY, scratch[:0], info)
        ack(seg.handle(0, 1), seq)
        poll(qa, seq)
        read(qa, 0, 0, 0, 0, seq)  # (no sender pid in this segment: refused before any read)
        _warm_typemap(scratch)
        _warm_rma()
        _warm_collectives()
    finally:
        seg.close()
