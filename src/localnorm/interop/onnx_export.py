"""Export models that contain localnorm's LRN to ONNX, with either torch exporter.

torch 2.13 ships both exporters behind :func:`torch.onnx.export`:

* ``dynamo=True`` (the default): ``torch.export`` + onnxscript. A custom op is translated by
  a function given in ``custom_translation_table``; :func:`onnx_translation_table` returns
  it for ``torch.ops.localnorm.lrn.default``.
* ``dynamo=False``: the TorchScript exporter, still present (deprecated upstream). A custom
  op needs ``torch.onnx.register_custom_op_symbolic("localnorm::lrn", fn, opset)``;
  :func:`register_onnx_symbolic` does it.

:func:`export_onnx` does whichever is needed and returns the ``onnx.ModelProto``. Both paths
emit the same nodes (``localnorm.interop._onnx_graph``): one standard ``LRN`` node when ONNX's
window convention can express the layer, plain standard ops otherwise. It also fixes the
exporters' silent drop of ``avg_pool(..., divisor_override=...)`` (see ``_pool_fix``), which
the divisive-normalization family's window sums rely on. Nothing here runs at
``import localnorm``; onnx and onnxscript are imported when an export is asked for.

Example:
    >>> import torch, localnorm
    >>> from localnorm.interop import export_onnx
    >>> m = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), localnorm.LocalResponseNorm(5))
    >>> proto = export_onnx(m.eval(), (torch.randn(1, 3, 8, 8),), dynamo=False)
    >>> [n.op_type for n in proto.graph.node]
    ['Conv', 'LRN']
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import torch

from .._spec import LRNSpec
from . import _pool_fix
from ._onnx_graph import emit_lrn

MIN_OPSET = 15  # Shape(start, end) and CastLike need opset 15
_LOW = {"Half": 10, "BFloat16": 16}  # TorchScript scalar type -> onnx.TensorProto type
_TS_FLOAT = {"Float": torch.float32, "Double": torch.float64}


def _attr_suffix(value: Any) -> str:
    first = value[0] if isinstance(value, list | tuple) and value else value
    if isinstance(first, bool | int):
        return "_i"
    if isinstance(first, float):
        return "_f"
    if isinstance(first, str):
        return "_s"
    raise TypeError(f"cannot export attribute value {value!r}")


class _TorchScriptBuilder:
    """:class:`~localnorm.interop._onnx_graph.Builder` over a TorchScript ``g``."""

    def __init__(self, g: Any, scalar_type: str) -> None:
        if scalar_type not in _LOW and scalar_type not in _TS_FLOAT:
            raise TypeError(f"localnorm::lrn exports floating inputs only, got {scalar_type}")
        self.g = g
        self.low_precision = scalar_type in _LOW
        self.onnx_dtype = _LOW.get(scalar_type, 11 if scalar_type == "Double" else 1)
        self._float = _TS_FLOAT.get(scalar_type, torch.float32)

    def op(self, name: str, *inputs: Any, **attrs: Any) -> Any:
        return self.g.op(name, *inputs, **{k + _attr_suffix(v): v for k, v in attrs.items()})

    def ints(self, values: Any) -> Any:
        return self.g.op("Constant", value_t=torch.tensor(list(values), dtype=torch.int64))

    def scalar(self, value: float) -> Any:
        # Shape (1,), not (): the exporter's scalar type analysis re-types 0-d constants
        # (a double model got float constants and a float/double Mul).
        return self.g.op("Constant", value_t=torch.tensor([value], dtype=self._float))


class _OnnxScriptBuilder:
    """:class:`~localnorm.interop._onnx_graph.Builder` over onnxscript's traced opset."""

    def __init__(self, x: Any) -> None:
        import numpy as np
        import onnx_ir as ir
        import onnxscript

        self._op: Any = onnxscript.opset18
        self._ir, self._np = ir, np
        self.onnx_dtype = int(x.dtype)
        self.low_precision = self.onnx_dtype in (10, 16)
        self._float = np.float64 if self.onnx_dtype == 11 else np.float32

    def op(self, name: str, *inputs: Any, **attrs: Any) -> Any:
        return getattr(self._op, name)(*inputs, **attrs)

    def ints(self, values: Any) -> Any:
        return self._op.Constant(value_ints=[int(v) for v in values])

    def scalar(self, value: float) -> Any:
        return self._op.Constant(value=self._ir.tensor(self._np.asarray(value, self._float)))


