"""Shared pieces of the divisive-normalization family: validation and differentiable window ops.

Everything here is plain PyTorch (autograd flows through it). Window sums are direct sums
(convolutions or pooling with ``divisor_override=1`` over zero padding), never running sums,
so nothing drifts and no sum of non-negative terms can come out negative by cancellation.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .._spec import check_dim, check_float, check_int, check_tensor

BORDERS = ("renormalize", "zeros")
_LOW = (torch.float16, torch.bfloat16)
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_POOL: dict[int, Any] = {2: F.avg_pool2d, 3: F.avg_pool3d}

__all__ = [
    "BORDERS", "check_dim", "check_float", "check_int", "check_tensor", "check_border",
    "check_odd", "compute_dtype", "correlate", "box_sum", "safe_sqrt", "spatial_input",
]


def check_border(border: object, allowed: Sequence[str] = BORDERS) -> str:
    if border not in allowed:
        raise ValueError(f"border must be one of {tuple(allowed)}, got {border!r}")
    return str(border)


def check_odd(name: str, value: object, low: int = 1) -> int:
    """A positive odd int (a centred window), or an error naming ``name``."""
    v = check_int(name, value, low)
    if v % 2 == 0:
        raise ValueError(
            f"{name} must be odd (the window is centred on each pixel), got {v}; "
            f"use {v - 1} or {v + 1}"
        )
    return v


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


def is_real(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def spatial_input(
    name: str, x: object, dim: object, max_spatial: int = 3
) -> tuple[torch.Tensor, int]:
    """Validate an (N, C, *spatial) input with 1..``max_spatial`` spatial axes; returns
    ``(x, dim)`` with ``dim`` non-negative."""
    t = check_tensor(name, x, 3, 2 + max_spatial)
    return t, check_dim(dim, t.dim())


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 for half-precision inputs (squares would overflow float16), else x's dtype."""
    return torch.float32 if x.dtype in _LOW else x.dtype


def safe_sqrt(a: torch.Tensor) -> torch.Tensor:
    """``sqrt(a)`` for ``a >= 0`` whose gradient is 0 (not inf, hence not NaN) where a == 0.

    A constant patch (zeros after a ReLU, a blank image border) has a == 0; the plain
    sqrt would send inf * 0 = NaN back through every window that touches it."""
    pos = a > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, a, torch.ones_like(a))), 0.0)


def _correlate(t: torch.Tensor, factors: Sequence[torch.Tensor]) -> torch.Tensor:
    d = t.dim() - 2
    conv = _CONV[d]
    if len(factors) == 1 and factors[0].dim() == d:  # one full window
        w = factors[0]
        return conv(t, w.to(t.dtype).reshape(1, 1, *w.shape),
                    padding=tuple(k // 2 for k in w.shape))
    for ax, g in enumerate(factors):
        shape = [1] * d
        shape[ax] = g.numel()
        pad = [0] * d
        pad[ax] = g.numel() // 2
        t = conv(t, g.to(t.dtype).reshape(1, 1, *shape), padding=tuple(pad))
    return t


class _Correlate(torch.autograd.Function):
    """Correlation whose backward is the correlation with the flipped window (its adjoint).

    Autograd's own ``convolution_backward`` on one-channel maps is about 8x slower than the
    forward convolution on CPU (oneDNN has no fast path for C = 1); the adjoint is one more
    forward convolution, and it stays differentiable for double backward."""

    @staticmethod
    def forward(t: torch.Tensor, k0: torch.Tensor, k1: torch.Tensor | None,
                k2: torch.Tensor | None) -> torch.Tensor:
        # a fixed signature (no *args): Dynamo binds the arguments of varargs Functions wrongly
        return _correlate(t, [k for k in (k0, k1, k2) if k is not None])

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        ctx.n = sum(k is not None for k in inputs[1:])
        ctx.save_for_backward(*[k for k in inputs[1:] if k is not None])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        flipped = [f.flip(list(range(f.dim()))) for f in ctx.saved_tensors]
        flipped += [None] * (3 - ctx.n)
        return (_Correlate.apply(grad, *flipped), None, None, None)


def correlate(t: torch.Tensor, kernel: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    """Zero-padded "same" correlation of a one-channel map ``t`` (N, 1, *spatial).

    ``kernel`` is either a full window of rank d (odd sizes) or a list of d 1-D factors of a
    separable window (one convolution per axis: 2k instead of k^2 multiply-adds in 2-D).
    The window is a constant: no gradient flows to it."""
    factors: list[torch.Tensor | None] = (
        [kernel] if isinstance(kernel, torch.Tensor) else list(kernel))
    factors += [None] * (3 - len(factors))
    out: torch.Tensor = _Correlate.apply(t, *factors)
    return out


def box_sum(t: torch.Tensor, size: int) -> torch.Tensor:
    """Sum over a ``size^d`` box on the d spatial axes of ``t`` (M, *spatial), zero padded;
    the box of pixel i covers ``[i - size // 2, i + size - 1 - size // 2]`` on each axis."""
    d = t.dim() - 1
    before, after = size // 2, size - 1 - size // 2
    t1 = t.unsqueeze(1)
    if d == 1:  # avg_pool1d has no divisor_override: use the 2-D pool on a height-1 map
        t1 = t1.unsqueeze(2)
    t1 = F.pad(t1, [before, after] * d)
    kernel = (1, size) if d == 1 else (size,) * d
    out = _POOL[max(d, 2)](t1, kernel, stride=1, divisor_override=1)
    return out.reshape(t.shape)


def count_along(length: int, size: int | None, border: str, device: torch.device,
                dtype: torch.dtype) -> torch.Tensor:
    """Number of window elements that each index counts along one axis: the full size for
    ``border="zeros"``, only those inside ``[0, length)`` for ``"renormalize"``."""
    if size is None:
        return torch.full((length,), float(length), device=device, dtype=dtype)
    if border == "zeros":
        return torch.full((length,), float(size), device=device, dtype=dtype)
    i = torch.arange(length, device=device)
    lo = (i - size // 2).clamp_min(0)
    hi = (i + (size - 1 - size // 2)).clamp_max(length - 1)
    return (hi - lo + 1).to(dtype)


def prod(values: Sequence[int]) -> int:
    return math.prod(values)
