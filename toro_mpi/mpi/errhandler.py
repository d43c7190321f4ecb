"""Error handlers as mpi4py over Open MPI has them, for every class of MPI object that carries one
(communicators, sessions, and the hook a window or file class plugs into).

The handles: Errhandler() is ERRHANDLER_NULL, Get_errhandler returns a new handle that Free
releases, Create_errhandler(fn) makes a user handler for one class (a comm handler cannot be set
on a session: ERR_ARG). As in mpi4py, a rank creates at most MAX_USER user handlers per class in
its life: mpi4py's table of callbacks never gives a slot back, even after Free (RuntimeError).

What a handler does when an MPI error happens in a call on its object (measured against mpi4py
4.1.2 over Open MPI 5, tests/test_errhandlers_issue19.py):
- ERRORS_RETURN (mpi4py's default on every object it makes): the call raises MPI.Exception.
- a user handler: fn(obj, errorcode) runs (obj is a new handle to the object, nulled once fn
  returns, as mpi4py does), then the call raises MPI.Exception all the same. An exception out of
  fn prints its traceback and "Fatal Python error: exception in user-defined error handler
  function", and the job aborts with status 1.
- ERRORS_ARE_FATAL and ERRORS_ABORT: Open MPI's "*** An error occurred in ..." report on stderr,
  then the job aborts with the error code as its exit status.
Errors mpi4py reports with Python's own exceptions before calling MPI (a bad buffer: TypeError,
ValueError, BufferError, KeyError; toro_mpi's MPITypeError & co.) never reach a handler.
Call_errhandler(code) runs the handler on any code, SUCCESS included (Open MPI does).

The one place an error meets its handler is `on_error`. Calls reach it through a guard around the
object's public methods, installed one of two ways:
- on demand, per object (`set_errhandler` does it): while the handler is anything but
  ERRORS_RETURN, the object's __dict__ holds a wrapper for each public method, so with the
  default handler the calls (the hot Send/Recv paths) run exactly as without this module. The
  handles of one communicator share their __dict__, so they share the guard too. Code that puts
  a call of its own in an object's __dict__ (hot_sites' Barrier) uses `install_call` and
  `remove_call`, which keep it under the guard.
- once, per class (`guard_class(cls)`), for classes whose calls are not hot (Session).

Hook for another class (MPI.Win, MPI.File): mix in `ErrhandlerMixin` first among the bases, set
`_errh_kind` ("Win") and define `_errh_check()` (raise the class's error, ERR_WIN, on a null or
freed object); keep the handler in the attribute `_errhandler` (ERRORS_RETURN at creation; a
property if the state lives elsewhere, as Session's does). If the handles of one object share one
__dict__ (as communicators'), nothing else is needed: Set_errhandler guards on demand. Otherwise
call `guard_class(Win)` after the class. A handle copy for the user function is `type(obj)(obj)`
and is nulled afterwards with `_errh_null()` if the class defines it (else `_ref = None` for
handles.Handle classes, or the __dict__ of a new null object).
"""

from __future__ import annotations

import functools
import inspect
import operator
import os
import socket
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any, ClassVar

from ..errors import ERR_ARG, MPIException, MPITypeError
from . import ops as _ops
from .datatypes import Datatype
from .groups import Group
from .handles import Handle, Ref
from .info import Info
from .request import Request
from .status import Status

MAX_USER = 32  # user error handlers a rank may create per class (mpi4py's table size)


class _Predefined(str):
    """An error handler's state: its MPI name."""


class _UserHandler:
    """A user error handler's state: the function fn(obj, errorcode) and the class it is for."""

    __slots__ = ("fn", "kind")

    def __init__(self, fn: Callable[[Any, int], None], kind: str) -> None:
        self.fn = fn
        self.kind = kind

    def __repr__(self) -> str:
        return f"user-defined for MPI.{self.kind}: {getattr(self.fn, '__qualname__', self.fn)!r}"


