"""Start-up work of issue #20 (startup4): quick signatures, launcher without dataclasses, the
default config's cache, a rank's quick exit (its parts that run in-process)."""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import types

import pytest

from toro_mpi.mpi import docstrings


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


if __name__ == "__main__":
    pytest.main([__file__, "-q"])
