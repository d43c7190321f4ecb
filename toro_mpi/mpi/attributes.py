"""Attribute caching with keyvals (MPI_Comm_create_keyval and friends), for any object kind.

`AttributesMixin` gives a class mpi4py's Create_keyval (a classmethod), Free_keyval, Set_attr,
Delete_attr and the user-keyval part of Get_attr; the class calls `_copy_attrs(new)` when it
duplicates an object and `_delete_attrs()` when it frees one. Keyvals belong to the class that
created them (a communicator keyval is refused on a datatype), as in MPI.

Callbacks are as in mpi4py: copy_fn None or False: the attribute is not copied to a duplicate;
True: the same value is; a function copy_fn(obj, keyval, value) returns the duplicate's value, or
NotImplemented to copy nothing. delete_fn(obj, keyval, value) runs when the attribute is deleted,
replaced by Set_attr, or its object freed. An exception in a callback is printed to stderr and the
call raises MPI.Exception(ERR_OTHER), as mpi4py does. With nopython=True values are C integers
(an address, say) and must be ints.

Keyvals start at 64, above the predefined attribute keys (TAG_UB, ..., LASTUSEDCODE).
"""

from __future__ import annotations

import itertools
import operator
import sys
import traceback
from collections.abc import Callable
from typing import Any

from ..errors import ERR_KEYVAL, ERR_OTHER, MPIException

KEYVAL_INVALID = -1
_numbers = itertools.count(64)


class Keyval:
    """A key for attributes: its callbacks, the class it belongs to, whether it is freed."""

    __slots__ = ("number", "kind", "copy_fn", "delete_fn", "nopython", "freed", "uses")

    def __init__(self, kind: str, copy_fn: Any, delete_fn: Any, nopython: bool) -> None:
        self.number = next(_numbers)
        self.kind = kind
        self.copy_fn = copy_fn
        self.delete_fn = delete_fn
        self.nopython = bool(nopython)
        self.freed = False
        self.uses = 0  # attributes set with it: a freed keyval lives until they are gone


_KEYVALS: dict[int, Keyval] = {}


def _callback(fn: Callable[..., Any], obj: Any, keyval: int, value: Any) -> Any:
    """Run a user callback; its exception is printed and becomes ERR_OTHER."""
    try:
        return fn(obj, keyval, value)
    except BaseException as exc:  # noqa: BLE001 - MPI reports any failure of the callback
        traceback.print_exception(exc, file=sys.stderr)
        raise MPIException(ERR_OTHER, f"attribute callback {getattr(fn, '__name__', fn)!r} raised "
                                      f"{type(exc).__name__}: {exc}") from exc