# (rank, class) -> user handlers created: slots are never given back (mpi4py's registry).
_created: dict[tuple[Any, str], int] = {}


class Errhandler(Handle):
    """An error handler: a predefined one or a user function made by Create_errhandler."""

    _kind = "Errhandler"

    @classmethod
    def _state_type(cls) -> tuple[type, ...]:
        return (_Predefined, _UserHandler)

    @classmethod
    def _create(cls, fn: Callable[[Any, int], None], kind: str) -> Errhandler:
        """A user error handler calling fn(obj, errorcode), for objects of the class `kind`."""
        fn.__call__  # noqa: B018 - mpi4py's check: AttributeError for what cannot be called
        key = (_ops._rank_key(), kind)  # hosted ranks share this process: count per rank
        if _created.get(key, 0) >= MAX_USER:
            raise RuntimeError("cannot create too many user-defined error handlers")
        _created[key] = _created.get(key, 0) + 1
        return cls._new(Ref(_UserHandler(fn, kind)))

    def _pickle(self) -> Any:
        raise ValueError("cannot serialize a user-defined MPI.Errhandler")

    @classmethod
    def _predefined(cls, name: str) -> Errhandler:
        return cls._new(Ref(_Predefined(name), predefined=True))

    def Free(self) -> None:
        """Release this handle (it becomes ERRHANDLER_NULL); the predefined handler stays, and so
        does a user handler still set on an object."""
        if self._ref is None:
            raise MPIException(ERR_ARG, "Free: invalid error handler (MPI.ERRHANDLER_NULL)")
        if self._const is None:
            self.free()

    def __repr__(self) -> str:
        return f"<Errhandler {self._ref.state if self._ref is not None else 'MPI_ERRHANDLER_NULL'}>"


ERRHANDLER_NULL = Errhandler()
ERRORS_RETURN = Errhandler._predefined("MPI_ERRORS_RETURN")
ERRORS_ARE_FATAL = Errhandler._predefined("MPI_ERRORS_ARE_FATAL")
ERRORS_ABORT = Errhandler._predefined("MPI_ERRORS_ABORT")
_KIND_WORDS = {"Comm": "communicator", "Session": "session", "Win": "window", "File": "file"}
_FATAL_NOTE = {
    "MPI_ERRORS_ARE_FATAL": ("processes in this communicator will now abort,", "and MPI will try to terminate your "
                             "MPI job as well"),
    "MPI_ERRORS_ABORT": ("processes in this communicator will now abort,", "and potentially the rest of your MPI job"),
}


# -- the calls every object with an error handler has -------------------------------------------
def create_errhandler(kind: str, errhandler_fn: Callable[[Any, int], None]) -> Errhandler:
    """<kind>.Create_errhandler(fn): a user handler for objects of that class."""
    return Errhandler._create(errhandler_fn, kind)


def get_errhandler(obj: Any) -> Errhandler:
    """obj.Get_errhandler(): a new handle to its handler (the caller checked obj is live)."""
    return Errhandler(obj._errhandler)


def set_errhandler(obj: Any, errhandler: Any, kind: str) -> None:
    """obj.Set_errhandler(errhandler) for an object of class `kind` (the caller checked obj is
    live): keep a handle of its own, and guard obj's calls unless the handler is ERRORS_RETURN."""
    if not isinstance(errhandler, Errhandler):
        raise MPITypeError(ERR_ARG, "Argument 'errhandler' has incorrect type (expected Errhandler, "
                                    f"got {type(errhandler).__name__})")
    state = errhandler._ref.state if errhandler._ref is not None else None
    if state is None:
        raise MPIException(ERR_ARG, "Set_errhandler: invalid error handler (MPI.ERRHANDLER_NULL)")
    if isinstance(state, _UserHandler) and state.kind != kind:
        raise MPIException(ERR_ARG, f"Set_errhandler: an error handler for MPI.{state.kind}, not MPI.{kind}")
    obj._errhandler = Errhandler(errhandler)
    if getattr(type(obj), "_errh_class_guarded", False):
        return
    if errhandler == ERRORS_RETURN:
        _unguard(obj)
    else:
        _guard(obj)