def _rank(rank: int | None) -> int:
    if rank is None:
        raise ValueError("localnorm::lrn needs an input of known rank to export to ONNX")
    return rank


def onnx_translation_table(even_lrn: bool = False) -> dict[Callable[..., Any], Callable[..., Any]]:
    """``custom_translation_table`` for ``torch.onnx.export(..., dynamo=True)``.

    ``even_lrn=True`` emits an ``LRN`` node for an even size with ONNX's window too (the
    spec allows it; ONNX Runtime's kernel refuses it, hence the default).
    """

    def localnorm_lrn(x: Any, size: int, before: int, alpha: float, beta: float, k: float,
                      region: str, dim: int) -> Any:
        rank = _rank(None if x.shape is None else len(x.shape))
        spec = LRNSpec(region, size, before, alpha, beta, k, dim, rank)
        return emit_lrn(_OnnxScriptBuilder(x), x, spec, even_lrn)

    return {torch.ops.localnorm.lrn.default: localnorm_lrn}


def register_onnx_symbolic(even_lrn: bool = False, opset_version: int = MIN_OPSET) -> None:
    """Register ``localnorm::lrn`` with the TorchScript exporter (``dynamo=False``) for
    every opset from ``opset_version`` on. Registering again replaces the previous one."""
    from torch.onnx import symbolic_helper as sh

    def symbolic(g: Any, x: Any, size: Any, before: Any, alpha: Any, beta: Any, k: Any,
                 region: Any, dim: Any) -> Any:
        n, b, d = (int(sh._maybe_get_const(v, "i")) for v in (size, before, dim))
        a, bt, kk = (float(sh._maybe_get_const(v, "f")) for v in (alpha, beta, k))
        reg = sh._node_get(region.node(), "value") if hasattr(region, "node") else region
        spec = LRNSpec(str(reg), n, b, a, bt, kk, d, _rank(x.type().dim()))
        return emit_lrn(_TorchScriptBuilder(g, x.type().scalarType()), x, spec, even_lrn)

    torch.onnx.register_custom_op_symbolic("localnorm::lrn", symbolic, opset_version)


def export_onnx(
    model: torch.nn.Module,
    args: tuple[Any, ...],
    f: str | os.PathLike[str] | None = None,
    *,
    dynamo: bool = True,
    even_lrn: bool = False,
    opset_version: int | None = None,
    **kwargs: Any,
) -> Any:
    """Export ``model`` with :func:`torch.onnx.export`, translating localnorm's LRN for you.

    Args:
        model, args: as for :func:`torch.onnx.export`.
        f: optional path to write the model to.
        dynamo: which torch exporter to use (both exist in torch 2.13).
        even_lrn: emit ``LRN`` for even sizes with ONNX's window too (ONNX Runtime rejects
            them; by default they become plain ops).
        opset_version: ONNX opset (at least 15; default: torch's default).
        **kwargs: passed on to :func:`torch.onnx.export`.

    Returns:
        The exported ``onnx.ModelProto``.
    """
    import onnx

    if opset_version is not None and opset_version < MIN_OPSET:
        raise ValueError(f"opset_version must be >= {MIN_OPSET}, got {opset_version}")
    if dynamo:
        table = {**_pool_fix.dynamo_table(), **onnx_translation_table(even_lrn),
                 **(kwargs.pop("custom_translation_table", None) or {})}
        kwargs.setdefault("verbose", False)
        program = torch.onnx.export(model, args, f, dynamo=True, opset_version=opset_version,
                                    custom_translation_table=table, **kwargs)
        assert program is not None
        return program.model_proto
    register_onnx_symbolic(even_lrn)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx") if f is None else os.fspath(f)
        with _pool_fix.torchscript_symbolics(MIN_OPSET):
            torch.onnx.export(model, args, path, dynamo=False, opset_version=opset_version,
                              **kwargs)
        return onnx.load(path)
