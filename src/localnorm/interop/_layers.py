"""One LRN layer found in another framework's model file, and the table of its equivalents."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..conventions import FRAMEWORKS, Canonical, from_canonical


class ParseError(ValueError):
    """A malformed model file; the message and :attr:`line` say where."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}, line {line}: {message}")
        self.source = source
        self.line = line


def culprit(keys: Iterable[str], message: str,
            aliases: dict[str, str] | None = None) -> str | None:
    """The first key that an error message names as a word (or by its canonical alias)."""
    for key in keys:
        names = (key, (aliases or {}).get(key, key))
        if any(re.search(rf"\b{re.escape(n)}\b", message) for n in names):
            return key
    return None


def read_source(source: str | os.PathLike[str]) -> tuple[str, str]:
    """(text, label) of a model file: a path, or the text itself (a string with a newline)."""
    if isinstance(source, str) and "\n" in source:
        return source, "<string>"
    path = os.fspath(source)
    with open(path, encoding="utf-8") as fh:
        return fh.read(), path


@dataclass(frozen=True)
class LRNLayer:
    """An LRN layer read from a file: where it was, its own parameters, and their meaning.

    ``params`` are the source framework's own names with its defaults filled in;
    ``canonical`` is the same layer in localnorm's convention (see
    :mod:`localnorm.conventions`); ``line`` is 0 when the source has no lines (ONNX).
    """

    name: str
    framework: str
    params: dict[str, Any]
    canonical: Canonical
    line: int = 0

    def module(self) -> Any:
        """The equivalent :class:`localnorm.LocalResponseNorm` (channel axis 1)."""
        from ..modules import LocalResponseNorm

        c = self.canonical
        before = None if c.before == c.size // 2 else c.before
        return LocalResponseNorm(c.size, c.alpha, c.beta, c.k, region=c.region, before=before)

    def equivalents(self) -> dict[str, dict[str, Any]]:
        """Every framework's parameters for this layer, or ``{"error": why not}``."""
        out: dict[str, dict[str, Any]] = {}
        for name in FRAMEWORKS:
            try:
                out[name] = from_canonical(name, self.canonical)
            except ValueError as exc:
                out[name] = {"error": str(exc)}
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "line": self.line, "framework": self.framework,
                "params": self.params, "canonical": self.canonical.as_dict(),
                "equivalents": self.equivalents()}


def _fmt(params: dict[str, Any]) -> str:
    if "error" in params:
        return f"(none: {params['error']})"
    return "  ".join(f"{k}={v:.7g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in params.items())


def format_table(layers: list[LRNLayer], source: str) -> str:
    """Human-readable table: one block per layer, one row per framework."""
    if not layers:
        return f"{source}: no LRN layers found"
    lines = [f"{source}: {len(layers)} LRN layer(s)"]
    for layer in layers:
        where = f" (line {layer.line})" if layer.line else ""
        c = layer.canonical
        lines.append("")
        lines.append(f"{layer.name or '<unnamed>'}{where}: {layer.framework} {_fmt(layer.params)}")
        lines.append(f"{'localnorm':>13}: size={c.size} before={c.before} alpha={c.alpha:.7g} "
                     f"beta={c.beta:.7g} k={c.k:.7g} region={c.region}")
        for name, params in layer.equivalents().items():
            lines.append(f"{name:>13}: {_fmt(params)}")
    return "\n".join(lines)
