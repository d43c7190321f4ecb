"""Compile a kernel specialisation once per machine, not once per rank process.

The launcher warms numba's on-disk cache for the common dtypes (toro_mpi/warm.py); any other
specialisation compiles on first use. Ranks reach the same first use together, so on a cold cache
every rank process compiled the same code at the same time: 8 processes on 2 cores took minutes
for what one process does in seconds. `compile_once` takes an exclusive lock on a file in the
cache directory around the compile: the first process compiles and writes the cache, the others
wait, then find it in numba's on-disk index (numba looks there before compiling) and load it.

The lock is flock(2) on a file in the cache directory (NUMBA_CACHE_DIR, else numba's default
__pycache__ next to these sources): the kernel releases it when its holder exits, however it
exits. Where the file cannot be created, compiling goes on without it.

A compile also works after the program has hidden numba (`sys.modules["numba"] = None`, as
mpi4py's test runner does before it imports mpi4py.MPI): numba imports much of itself lazily
while it compiles (`from numba import literal_unroll` in a function, new submodules), which the
hidden entry would break. `remember_numba` (called once numba is imported, before the program
runs) notes numba's and llvmlite's modules; `numba_visible` puts them back in sys.modules for
the length of a compile or a first load, then restores what the program had there. Loading a
kernel from the on-disk cache needs them as much as compiling it (numba unpickles its index,
and pickle imports `numba` by name), and toro_mpi calls many kernels from Python for the first
time long after the program started (`relax` at the first wait, `ring_bells` at exit), so
`guard_compiles` wraps the `compile` method (through which numba both compiles and loads) of
every dispatcher of toro_mpi's modules.

Two per-process costs of numba that a rank paid before its first message are skipped when a
kernel only loads from the cache (measured CPU per rank, 2026-12-07): numba's extension entry
points (`numba.core.entrypoints.init_all`, a scan of every installed distribution's metadata,
15-23 ms) run before a real compile only, and numba's runtime (NRT) functions, compiled by LLVM in
every process (20-25 ms), are loaded from their object code cached beside the kernels' (3 ms;
`init_runtime`).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

_LOCK_NAME = "toro_mpi-compile.lock"
_depth = 0  # compile_once calls in progress in this process (the lock is taken by the outermost)
# The packages a compile imports from (numba lazily imports its own submodules and llvmlite's).
_COMPILER_PACKAGES = ("numba", "llvmlite")
_real_modules: dict[str, ModuleType] = {}  # name -> module, as numba left them (remember_numba)
_MISSING = object()


def remember_numba() -> None:
    """Note numba's and llvmlite's modules as they are now, for numba_visible to put back."""
    for name, module in list(sys.modules.items()):
        if module is not None and name.partition(".")[0] in _COMPILER_PACKAGES:
            _real_modules.setdefault(name, module)


@contextmanager
def numba_visible() -> Iterator[None]:
    """Within the block, sys.modules holds the real numba and llvmlite modules even if the
    program replaced or removed some (see the module docstring); afterwards, the program's
    entries again. Costs one look per remembered module when nothing was hidden."""
    modules = sys.modules
    hidden = {name: modules.get(name, _MISSING) for name, module in _real_modules.items()
              if modules.get(name) is not module}
    if not hidden:
        yield
        return
    modules.update((name, _real_modules[name]) for name in hidden)
    try:
        yield
    finally:
        # What the compile imported anew stays (a later compile needs it too); what the program
        # had hidden is hidden again.
        remember_numba()
        for name, value in hidden.items():
            if value is _MISSING:
                modules.pop(name, None)
            else:
                modules[name] = value


def _lock_path() -> Path:
    cache = os.environ.get("NUMBA_CACHE_DIR")
    return Path(cache) / _LOCK_NAME if cache else Path(__file__).resolve().parent / "__pycache__" / _LOCK_NAME


def _open_lock() -> int | None:
    path = _lock_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None


def guard_compiles() -> None:
    """remember_numba, and make every numba dispatcher in toro_mpi's imported modules compile
    and load under numba_visible; numba's typing of numpy arrays no longer imports numpy.ma
    (typeof_without_numpy_ma). Idempotent; cheap (a look at each module global)."""
    from numba.core.dispatcher import Dispatcher

    remember_numba()
    typeof_without_numpy_ma()
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("toro_mpi."):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher) and "compile" not in vars(value):
                value.compile = _visible_compile(value.compile)
                # numba runs its extensions' entry points at a dispatcher's first call, before
                # it types the arguments: a scan of all installed packages' metadata. A kernel
                # loaded from the cache needs no extension; a real compile runs them first
                # (_visible_compile, compile_once), as numba would have.
                value._compilation_chain_init_hook = _no_hook


# The global names numba's _typeof_ndarray uses (0.60 - 0.68): the function replicated below.
_TYPEOF_NDARRAY_NAMES = ("isinstance", "np", "ma", "MaskedArray", "errors", "NumbaTypeError", "numpy_support",
                         "from_dtype", "dtype", "NumbaNotImplementedError", "NumbaValueError", "map_layout", "flags",
                         "writeable", "types", "Array", "ndim")


def typeof_without_numpy_ma() -> None:
    """Make numba's typeof of a numpy array skip its MaskedArray check while numpy.ma is not
    imported. Idempotent.

    numba's _typeof_ndarray starts with `isinstance(val, np.ma.MaskedArray)`; numpy 2 imports
    numpy.ma on the first `np.ma`, 10-15 ms of CPU measured here. A rank paid it at exit, the
    first time Python called a kernel with an array (ring_bells in the transport's finish), and
    any program would at its first call of a jitted function with an array argument. No
    MaskedArray can exist before numpy.ma is imported (its class is defined there), so the check
    is false until then: skipped until then, numba's own function (check included) after."""
    import numpy as np
    from numba.core.typing import typeof

    original = typeof.typeof_impl.dispatch(np.ndarray)
    if getattr(original, "_toro_mpi_original", None) is not None:
        return
    if original.__code__.co_names != _TYPEOF_NDARRAY_NAMES:
        return  # another numba's function: left as it is

    def typeof_ndarray(val: Any, c: Any) -> Any:
        if "numpy.ma" in sys.modules:
            return original(val, c)
        from numba.core import errors, types
        from numba.np import numpy_support

        # The rest of numba's _typeof_ndarray (numba 0.60 - 0.68), unchanged.
        try:
            dtype = numpy_support.from_dtype(val.dtype)
        except errors.NumbaNotImplementedError:
            raise errors.NumbaValueError(f"Unsupported array dtype: {val.dtype}") from None
        layout = numpy_support.map_layout(val)
        readonly = not val.flags.writeable
        return types.Array(dtype, val.ndim, layout, readonly=readonly)

    typeof_ndarray._toro_mpi_original = original  # type: ignore[attr-defined]
    typeof.typeof_impl.register(np.ndarray)(typeof_ndarray)


def _no_hook() -> None:
    """What a toro_mpi dispatcher runs at its first call instead of numba's extension init."""


def _init_extensions() -> None:
    """numba's extension entry points (once per process): what a real compile needs first."""
    from numba.core import entrypoints

    entrypoints.init_all()


def _visible_compile(compile_: Any) -> Any:
    """A dispatcher's bound compile method, run under numba_visible (a cached kernel is loaded
    the light way first: load_cached)."""
    dispatcher = compile_.__self__

    def compile(sig: Any) -> Any:
        with numba_visible():
            entry = load_cached(dispatcher, sig)
            if entry is not None:
                return entry
            _init_extensions()
            return compile_(sig)

    return compile


# The cached NRT library: magic, then the library's name, its object code and its bitcode for
# linking, each preceded by its length (what numba's serialize_using_object_code returns).
_NRT_MAGIC = b"toro_mpi-nrt-1\n"


def _nrt_cache_path(ctx: Any) -> Path:
    """Where the NRT object code for this numba, llvmlite, Python and CPU is cached."""
    import llvmlite
    import numba

    key = repr((numba.__version__, llvmlite.__version__, sys.version, ctx.codegen().magic_tuple()))
    return _lock_path().with_name(f"toro_mpi-nrt-{hashlib.sha256(key.encode()).hexdigest()[:16]}.bin")


def _read_nrt(path: Path) -> tuple[str, bytes, bytes] | None:
    """The cached (name, object code, bitcode), or None when missing or not well formed."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(_NRT_MAGIC):
        return None
    parts: list[bytes] = []
    at = len(_NRT_MAGIC)
    for _ in range(3):
        if at + 8 > len(data):
            return None
        (n,) = struct.unpack_from("<Q", data, at)
        parts.append(data[at + 8:at + 8 + n])
        at += 8 + n
    if at != len(data):
        return None  # truncated or padded: not what _write_nrt wrote
    return parts[0].decode(), parts[1], parts[2]


def _write_nrt(path: Path, name: str, obj: bytes, bitcode: bytes) -> None:
    """Write the cache file under a temporary name, then rename it into place (atomic)."""
    body = b"".join(struct.pack("<Q", len(p)) + p for p in (name.encode(), obj, bitcode))
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(_NRT_MAGIC + body)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only cache: the next process compiles again


def init_runtime(ctx: Any) -> None:
    """numba's rtsys.initialize(ctx), with NRT's LLVM-compiled functions loaded from object code
    cached on disk (written by the first process that compiles them) instead of compiled anew.

    Does what numba 0.68's rtsys.initialize does: registers NRT's C helpers as symbols, then
    builds the `nrt` library; a library made from its object code and linking bitcode is what
    numba itself loads for a cached kernel. Anything unexpected (another numba, NRT statistics
    on, an unreadable cache) falls back to rtsys.initialize. Call with the global compiler lock
    held (load_cached does)."""
    from numba.core import config
    from numba.core.runtime import rtsys

    if rtsys._init:
        return
    try:
        import llvmlite.binding as ll
        from numba.core.runtime import _nrt_python as _nrt
        from numba.core.runtime import nrtdynmod

        if config.NRT_STATS or not isinstance(getattr(type(rtsys), "library", None), property):
            raise LookupError("not the runtime this cache was written for")
        path = _nrt_cache_path(ctx)
        cached = _read_nrt(path)
        for py_name, address in _nrt.c_helpers.items():
            ll.add_symbol(py_name if py_name.startswith("_") else "NRT_" + py_name, address)
        if cached is not None:
            name, obj, bitcode = cached
            library = ctx.codegen().unserialize_library((name, "object", (obj, bitcode)))
        else:
            # nrtdynmod.compile_nrt_functions, with the object code kept for the cache.
            ir_mod, library = nrtdynmod.create_nrt_module(ctx)
            library.enable_object_caching()
            library.add_ir_module(ir_mod)
            library.finalize()
            name, _, (obj, bitcode) = library.serialize_using_object_code()
            _write_nrt(path, name, obj, bitcode)
        rtsys._library = library
        rtsys._init = True
    except Exception:  # noqa: BLE001 - numba's own initialisation then does it all
        rtsys.initialize(ctx)


@contextmanager
def llvm_lock_events_off() -> Iterator[None]:
    """Within the block, llvmlite's calls into LLVM skip numba's "numba:llvm_lock" event hooks
    while nothing listens to that event; afterwards the hooks are as they were.

    numba registers two callbacks that run around every llvmlite FFI call (numba.core.base,
    _initialize_llvm_lock_event): each builds an Event and broadcasts it, 5-10 us of Python per
    call measured here, about twice the call itself. Loading a cached kernel makes 100-250 such
    calls (a rank's hello + allreduce about 1000: ~10 ms of its CPU). The events only reach
    listeners (numba.core.event.register: Dispatcher.compile's timer, NUMBA_CHROME_TRACE's
    recorder); with one installed the hooks stay, so what any listener sees is unchanged. The
    list is changed holding llvmlite's FFI lock, so no call is between its two callbacks."""
    from llvmlite.binding import ffi
    from numba.core import event

    try:
        manager = ffi.lib._lock
        lock, callbacks, registered = manager._lock, manager._cblist, event._registered
    except AttributeError:
        # Another llvmlite or numba than the ones this was written against: change nothing.
        yield
        return
    with lock:
        saved = list(callbacks)
        if registered.get("numba:llvm_lock"):
            kept = saved
        else:
            kept = [pair for pair in saved
                    if getattr(pair[0], "__qualname__", "") != "_initialize_llvm_lock_event.<locals>.enter_fn"]
        callbacks[:] = kept
    try:
        yield
    finally:
        with lock:
            if callbacks == kept:  # unless someone registered or removed one meanwhile
                callbacks[:] = saved


_SHT_SYMTAB = 2  # ELF section type of the symbol table
_STB_LOCAL = 0  # ELF symbol binding: visible inside its object only
_ELF_SECTION = struct.Struct("<IIQQQQIIQQ")  # an ELF64 section header
_ELF_SYMBOL = struct.Struct("<IBBHQQ")  # an ELF64 symbol: name, info, other, section, value, size


def elf_defined_symbols(obj: bytes) -> set[str] | None:
    """The global and weak symbols an ELF64 little-endian relocatable object defines (its
    symbol table's entries bound beyond the object and in a section, absolute or common);
    None when obj is not such an object or has no symbol table."""
    if len(obj) < 64 or obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        return None
    (shoff,) = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    if shentsize != _ELF_SECTION.size or shoff + shnum * shentsize > len(obj):
        return None
    sections = [_ELF_SECTION.unpack_from(obj, shoff + i * shentsize) for i in range(shnum)]
    for section in sections:
        if section[1] != _SHT_SYMTAB:
            continue
        offset, size, link = section[4], section[5], section[6]
        if link >= shnum or offset + size > len(obj) or size % _ELF_SYMBOL.size:
            return None
        str_offset, str_size = sections[link][4], sections[link][5]
        strings = obj[str_offset:str_offset + str_size]
        names = set()
        for name, info, _other, shndx, _value, _size in _ELF_SYMBOL.iter_unpack(obj[offset:offset + size]):
            if shndx != 0 and info >> 4 != _STB_LOCAL:
                end = strings.find(b"\0", name)
                names.add(strings[name:end if end >= 0 else None].decode("utf-8", "surrogateescape"))
        return names
    return None


class _LinkBitcodeOnUse:
    """Mixin of a cached kernel's code library whose linking bitcode is parsed when something
    first asks for it (lazy_unserialize): `_shared_module` is then numba's parsed module."""

    @property
    def _shared_module(self) -> Any:
        state = self.__dict__
        module = state.get("_toro_mpi_shared_module")
        if module is None and state.get("_toro_mpi_bitcode") is not None:
            import llvmlite.binding as ll

            module = state["_toro_mpi_shared_module"] = ll.parse_bitcode(state.pop("_toro_mpi_bitcode"))
        return module

    @_shared_module.setter
    def _shared_module(self, module: Any) -> None:
        self.__dict__.pop("_toro_mpi_bitcode", None)
        self.__dict__["_toro_mpi_shared_module"] = module


_lazy_classes: dict[type, type] = {}


def lazy_unserialize(codegen: Any, state: tuple) -> Any:
    """numba's CPUCodeLibrary._unserialize of a cached kernel ("object": its machine code and
    its bitcode for linking), with the bitcode parsed only when a later compile links the
    kernel into another (a user's njit calling toro_mpi.jit) or the library is serialized.

    numba parses the bitcode at every load to learn which symbols the library defines (for
    get_pointer_to_function): 0.6-1 ms per kernel, 7.6-8.7 ms of a rank's CPU (startup3's
    report). The same names (those that are not private to the library: functions and globals
    with external, weak or common linkage; the engine is only ever asked about those) are read
    from the machine code's ELF symbol table here. Anything else (another kind, an object that
    is not ELF64 little-endian, another numba) goes to numba's own function."""
    library_class = codegen._library_class
    name, kind, data = state
    symbols = elf_defined_symbols(data[0]) if kind == "object" else None
    if symbols is None or not hasattr(codegen._engine, "_defined_symbols"):
        return library_class._unserialize(codegen, state)
    lazy = _lazy_classes.get(library_class)
    if lazy is None:
        lazy = _lazy_classes[library_class] = type(f"LinkOnUse{library_class.__name__}",
                                                   (_LinkBitcodeOnUse, library_class), {})
    # What numba's _unserialize does for "object", the parse and symbol scan apart.
    object_code, bitcode = data
    library = codegen.create_library(name)
    library.__class__ = lazy
    library.__dict__.pop("_shared_module", None)  # numba's None, now behind the property
    library.__dict__["_toro_mpi_bitcode"] = bitcode
    library.enable_object_caching()
    library._set_compiled_object(object_code)
    library._finalize_final_module()
    codegen._engine._defined_symbols |= symbols
    return library


def load_cached(dispatcher: Any, sig: Any) -> Any:
    """The entry point of dispatcher's specialisation sig, loaded from numba's on-disk cache
    without compiling; None when the cache does not have it (or it fails to load: the caller
    then compiles as usual, which looks in the cache again).

    numba's own load (Dispatcher.compile) first refreshes the target context, which imports
    every lowering numba has (linalg, random generators, typed containers, jitclass...): about
    0.4 s of CPU here, measured, in every rank process, against 0.04 s for what a cached kernel
    needs, numba's runtime (NRT) initialised for the linker. So here that refresh is
    replaced by the runtime's initialisation for the length of the load; a compile (numba's
    compile_extra) refreshes everything itself. The rest is what Dispatcher.compile does with
    a cache hit (numba 0.68)."""
    from numba.core import sigutils
    from numba.core.compiler_lock import global_compiler_lock

    args, _ = sigutils.normalize_signature(sig)
    with global_compiler_lock:
        existing = dispatcher.overloads.get(tuple(args))
        if existing is not None:
            return existing.entry_point
        cache = getattr(dispatcher, "_cache", None)
        ctx = dispatcher.targetctx
        if cache is None or "refresh" in vars(ctx):
            return None
        codegen = ctx.codegen()
        with llvm_lock_events_off():
            ctx.refresh = lambda: init_runtime(ctx)  # shadows the method, for this load only
            # ...and the codegen's, for a load that parses the linking bitcode on use only.
            codegen.unserialize_library = lambda state: lazy_unserialize(codegen, state)
            try:
                cres = cache.load_overload(sig, ctx)
            except Exception:  # noqa: BLE001 - anything odd: leave it to numba's own path
                cres = None
            finally:
                del ctx.refresh
                del codegen.unserialize_library
            if cres is None:
                return None
            dispatcher._cache_hits[sig] += 1
            if not cres.objectmode:
                ctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
            dispatcher.add_overload(cres)
            return cres.entry_point


def compile_once(dispatcher: Any, sig: tuple) -> Any:
    """dispatcher.compile(sig)'s entry point; compiled under the machine-wide lock unless this
    process has it already."""
    global _depth
    done = dispatcher.overloads.get(tuple(sig))
    if done is not None:
        return done.entry_point
    # A cached kernel needs no lock: numba writes each cache file under a temporary name and
    # renames it into place. Locking every load made the ranks of a job load one after another,
    # and wait behind any other job's compile (seconds, on a shared machine).
    with numba_visible():
        entry = load_cached(dispatcher, sig)
    if entry is not None:
        return entry
    # flock locks belong to an open file: a nested call taking it again through another open
    # would wait for itself. Only the outermost call locks.
    fd = _open_lock() if _depth == 0 else None
    _depth += 1
    try:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        with numba_visible():
            _init_extensions()
            return dispatcher.compile(sig)
    finally:
        _depth -= 1
        if fd is not None:
            os.close(fd)  # releases the lock
