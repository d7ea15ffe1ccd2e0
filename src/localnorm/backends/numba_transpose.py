"""A 16 x 16 transpose in registers for the numba kernels (LLVM ``shufflevector``).

Channels-last tiles are gathered: the block path wants B lines side by side as the columns of
an (L, B) tile, so that its loops run along contiguous rows, and a channels-last line is a run
of L contiguous values. Moved one value at a time (each line's values stored down a tile
column), the gather cost 0.26-0.29 ns an element and the scatter back 0.23 (one thread, a
96 x 512 float32 tile of a cache-resident array), about half of what keeps channels-last
windows above 9 at 2x NCHW. :func:`transpose16` loads 16 rows of 16 values as vectors,
transposes them in four stages of two-input shuffles (stage b swaps the off-diagonal b x b
blocks of each 2b x 2b block; on the Zen 5 dev box LLVM lowers a float32 block to 32
``vshufps``, 16 ``vperm*`` and 8 ``vinsert*``) and stores 16
vectors: 0.083 ns an element for the gather, 0.075 for the scatter. It only moves values, so
results are the same bits.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

WIDTH = 16  # rows and columns of one transposed block


def _transpose16(typingctx: Any, src: Any, s0: Any, s1: Any, s2: Any, sstep: Any, dst: Any,
                 d0: Any, d1: Any, d2: Any, dstep: Any) -> Any:
    """dst row k (16 values from ``&dst[d0, d1, d2] + k * dstep``) = column k of the 16 x 16
    block whose row k is the 16 values from ``&src[s0, s1, s2] + k * sstep`` (steps in
    elements; each row's 16 values contiguous). The caller keeps every row in bounds."""
    if not (isinstance(src, types.Array) and isinstance(dst, types.Array)
            and src.dtype == dst.dtype and src.ndim == 3 and dst.ndim == 3):
        return None
    sig = types.void(src, s0, s1, s2, sstep, dst, d0, d1, d2, dstep)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        sty, dty = signature.args[0], signature.args[5]

        def idx(k: int) -> Any:
            return context.cast(builder, args[k], signature.args[k], types.intp)

        def base(k: int, aty: Any) -> Any:
            ary = context.make_array(aty)(context, builder, args[k])
            return cgutils.get_item_pointer(context, builder, aty, ary,
                                            [idx(k + 1), idx(k + 2), idx(k + 3)],
                                            wraparound=False, boundscheck=False)

        vec = ir.VectorType(context.get_value_type(sty.dtype), WIDTH)
        align = sty.dtype.bitwidth // 8

        def row(ptr: Any, step: Any, k: int) -> Any:
            at = builder.gep(ptr, [builder.mul(step, ir.Constant(step.type, k))])
            return builder.bitcast(at, vec.as_pointer())

        sp, dp = base(0, sty), base(5, dty)
        sstep_, dstep_ = idx(4), idx(9)
        rows = [builder.load(row(sp, sstep_, k), align=align) for k in range(WIDTH)]
        mask_ty = ir.VectorType(ir.IntType(32), WIDTH)
        b = 1
        while b < WIDTH:
            # rows i and i + b (bit b of i clear) exchange their off-diagonal b-wide halves
            lo = ir.Constant(mask_ty, [e if not e & b else WIDTH + e - b for e in range(WIDTH)])
            hi = ir.Constant(mask_ty, [e + b if not e & b else WIDTH + e for e in range(WIDTH)])
            new = list(rows)
            for i in range(WIDTH):
                if not i & b:
                    new[i] = builder.shuffle_vector(rows[i], rows[i + b], lo)
                    new[i + b] = builder.shuffle_vector(rows[i], rows[i + b], hi)
            rows = new
            b *= 2
        for k in range(WIDTH):
            builder.store(rows[k], row(dp, dstep_, k), align=align)
        return context.get_dummy_value()

    return sig, codegen


transpose16: Any = intrinsic(_transpose16)  # Any: mypy would see the typing signature
