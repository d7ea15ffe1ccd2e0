"""Local contrast normalization (Jarrett 2009 / Torch7) and Pinto's V1-like normalization.

Composite PyTorch implementation (autograd flows through plain torch ops). The design choice
that makes it fast: the window runs over *all* channels with one spatial weight, so the
channel average is taken first and every window sum is a one-channel map (N, 1, *spatial),
convolved by separable 1-D Gaussians. Per pixel that is C + 2k multiply-adds instead of the
C * k^2 of a conv2d with a (1, C, k, k) weight, the straightforward way to write it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ._common import (
    box_sum,
    check_border,
    check_float,
    check_odd,
    compute_dtype,
    correlate,
    is_real,
    safe_sqrt,
    spatial_input,
)

THRESHOLDS = ("mean",)
_Kernel = torch.Tensor | list[torch.Tensor]


def gaussian_1d(size: int, sigma: float, dtype: torch.dtype = torch.float64,
                device: torch.device | str | None = None) -> torch.Tensor:
    """Normalised 1-D Gaussian of odd ``size``, standard deviation ``sigma`` pixels."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return (g / g.sum()).to(dtype=dtype, device=device)


def _user_kernel(kernel: object, d: int) -> torch.Tensor:
    if isinstance(kernel, torch.Tensor):
        k = kernel.detach().to("cpu", torch.float64)
    else:
        try:
            k = torch.as_tensor(np.asarray(kernel, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"kernel must be an array of weights, got {kernel!r}") from exc
    if k.dim() != d:
        raise ValueError(
            f"kernel must have one axis per spatial axis of input ({d}), got shape "
            f"{tuple(k.shape)}"
        )
    for i, n in enumerate(k.shape):
        check_odd(f"kernel.shape[{i}]", int(n))
    if not bool(torch.isfinite(k).all()) or bool((k < 0).any()) or float(k.sum()) <= 0:
        raise ValueError("kernel must be finite and non-negative with a positive sum")
    return k / k.sum()


def lcn_kernel(size: object, sigma: object, kernel: object, d: int) -> _Kernel:
    """The validated window: ``d`` normalised 1-D Gaussian factors (float64, CPU), or the
    user's full window normalised to sum 1."""
    if kernel is not None:
        if sigma is not None:
            raise ValueError("give either kernel or sigma, not both (sigma shapes the Gaussian)")
        return _user_kernel(kernel, d)
    n = check_odd("size", size)
    s = n / 4.0 if sigma is None else check_float("sigma", sigma, 0.0, strict=True)
    return [gaussian_1d(n, s)] * d


def check_threshold(threshold: object) -> str | float:
    if isinstance(threshold, str):
        if threshold not in THRESHOLDS:
            raise ValueError(f"threshold must be 'mean' or a float > 0, got {threshold!r}")
        return threshold
    if not is_real(threshold):
        raise TypeError(f"threshold must be 'mean' or a float > 0, got {threshold!r}")
    return check_float("threshold", threshold, 0.0, strict=True)


def _on(kernel: _Kernel, like: torch.Tensor) -> _Kernel:
    if isinstance(kernel, torch.Tensor):
        return kernel.to(dtype=like.dtype, device=like.device)
    return [g.to(dtype=like.dtype, device=like.device) for g in kernel]


def lcn_compute(x: torch.Tensor, kernel: _Kernel, threshold: str | float, border: str,
                eps: float) -> torch.Tensor:
    """LCN on a validated channels-at-1 tensor in the compute dtype (differentiable)."""
    k = _on(kernel, x)
    spatial = tuple(range(2, x.dim()))
    mu = correlate(x.mean(1, keepdim=True), k)
    mass = None
    if border == "renormalize":
        mass = correlate(torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device), k)
        mu = mu / mass
    v = x - mu
    sigma = safe_sqrt(correlate(v.square().mean(1, keepdim=True), k))
    if mass is not None:
        sigma = sigma / mass
    if threshold == "mean":
        c = sigma.mean(spatial, keepdim=True).clamp_min(eps)
        d = torch.maximum(sigma, c)
    else:
        d = sigma.clamp_min(float(threshold))
    if not v.requires_grad:
        return v.div_(d)  # v is ours and nothing saved it for backward
    return v / d