def call_errhandler(obj: Any, errorcode: Any) -> None:
    """obj.Call_errhandler(errorcode): run obj's handler on errorcode (the caller checked obj is
    live). A user function runs, the fatal handlers abort, ERRORS_RETURN does nothing."""
    try:
        code = operator.index(errorcode)
    except TypeError:
        raise TypeError("an integer is required") from None
    _invoke(obj, code, f"MPI_{_kind_of(obj)}_call_errhandler", None)


def on_error(obj: Any, exc: BaseException, call: str) -> None:
    """An exception is leaving the call `call` ("Intracomm.Send") made on obj, or on something
    whose errors obj's handler takes (a request of obj, a Datatype for COMM_WORLD): if it is an
    MPI error (not one mpi4py
    raises as a Python error before calling MPI), run obj's handler on its code, once per
    exception (a guarded call made inside another one raises the same exception through both)."""
    if not isinstance(exc, MPIException) or isinstance(exc, (TypeError, ValueError, BufferError, KeyError)):
        return
    if getattr(exc, "_errh_done", False):
        return
    exc._errh_done = True  # type: ignore[attr-defined]
    if not obj:  # freed meanwhile (Free itself, say): a null object has no handler
        return
    _invoke(obj, exc.error_code, call, str(exc))


class ErrhandlerMixin:
    """Create/Get/Set/Call_errhandler for a class of MPI objects (see the module doc: Session
    here; MPI.Win and MPI.File plug in the same way). The class sets `_errh_kind`, defines
    `_errh_check()` and keeps the handler in `_errhandler`."""

    _errh_kind: ClassVar[str] = ""

    def _errh_check(self) -> None:
        """Raise the class's MPI error when the object is null or freed."""
        raise NotImplementedError

    @classmethod
    def Create_errhandler(cls, errhandler_fn: Callable[[Any, int], None]) -> Errhandler:
        """A user error handler for objects of this class: errhandler_fn(obj, errorcode)."""
        return create_errhandler(cls._errh_kind, errhandler_fn)

    def Get_errhandler(self) -> Errhandler:
        """The error handler set on this object (a new handle to it, as MPI returns)."""
        self._errh_check()
        return get_errhandler(self)

    def Set_errhandler(self, errhandler: Errhandler) -> None:
        """Set the error handler that runs when a call on this object fails."""
        self._errh_check()
        set_errhandler(self, errhandler, self._errh_kind)

    def Call_errhandler(self, errorcode: int) -> None:
        """Run this object's error handler on errorcode."""
        self._errh_check()
        call_errhandler(self, errorcode)


# -- invoking a handler --------------------------------------------------------------------------
def _kind_of(obj: Any) -> str:
    kind = getattr(obj, "_errh_kind", "")
    return kind or "Comm"


def _invoke(obj: Any, code: int, call: str, message: str | None) -> None:
    """Run obj's handler on code (a failed `call`, whose error text is message)."""
    eh = obj._errhandler
    state = eh._ref.state if eh._ref is not None else None
    if isinstance(state, _UserHandler):
        _run_user(obj, state.fn, code)
    elif state in _FATAL_NOTE:
        _fatal(obj, str(state), code, call, message)


def _run_user(obj: Any, fn: Callable[[Any, int], None], code: int) -> None:
    """fn(handle, code) with a new handle to obj, nulled afterwards (as mpi4py); an exception out
    of fn is unrecoverable, as in mpi4py: report it and abort the job with status 1."""
    handle = type(obj)(obj)
    try:
        try:
            fn(handle, code)
        finally:
            _null(handle)
    except BaseException as exc:  # noqa: BLE001 - whatever it is, mpi4py aborts
        # Only the handler's own exception (not the MPI error it was handling), as mpi4py shows.
        traceback.print_exception(type(exc), exc, exc.__traceback__, chain=False)
        sys.stderr.write("Fatal Python error: exception in user-defined error handler function\n")
        _abort(obj, 1)


