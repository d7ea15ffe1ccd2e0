"""One CNN training run (experiment 3) and its contrast-robustness evaluation (experiment 4).

The recipe is fixed for every variant (:data:`localnorm.study.config.TRAIN`): SGD with momentum,
weight decay, cosine learning-rate decay per step, He-initialised weights; each image has its
own mean subtracted and all are divided by one global std (so a contrast change about the
image's mean reaches the network as a pure change of scale).
The test set is scored after every epoch for the curves; no choice is made on it.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from . import dist
from .config import TRAIN
from .data import Dataset
from .exp_contrast import perturb, perturbations
from .layers import SmallCNN


@dataclass(frozen=True)
class RunSpec:
    variant: str
    seed: int
    epochs: int
    batch_size: int = int(TRAIN["batch_size"])
    lr: float = float(TRAIN["lr"])
    momentum: float = float(TRAIN["momentum"])
    weight_decay: float = float(TRAIN["weight_decay"])
    width: int = int(TRAIN["width"])


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(y), batch):
        correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / max(1, len(y))


@torch.no_grad()
def lrn_gain(model: SmallCNN, x: torch.Tensor) -> dict[str, float] | None:
    """How far each LRN layer's divisor moves from its constant k^beta on the test set.

    ``r = y / (x k^-beta) = (1 + (A/k) sum x^2)^-beta``: r = 1 means LRN acted as the fixed
    gain k^-beta; smaller r means neighbours suppressed the unit. Median and 5th percentile.
    """
    import localnorm

    layers = [m for m in model.norm_layers() if isinstance(m, localnorm.LocalResponseNorm)]
    if not layers:
        return None
    ratios: list[torch.Tensor] = []

    def hook(m: Any, inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
        xin = inp[0]
        mask = xin.abs() > 1e-6 * float(xin.abs().max().clamp_min(1e-30))
        ratios.append((out[mask] / (xin[mask] * m.k ** (-m.beta))).flatten())

    handles = [m.register_forward_hook(hook) for m in layers]
    model.eval()
    model(x[:512])
    for h in handles:
        h.remove()
    r = torch.cat(ratios).double()
    if r.numel() == 0:
        return {"median": 1.0, "p05": 1.0}
    return {"median": float(r.median()), "p05": float(torch.quantile(r[:100000], 0.05))}


def centre(x: torch.Tensor, scale: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Subtract each image's own mean (per channel) and divide by one global ``scale``."""
    return (x - x.mean(dim=(2, 3), keepdim=True)) / scale


def _prepare(ds: Dataset) -> tuple[torch.Tensor, ...]:
    xtr = centre(torch.from_numpy(ds.x_train))
    std = xtr.std().clamp_min(1e-12)
    xte = centre(torch.from_numpy(ds.x_test), std)
    return xtr / std, torch.from_numpy(ds.y_train), xte, torch.from_numpy(ds.y_test), std


def _warm_up(ds: Dataset, spec: RunSpec) -> None:
    """A forward and backward of a throwaway model on one batch of noise, NCHW and
    channels-last, so that JIT compilation stays out of the run's wall time: the numba
    kernels compile on their first call in a process (each path its own kernel, 5-30 s each
    in a fresh checkout), and a run meets both layouts (the digits' activations reach the
    norm layers channels-last in training and NCHW in part of the evaluation).
    The run reseeds every generator after."""
    c, h, w = ds.shape
    model = SmallCNN(c, h, len(ds.classes), spec.variant, spec.width)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(min(spec.batch_size, len(ds.y_train)), c, h, w, generator=g)
    # channels-last strides, spelled out: for one channel, .contiguous(channels_last) keeps
    # the NCHW strides, while the digits arrive with these and the convolutions keep them
    x_cl = torch.empty_strided(x.shape, (c * h * w, 1, w * c, c)).copy_(x)
    for batch in (x, x_cl):
        model(batch).sum().backward()


def train_run(ds: Dataset, spec: RunSpec) -> dict[str, Any]:
    """Train one (variant, seed) and return its curves, final accuracy and robustness.
    ``wall_s`` counts from after a warm-up call (:func:`_warm_up`): training, evaluation and
    data preparation, no compilation."""
    _warm_up(ds, spec)
    t0 = time.perf_counter()
    torch.manual_seed(spec.seed)
    np.random.seed(spec.seed)
    xtr, ytr, xte, yte, std = _prepare(ds)
    c, h, _ = ds.shape
    model = SmallCNN(c, h, len(ds.classes), spec.variant, spec.width)
    net = dist.wrap(model)
    opt = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=spec.momentum,
                          weight_decay=spec.weight_decay)
    steps = math.ceil(len(ytr) / spec.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=spec.epochs * steps)
    gen = torch.Generator().manual_seed(spec.seed)
    world = dist.world()[0]
    curve_loss, curve_acc = [], []
    for _ in range(spec.epochs):
        net.train()
        perm = torch.randperm(len(ytr), generator=gen)
        total, count = 0.0, 0.0
        for i in range(steps):
            idx = perm[i * spec.batch_size:(i + 1) * spec.batch_size]
            if len(idx) < world:
                continue
            idx = dist.shard(idx)
            loss = nn.functional.cross_entropy(net(xtr[idx]), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        total, count = dist.sum_over_ranks(total, count)
        curve_loss.append(total / max(1.0, count))
        curve_acc.append(accuracy(model, xte, yte))
    robust = {}
    for name in perturbations():
        xp = centre(perturb(name, torch.from_numpy(ds.x_test), seed=1234), std)
        robust[name] = accuracy(model, xp, yte)
    digest = weights_sha256(model)
    ranks = dist.gather_object(digest)
    return {**asdict(spec), "train_loss": curve_loss, "test_acc": curve_acc,
            "final_acc": curve_acc[-1], "robustness": robust, "lrn_gain": lrn_gain(model, xte),
            "params": sum(p.numel() for p in model.parameters()),
            "weights_sha256": digest, "ranks_agree": all(d == digest for d in ranks),
            "wall_s": time.perf_counter() - t0, "world_size": world}


def weights_sha256(model: nn.Module) -> str:
    """SHA-256 of every parameter's bytes (buffers such as BatchNorm statistics excluded)."""
    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(name.encode())
        h.update(p.detach().contiguous().numpy().tobytes())
    return h.hexdigest()
