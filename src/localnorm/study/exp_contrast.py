"""Experiment 4: contrast robustness of the networks trained in experiment 3.

Each network, trained at the data's own contrast, is scored on the test set with
- contrast scaled about each image's mean: ``x' = m + c (x - m)``, c in {0.25, 0.5, 1, 2, 4};
- a brightness gradient added: ``x' = x + g * ramp``, ramp linear from -0.5 to 0.5 across the
  image along a random direction per image (fixed seed), g in {0.5, 1}.
Pixels are not clipped, so a contrast change is exactly linear (a camera would also saturate).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .stats import t_interval

CONTRASTS = (0.25, 0.5, 1.0, 2.0, 4.0)
GRADIENTS = (0.5, 1.0)


def perturbations() -> list[str]:
    return [f"contrast x{c:g}" for c in CONTRASTS] + [f"gradient {g:g}" for g in GRADIENTS]


def perturb(name: str, x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Apply the named perturbation to images ``x`` of shape (N, C, H, W) in [0, 1]."""
    kind, _, value = name.partition(" ")
    if kind == "contrast":
        c = float(value.lstrip("x"))
        m = x.mean(dim=(2, 3), keepdim=True)
        return m + c * (x - m)
    if kind == "gradient":
        g = float(value)
        n, _, h, w = x.shape
        angle = torch.from_numpy(np.random.default_rng(seed).uniform(0, 2 * np.pi, n)).float()
        yy = torch.linspace(-0.5, 0.5, h).view(1, h, 1)
        xx = torch.linspace(-0.5, 0.5, w).view(1, 1, w)
        ramp = xx * angle.cos().view(n, 1, 1) + yy * angle.sin().view(n, 1, 1)
        ramp = ramp / ramp.flatten(1).abs().amax(1).clamp_min(1e-12).view(n, 1, 1) * 0.5
        return x + g * ramp[:, None]
    raise ValueError(f"perturbation must be one of {perturbations()}, got {name!r}")


def summarize(runs: list[dict[str, Any]], variants: list[str]) -> dict[str, Any]:
    """Accuracy per (variant, perturbation): mean and 95% t-interval over seeds; the worst
    relative drop against the unperturbed accuracy."""
    table: dict[str, Any] = {}
    for v in variants:
        vr = [r for r in runs if r["variant"] == v]
        if len(vr) < 2:
            continue
        row = {p: t_interval([r["robustness"][p] for r in vr]) for p in perturbations()}
        base = row["contrast x1"]["mean"]
        worst = min(perturbations(), key=lambda p: row[p]["mean"])
        table[v] = {"accuracy": row, "worst": worst,
                    "worst_drop": base - row[worst]["mean"]}
    ranking = sorted(table, key=lambda v: table[v]["worst_drop"])
    return {"perturbations": perturbations(), "table": table, "most_robust": ranking[:3],
            "least_robust": ranking[-3:][::-1]}