def _null(handle: Any) -> None:
    """Make the handle given to a user function a null one, leaving the object alone."""
    own = getattr(handle, "_errh_null", None)
    if own is not None:
        own()
    elif isinstance(handle, Handle):
        handle._ref = None
    else:
        try:
            handle.__dict__ = type(handle)().__dict__
        except Exception:  # noqa: BLE001 - a class without a null constructor keeps the handle
            pass


def _fatal(obj: Any, name: str, code: int, call: str, message: str | None) -> None:
    """What ERRORS_ARE_FATAL and ERRORS_ABORT do: Open MPI's report, then abort with code."""
    from ..errors import Get_error_string

    kind = _kind_of(obj)
    where = obj.Get_name() if hasattr(obj, "Get_name") else ""
    where = where or f"MPI {kind.upper()} {getattr(obj, 'handle', '')}".rstrip()
    rank = getattr(obj, "rank", None)
    prefix = f"[{socket.gethostname()}:{os.getpid()}] ***"
    first, second = _FATAL_NOTE[name]
    lines = [f"An error occurred in {call}"]
    if isinstance(rank, int) and rank >= 0:
        lines.append(f"reported by process of rank {rank} in {where}")
    lines += [f"on {_KIND_WORDS.get(kind, kind.lower())} {where}", message or Get_error_string(code),
              f"{name} ({first}", f"   {second})"]
    sys.stdout.flush()
    sys.stderr.write("".join(f"{prefix} {line}\n" for line in lines))
    sys.stderr.flush()
    _abort(obj, code)


def _abort(obj: Any, code: int) -> None:
    """Abort the job with code: through obj's own Abort (a communicator), else COMM_WORLD's."""
    abort = getattr(obj, "Abort", None)
    if abort is None:
        # The calling rank's COMM_WORLD, as intercomm.py is told it by the MPI module (hosted
        # ranks swap it); imported here, as intercomm imports this module.
        from . import intercomm

        world = intercomm._world_comm() if intercomm._world_comm is not None else None
        abort = world.Abort if world is not None else (lambda c: os._exit(int(c) & 0xFF or 1))
    abort(code)


# -- the guards ----------------------------------------------------------------------------------
# Never guarded: the handler's own calls, the handle model, and Abort (it does not return).
_UNGUARDED = frozenset({"Get_errhandler", "Set_errhandler", "Call_errhandler", "Create_errhandler", "Abort",
                        "free", "toint", "py2f", "fromhandle", "fromint", "f2py"})
_names_by_class: dict[type, tuple[str, ...]] = {}
_RELEASING = frozenset({"Free", "Disconnect", "Finalize", "Close"})  # calls after which the object is null


def _guarded_names(cls: type) -> tuple[str, ...]:
    """The public methods of cls a guard wraps (plain functions: not class or static methods,
    not properties, not the stand-ins that raise NotImplementedError)."""
    names = _names_by_class.get(cls)
    if names is None:
        names = tuple(n for n in dir(cls) if not n.startswith("_") and n not in _UNGUARDED
                      and isinstance(inspect.getattr_static(cls, n), types.FunctionType))
        _names_by_class[cls] = names
    return names


class _Guard:
    """An object's guard: the wrappers in its __dict__, and the calls of its own (hot_sites'
    Barrier) they call instead of the class's methods."""

    __slots__ = ("wrappers", "own", "world")

    def __init__(self) -> None:
        self.wrappers: dict[str, Callable[..., Any]] = {}
        self.own: dict[str, Callable[..., Any]] = {}
        self.world = False  # whether this is COMM_WORLD's guard (it holds _OBJECTLESS)


