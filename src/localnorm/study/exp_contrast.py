"""Experiment 4: contrast robustness of the networks trained in experiment 3.

Each network, trained at the data's own contrast, is scored on the test set with
- contrast scaled about each image's mean: ``x' = m + c (x - m)``, c in {0.25, 0.5, 1, 2, 4};
- a brightness gradient added: ``x' = x + g * ramp``, ramp linear from -0.5 to 0.5 across the
  image along a random direction per image (fixed seed), g in {0.25, 0.5}.
Pixels are not clipped, so a contrast change is exactly linear (a camera would also saturate).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .stats import t_interval

CONTRASTS = (0.25, 0.5, 1.0, 2.0, 4.0)
GRADIENTS = (0.25, 0.5)


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
    """Accuracy per (variant, perturbation): mean and 95% t-interval over seeds; the worst drop
    against the unperturbed accuracy, over contrast changes and over gradients separately."""
    table: dict[str, Any] = {}
    for v in variants:
        vr = [r for r in runs if r["variant"] == v]
        if len(vr) < 2:
            continue
        row = {p: t_interval([r["robustness"][p] for r in vr]) for p in perturbations()}
        base = row["contrast x1"]["mean"]
        entry: dict[str, Any] = {"accuracy": row}
        for kind in ("contrast", "gradient"):
            worst = min((p for p in perturbations() if p.startswith(kind)),
                        key=lambda p: row[p]["mean"])
            entry[f"worst_{kind}"] = worst
            entry[f"worst_{kind}_drop"] = base - row[worst]["mean"]
        table[v] = entry
    by_c = sorted(table, key=lambda v: table[v]["worst_contrast_drop"])
    by_g = sorted(table, key=lambda v: table[v]["worst_gradient_drop"])
    return {"perturbations": perturbations(), "table": table,
            "contrast_ranking": by_c, "gradient_ranking": by_g}


def reading(r: dict[str, Any], labels: dict[str, str]) -> str:
    t = r["table"]
    if not t:
        return "No variant had two or more seeds; nothing to compare."

    def drops(kind: str, names: list[str]) -> str:
        return "; ".join(f"{labels[v]} -{t[v][f'worst_{kind}_drop'] * 100:.1f} points "
                         f"({t[v][f'worst_{kind}']})" for v in names)

    c, g = r["contrast_ranking"], r["gradient_ranking"]
    text = (f"Worst drop from the unperturbed accuracy under contrast scaling, smallest first: "
            f"{drops('contrast', c[:3])}; largest: {drops('contrast', c[-3:][::-1])}. Under "
            f"brightness gradients, smallest: {drops('gradient', g[:3])}; largest: "
            f"{drops('gradient', g[-3:][::-1])}.")
    if "bn" in t and "ln" in t:
        text += (f" BatchNorm, which applies statistics fixed in training, loses "
                 f"{t['bn']['worst_contrast_drop'] * 100:.1f} points to a contrast change; "
                 f"LayerNorm, which normalizes each image by its own statistics, loses "
                 f"{t['ln']['worst_contrast_drop'] * 100:.1f}.")
    if "none" in t:
        text += (f" Without normalization the loss is {t['none']['worst_contrast_drop'] * 100:.1f}"
                 f" points: a ReLU network without biases would be exactly invariant to the "
                 f"scale of its (mean-centred) input, so only its biases make it sensitive.")
    return text


def table(r: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    rows = []
    for v, row in r["table"].items():
        acc = row["accuracy"]
        rows.append([labels[v]] + [f"{acc[p]['mean'] * 100:.1f} +- {acc[p]['half_width'] * 100:.1f}"
                                   for p in r["perturbations"]]
                    + [f"{row['worst_contrast_drop'] * 100:.1f}",
                       f"{row['worst_gradient_drop'] * 100:.1f}"])
    return {"headers": ["variant"] + [f"{p} (%)" for p in r["perturbations"]]
            + ["worst contrast drop (points)", "worst gradient drop (points)"], "rows": rows}
