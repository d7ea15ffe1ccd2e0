"""Timing of the family against the straightforward pure-torch composition of each operator.

The straightforward versions are what a user would write from the paper's formula:
GDN as ``x / sqrt(beta + conv1x1(x^2, gamma))`` and LCN as two ``conv2d`` calls with a
(1, C, k, k) Gaussian weight (Torch7's module structure). ``compare`` reports the median time
of each and the ratio ours / straightforward (below 1 means ours is faster), for inference
(no autograd) and for forward + backward, from medians and from minima.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .gdn import gdn
from .lcn import gaussian_1d, local_contrast_norm


def straightforward_gdn(x: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor
                        ) -> torch.Tensor:
    """``x / sqrt(beta + conv1x1(x^2, gamma))`` for NCHW x."""
    c = x.shape[1]
    pool = F.conv2d(x**2, gamma.view(c, c, 1, 1))
    return x / torch.sqrt(beta.view(1, c, 1, 1) + pool)


def straightforward_lcn(x: torch.Tensor, size: int = 9, threshold: float | None = None
                        ) -> torch.Tensor:
    """Torch7-style LCN with conv2d and a (1, C, k, k) Gaussian weight, renormalized border;
    ``threshold=None`` is Jarrett's mean threshold."""
    c = x.shape[1]
    g = gaussian_1d(size, size / 4.0, x.dtype, x.device)
    w = (g[:, None] * g[None, :] / c).expand(1, c, size, size)
    pad = size // 2
    ones = torch.ones(1, c, *x.shape[2:], dtype=x.dtype, device=x.device)
    mass = F.conv2d(ones, w, padding=pad)
    v = x - F.conv2d(x, w, padding=pad) / mass
    sigma = torch.sqrt(F.conv2d(v**2, w, padding=pad)) / mass
    if threshold is None:
        d = torch.maximum(sigma, sigma.mean(dim=(1, 2, 3), keepdim=True))
    else:
        d = sigma.clamp_min(threshold)
    return v / d


def _interleaved(fns: list[Callable[[], Any]], repeats: int, warmup: int = 2
                 ) -> list[tuple[float, float]]:
    """(median, min) seconds of each function, run in turn (ABAB...) so that load from other
    processes falls on all of them alike; the min is the better estimate on a busy machine."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times, strict=True):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [(statistics.median(ts), min(ts)) for ts in times]


def _pair(ours: Callable[[torch.Tensor], torch.Tensor],
          ref: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, repeats: int
          ) -> dict[str, float]:
    xg = x.detach().clone().requires_grad_()

    def step(f: Callable[[torch.Tensor], torch.Tensor]) -> None:
        f(xg).sum().backward()
        xg.grad = None

    with torch.no_grad():
        fwd = _interleaved([lambda: ours(x), lambda: ref(x)], repeats)
    both = _interleaved([lambda: step(ours), lambda: step(ref)], repeats)
    out: dict[str, float] = {}
    for name, ((o_med, o_min), (r_med, r_min)) in (("fwd", fwd), ("fwdbwd", both)):
        out[f"{name}_ours_s"], out[f"{name}_straight_s"] = o_med, r_med
        out[f"{name}_ours_min_s"], out[f"{name}_straight_min_s"] = o_min, r_min
        out[f"{name}_ratio"] = o_med / r_med
        out[f"{name}_ratio_min"] = o_min / r_min
    return out


def compare(gdn_shape: tuple[int, ...] = (8, 64, 64, 64),
            lcn_shape: tuple[int, ...] = (8, 16, 64, 64), size: int = 9, repeats: int = 10,
            channels_last: bool = False, seed: int = 0) -> dict[str, dict[str, float]]:
    """Median seconds and ratios (ours / straightforward) for GDN and LCN in float32."""
    g = torch.Generator().manual_seed(seed)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    xg = torch.randn(*gdn_shape, generator=g).contiguous(memory_format=fmt)
    c = gdn_shape[1]
    beta = 1.0 + torch.rand(c, generator=g)
    gamma = 0.1 * torch.rand(c, c, generator=g)
    xl = torch.randn(*lcn_shape, generator=g).contiguous(memory_format=fmt)
    return {
        "gdn": _pair(lambda t: gdn(t, beta, gamma),
                     lambda t: straightforward_gdn(t, beta, gamma), xg, repeats),
        "lcn_mean": _pair(lambda t: local_contrast_norm(t, size),
                          lambda t: straightforward_lcn(t, size), xl, repeats),
        "lcn_1e-4": _pair(lambda t: local_contrast_norm(t, size, threshold=1e-4),
                          lambda t: straightforward_lcn(t, size, 1e-4), xl, repeats),
    }