def _wrapper(obj: Any, name: str, method: Callable[..., Any], own: dict[str, Callable[..., Any]]) -> Callable[..., Any]:
    """obj's `name` call, run through on_error when an exception leaves it."""
    label = f"{type(obj).__name__}.{name}"

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        depth = _depth()
        depth[0] += 1
        try:
            result = own.get(name, method)(*args, **kwargs)
        except BaseException as exc:
            if depth[0] == 1:
                on_error(obj, exc, label)
            raise
        finally:
            depth[0] -= 1
        if isinstance(result, Request):
            result.__dict__["_errh_target"] = obj  # its Wait/Test report to this object's handler
        elif name in _RELEASING and not obj:
            _unguard(obj)  # freed: a null object has no handler, and the class guards may go
        return result

    return call


def _guard(obj: Any) -> None:
    """Put obj's public calls under on_error, in its __dict__ (no-op when already there)."""
    d = obj.__dict__
    if d.get("_errh_guard") is not None:
        return
    guard = _Guard()
    for name in _guarded_names(type(obj)):
        mine = d.get(name)  # a call of the object's own already there (a hot Barrier)
        if mine is not None:
            guard.own[name] = mine
        guard.wrappers[name] = _wrapper(obj, name, getattr(type(obj), name).__get__(obj), guard.own)
    d.update(guard.wrappers)
    d["_errh_guard"] = guard
    # Its requests' calls, and (on this rank's COMM_WORLD) the calls on no object, report too.
    _REQUESTS.acquire()
    world = _world()
    if world is not None and world.__dict__ is d:
        guard.world = True
        _OBJECTLESS.acquire()


def _unguard(obj: Any) -> None:
    """Take obj's calls out of the guard: its own calls go back in place, the rest to the class."""
    d = obj.__dict__
    guard = d.pop("_errh_guard", None)
    if guard is None:
        return
    _REQUESTS.release()
    if guard.world:
        _OBJECTLESS.release()
    for name in guard.wrappers:
        if name in guard.own:
            d[name] = guard.own[name]
        else:
            d.pop(name, None)


def install_call(obj: Any, name: str, fn: Callable[..., Any]) -> None:
    """Make fn obj's own `name` call (in its __dict__), under the error-handler guard if any."""
    guard = obj.__dict__.get("_errh_guard")
    if guard is not None and name in guard.wrappers:
        guard.own[name] = fn
    else:
        obj.__dict__[name] = fn


def remove_call(obj: Any, name: str) -> None:
    """Drop obj's own `name` call (install_call's): the class's method serves again."""
    guard = obj.__dict__.get("_errh_guard")
    if guard is not None and name in guard.wrappers:
        guard.own.pop(name, None)
    else:
        obj.__dict__.pop(name, None)


def guard_class(cls: type) -> type:
    """Put every public call of cls (and of its subclasses that inherit them) under on_error,
    for good: for classes whose calls are not hot. Returns cls (usable as a decorator)."""
    for name in _guarded_names(cls):
        setattr(cls, name, _class_wrapper(name, getattr(cls, name)))
    cls._errh_class_guarded = True  # type: ignore[attr-defined]
    return cls


