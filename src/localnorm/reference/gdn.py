"""NumPy float64 ground truth for generalized divisive normalization (GDN) and its inverse.

Imports NumPy only. Balle, Laparra and Simoncelli, "Density Modeling of Images using a
Generalized Normalization Transformation", ICLR 2016 (and "End-to-end Optimized Image
Compression", ICLR 2017)::

    s_i = beta_i + sum_j gamma[i, j] * |x_j|^alpha
    y_i = x_i * s_i^(-epsilon)          (GDN)
    y_i = x_i * s_i^(+epsilon)          (IGDN, inverse=True: one fixed-point step back)

i and j run over channels at every position separately. ``gamma[i, j]`` weighs input channel j
in output channel i (CompressAI's layout; tensorflow_compression stores the transpose).
Classic GDN: alpha = 2, epsilon = 1/2. Simplified GDN1 (Johnston et al., 2019): alpha = 1,
epsilon = 1.

Gradient, with e = -epsilon (GDN) or +epsilon (IGDN) and t_i = e * dy_i * x_i * s_i^(e - 1)::

    dx_k      = dy_k * s_k^e + alpha * sign(x_k) |x_k|^(alpha - 1) * sum_i gamma[i, k] t_i
    dbeta_i   = sum over positions of t_i
    dgamma_ik = sum over positions of t_i |x_k|^alpha
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]


def _last(x: ArrayLike, dim: int) -> F64:
    arr = np.asarray(x, dtype=np.float64)
    return np.moveaxis(arr, dim % arr.ndim, -1)


def gdn_pool(x: ArrayLike, beta: ArrayLike, gamma: ArrayLike, alpha: float = 2.0,
             dim: int = 1) -> F64:
    """``s = beta + gamma |x|^alpha`` over the channel axis ``dim`` (same shape as x)."""
    xl = _last(x, dim)
    g = np.asarray(gamma, dtype=np.float64)
    s = np.abs(xl) ** alpha @ g.T + np.asarray(beta, dtype=np.float64)
    return np.moveaxis(s, -1, dim % xl.ndim)


def gdn_forward(
    x: ArrayLike,
    beta: ArrayLike,
    gamma: ArrayLike,
    *,
    inverse: bool = False,
    alpha: float = 2.0,
    epsilon: float = 0.5,
    dim: int = 1,
) -> F64:
    """GDN (or IGDN) forward in float64. Shapes: x (N, C, *spatial) with channels at ``dim``,
    beta (C,), gamma (C, C) with gamma[i, j] the weight of input j in output i."""
    x64 = np.asarray(x, dtype=np.float64)
    s = gdn_pool(x64, beta, gamma, alpha, dim)
    return x64 * s ** (epsilon if inverse else -epsilon)


def gdn_vjp(
    x: ArrayLike,
    grad_out: ArrayLike,
    beta: ArrayLike,
    gamma: ArrayLike,
    *,
    inverse: bool = False,
    alpha: float = 2.0,
    epsilon: float = 0.5,
    dim: int = 1,
) -> tuple[F64, F64, F64]:
    """``(dx, dbeta, dgamma)``: the VJP of :func:`gdn_forward` for ``grad_out``, in float64."""
    xl = _last(x, dim)
    gy = _last(grad_out, dim)
    g = np.asarray(gamma, dtype=np.float64)
    ax = np.abs(xl) ** alpha
    s = ax @ g.T + np.asarray(beta, dtype=np.float64)
    e = epsilon if inverse else -epsilon
    t = e * gy * xl * s ** (e - 1.0)
    dpow = alpha * np.sign(xl) * np.abs(xl) ** (alpha - 1.0)
    dx = gy * s**e + dpow * (t @ g)
    c = xl.shape[-1]
    dbeta = t.reshape(-1, c).sum(axis=0)
    dgamma = t.reshape(-1, c).T @ ax.reshape(-1, c)
    return np.moveaxis(dx, -1, dim % xl.ndim), dbeta, dgamma
