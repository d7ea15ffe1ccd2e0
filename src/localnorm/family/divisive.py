"""Divisive normalization (Ren et al., ICLR 2017): composite PyTorch implementation.

Box windows are separable: the channel window is one ``window_sum`` along the channel axis
(or a plain sum when it covers every channel) and the spatial box is one average pool with
``divisor_override=1`` over zero padding, so each sum is a direct sum of its window. The
renormalising count is an outer product of per-axis 1-D counts, never a pass over the data.
"""

from __future__ import annotations

import torch

from ..backends.composite import window_sum
from ._common import (
    box_sum,
    check_bool,
    check_border,
    check_float,
    check_int,
    compute_dtype,
    count_along,
    spatial_input,
)


def _window_mean(t: torch.Tensor, size: int, channel_size: int | None, border: str
                 ) -> torch.Tensor:
    """``E_W[t]`` for a channels-at-1 tensor: the box ``channel_size x size^d`` (clipped)."""
    if channel_size is None:
        out = t.sum(1, keepdim=True)
    elif channel_size == 1:
        out = t
    else:
        out = window_sum(t, 1, channel_size // 2, channel_size - 1 - channel_size // 2)
    if size > 1:
        out = box_sum(out.flatten(0, 1), size).reshape(out.shape)
    if channel_size is None:  # keep (N, 1, *spatial): one statistic for every channel
        count = torch.full((1,) * t.dim(), float(t.shape[1]), device=t.device, dtype=t.dtype)
    else:
        count = count_along(t.shape[1], channel_size, border, t.device, t.dtype)
        count = count.reshape(1, -1, *([1] * (t.dim() - 2)))
    for ax in range(2, t.dim()):
        c = count_along(t.shape[ax], size, border, t.device, t.dtype)
        shape = [1] * t.dim()
        shape[ax] = -1
        count = count * c.reshape(shape)
    return out / count


def _as_tensor_sigma(sigma: float | torch.Tensor) -> float | torch.Tensor:
    if isinstance(sigma, torch.Tensor):
        if sigma.numel() != 1:
            raise ValueError(
                f"sigma must be a scalar (one element), got shape {tuple(sigma.shape)}")
        return sigma.reshape(())
    return check_float("sigma", sigma, 0.0)


def _check_channel_param(name: str, p: torch.Tensor | None, c: int) -> torch.Tensor | None:
    if p is None:
        return None
    if not isinstance(p, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of shape ({c},) or None, got {type(p).__name__}")
    if tuple(p.shape) != (c,):
        raise ValueError(f"{name} must have shape (C,) = ({c},), got {tuple(p.shape)}")
    return p


def divisive_compute(
    x: torch.Tensor, size: int, channel_size: int | None, sigma: float | torch.Tensor,
    subtract_mean: bool, mean_size: int, mean_channel_size: int | None, border: str,
) -> torch.Tensor:
    """``v / sqrt(sigma^2 + E_B[v^2])`` on a channels-at-1 tensor (differentiable)."""
    v = x - _window_mean(x, mean_size, mean_channel_size, border) if subtract_mean else x
    q = _window_mean(v.square(), size, channel_size, border)
    s2 = sigma * sigma
    den = q + s2.to(q.dtype) if isinstance(s2, torch.Tensor) else q + s2
    return v * den.rsqrt()


def divisive_norm(
    input: torch.Tensor,
    size: int = 3,
    channel_size: int | None = None,
    *,
    sigma: float | torch.Tensor = 1.0,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    subtract_mean: bool = True,
    mean_size: int | None = None,
    mean_channel_size: int | None = -1,
    border: str = "zeros",
    dim: int = 1,
) -> torch.Tensor:
    r"""Divisive normalization with summation and suppression fields over space and channels.

    Ren, Liao, Urtasun, Sinz and Zemel, "Normalizing the Normalizers: Comparing and Extending
    Network Normalization Schemes", ICLR 2017 (after Lyu and Simoncelli, 2008). With box
    windows A (summation) and B (suppression), :math:`E_W[f] = \sum_W f / |W|`:

    .. math::
        v = x - E_A[x], \qquad y = \text{weight}_c \frac{v}{\sqrt{\sigma^2 + E_B[v^2]}}
        + \text{bias}_c

    The defaults follow Ren et al.'s code for convolutional layers: statistics over every
    channel in a 3 x 3 spatial window, zero padding divided by the full window size, and
    sigma^2 = 1 (their ``eps=1.0``). Their code divides the suppression sum by the
    *summation* window's size (the same number when both windows match); here each window
    divides by its own size.

    Args:
        size: width of B on every spatial axis (1 = no spatial pooling). A window of size n
            covers ``[i - n // 2, i + n - 1 - n // 2]`` (an even n puts the extra element
            below i, as PyTorch's LRN does).
        channel_size: width of B along channels; ``None`` covers every channel.
        sigma: >= 0, a float or a one-element tensor (learnable; the module keeps it >= 0).
            sigma = 0 divides by zero on a constant window.
        weight, bias: optional per-channel affine, shape (C,).
        subtract_mean: compute v = x - E_A[x] (else v = x).
        mean_size, mean_channel_size: the window A; ``None`` for ``mean_size`` means ``size``,
            ``-1`` for ``mean_channel_size`` means ``channel_size`` (``None`` = all channels).
        border: ``"renormalize"`` (divide by the elements inside the tensor) or ``"zeros"``
            (divide by the full window size).
        dim: the channel axis.

    Shape:
        input: (N, C, \*spatial), 1 to 3 spatial axes. Output: same shape and dtype.

    Example:
        >>> import torch, localnorm
        >>> y = localnorm.divisive_norm(torch.randn(2, 8, 6, 6), size=3, channel_size=None)
        >>> y.shape
        torch.Size([2, 8, 6, 6])
    """
    x, d = spatial_input("input", input, dim)
    n = check_int("size", size, 1)
    cs = None if channel_size is None else check_int("channel_size", channel_size, 1)
    s = _as_tensor_sigma(sigma)
    sub = check_bool("subtract_mean", subtract_mean)
    ms = n if mean_size is None else check_int("mean_size", mean_size, 1)
    if mean_channel_size == -1:
        mcs = cs
    else:
        mcs = None if mean_channel_size is None else check_int(
            "mean_channel_size", mean_channel_size, 1)
    b = check_border(border)
    c = x.shape[d]
    w = _check_channel_param("weight", weight, c)
    bb = _check_channel_param("bias", bias, c)
    xc = x.movedim(d, 1).to(compute_dtype(x))
    y = divisive_compute(xc, n, cs, s, sub, ms, mcs, b)
    shape = (1, c) + (1,) * (x.dim() - 2)
    if w is not None:
        y = y * w.to(y.dtype).reshape(shape)
    if bb is not None:
        y = y + bb.to(y.dtype).reshape(shape)
    return y.to(x.dtype).movedim(1, d)


def divisive_l1_penalty(output: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    r"""Ren et al.'s sparsity regulariser on the normalized responses:
    ``strength * mean(|output|)`` (add it to the loss).

    Example:
        >>> import torch, localnorm
        >>> float(localnorm.divisive_l1_penalty(torch.tensor([1.0, -3.0]), 0.5))
        1.0
    """
    s = check_float("strength", strength, 0.0)
    return output.abs().mean() * s