def _class_wrapper(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        depth = _depth()
        depth[0] += 1
        try:
            return method(self, *args, **kwargs)
        except BaseException as exc:
            if depth[0] == 1:
                on_error(self, exc, f"{type(self).__name__}.{name}")
            raise
        finally:
            depth[0] -= 1

    return call


# Guarded calls in progress, per rank (hosted ranks switch inside blocking calls): only the
# outermost one runs a handler, so an error inside a call (a Datatype call made by comm.Send)
# reaches the handler of the object the program called.
_depths: dict[Any, list[int]] = {}


def _depth() -> list[int]:
    key = _ops._rank_key()
    depth = _depths.get(key)
    if depth is None:
        depth = _depths[key] = [0]
    return depth


def _world() -> Any:
    """The calling rank's COMM_WORLD (None before the MPI module is imported)."""
    # intercomm.py is told how to find it by the MPI module (hosted ranks swap it); imported
    # here, as intercomm imports this module.
    from . import intercomm

    return intercomm._world_comm() if intercomm._world_comm is not None else None


class _ClassToggle:
    """Wrappers put in classes' own methods while someone needs them, taken out after: the calls
    of requests and of objects without a handler of their own (Datatype, Info, ...), so that
    with no handler set anywhere these classes run as if this module did not exist."""

    def __init__(self, roots: tuple[type, ...], target: Callable[[Any, tuple], Any]) -> None:
        self.roots = roots
        self.target = target  # (self or None, args) -> the object whose handler runs, or None
        self.users = 0
        self.saved: list[tuple[type, str, Any]] = []

    def acquire(self) -> None:
        self.users += 1
        if self.users == 1:
            self._install()

    def release(self) -> None:
        if self.users:
            self.users -= 1
            if not self.users:
                for cls, name, raw in reversed(self.saved):
                    setattr(cls, name, raw)
                self.saved.clear()

    def _classes(self) -> list[type]:
        seen: list[type] = []
        todo = list(self.roots)
        while todo:
            cls = todo.pop()
            if cls not in seen:
                seen.append(cls)
                todo.extend(cls.__subclasses__())
        return seen

    def _install(self) -> None:
        for cls in self._classes():
            for name, raw in list(vars(cls).items()):
                if name.startswith("_") or name in _UNGUARDED:
                    continue
                if isinstance(raw, types.FunctionType):
                    new: Any = self._wrap(f"{cls.__name__}.{name}", raw, bound=True)
                elif isinstance(raw, classmethod):
                    new = classmethod(self._wrap(f"{cls.__name__}.{name}", raw.__func__, bound=True, has_self=False))
                elif isinstance(raw, staticmethod):
                    new = staticmethod(self._wrap(f"{cls.__name__}.{name}", raw.__func__, bound=False, has_self=False))
                else:
                    continue
                self.saved.append((cls, name, raw))
                setattr(cls, name, new)

    def _wrap(self, label: str, fn: Callable[..., Any], bound: bool, has_self: bool = True) -> Callable[..., Any]:
        """fn (a method's function: bound says it takes self or cls first, has_self that it is
        self), reporting an error to target(self, arguments)."""
        target = self.target

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            depth = _depth()
            depth[0] += 1
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:
                # Only for the program's own calls: one toro_mpi makes inside a call on an
                # unguarded communicator belongs to that communicator's (silent) handler.
                if depth[0] == 1 and not sys._getframe(1).f_globals.get("__name__", "").startswith("toro_mpi."):
                    me = args[0] if has_self else None
                    rest = args[1:] if bound else args
                    obj = target(me, rest)
                    if obj is not None:
                        on_error(obj, exc, label)
                raise
            finally:
                depth[0] -= 1

        return call


def _request_target(request: Any, args: tuple) -> Any:
    """The object whose handler a request call's error runs: the request's communicator (for
    Waitall and the like, that of the first request that has one)."""
    if request is not None:
        return getattr(request, "__dict__", {}).get("_errh_target")
    for arg in args[:1]:
        try:
            for req in arg:
                target = getattr(req, "__dict__", {}).get("_errh_target")
                if target is not None:
                    return target
        except TypeError:
            pass
    return None


# Requests of guarded objects; and the objects no handler belongs to, whose errors Open MPI 5
# gives to COMM_WORLD's handler (measured: Datatype.Free of MPI.INT, Info.Get_nthkey).
_REQUESTS = _ClassToggle((Request,), _request_target)
_OBJECTLESS = _ClassToggle((Datatype, Info, Group, Status, _ops.Op), lambda _obj, _args: _world())
