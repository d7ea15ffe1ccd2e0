"""Standard-ONNX graphs for ``localnorm::lrn``, written once for both torch exporters.

The dynamo exporter (onnxscript) and the TorchScript exporter (``g.op``) build nodes through
different objects; both are wrapped in a :class:`Builder` so the decomposition below exists
once and the two exporters cannot drift apart.

Which graph:

* ONNX ``LRN`` node, when ONNX can say it: across channels and ``before == (size - 1) // 2``
  (ONNX puts the extra element of an even window *above* c, PyTorch below). A channel axis
  other than 1 gets a Transpose on each side; a rank other than 4 is reshaped to
  (N, C, -1, 1) and back, because ONNX Runtime's LRN kernel takes 4-D input only.
  ONNX Runtime (1.17 to 1.32 at least) also refuses an even ``size`` although the ONNX spec
  allows it, so even sizes become an LRN node only when asked (``even_lrn=True``).
* Otherwise plain ops: ``Mul(x, x)``, then ``AveragePool`` with ``count_include_pad=1`` over
  the explicitly padded window gives ``sum / size`` (``sum / size^d`` within a channel), which
  is ``A * sum / alpha`` in both regions, so ``s = k + alpha * mean`` and
  ``y = x * Pow(s, -beta)``. Across channels the tensor is viewed as (O, 1, L, I) with L the
  channel axis, so any rank and any channel axis need one pooling node; the view's shape is
  computed from ``Shape`` at run time, so dynamic batch and spatial sizes keep working.

float16 and bfloat16 are computed in float32 and cast back, like the PyTorch backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .._spec import LRNSpec

FLOAT = 1  # onnx.TensorProto.FLOAT


class Builder(Protocol):
    """What a decomposition needs from an exporter: nodes, int64 constants, float scalars."""

    low_precision: bool  # input is float16/bfloat16: compute in float32
    onnx_dtype: int  # onnx.TensorProto data type of the input

    def op(self, name: str, *inputs: Any, **attrs: Any) -> Any: ...

    def ints(self, values: Sequence[int]) -> Any: ...

    def scalar(self, value: float) -> Any: ...


def fits_lrn_node(spec: LRNSpec, even_lrn: bool = False) -> bool:
    """True when one ONNX ``LRN`` node computes ``spec`` exactly (see module docstring)."""
    window_ok = spec.before == (spec.size - 1) // 2
    return spec.region == "across" and window_ok and (spec.size % 2 == 1 or even_lrn)


def _channels_second(dim: int, ndim: int) -> list[int]:
    return [0, dim] + [a for a in range(1, ndim) if a != dim]


def _inverse(perm: list[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def _lrn_node(b: Builder, x: Any, spec: LRNSpec) -> Any:
    perm = None if spec.dim == 1 else _channels_second(spec.dim, spec.ndim)
    t = b.op("Transpose", x, perm=perm) if perm else x
    u = t if spec.ndim == 4 else b.op("Reshape", t, b.ints([0, 0, -1, 1]))
    y = b.op("LRN", u, size=spec.size, alpha=spec.alpha, beta=spec.beta, bias=spec.k)
    if spec.ndim != 4:
        y = b.op("Reshape", y, b.op("Shape", t))
    return b.op("Transpose", y, perm=_inverse(perm)) if perm else y


def _across_mean(b: Builder, sq: Any, spec: LRNSpec) -> Any:
    """Window mean of ``sq`` along the channel axis, zero padded (padding counts)."""
    d = spec.dim
    outer = b.op("ReduceProd", b.op("Shape", sq, end=d), keepdims=1)
    length = b.op("Shape", sq, start=d, end=d + 1)
    if d == spec.ndim - 1:
        inner = b.ints([1])
    else:
        inner = b.op("ReduceProd", b.op("Shape", sq, start=d + 1), keepdims=1)
    view = b.op("Concat", outer, b.ints([1]), length, inner, axis=0)
    pooled = b.op(
        "AveragePool", b.op("Reshape", sq, view), kernel_shape=[spec.size, 1],
        pads=[spec.before, 0, spec.after, 0], strides=[1, 1], count_include_pad=1,
    )
    return b.op("Reshape", pooled, b.op("Shape", sq))


def _within_mean(b: Builder, sq: Any, spec: LRNSpec) -> Any:
    """Box mean of ``sq`` over every spatial axis, zero padded (padding counts)."""
    perm = None if spec.dim == 1 else _channels_second(spec.dim, spec.ndim)
    t = b.op("Transpose", sq, perm=perm) if perm else sq
    d = spec.ndim - 2
    pooled = b.op(
        "AveragePool", t, kernel_shape=[spec.size] * d,
        pads=[spec.before] * d + [spec.after] * d, strides=[1] * d, count_include_pad=1,
    )
    return b.op("Transpose", pooled, perm=_inverse(perm)) if perm else pooled


def _plain_ops(b: Builder, x: Any, spec: LRNSpec) -> Any:
    sq = b.op("Mul", x, x)
    mean = _across_mean(b, sq, spec) if spec.region == "across" else _within_mean(b, sq, spec)
    s = b.op("Add", b.op("Mul", mean, b.scalar(spec.alpha)), b.scalar(spec.k))
    return b.op("Mul", x, b.op("Pow", s, b.scalar(-spec.beta)))


def emit_lrn(b: Builder, x: Any, spec: LRNSpec, even_lrn: bool = False) -> Any:
    """ONNX value computing ``localnorm.local_response_norm`` of ``x`` with ``spec``."""
    xc = b.op("Cast", x, to=FLOAT) if b.low_precision else x
    if fits_lrn_node(spec, even_lrn):
        y = _lrn_node(b, xc, spec)
    else:
        y = _plain_ops(b, xc, spec)
    return b.op("Cast", y, to=b.onnx_dtype) if b.low_precision else y
