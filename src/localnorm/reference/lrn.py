"""NumPy float64 ground truth for local response normalization (LRN).

Imports NumPy only. Every backend is tested against these functions, so they favour
obviousness over speed: window sums are direct sums of shifted, zero-padded copies
(no running sums, so no drift), and everything is computed in float64.

Across channels (Krizhevsky et al., NIPS 2012, section 3.3; PyTorch/Caffe convention)::

    s_c = k + (alpha / n) * sum_{j = c - before}^{c + after} x_j^2      (zeros outside [0, C))
    y_c = x_c * s_c^(-beta),          n = size = before + after + 1

Within channel (Caffe WITHIN_CHANNEL, cuda-convnet ``rnorm``), over the d spatial axes::

    s = k + (alpha / n^d) * sum_{n x ... x n box, zero padded} x^2,    y = x * s^(-beta)

Gradient with respect to x (the transposed window swaps ``before`` and ``after``)::

    dx_c = dy_c * s_c^(-beta) - 2 * A * beta * x_c * sum_{j: c in W(j)} dy_j * x_j * s_j^(-beta - 1)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]


def window_sum(a: ArrayLike, axis: int, before: int, after: int) -> F64:
    """Sum of ``a[i - before : i + after + 1]`` along ``axis`` for every i, zero padded."""
    arr = np.moveaxis(np.asarray(a, dtype=np.float64), axis, -1)
    length = arr.shape[-1]
    padded = np.pad(arr, [(0, 0)] * (arr.ndim - 1) + [(before, after)])
    out = np.zeros_like(arr)
    for t in range(before + after + 1):
        out += padded[..., t : t + length]
    return np.moveaxis(out, -1, axis)


def _axes(ndim: int, region: str, dim: int) -> list[int]:
    dim = dim % ndim
    if region == "across":
        return [dim]
    if region == "within":
        return [a for a in range(1, ndim) if a != dim]
    raise ValueError(f"region must be 'across' or 'within', got {region!r}")


def lrn_scale(alpha: float, size: int, region: str, spatial_rank: int) -> float:
    """The factor A in front of the window sum: alpha / size (across) or alpha / size^d (within)."""
    return alpha / size if region == "across" else alpha / float(size) ** spatial_rank


def _denominator(
    x: F64, size: int, alpha: float, k: float, region: str, before: int | None, dim: int
) -> tuple[F64, float, int, int]:
    b = size // 2 if before is None else before
    after = size - 1 - b
    axes = _axes(x.ndim, region, dim)
    scale = lrn_scale(alpha, size, region, len(axes))
    acc = x * x
    for ax in axes:
        acc = window_sum(acc, ax, b, after)
    return k + scale * acc, scale, b, after


def lrn_forward(
    x: ArrayLike,
    size: int,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 1.0,
    *,
    region: str = "across",
    before: int | None = None,
    dim: int = 1,
) -> F64:
    """LRN forward in float64. Shapes: x (N, C, *spatial) with the channel axis at ``dim``."""
    x64 = np.asarray(x, dtype=np.float64)
    s, _, _, _ = _denominator(x64, size, alpha, k, region, before, dim)
    return x64 * s ** (-beta)


def lrn_vjp(
    x: ArrayLike,
    grad_out: ArrayLike,
    size: int,
    alpha: float = 1e-4,
    beta: float = 0.75,
    k: float = 1.0,
    *,
    region: str = "across",
    before: int | None = None,
    dim: int = 1,
) -> F64:
    """Vector-Jacobian product ``grad_out^T dy/dx`` of :func:`lrn_forward`, in float64."""
    x64 = np.asarray(x, dtype=np.float64)
    dy = np.asarray(grad_out, dtype=np.float64)
    s, scale, b, after = _denominator(x64, size, alpha, k, region, before, dim)
    p = s ** (-beta)
    t = dy * x64 * p / s
    for ax in _axes(x64.ndim, region, dim):
        t = window_sum(t, ax, after, b)  # transposed window: before and after swap
    return dy * p - 2.0 * scale * beta * x64 * t
