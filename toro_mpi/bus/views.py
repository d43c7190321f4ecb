"""Array views over raw addresses in jitted code, without numba.carray's environment.

`numba.carray(ptr, n)` is an @overload compiled from Python source in numba.np.arrayobj; a
kernel using it carries that function's environment in its cache entry, and unpickling the
entry imports numba.np.arrayobj (about 20 ms of CPU in every rank that loads the kernel, for
a module the rank otherwise never needs). `pointer_view` builds the same array (1-D, C order,
no owner: it borrows the memory) as an intrinsic, so the kernel's cache entry names no module
of numba's.
"""

from __future__ import annotations

from typing import Any

from numba import types
from numba.extending import intrinsic


@intrinsic
def pointer_view(typingctx: Any, ptr: Any, n: Any) -> Any:
    """A 1-D C-contiguous array of `n` elements starting at `ptr` (a typed pointer, e.g. from
    bus.atomics.int64_pointer or typed_pointer), borrowing that memory as numba.carray(ptr, n)
    does. `n` is an integer (not a shape tuple); the caller keeps the memory alive."""
    if not isinstance(ptr, types.CPointer) or not isinstance(n, types.Integer):
        return None
    aryty = types.Array(ptr.dtype, 1, "C")

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        # numba.np.arrayobj is imported here, at compile time only: the compiled code it emits
        # references nothing of that module at run time.
        from numba.np.arrayobj import populate_array

        data, count = args
        ary = context.make_array(aryty)(context, builder)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(context.get_data_type(aryty.dtype)))
        nitems = context.cast(builder, count, sig.args[1], types.intp)
        populate_array(ary, data=data, shape=[nitems], strides=[itemsize], itemsize=itemsize, meminfo=None)
        return ary._getvalue()

    return aryty(ptr, n), codegen
