"""Borrowed views for numba kernels: the same array with no reference counting.

numba counts references to an array's memory (its *meminfo*) with atomic increments and
decrements wherever a view is made or an array is passed to a function that is not inlined.
Inside a parallel kernel every thread works on the same input and output arrays, so each of
those atomics moves one cache line between cores: in the channels-last backward (a few calls
per 96-channel line) they took most of the time, perf showed 60% of samples in
``NRT_incref``/``NRT_decref``. :func:`borrow` gives each thread views with no meminfo, so the
counts become no-ops (numba skips them for a null meminfo).

A borrowed view must not outlive the array it was taken from: take it inside the kernel, from
an argument or a local array that stays alive for the whole kernel, and never return it.
"""

from __future__ import annotations

from typing import Any

from numba.core import cgutils, types
from numba.extending import intrinsic


def _borrow(typingctx: Any, arr: Any) -> Any:
    """``arr`` viewed with a null meminfo: same data, shape and strides, no reference count."""
    if not isinstance(arr, types.Array):
        return None

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        src = context.make_array(sig.args[0])(context, builder, args[0])
        out = context.make_array(sig.return_type)(context, builder)
        for name in ("parent", "nitems", "itemsize", "data", "shape", "strides"):
            setattr(out, name, getattr(src, name))
        out.meminfo = cgutils.get_null_value(out.meminfo.type)
        return out._getvalue()

    return arr(arr), codegen


borrow: Any = intrinsic(_borrow)  # Any: mypy would see the typing signature (typingctx, arr)
