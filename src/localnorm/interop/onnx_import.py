"""Read ONNX ``LRN`` nodes back into :class:`localnorm.LocalResponseNorm` modules.

ONNX ``LRN(size, alpha=1e-4, beta=0.75, bias=1.0)``: ``y = x / (bias + alpha/size * sum)^beta``
over channels ``[c - (size-1)//2, c + ceil((size-1)/2)]`` (an even window reaches one channel
further *above* c, the other way round from PyTorch). :func:`from_onnx` carries that window
over with ``before``, so even sizes stay exact. ONNX stores the float attributes as float32;
they are read back as the shortest decimal that rounds to the same float32 (``1e-4``, not
``9.99999974738e-05``), which is the value the exporter was given whenever it had <= 7 digits.

Example:
    >>> import onnx, localnorm
    >>> node = onnx.helper.make_node("LRN", ["x"], ["y"], size=4, alpha=1e-3)
    >>> localnorm.from_onnx(node)
    LocalResponseNorm(4, alpha=0.001, beta=0.75, k=1.0, before=1)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..conventions import to_canonical
from ._layers import LRNLayer

_ATTRS = ("size", "alpha", "beta", "bias")


def _node_params(node: Any) -> dict[str, Any]:
    import onnx

    if node.op_type != "LRN" or node.domain not in ("", "ai.onnx"):
        raise ValueError(f"expected an ONNX LRN node, got {node.domain or 'ai.onnx'}::"
                         f"{node.op_type} (name {node.name!r})")
    params: dict[str, Any] = {}
    for attr in node.attribute:
        if attr.name not in _ATTRS:
            raise ValueError(f"LRN node {node.name!r} has unknown attribute {attr.name!r}; "
                             f"ONNX LRN has {list(_ATTRS)}")
        value = onnx.helper.get_attribute_value(attr)
        params[attr.name] = _short(value) if isinstance(value, float) else value
    if "size" not in params:
        raise ValueError(f"LRN node {node.name!r} has no 'size' attribute (it is required)")
    return params


def _short(value: float) -> float:
    """The shortest decimal with the same float32 value (``str`` of a NumPy float32)."""
    import numpy as np

    return float(str(np.float32(value)))


def _iter_nodes(graph: Any) -> Iterator[Any]:
    """Every node of ``graph``, including those inside If/Loop/Scan subgraphs."""
    import onnx

    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _iter_nodes(attr.g)
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _iter_nodes(g)


def _load(model: Any) -> Any:
    import onnx

    try:
        if isinstance(model, str | os.PathLike):
            return onnx.load(os.fspath(model), load_external_data=False)
        if isinstance(model, bytes):
            return onnx.load_from_string(model)
    except OSError:
        raise
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ValueError(f"not a readable ONNX model ({type(exc).__name__}: {exc})") from exc
    return model


def layer_from_node(node: Any) -> LRNLayer:
    """The :class:`LRNLayer` of one ONNX LRN node (all four parameters filled in)."""
    params = _node_params(node)
    canonical = to_canonical("onnx", **params)
    filled = {"size": canonical.size, "alpha": canonical.alpha, "beta": canonical.beta,
              "bias": canonical.k}
    return LRNLayer(node.name, "onnx", filled, canonical)


def onnx_lrn_layers(model: Any) -> list[LRNLayer]:
    """Every ``LRN`` node of an ONNX model (a ModelProto, GraphProto, bytes or file path),
    in graph order, main graph first, then the model's local functions."""
    import onnx

    proto = _load(model)
    if isinstance(proto, onnx.ModelProto):
        nodes = list(_iter_nodes(proto.graph))
        for fn in proto.functions:
            nodes.extend(fn.node)
    elif isinstance(proto, onnx.GraphProto):
        nodes = list(_iter_nodes(proto))
    else:
        raise TypeError(f"expected an onnx ModelProto, GraphProto, NodeProto, bytes or a path, "
                        f"got {type(model).__name__}")
    return [layer_from_node(n) for n in nodes
            if n.op_type == "LRN" and n.domain in ("", "ai.onnx")]


def from_onnx(node_or_model: Any) -> Any:
    """Equivalent :class:`localnorm.LocalResponseNorm` of an ONNX LRN node, or the list of
    modules for every LRN node of a model (ModelProto, GraphProto, bytes or file path).

    The conversion goes through ``localnorm.conventions.to_canonical("onnx", ...)``; the
    module's ``before`` is ONNX's ``(size - 1) // 2``, which differs from PyTorch's default
    for even sizes only.
    """
    import onnx

    if isinstance(node_or_model, onnx.NodeProto):
        return layer_from_node(node_or_model).module()
    return [layer.module() for layer in onnx_lrn_layers(node_or_model)]
