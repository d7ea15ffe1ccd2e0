"""Experiment 2: does local normalization make the error surface rounder?

Model: multinomial logistic regression (softmax, weights and biases) on flattened images, mean
cross-entropy. Its Hessian at w = 0, where gradient descent starts, is
``(1/K)(I - 11^T/K) kron E[x~ x~^T]`` with ``x~ = [x, 1]`` (LeCun et al., "Efficient
BackProp", 1998: the input second moments set the curvature). It is computed here by autograd
(``torch.func.hessian``) and its eigenvalues by ``eigvalsh`` in float64. Directions with zero
curvature (the softmax's shift, pixels that never vary) are ones gradient descent from 0 never
enters; they are dropped (eigenvalues below 1e-10 of the largest) and counted.

Inputs compared: raw pixels in [0, 1]; z-scored per pixel (constant pixels stay 0); LRN within
channel (Caffe defaults alpha 1, beta 0.75, k 1, 3x3 window); LCN (Jarrett, 5x5 Gaussian,
threshold at the mean); ZCA whitening (eps = 1e-2 x the mean eigenvalue of the covariance).
Then plain full-batch gradient descent over a log grid of learning rates: the range that reaches
a target loss, the largest stable one, and the quadratic model's limit 2 / lambda_max.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

import localnorm

from .data import Dataset

INPUTS = ("raw", "z-scored", "LRN", "LCN", "whitened")
MAX_SIDE = 16  # larger images are area-averaged to at most 16x16 grey for this experiment


def _grey_small(x: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(x).double().mean(1, keepdim=True)
    if t.shape[-1] > MAX_SIDE:
        t = torch.nn.functional.adaptive_avg_pool2d(t, MAX_SIDE)
    return t.numpy()


def features(ds: Dataset, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Flattened (train, test) features of the images after preprocessing ``kind``."""
    tr, te = _grey_small(ds.x_train), _grey_small(ds.x_test)
    if kind == "raw":
        f = lambda a: a  # noqa: E731
    elif kind == "LRN":
        lrn = localnorm.LocalResponseNorm(3, alpha=1.0, beta=0.75, k=1.0, region="within")
        f = lambda a: lrn(torch.from_numpy(a)).numpy()  # noqa: E731
    elif kind == "LCN":
        f = lambda a: localnorm.local_contrast_norm(torch.from_numpy(a), 5).numpy()  # noqa: E731
    elif kind in ("z-scored", "whitened"):
        return _global(tr.reshape(len(tr), -1), te.reshape(len(te), -1), kind)
    else:
        raise ValueError(f"input kind must be one of {INPUTS}, got {kind!r}")
    return f(tr).reshape(len(tr), -1), f(te).reshape(len(te), -1)