class AttributesMixin:
    """Keyval attributes for a handle class; the object's attributes live in `_attrs` (a class
    with __slots__ must give it a slot; set `_attr_kind` to the mpi4py class name)."""

    __slots__ = ()

    _attr_kind = "Comm"  # whose keyvals these are (the mpi4py class name)

    def _existing_attrs(self) -> dict[int, Any] | None:
        """The attribute table if the object has one (None: no attribute was ever set)."""
        return getattr(self, "_attrs", None)

    def _attr_table(self) -> dict[int, Any]:
        # getattr/setattr rather than __dict__: a class with __slots__ gives "_attrs" a slot.
        table = getattr(self, "_attrs", None)
        if table is None:
            table = self._attrs = {}
        return table

    @classmethod
    def Create_keyval(cls, copy_fn: Any = None, delete_fn: Any = None, nopython: bool = False) -> int:
        """A new attribute key (see the module doc for copy_fn and delete_fn)."""
        for name, fn in (("copy_fn", copy_fn), ("delete_fn", delete_fn)):
            if fn is not None and not isinstance(fn, bool) and not callable(fn):
                raise TypeError(f"Create_keyval: {name} must be callable, None or a bool, got {type(fn).__name__}")
        if isinstance(delete_fn, bool):
            delete_fn = None
        kv = Keyval(cls._attr_kind, copy_fn, delete_fn, nopython)
        _KEYVALS[kv.number] = kv
        return kv.number

    @classmethod
    def Free_keyval(cls, keyval: int) -> int:
        """Free an attribute key (attributes set with it stay until deleted); returns KEYVAL_INVALID."""
        kv = cls._keyval(keyval)
        kv.freed = True
        if kv.uses == 0:
            del _KEYVALS[kv.number]
        return KEYVAL_INVALID

    @classmethod
    def _keyval(cls, keyval: Any, live: bool = True) -> Keyval:
        try:
            number = operator.index(keyval)
        except TypeError:
            raise TypeError(f"a keyval must be an int, got {type(keyval).__name__}") from None
        kv = _KEYVALS.get(number)
        if number == KEYVAL_INVALID or (kv is not None and kv.kind != cls._attr_kind):
            raise MPIException(ERR_KEYVAL, f"invalid keyval {keyval!r} for MPI.{cls._attr_kind}")
        if kv is None or (live and kv.freed):
            # A keyval freed (or never made): Open MPI reports ERR_OTHER, and so does toro_mpi.
            raise MPIException(ERR_OTHER, f"keyval {keyval!r} is not in use (freed?)")
        return kv

    @classmethod
    def _is_user_keyval(cls, keyval: Any) -> bool:
        return isinstance(keyval, int) and keyval in _KEYVALS

    def _get_user_attr(self, keyval: int) -> Any:
        """The value of a user attribute, None when not set."""
        self._keyval(keyval, live=False)
        return self._attr_table().get(keyval)

    def Get_attr(self, keyval: int) -> Any:
        """The value of an attribute, None when not set (a class with predefined attributes,
        like Comm, answers those first)."""
        return self._get_user_attr(keyval)

    def Set_attr(self, keyval: int, attrval: Any) -> None:
        """Set an attribute (deleting the value it replaces, with the keyval's delete_fn)."""
        kv = self._keyval(keyval)
        if kv.nopython:
            attrval = operator.index(attrval)
        table = self._attr_table()
        if keyval in table:
            self._drop_attr(kv, table)
        table[keyval] = attrval
        kv.uses += 1

    def Delete_attr(self, keyval: int) -> None:
        """Delete an attribute, running the keyval's delete_fn (ERR_KEYVAL if not set)."""
        kv = self._keyval(keyval, live=False)
        table = self._attr_table()
        if keyval not in table:
            # MPI leaves the class open; Open MPI (the reference) reports ERR_OTHER.
            raise MPIException(ERR_OTHER, f"Delete_attr: no attribute is set for keyval {keyval}")
        self._drop_attr(kv, table)

    def _drop_attr(self, kv: Keyval, table: dict[int, Any]) -> None:
        value = table.pop(kv.number)
        kv.uses -= 1
        if kv.freed and kv.uses == 0:
            _KEYVALS.pop(kv.number, None)
        if kv.delete_fn is not None:
            _callback(kv.delete_fn, self, kv.number, value)

    def _copy_attrs(self, new: Any) -> None:
        """Give a duplicate of this object the attributes the keyvals' copy_fn copy."""
        table = self._existing_attrs()
        if not table:
            return
        for number, value in list(table.items()):
            kv = _KEYVALS.get(number)
            if kv is None or not kv.copy_fn:
                continue
            copied = value if kv.copy_fn is True else _callback(kv.copy_fn, self, number, value)
            if copied is NotImplemented:
                continue
            new._attr_table()[number] = copied
            kv.uses += 1

    def _delete_attrs(self) -> None:
        """Delete every attribute (the object is being freed), running the delete_fn callbacks."""
        table = self._existing_attrs()
        if not table:
            return
        error = None
        for number in list(table):
            kv = _KEYVALS.get(number)
            if kv is None:
                table.pop(number)
                continue
            try:
                self._drop_attr(kv, table)
            except MPIException as exc:
                error = error or exc
        if error is not None:
            raise error
