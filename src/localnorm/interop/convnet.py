"""LRN layers of a cuda-convnet layer definition (INI ``layers.cfg``), as localnorm modules.

cuda-convnet describes a net in two INI files: the layer definition file (``type``,
``inputs``, ``size``, ...) and the layer-parameter file (``scale``, ``pow``, learning rates),
both with one ``[section]`` per layer name. :func:`convnet_lrn_layers` reads the first and,
when given, the second, and also accepts ``scale``/``pow`` written inline in the first.

* ``type=cmrnorm``: ``y = x * (1 + scale/size * sum_{size maps} x^2)^-pow``, window
  ``[c - size//2, c - size//2 + size)`` (an even size reaches further below c, as in PyTorch).
* ``type=rnorm``: ``y = x * (1 + scale/size^2 * sum_{size x size box} x^2)^-pow`` within a map.

cuda-convnet2 adds ``minDiv`` (the additive constant k, default 1) and ``blocked`` (windows
aligned to blocks of ``size`` maps instead of sliding); ``minDiv`` is carried over as ``k``,
``blocked=1`` has no LRN equivalent and is refused.

Example:
    >>> from localnorm.interop import convnet_lrn_layers
    >>> cfg = "[rnorm1]\\ntype=cmrnorm\\ninputs=conv1\\nsize=9\\nscale=0.001\\npow=0.75\\n"
    >>> convnet_lrn_layers(cfg)[0].module()
    LocalResponseNorm(9, alpha=0.001, beta=0.75, k=1.0)
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from typing import Any

from ..conventions import Canonical, to_canonical
from ._layers import LRNLayer, ParseError, culprit, read_source

_SECTION = re.compile(r"^\[([^\[\]]+)\]$")
_TYPES = ("cmrnorm", "rnorm")
_CANONICAL = {"scale": "alpha", "pow": "beta", "minDiv": "k"}


@dataclass
class Section:
    name: str
    line: int
    source: str = "<string>"
    # key -> (value, line, file it came from)
    entries: dict[str, tuple[str, int, str]] = field(default_factory=dict)


def parse_ini(text: str, source: str = "<string>") -> dict[str, Section]:
    """``{section name: Section}`` of an INI file, every key with its line number."""
    sections: dict[str, Section] = {}
    current: Section | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            m = _SECTION.match(line)
            if m is None:
                raise ParseError(source, number, f"malformed section header {line!r}")
            name = m.group(1).strip()
            if name in sections:
                raise ParseError(source, number, f"section [{name}] already defined on line "
                                                 f"{sections[name].line}")
            current = sections[name] = Section(name, number, source)
            continue
        key, sep, value = _split(line)
        if not sep or not key:
            raise ParseError(source, number, f"expected 'key=value' or '[section]', got {line!r}")
        if current is None:
            raise ParseError(source, number, f"{key!r} appears before any [section]")
        current.entries[key] = (value, number, source)
    return sections


def _split(line: str) -> tuple[str, str, str]:
    eq, colon = line.find("="), line.find(":")
    cut = min(i for i in (eq, colon) if i >= 0) if max(eq, colon) >= 0 else -1
    if cut < 0:
        return line, "", ""
    return line[:cut].strip(), line[cut], line[cut + 1:].strip()


def _merge(layer: Section, extra: Section | None) -> Section:
    merged = Section(layer.name, layer.line, layer.source, dict(layer.entries))
    for key, (value, line, source) in (extra.entries if extra else {}).items():
        if key in merged.entries and merged.entries[key][0] != value:
            first = merged.entries[key]
            raise ParseError(source, line, f"[{layer.name}] {key}={value} contradicts "
                             f"{key}={first[0]} on line {first[1]} of {first[2]}")
        merged.entries.setdefault(key, (value, line, source))
    return merged


def _value(sec: Section, key: str, cast: type) -> Any:
    if key not in sec.entries:
        raise ParseError(sec.source, sec.line, f"layer [{sec.name}] needs '{key}' (give it in "
                                               "the section or in the layer-parameter file)")
    text, line, source = sec.entries[key]
    try:
        return cast(text)
    except ValueError:
        raise ParseError(source, line, f"[{sec.name}] {key} must be "
                                       f"{'an integer' if cast is int else 'a number'}, "
                                       f"got {text!r}") from None


def _layer(sec: Section, kind: str) -> LRNLayer:
    params: dict[str, Any] = {"type": kind, "size": _value(sec, "size", int),
                              "scale": _value(sec, "scale", float),
                              "pow": _value(sec, "pow", float)}
    if "blocked" in sec.entries and _value(sec, "blocked", int) != 0:
        _, line, source = sec.entries["blocked"]
        raise ParseError(source, line, f"[{sec.name}] blocked=1 normalizes over fixed blocks "
                                       "of maps, which no sliding-window LRN reproduces")
    if "minDiv" in sec.entries:
        params["minDiv"] = _value(sec, "minDiv", float)
    try:
        canonical = to_canonical("cuda-convnet", **{k: v for k, v in params.items()
                                                    if k != "minDiv"})
        if "minDiv" in params:
            canonical = _with_min_div(canonical, params["minDiv"])
    except (ValueError, TypeError) as exc:
        key = culprit(sec.entries, str(exc), _CANONICAL)
        if key is None:
            raise ParseError(sec.source, sec.line, f"layer [{sec.name}]: {exc}") from exc
        value, line, source = sec.entries[key]
        raise ParseError(source, line, f"layer [{sec.name}] {key}={value}: {exc}") from exc
    return LRNLayer(sec.name, "cuda-convnet", params, canonical, sec.line)


def _with_min_div(canonical: Canonical, k: float) -> Canonical:
    """``canonical`` with cuda-convnet2's ``minDiv`` as k (validated like any k)."""
    if not k > 0:
        raise ValueError(f"minDiv must be > 0 (it is the k added under the power), got {k}")
    return dataclasses.replace(canonical, k=k)


def convnet_lrn_layers(
    layers_cfg: str | os.PathLike[str], params_cfg: str | os.PathLike[str] | None = None
) -> list[LRNLayer]:
    """Every ``cmrnorm`` / ``rnorm`` layer of a cuda-convnet layer definition file (a path,
    or the text itself), with ``scale``/``pow`` from ``params_cfg`` when given.

    Raises :class:`~localnorm.interop.ParseError` (a ValueError) naming the line for a
    malformed file, a missing or non-numeric parameter, or a contradiction between files.
    """
    text, label = read_source(layers_cfg)
    defs = parse_ini(text, label)
    extra: dict[str, Section] = {}
    if params_cfg is not None:
        extra = parse_ini(*read_source(params_cfg))
    layers = []
    for name, sec in defs.items():
        kind = sec.entries.get("type", ("", 0, ""))[0].strip().lower()
        if kind in _TYPES:
            layers.append(_layer(_merge(sec, extra.get(name)), kind))
    return layers


def from_convnet_cfg(
    layers_cfg: str | os.PathLike[str], params_cfg: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """``{layer name: LocalResponseNorm}`` for every LRN layer of a cuda-convnet config."""
    return {layer.name: layer.module() for layer in convnet_lrn_layers(layers_cfg, params_cfg)}
