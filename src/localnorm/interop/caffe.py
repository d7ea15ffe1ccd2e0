"""LRN layers of a Caffe network definition (``.prototxt``), as localnorm modules.

Both layer forms are read: ``layer { type: "LRN" ... }`` (LayerParameter) and the old
``layers { type: LRN ... }`` (V1LayerParameter). ``lrn_param`` fields left out take Caffe's
defaults (``local_size: 5  alpha: 1  beta: 0.75  k: 1  norm_region: ACROSS_CHANNELS``;
note alpha's default is 1, not 1e-4). Caffe's formula:

* ACROSS_CHANNELS: ``y = x * (k + alpha/n * sum_{n channels} x^2)^-beta``, n odd, centred.
* WITHIN_CHANNEL: ``y = x * (1 + alpha/n^2 * sum_{n x n box, zero padded} x^2)^-beta``;
  Caffe ignores ``k`` there.

Example:
    >>> from localnorm.interop import caffe_lrn_layers
    >>> net = 'layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1"\\n' \\
    ...       '  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }'
    >>> [layer.module() for layer in caffe_lrn_layers(net)]
    [LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=1.0)]
"""

from __future__ import annotations

import os
from typing import Any

from ..conventions import FRAMEWORKS, to_canonical
from ._layers import LRNLayer, ParseError, culprit, read_source
from .prototext import Field, Message, parse

_NUMBERS = ("alpha", "beta", "k")
_KNOWN = {"local_size", "alpha", "beta", "k", "norm_region", "engine"}


def _is_lrn(layer: Message) -> bool:
    kind = layer.last("type")
    return kind is not None and isinstance(kind.value, str) and kind.value.upper() == "LRN"


def _lrn_params(layer: Message, source: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The layer's lrn_param fields (several blocks merge, last value wins) and their lines."""
    params: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for block in layer.all("lrn_param"):
        if not isinstance(block.value, Message):
            raise ParseError(source, block.line, "lrn_param must be a message { ... }")
        for f in block.value.fields:
            params[f.name] = _check_field(f, source)
            lines[f.name] = f.line
    params.pop("engine", None)
    return params, lines


def _check_field(f: Field, source: str) -> Any:
    if f.name not in _KNOWN:
        raise ParseError(source, f.line, f"unknown lrn_param field {f.name!r}; "
                                         f"Caffe's are {sorted(_KNOWN)}")
    v = f.value
    if f.name == "local_size" and not isinstance(v, int):
        raise ParseError(source, f.line, f"local_size must be a positive integer, got {v!r}")
    if f.name in _NUMBERS:
        if isinstance(v, str | Message):
            raise ParseError(source, f.line, f"{f.name} must be a number, got {v!r}")
        return float(v)
    if f.name in ("norm_region", "engine") and isinstance(v, Message):
        raise ParseError(source, f.line, f"{f.name} must be an enum value, got a message")
    return v


def _layer(entry: Field, source: str) -> LRNLayer:
    msg = entry.value
    assert isinstance(msg, Message)
    name_field = msg.last("name")
    name = str(name_field.value) if name_field is not None else ""
    params, lines = _lrn_params(msg, source)
    filled = {**FRAMEWORKS["caffe"].defaults, **params}
    try:
        canonical = to_canonical("caffe", **params)
    except (ValueError, TypeError) as exc:
        key = culprit(lines, str(exc))
        raise ParseError(source, lines[key] if key else entry.line,
                         f"layer {name!r}: {exc}") from exc
    region = str(filled["norm_region"]).upper()
    filled["norm_region"] = {"0": "ACROSS_CHANNELS", "1": "WITHIN_CHANNEL"}.get(region, region)
    return LRNLayer(name, "caffe", filled, canonical, entry.line)


def caffe_lrn_layers(source: str | os.PathLike[str]) -> list[LRNLayer]:
    """Every LRN layer of a Caffe prototxt (a path, or the text itself), in file order.

    Raises :class:`~localnorm.interop.ParseError` (a ValueError) naming the line for a
    malformed file, an unknown ``lrn_param`` field or a value Caffe would refuse (an even
    ``local_size``, a negative alpha).
    """
    text, label = read_source(source)
    net = parse(text, label)
    return [_layer(f, label) for f in net.fields
            if f.name in ("layer", "layers") and isinstance(f.value, Message)
            and _is_lrn(f.value)]


def from_prototxt(source: str | os.PathLike[str]) -> dict[str, Any]:
    """``{layer name: LocalResponseNorm}`` for every LRN layer of a Caffe prototxt."""
    return {layer.name: layer.module() for layer in caffe_lrn_layers(source)}