def local_contrast_norm(
    input: torch.Tensor,
    size: int = 9,
    sigma: float | None = None,
    *,
    kernel: torch.Tensor | np.ndarray | Sequence[float] | None = None,
    threshold: str | float = "mean",
    border: str = "renormalize",
    eps: float = 1e-6,
    dim: int = 1,
) -> torch.Tensor:
    r"""Local contrast normalization: subtractive, then divisive, over a Gaussian window that
    spans every channel.

    Jarrett, Kavukcuoglu, Ranzato and LeCun, "What is the Best Multi-Stage Architecture for
    Object Recognition?", ICCV 2009; Lua Torch7 ``nn.SpatialContrastiveNormalization``. With
    the spatial window w (sum 1), :math:`(Kf)(p) = \sum_o w_o \frac1C \sum_c f_c(p+o)` (zeros
    outside the image) and the window mass inside the image :math:`m = K1`
    (``border="renormalize"``, Torch7) or :math:`m = 1` (``"zeros"``):

    .. math::
        v = x - \frac{Kx}{m}, \qquad \sigma = \frac{\sqrt{K v^2}}{m}, \qquad
        y = \frac{v}{\max(c, \sigma)}

    with :math:`c = \max(\mathrm{mean}_p\,\sigma, \varepsilon)` per sample
    (``threshold="mean"``, Jarrett) or :math:`c = ` ``threshold`` (a float, Torch7 uses 1e-4).
    Torch7 divides the *root* by m (not the mean square), and so does this function.

    Args:
        size: odd width of the Gaussian window on every spatial axis.
        sigma: its standard deviation in pixels (default ``size / 4``, Torch7's
            ``image.gaussian`` default of 0.25 of the width).
        kernel: a user window over the spatial axes (odd sizes, non-negative), used instead of
            the Gaussian; normalised to sum 1.
        threshold: ``"mean"`` or a float > 0.
        border: ``"renormalize"`` or ``"zeros"``.
        eps: floor of the mean threshold c, so a blank input gives finite output, not 0/0.
        dim: the channel axis (``-1`` for channels-last tensors in logical NHWC order).

    Shape:
        input: (N, C, \*spatial) with 1 to 3 spatial axes and channels at ``dim``. Output:
        same shape and dtype. Half precision is computed in float32.

    Example:
        >>> import torch, localnorm
        >>> x = torch.randn(2, 3, 16, 16)
        >>> y = localnorm.local_contrast_norm(x, size=9)
        >>> torch.allclose(localnorm.local_contrast_norm(3.0 * x + 1.0, size=9), y, atol=1e-5)
        True
    """
    x, d = spatial_input("input", input, dim)
    k = lcn_kernel(size, sigma, kernel, x.dim() - 2)
    th = check_threshold(threshold)
    b = check_border(border)
    e = check_float("eps", eps, 0.0, strict=True)
    if x.numel() == 0:
        return torch.empty_like(x)
    xc = x.movedim(d, 1).to(compute_dtype(x))
    return lcn_compute(xc, k, th, b, e).to(x.dtype).movedim(1, d)


def v1_compute(x: torch.Tensor, size: int, threshold: float) -> torch.Tensor:
    """Pinto's V1 normalization on a channels-at-1 tensor (zeros border, differentiable).

    r^2 is summed directly as ``sum (x - m)^2`` over the neighbourhood rather than as
    ``sum x^2 - (sum x)^2 / n``, which cancels catastrophically when |m| >> the spread."""
    d = x.dim() - 2
    half = size // 2
    n = float(size**d * x.shape[1])
    m = box_sum(x.sum(1), size).unsqueeze(1) / n
    xp = F.pad(x, [half, half] * d)
    r2 = torch.zeros_like(m)
    for o in itertools.product(range(size), repeat=d):
        sl = tuple(slice(oi, oi + k) for oi, k in zip(o, x.shape[2:], strict=True))
        r2 = r2 + (xp[(slice(None), slice(None), *sl)] - m).square().sum(1, keepdim=True)
    r = safe_sqrt(r2)
    div = torch.where(r >= threshold, r, 1.0)
    return (x - m) / div


def v1_norm(
    input: torch.Tensor,
    size: int = 3,
    threshold: float = 1.0,
    *,
    border: str = "zeros",
    dim: int = 1,
) -> torch.Tensor:
    r"""Pinto's V1-like local normalization (a preset of the LCN family).

    Pinto, Cox and DiCarlo, "Why is Real-World Visual Object Recognition Hard?", PLoS Comput.
    Biol. 2008. Over the ``size^d x C`` neighbourhood N(p) of each pixel (zeros outside the
    image, counted in the mean):

    .. math::
        m = \mathrm{mean}_{N(p)}\, x, \qquad r = \Big(\sum_{N(p)} (x - m)^2\Big)^{1/2}, \qquad
        y_c = \frac{x_c - m}{r} \ \text{if}\ r \ge \text{threshold, else}\ x_c - m

    Args:
        size: odd width of the square neighbourhood (Pinto: 3).
        threshold: norms below it are replaced by 1 (Pinto: 1.0); must be > 0.
        border: ``"zeros"`` keeps the shape; ``"valid"`` crops ``size // 2`` pixels on each
            spatial side, as Pinto's code does.
        dim: the channel axis.

    Shape:
        input: (N, C, \*spatial), 1 to 3 spatial axes. Output: same, or cropped for "valid".

    Example:
        >>> import torch, localnorm
        >>> localnorm.v1_norm(torch.randn(1, 4, 8, 8), border="valid").shape
        torch.Size([1, 4, 6, 6])
    """
    x, d = spatial_input("input", input, dim)
    n = check_odd("size", size)
    th = check_float("threshold", threshold, 0.0, strict=True)
    b = check_border(border, ("zeros", "valid"))
    xc = x.movedim(d, 1).to(compute_dtype(x))
    half = n // 2
    if b == "valid" and any(s <= 2 * half for s in xc.shape[2:]):
        raise ValueError(
            f"border='valid' needs every spatial size > {2 * half} for size={n}, "
            f"got input shape {tuple(x.shape)}"
        )
    y = v1_compute(xc, n, th) if x.numel() else xc.clone()
    if b == "valid":
        y = y[(slice(None), slice(None), *(slice(half, s - half) for s in y.shape[2:]))]
    return y.to(x.dtype).movedim(1, d)
