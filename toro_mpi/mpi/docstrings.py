"""mpi4py's docstring layout for the MPI module's functions and methods.

mpi4py's docstrings come from Cython's `embedsignature`: a first line with the call's signature,
a blank line, then the description, whose summary is its first line (`MPI.Comm.Get_rank.__doc__`
is "Get_rank(self) -> int\\n\\nReturn the rank of this process in a communicator.\\n"). Tools
written against mpi4py read them that way (mpi4py's own test_doc drops the first line and checks
the rest). toro_mpi's sources keep ordinary docstrings; `embed_signatures` gives the functions
and methods reachable from the MPI module that layout once, at import.
"""

from __future__ import annotations

import inspect
import types
from typing import Any

_DONE_MARK = "__toro_doc__"  # set on a function once its docstring has the layout


class _Annotation:
    """An annotation kept as the source text it is (with `from __future__ import annotations`
    annotations are strings, which inspect would otherwise print quoted)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _plain(annotation: Any) -> Any:
    return _Annotation(annotation) if isinstance(annotation, str) else annotation


_CO_VARARGS = 0x04  # code flags (inspect.CO_VARARGS, CO_VARKEYWORDS)
_CO_VARKEYWORDS = 0x08


def _parameter(name: str, annotations: dict[str, Any], defaults: tuple[Any, ...] = ()) -> str:
    """One parameter as inspect.Parameter prints it: its annotation's text, then its default
    (`defaults`: () for none, else the default alone)."""
    annotation = annotations.get(name)
    if annotation is not None:
        name = f"{name}: {annotation}"
        return f"{name} = {defaults[0]!r}" if defaults else name
    return f"{name}={defaults[0]!r}" if defaults else name


def _quick_signature(fn: types.FunctionType) -> str | None:
    """`(parameters) -> result` of a plain function whose annotations are all source text
    (`from __future__ import annotations`), read from its code object: what str(inspect.
    signature(fn)) prints, in a fraction of its time (inspect builds a Parameter and a
    Signature per function and checks each; ~5 us a function here, ~1500 functions at every
    rank's `import toro_mpi.MPI`). None when inspect must decide: a wrapper (`__wrapped__`),
    an explicit `__signature__`, an annotation that is not a string."""
    attrs = fn.__dict__
    if "__wrapped__" in attrs or "__signature__" in attrs:
        return None
    annotations = fn.__annotations__
    for value in annotations.values():
        if type(value) is not str:
            return None
    code = fn.__code__
    npos = code.co_argcount
    nposonly = code.co_posonlyargcount
    nkw = code.co_kwonlyargcount
    names = code.co_varnames
    defaults = fn.__defaults__ or ()
    kwdefaults = fn.__kwdefaults__ or {}
    first_default = npos - len(defaults)
    parts = []
    for i in range(npos):
        default = (defaults[i - first_default],) if i >= first_default else ()
        parts.append(_parameter(names[i], annotations, default))
        if i == nposonly - 1:
            parts.append("/")
    at = npos + nkw
    if code.co_flags & _CO_VARARGS:
        parts.append("*" + _parameter(names[at], annotations))
        at += 1
    elif nkw:
        parts.append("*")
    for i in range(npos, npos + nkw):
        kwdefault = (kwdefaults[names[i]],) if names[i] in kwdefaults else ()
        parts.append(_parameter(names[i], annotations, kwdefault))
    if code.co_flags & _CO_VARKEYWORDS:
        parts.append("**" + _parameter(names[at], annotations))
    result = annotations.get("return")
    return f"({', '.join(parts)})" + ("" if result is None else f" -> {result}")


def _signature(name: str, fn: Any) -> str:
    """`name(parameters) -> result` of fn, or `name(...)` where Python cannot tell."""
    quick = _quick_signature(fn) if isinstance(fn, types.FunctionType) else None
    if quick is not None:
        return name + quick
    return _inspect_signature(name, fn)


def _inspect_signature(name: str, fn: Any) -> str:
    """_signature through inspect.signature, for what _quick_signature leaves to it."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return f"{name}(...)"
    params = [p.replace(annotation=_plain(p.annotation)) for p in sig.parameters.values()]
    sig = sig.replace(parameters=params, return_annotation=_plain(sig.return_annotation))
    return f"{name}{sig}"


def _description(doc: str) -> str:
    """The docstring, dedented, with its first paragraph on one line (the summary line)."""
    text = inspect.cleandoc(doc)
    first, sep, rest = text.partition("\n\n")
    first = " ".join(line.strip() for line in first.splitlines())
    return first + sep + rest


def _embed(name: str, fn: Any) -> None:
    if not isinstance(fn, types.FunctionType) or getattr(fn, _DONE_MARK, False):
        return
    doc = fn.__doc__
    if not doc or not doc.strip():
        return
    fn.__doc__ = f"{_signature(name, fn)}\n\n{_description(doc)}\n"
    setattr(fn, _DONE_MARK, True)


def _embed_class(cls: type, seen: set[int]) -> None:
    """The class's docstring and its own methods' (what mpi4py's walkers read, vars(MPI.Comm)):
    the methods of its mixins keep their plain docstrings, which spares every rank's import
    about 10 ms more."""
    if id(cls) in seen or not cls.__module__.startswith("toro_mpi"):
        return
    seen.add(id(cls))
    if cls.__doc__ and cls.__doc__.strip():
        cls.__doc__ = _description(cls.__doc__)  # the summary on one line, as mpi4py's
    for name, value in vars(cls).items():
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, type):
            _embed_class(value, seen)
        else:
            _embed(name, value)


def embed_class(cls: type) -> None:
    """Give the methods cls defines now mpi4py's layout (those put there after import, e.g. the
    error-handler guard's wrappers of mixin methods)."""
    _embed_class(cls, set())


def embed_signatures(namespace: dict[str, Any]) -> None:
    """Give every function of namespace, and every method its classes define, mpi4py's
    docstring layout (see the module docstring). Runs once per process."""
    seen: set[int] = set()
    for name, value in list(namespace.items()):
        if isinstance(value, type):
            _embed_class(value, seen)
        else:
            _embed(name, value)
