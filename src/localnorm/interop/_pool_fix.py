"""Export ``avg_pool{2,3}d(..., divisor_override=n)`` correctly.

Both torch 2.13 exporters drop ``divisor_override`` without a word: the dynamo exporter's
torchlib ``aten_avg_pool2d`` and the TorchScript symbolic both emit a bare ``AveragePool``,
which divides by the kernel volume. localnorm's window sums (``box_sum``, ``window_sum``) use
``divisor_override=1`` to get exact direct sums, so a plain ``torch.onnx.export`` of
``DivisiveNorm`` or ``V1Norm`` gives wrong numbers. :func:`~localnorm.interop.export_onnx`
installs the translations below for the duration of one export.

With ``ceil_mode=False`` and (no padding or ``count_include_pad=True``), every window of
``AveragePool`` divides by the kernel volume V, so ``Mul(AveragePool, V / n)`` is exact. The
other cases divide by a varying count and are refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch


def _expand(values: Sequence[int] | int, d: int) -> list[int]:
    vals = [values] if isinstance(values, int) else list(values)
    return vals * d if len(vals) == 1 else vals


def factor(kernel_size: Sequence[int] | int, padding: Sequence[int] | int, ceil_mode: bool,
           count_include_pad: bool, divisor_override: int, d: int) -> float:
    """``V / divisor_override``, or ValueError when AveragePool's divisor is not uniform."""
    if ceil_mode or (any(_expand(padding, d)) and not count_include_pad):
        raise ValueError(
            "avg_pool with divisor_override and ceil_mode=True or count_include_pad=False "
            "with padding has no exact ONNX AveragePool equivalent"
        )
    return math.prod(_expand(kernel_size, d)) / divisor_override


def _dynamo_avg_pool(d: int) -> Any:
    import onnxscript
    from onnxscript.function_libs.torch_lib.ops import nn as torchlib_nn

    op: Any = onnxscript.opset18

    base = torchlib_nn.aten_avg_pool2d if d == 2 else torchlib_nn.aten_avg_pool3d

    def avg_pool(self: Any, kernel_size: Sequence[int], stride: Sequence[int] = (),
                 padding: Sequence[int] = (0,), ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> Any:
        y = base(self, kernel_size, stride, padding, ceil_mode, count_include_pad)
        if divisor_override is None:
            return y
        f = factor(kernel_size, padding, ceil_mode, count_include_pad, divisor_override, d)
        return op.Mul(y, op.CastLike(op.Constant(value_float=f), y))

    return avg_pool


def dynamo_table() -> dict[Any, Any]:
    """Entries for ``custom_translation_table`` that honour ``divisor_override``."""
    return {torch.ops.aten.avg_pool2d.default: _dynamo_avg_pool(2),
            torch.ops.aten.avg_pool3d.default: _dynamo_avg_pool(3)}


def _ts_avg_pool(d: int) -> Any:
    from torch.onnx import symbolic_helper as sh

    @sh.parse_args("v", "is", "is", "is", "i", "i", "v")
    def symbolic(g: Any, x: Any, kernel_size: list[int], stride: list[int],
                 padding: list[int], ceil_mode: int, count_include_pad: int,
                 divisor_override: Any) -> Any:
        kernel = _expand(kernel_size, d)
        y = g.op("AveragePool", x, ceil_mode_i=ceil_mode, count_include_pad_i=count_include_pad,
                 kernel_shape_i=kernel, pads_i=_expand(padding, d) * 2,
                 strides_i=_expand(stride, d) if stride else kernel)
        if sh._is_none(divisor_override):
            return y
        n = sh._get_const(divisor_override, "i", "divisor_override")
        f = factor(kernel, padding, bool(ceil_mode), bool(count_include_pad), n, d)
        scale = g.op("Constant", value_t=torch.tensor(f, dtype=torch.float32))
        return g.op("Mul", y, g.op("CastLike", scale, y))

    return symbolic


@contextmanager
def torchscript_symbolics(opset: int) -> Iterator[None]:
    """Register the fixed avg_pool symbolics for one TorchScript export, then remove them
    (the built-in ones apply again afterwards)."""
    names = {"aten::avg_pool2d": 2, "aten::avg_pool3d": 3}
    for name, d in names.items():
        torch.onnx.register_custom_op_symbolic(name, _ts_avg_pool(d), opset)
    try:
        yield
    finally:
        for name in names:
            torch.onnx.unregister_custom_op_symbolic(name, opset)
