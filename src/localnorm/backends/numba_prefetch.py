"""Software prefetch of tile rows for the numba kernels (LLVM's ``llvm.prefetch``).

A tile of B < L columns of an (O, L, I) array is a run of rows of B values each, I values
apart: with 1024 columns of float32 on the AlexNet conv1 shape (I = 3025) each row is one
4 KiB page, so the walk over the tile is ninety-six short streams, and the hardware
prefetchers, which train on one stream within a page, keep restarting. Touching the next row
of x (and, for writing, the row of y the walk emits next) one row ahead overlaps its memory
latency with the arithmetic of the current row: the block-path forward at window 65, one
thread, went from 5.9 to 4.9 ms (x alone: 5.1 ms); whole-plane tiles (one stream, which the
hardware follows) gain nothing from it. A prefetch is a hint: it never faults, and an address
outside the array is never formed (the row index is checked first).
"""

from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

_LINE_BYTES = 64


def _prefetch_intrinsic(write: int):  # type: ignore[no-untyped-def]
    @intrinsic
    def prefetch(typingctx, arr, o, r, i):  # type: ignore[no-untyped-def]
        """Hint the cache line of ``arr[o, r, i]`` into L1 (for writing if ``write``)."""
        sig = types.void(arr, o, r, i)

        def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            idx = [context.cast(builder, v, t, types.intp)
                   for v, t in zip(args[1:], signature.args[1:], strict=True)]
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx, wraparound=False,
                                           boundscheck=False)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
            # (address, read 0 / write 1, locality 3 = keep in all levels, data cache 1)
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(write), i32(3), i32(1)])
            return context.get_dummy_value()

        return sig, codegen

    return prefetch


prefetch_read = _prefetch_intrinsic(0)
prefetch_write = _prefetch_intrinsic(1)


@njit(cache=True, error_model="numpy")
def fetch_row(arr, o, r, i0, nb, write):
    """Prefetch the columns [i0, i0 + nb) of row r of the (O, L, I) array ``arr`` (nothing if
    r is outside [0, L))."""
    if r < 0 or r >= arr.shape[1]:
        return
    step = _LINE_BYTES // arr.itemsize
    if write:
        for j in range(0, nb, step):
            prefetch_write(arr, o, r, i0 + j)
    else:
        for j in range(0, nb, step):
            prefetch_read(arr, o, r, i0 + j)