def _global(tr: np.ndarray, te: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    mu = tr.mean(0)
    if kind == "z-scored":
        sd = tr.std(0)
        sd = np.where(sd > 1e-12, sd, np.inf)
        return (tr - mu) / sd, (te - mu) / sd
    cov = np.cov(tr - mu, rowvar=False)
    s, u = np.linalg.eigh(cov)
    s = np.clip(s, 0, None)
    w = u @ np.diag(1.0 / np.sqrt(s + 1e-2 * s.mean())) @ u.T
    return (tr - mu) @ w, (te - mu) @ w


def _loss(x: torch.Tensor, y: torch.Tensor, k: int, theta: torch.Tensor) -> torch.Tensor:
    d = x.shape[1]
    w, b = theta[: k * d].view(k, d), theta[k * d:]
    return torch.nn.functional.cross_entropy(x @ w.T + b, y)


AUTOGRAD_MAX_PARAMS = 1100


def hessian_spectrum(x: np.ndarray, y: np.ndarray, k: int) -> dict[str, Any]:
    """Eigenvalues of the loss Hessian at w = 0 and its condition number over the directions
    with curvature. Autograd (``torch.func.hessian``, float64) up to
    :data:`AUTOGRAD_MAX_PARAMS` parameters, checked against the closed form
    ``eig = eig(E[x~ x~^T]) / K``, each K - 1 times; the closed form alone above that."""
    xt = torch.from_numpy(x).double()
    xa = torch.cat([xt, torch.ones(len(xt), 1, dtype=torch.float64)], 1)
    m = torch.linalg.eigvalsh(xa.T @ xa / len(xa)).clamp_min(0) / k
    closed = torch.cat([m.repeat(k - 1), torch.zeros(len(m))]).sort(descending=True).values
    method, check = "closed form (Kronecker)", None
    ev = closed
    if k * (x.shape[1] + 1) <= AUTOGRAD_MAX_PARAMS:
        yt = torch.from_numpy(y)
        theta = torch.zeros(k * (x.shape[1] + 1), dtype=torch.float64)
        h = torch.func.hessian(lambda t: _loss(xt, yt, k, t))(theta)
        ev = torch.linalg.eigvalsh(h).sort(descending=True).values
        method = "autograd (torch.func.hessian)"
        check = float((ev - closed).abs().max() / ev[0])
    top = float(ev[0])
    kept = ev[ev > 1e-10 * top].numpy()
    return {"eigenvalues": kept.tolist(), "lambda_max": top, "lambda_min": float(kept[-1]),
            "condition_number": top / float(kept[-1]), "dropped_flat": int(len(ev) - len(kept)),
            "within_100x": float(np.mean(kept >= top / 100)), "params": int(len(ev)),
            "method": method, "closed_form_rel_diff": check}


def gd_sweep(x: np.ndarray, y: np.ndarray, k: int, lrs: np.ndarray, steps: int,
             target: float) -> dict[str, Any]:
    """Full-batch gradient descent from 0, all learning rates at once (closed-form gradient of
    the mean cross-entropy: ``(softmax - onehot)^T [x, 1] / N``)."""
    xa = torch.from_numpy(np.concatenate([x, np.ones((len(x), 1))], 1)).double()
    onehot = torch.nn.functional.one_hot(torch.from_numpy(y), k).double()
    lr = torch.from_numpy(np.asarray(lrs, dtype=np.float64)).view(-1, 1, 1)
    theta = torch.zeros(len(lrs), k, xa.shape[1], dtype=torch.float64)
    alive = torch.ones(len(lrs), dtype=torch.bool)
    losses = torch.full((len(lrs), steps + 1), math.inf, dtype=torch.float64)
    for t in range(steps + 1):
        logits = torch.einsum("nd,lkd->lnk", xa, theta)
        logp = torch.log_softmax(logits, -1)
        loss = -(logp * onehot).sum(-1).mean(-1)
        alive &= torch.isfinite(loss) & (loss < 1e3)
        losses[alive, t] = loss[alive]
        if t == steps:
            break
        grad = torch.einsum("lnk,nd->lkd", logp.exp() - onehot, xa) / len(xa)
        theta = torch.where(alive.view(-1, 1, 1), theta - lr * grad, theta)
    curves = [[max(0.0, v) for v in row.tolist() if math.isfinite(v)] for row in losses]
    finals = [c[-1] if len(c) == steps + 1 else None for c in curves]
    ok = [i for i, f in enumerate(finals) if f is not None and f <= target]
    monotone = [i for i, c in enumerate(curves) if finals[i] is not None
                and all(b <= a * (1 + 1e-12) for a, b in zip(c, c[1:], strict=False))]
    scores = [math.inf if f is None else float(f) for f in finals]
    best = int(np.argmin(scores))
    return {
        "final_loss": finals, "lr_low": float(lrs[ok[0]]) if ok else None,
        "lr_high": float(lrs[ok[-1]]) if ok else None,
        "decades": float(np.log10(lrs[ok[-1]] / lrs[ok[0]])) if ok else 0.0,
        "lr_max_monotone": float(lrs[monotone[-1]]) if monotone else None,
        "best_lr": float(lrs[best]), "curves": curves,
    }


def run(ds: Dataset, steps: int, lr_points: int, progress: Any = None) -> dict[str, Any]:
    k = len(ds.classes)
    lrs = np.logspace(-3, 3, lr_points)
    target = 0.25 * math.log(k)
    out: dict[str, Any] = {"inputs": {}, "learning_rates": lrs.tolist(), "steps": steps,
                           "target_loss": target, "classes": k}
    for kind in INPUTS:
        tr, _ = features(ds, kind)
        spec = hessian_spectrum(tr, ds.y_train, k)
        sweep = gd_sweep(tr, ds.y_train, k, lrs, steps, target)
        spec["lr_limit_quadratic"] = 2.0 / spec["lambda_max"]
        out["inputs"][kind] = {**spec, **sweep, "features": int(tr.shape[1])}
        if progress is not None:
            progress.update(1)
    # One learning rate for every input: the largest at which every input's loss falls at
    # every step. Rounder inputs should get further with it.
    monos = [v["lr_max_monotone"] for v in out["inputs"].values()]
    common = min((m for m in monos if m is not None), default=float(lrs[0]))
    i = int(np.argmin(np.abs(np.log(lrs / common))))
    out["common_lr"] = float(lrs[i])
    for v in out["inputs"].values():
        v["common_curve"] = v["curves"][i]
        v["common_final"] = v["final_loss"][i]
    return out


def reading(r: dict[str, Any]) -> str:
    inp = r["inputs"]
    order = sorted(inp, key=lambda kk: inp[kk]["condition_number"])
    raw = inp["raw"]
    parts = [f"{kk} {inp[kk]['condition_number']:.3g}" for kk in order]
    ratios = [f"{raw['condition_number'] / inp[kk]['condition_number']:.3g} by {kk}"
              for kk in order if kk != "raw"]
    round_ = [f"{kk} {inp[kk]['within_100x'] * 100:.0f}%" for kk in order]
    widest = max(inp, key=lambda kk: (inp[kk]["decades"], -inp[kk]["condition_number"]))
    rng = (f"{raw['decades']:.1f} decades ({raw['lr_low']:.3g} to {raw['lr_high']:.3g})"
           if raw["lr_low"] else "empty")
    mono = ", ".join(f"{kk} {inp[kk]['lr_max_monotone']:.3g} (2/lambda_max = "
                     f"{inp[kk]['lr_limit_quadratic']:.3g})" for kk in inp
                     if inp[kk]["lr_max_monotone"] is not None)
    common = ", ".join(f"{kk} {inp[kk]['common_final']:.3g}" for kk in
                       sorted(inp, key=lambda kk: inp[kk]["common_final"] or math.inf))
    over = [kk for kk in inp if inp[kk]["lr_high"] and
            inp[kk]["lr_high"] > inp[kk]["lr_limit_quadratic"]]
    beyond = (f" With {', '.join(over)} inputs, learning rates above 2/lambda_max still reached "
              f"the target: unlike a quadratic's, cross-entropy's curvature shrinks as the "
              f"softmax saturates." if over else "")
    return (
        f"Condition numbers of the Hessian at the start of training, roundest first: "
        f"{', '.join(parts)}. Against raw pixels the condition number is divided by "
        f"{', '.join(ratios)}. Share of curved directions within 100x of the largest "
        f"curvature: {', '.join(round_)}. Gradient descent for {r['steps']} steps reaches the "
        f"target loss {r['target_loss']:.3f} over the widest range of learning rates with "
        f"{widest} inputs ({inp[widest]['decades']:.1f} decades, {inp[widest]['lr_low']:.3g} to "
        f"{inp[widest]['lr_high']:.3g}); with raw inputs the range is {rng}. Largest learning "
        f"rate whose loss falls at every step: {mono}. At one learning rate for all, "
        f"{r['common_lr']:.3g}, the loss after {r['steps']} steps is: {common}." + beyond
    )


def table(r: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for name, v in r["inputs"].items():
        rng = f"{v['lr_low']:.3g} .. {v['lr_high']:.3g}" if v["lr_low"] else "none"
        mono = f"{v['lr_max_monotone']:.3g}" if v["lr_max_monotone"] is not None else "none"
        best = min((f for f in v["final_loss"] if f is not None), default=float("nan"))
        cf = v["common_final"]
        rows.append([name, f"{v['lambda_max']:.3g}", f"{v['lambda_min']:.3g}",
                     f"{v['condition_number']:.3g}", f"{v['within_100x'] * 100:.0f}%", rng,
                     f"{v['decades']:.1f}", mono, f"{v['lr_limit_quadratic']:.3g}",
                     f"{best:.3g}", "diverged" if cf is None else f"{cf:.3g}"])
    return {"headers": ["input", "lambda_max", "lambda_min", "condition number",
                        "directions within 100x", f"lr reaching loss {r['target_loss']:.3f}",
                        "decades", "largest lr, loss falling every step", "2 / lambda_max",
                        f"best loss after {r['steps']} steps",
                        f"loss at the common lr {r['common_lr']:.3g}"],
            "rows": rows}
