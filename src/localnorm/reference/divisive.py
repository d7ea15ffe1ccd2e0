"""NumPy float64 ground truth for divisive normalization (Ren et al., ICLR 2017).

Imports NumPy only. Ren, Liao, Urtasun, Sinz and Zemel, "Normalizing the Normalizers:
Comparing and Extending Network Normalization Schemes", ICLR 2017 (after Lyu and Simoncelli,
2008). With box windows A (summation field) and B (suppression field) over the channel axis
and every spatial axis, and ``E_W[f](p) = sum_{W(p)} f / |W(p)|``::

    v = x - E_A[x]                        (only when subtract_mean; else v = x)
    y = weight_c * v / sqrt(sigma^2 + E_B[v^2]) + bias_c

A window of size n on an axis covers ``[i - n // 2, i + n - 1 - n // 2]`` (PyTorch's LRN
convention: an even n puts the extra element below i); a channel size of ``None`` covers every
channel. ``border="renormalize"`` divides by the number of window elements inside the tensor;
``"zeros"`` divides by the full window size (padding counts as zeros).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .lrn import window_sum

F64 = NDArray[np.float64]


def _windows(
    shape: tuple[int, ...], dim: int, size: int, channel_size: int | None
) -> list[tuple[int, int | None]]:
    """(axis, size) pairs: the channel axis first (None = every channel), then each spatial."""
    wins: list[tuple[int, int | None]] = [(dim, channel_size)]
    wins += [(ax, size) for ax in range(1, len(shape)) if ax != dim]
    return wins


def box_mean(a: F64, wins: list[tuple[int, int | None]], border: str, adjoint: bool = False) -> F64:
    """``E_W[a]`` (or its adjoint: transposed windows, the count applied first)."""
    count = np.ones([1] * a.ndim, dtype=np.float64)
    for ax, n in wins:
        length = a.shape[ax]
        if n is None:
            c = np.full(length, float(length))
        elif border == "zeros":
            c = np.full(length, float(n))
        else:
            c = window_sum(np.ones(length), 0, n // 2, n - 1 - n // 2)
        shape = [1] * a.ndim
        shape[ax] = length
        count = count * c.reshape(shape)
    out = a / count if adjoint else a
    for ax, n in wins:
        if n is None:
            out = out.sum(axis=ax, keepdims=True) * np.ones_like(out)
        else:
            b, f = n // 2, n - 1 - n // 2
            out = window_sum(out, ax, f, b) if adjoint else window_sum(out, ax, b, f)
    return out if adjoint else out / count


def _parts(
    x: F64, size: int, channel_size: int | None, sigma: float, subtract_mean: bool,
    mean_size: int | None, mean_channel_size: int | None, border: str, dim: int,
) -> dict[str, Any]:
    win_b = _windows(x.shape, dim, size, channel_size)
    win_a = _windows(
        x.shape, dim, size if mean_size is None else mean_size,
        channel_size if mean_channel_size == -1 else mean_channel_size,
    )
    v = x - box_mean(x, win_a, border) if subtract_mean else x
    q = box_mean(v * v, win_b, border)
    r = 1.0 / np.sqrt(sigma * sigma + q)
    return {"win_a": win_a, "win_b": win_b, "v": v, "r": r}


def _channel_shape(ndim: int, dim: int) -> list[int]:
    shape = [1] * ndim
    shape[dim] = -1
    return shape


def divisive_forward(
    x: ArrayLike,
    size: int = 3,
    channel_size: int | None = None,
    *,
    sigma: float = 1.0,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    subtract_mean: bool = True,
    mean_size: int | None = None,
    mean_channel_size: int | None = -1,
    border: str = "zeros",
    dim: int = 1,
) -> F64:
    """Divisive normalization forward in float64 (see the module docstring). ``mean_size=None`` and
    ``mean_channel_size=-1`` mean the suppression window's sizes. Shapes: x (N, C, *spatial)."""
    x64 = np.asarray(x, dtype=np.float64)
    dim = dim % x64.ndim
    p = _parts(x64, size, channel_size, sigma, subtract_mean, mean_size, mean_channel_size,
               border, dim)
    y = p["v"] * p["r"]
    cs = _channel_shape(x64.ndim, dim)
    if weight is not None:
        y = y * np.asarray(weight, dtype=np.float64).reshape(cs)
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float64).reshape(cs)
    return np.asarray(y, dtype=np.float64)


def divisive_vjp(
    x: ArrayLike,
    grad_out: ArrayLike,
    size: int = 3,
    channel_size: int | None = None,
    *,
    sigma: float = 1.0,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    subtract_mean: bool = True,
    mean_size: int | None = None,
    mean_channel_size: int | None = -1,
    border: str = "zeros",
    dim: int = 1,
) -> dict[str, F64 | float]:
    """Gradients of :func:`divisive_forward`: keys ``input``, ``sigma``, ``weight`` and
    ``bias`` (the last two only when given), in float64."""
    x64 = np.asarray(x, dtype=np.float64)
    gy = np.asarray(grad_out, dtype=np.float64)
    dim = dim % x64.ndim
    p = _parts(x64, size, channel_size, sigma, subtract_mean, mean_size, mean_channel_size,
               border, dim)
    v: F64 = p["v"]
    r: F64 = p["r"]
    cs = _channel_shape(x64.ndim, dim)
    red = tuple(a for a in range(x64.ndim) if a != dim)
    out: dict[str, F64 | float] = {}
    if bias is not None:
        out["bias"] = gy.sum(axis=red)
    if weight is not None:
        out["weight"] = (gy * v * r).sum(axis=red)
        gy = gy * np.asarray(weight, dtype=np.float64).reshape(cs)
    gq = -0.5 * gy * v * r**3
    out["sigma"] = float((2.0 * sigma * gq).sum())
    gv = gy * r + 2.0 * v * box_mean(gq, p["win_b"], border, adjoint=True)
    if subtract_mean:
        gv = gv - box_mean(gv, p["win_a"], border, adjoint=True)
    out["input"] = gv
    return out
