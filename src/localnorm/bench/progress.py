"""Progress of a bench run: a tqdm bar (imported lazily) or plain lines on stderr."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """tqdm when installed (imported lazily), else plain lines per case on stderr."""

    def __init__(self, total: int, mode: str) -> None:
        if mode not in ("bar", "lines", "off"):
            raise ValueError(f"progress must be 'bar', 'lines' or 'off', got {mode!r}")
        self.enabled = mode != "off"
        self.bar: Any = None
        if mode == "bar":
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="step", file=sys.stderr, dynamic_ncols=True)
            except ImportError:
                self.bar = None

    def case(self, i: int, n: int, label: str) -> None:
        if self.bar is not None:
            self.bar.set_description(label)
        elif self.enabled:
            print(f"[{i}/{n}] {label}", file=sys.stderr, flush=True)

    def done(self, case: dict[str, Any]) -> None:
        """Without a bar, one line of medians per case (so a log shows progress)."""
        if self.bar is not None or not self.enabled:
            return
        parts = []
        for p in case["providers"]:
            for mode, m in p["modes"].items():
                if m["median_s"] is not None:
                    parts.append(f"{p['name']} {mode} {m['median_s'] * 1e3:.3g}")
        print(f"    {case['id']} ms: " + ", ".join(parts), file=sys.stderr, flush=True)

    def tick(self, what: str) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(what)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
