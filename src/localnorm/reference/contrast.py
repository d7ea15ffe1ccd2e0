"""NumPy float64 ground truth for local contrast normalization (LCN) and Pinto's V1 norm.

Imports NumPy only. Window sums are direct sums of shifted, zero-padded copies, so nothing
drifts; clarity over speed.

Local contrast normalization (Jarrett et al., "What is the best multi-stage architecture for
object recognition?", ICCV 2009; Lua Torch7 ``nn.SpatialContrastiveNormalization``). With a
spatial window ``w`` (summing to 1) averaged over the C channels, the correlation
``(K f)(p) = sum_o w_o * mean_c f_c(p + o)`` (zeros outside the image) and the window mass
inside the image ``m(p) = (K 1)(p)`` (``border="renormalize"``) or ``m = 1`` (``"zeros"``)::

    mu(p)    = (K x)(p) / m(p)                        subtractive step
    v_c(p)   = x_c(p) - mu(p)
    sigma(p) = sqrt((K v^2)(p)) / m(p)                Torch7 divides the root by m
    d(p)     = max(c, sigma(p)),  c = mean_p sigma(p) per sample (threshold="mean", Jarrett)
               max(t, sigma(p))                       (threshold=t, Torch7; t=1e-4 there)
    y_c(p)   = v_c(p) / d(p)

V1-like normalization (Pinto, Cox and DiCarlo, "Why is real-world visual object recognition
hard?", PLoS Comput. Biol. 2008): over the ``size^d x C`` neighbourhood N(p), zeros outside::

    m(p) = mean_{N(p)} x,   v_c(p) = x_c(p) - m(p),   r(p) = sqrt(sum_{N(p)} (x - m(p))^2)
    y_c(p) = v_c(p) / r(p) if r(p) >= threshold else v_c(p)
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]


def gaussian_window(size: int, sigma: float | None = None, ndim: int = 2) -> F64:
    """Separable Gaussian window of odd ``size`` per axis, ``sigma`` in pixels (default
    ``size / 4``, Torch7 ``image.gaussian``'s 0.25 of the width), normalised to sum 1."""
    s = size / 4.0 if sigma is None else sigma
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-0.5 * (t / s) ** 2)
    g /= g.sum()
    out = np.ones((), dtype=np.float64)
    for _ in range(ndim):
        out = np.multiply.outer(out, g)
    return out / out.sum()


def correlate(a: F64, w: F64) -> F64:
    """Zero-padded "same" correlation over the trailing ``w.ndim`` axes of ``a``:
    ``out[p] = sum_o w[o] * a[p + o - center]``, ``w`` of odd size on every axis."""
    d = w.ndim
    half = [k // 2 for k in w.shape]
    pad = [(0, 0)] * (a.ndim - d) + [(h, h) for h in half]
    ap = np.pad(a, pad)
    out = np.zeros_like(a)
    spatial = a.shape[a.ndim - d :]
    for o in itertools.product(*(range(k) for k in w.shape)):
        idx: tuple[Any, ...] = (Ellipsis, *(slice(oi, oi + n) for oi, n in zip(o, spatial,
                                                                                strict=True)))
        out += w[o] * ap[idx]
    return out


def correlate_adjoint(a: F64, w: F64) -> F64:
    """Adjoint of :func:`correlate` (correlation with the flipped window)."""
    return correlate(a, np.flip(w))


def _channels_to_1(x: ArrayLike, dim: int) -> F64:
    arr = np.asarray(x, dtype=np.float64)
    return np.moveaxis(arr, dim % arr.ndim, 1)


def _mass(shape: tuple[int, ...], w: F64, border: str) -> F64:
    if border == "renormalize":
        return correlate(np.ones(shape[2:], dtype=np.float64), w)
    if border == "zeros":
        return np.ones(shape[2:], dtype=np.float64)
    raise ValueError(f"border must be 'renormalize' or 'zeros', got {border!r}")


def _safe_sqrt(a: F64) -> F64:
    return np.sqrt(np.maximum(a, 0.0))


def _lcn_parts(x: F64, kernel: ArrayLike, threshold: str | float, border: str
               ) -> dict[str, Any]:
    """Every intermediate of the LCN forward for a channels-at-axis-1 array."""
    w = np.asarray(kernel, dtype=np.float64)
    w = w / w.sum()
    m = _mass(x.shape, w, border)
    mu = correlate(x.mean(axis=1), w) / m
    v = x - mu[:, None]
    s2 = correlate((v * v).mean(axis=1), w)
    sigma = _safe_sqrt(s2) / m
    red = tuple(range(1, sigma.ndim))
    if threshold == "mean":
        c = sigma.mean(axis=red, keepdims=True) * np.ones_like(sigma)
    else:
        c = np.full_like(sigma, float(threshold))
    use_sigma = sigma > c
    d = np.where(use_sigma, sigma, c)
    return {"w": w, "m": m, "v": v, "s2": s2, "sigma": sigma, "d": d, "use": use_sigma}


def lcn_forward(
    x: ArrayLike,
    kernel: ArrayLike,
    threshold: str | float = "mean",
    border: str = "renormalize",
    dim: int = 1,
) -> F64:
    """LCN forward in float64. ``kernel``: spatial window (odd size per axis) of rank
    ``x.ndim - 2``, normalised here to sum 1. Shapes: x (N, C, *spatial), channel at ``dim``."""
    x64 = _channels_to_1(x, dim)
    p = _lcn_parts(x64, kernel, threshold, border)
    y = p["v"] / p["d"][:, None]
    return np.moveaxis(y, 1, dim % x64.ndim)


def lcn_vjp(
    x: ArrayLike,
    grad_out: ArrayLike,
    kernel: ArrayLike,
    threshold: str | float = "mean",
    border: str = "renormalize",
    dim: int = 1,
) -> F64:
    """``grad_out^T dy/dx`` of :func:`lcn_forward` (sqrt'(0) taken as 0, ties to the threshold
    branch), in float64."""
    x64 = _channels_to_1(x, dim)
    gy = _channels_to_1(grad_out, dim)
    p = _lcn_parts(x64, kernel, threshold, border)
    w, m, v, s2, sigma, d, use = (p[k] for k in ("w", "m", "v", "s2", "sigma", "d", "use"))
    gv = gy / d[:, None]
    gd = -(gy * v).sum(axis=1) / (d * d)
    gsigma = np.where(use, gd, 0.0)
    if threshold == "mean":
        red = tuple(range(1, d.ndim))
        npix = int(np.prod(d.shape[1:]))
        gc = np.where(use, 0.0, gd).sum(axis=red, keepdims=True) / npix
        gsigma = gsigma + gc
    root = _safe_sqrt(s2)
    gs2 = np.where(root > 0, gsigma / (2.0 * np.where(root > 0, root, 1.0) * m), 0.0)
    gv = gv + 2.0 * v * correlate_adjoint(gs2, w)[:, None] / x64.shape[1]
    gmu = -gv.sum(axis=1)
    gx = gv + correlate_adjoint(gmu / m, w)[:, None] / x64.shape[1]
    return np.moveaxis(gx, 1, dim % x64.ndim)


def _v1_parts(x: F64, size: int, threshold: float) -> dict[str, Any]:
    d = x.ndim - 2
    half = size // 2
    box = np.ones((size,) * d, dtype=np.float64)
    n = float(size**d * x.shape[1])
    m = correlate(x.sum(axis=1), box) / n
    xp = np.pad(x, [(0, 0), (0, 0)] + [(half, half)] * d)
    r2 = np.zeros_like(m)
    spatial = x.shape[2:]
    for o in itertools.product(range(size), repeat=d):
        sl = tuple(slice(oi, oi + k) for oi, k in zip(o, spatial, strict=True))
        r2 += ((xp[(slice(None), slice(None), *sl)] - m[:, None]) ** 2).sum(axis=1)
    r = np.sqrt(r2)
    use = r >= threshold
    div = np.where(use, r, 1.0)
    return {"m": m, "v": x - m[:, None], "r": r, "div": div, "use": use, "xp": xp, "n": n}


def _crop(a: F64, half: int, axes: range) -> F64:
    sl = [slice(None)] * a.ndim
    for ax in axes:
        sl[ax] = slice(half, a.shape[ax] - half)
    return a[tuple(sl)]


def v1_forward(
    x: ArrayLike, size: int = 3, threshold: float = 1.0, border: str = "zeros", dim: int = 1
) -> F64:
    """Pinto's V1-like normalization in float64. ``border="zeros"`` keeps the shape (zeros
    outside, they count in the mean); ``"valid"`` crops ``size // 2`` per spatial side."""
    x64 = _channels_to_1(x, dim)
    p = _v1_parts(x64, size, threshold)
    y = p["v"] / p["div"][:, None]
    if border == "valid":
        y = _crop(y, size // 2, range(2, y.ndim))
    return np.moveaxis(y, 1, dim % x64.ndim)


def v1_vjp(
    x: ArrayLike,
    grad_out: ArrayLike,
    size: int = 3,
    threshold: float = 1.0,
    border: str = "zeros",
    dim: int = 1,
) -> F64:
    """``grad_out^T dy/dx`` of :func:`v1_forward`, in float64.

    The mean's own derivative drops out of r^2 (``d r^2 / d m = -2 (sum x - n m) = 0``)."""
    x64 = _channels_to_1(x, dim)
    gy = _channels_to_1(grad_out, dim)
    half = size // 2
    d = x64.ndim - 2
    if border == "valid":
        gy = np.pad(gy, [(0, 0), (0, 0)] + [(half, half)] * d)
    p = _v1_parts(x64, size, threshold)
    m, v, r, div, use, xp, n = (p[k] for k in ("m", "v", "r", "div", "use", "xp", "n"))
    gv = gy / div[:, None]
    gr = np.where(use, -(gy * v).sum(axis=1) / (div * div), 0.0)
    gr2 = np.where(use, gr / (2.0 * np.where(use, r, 1.0)), 0.0)
    gxp = np.zeros_like(xp)
    spatial = x64.shape[2:]
    for o in itertools.product(range(size), repeat=d):
        inner = (slice(oi, oi + k) for oi, k in zip(o, spatial, strict=True))
        sl = (slice(None), slice(None), *inner)
        gxp[sl] += 2.0 * gr2[:, None] * (xp[sl] - m[:, None])
    gx = _crop(gxp, half, range(2, xp.ndim)) + gv
    gm = -gv.sum(axis=1)
    box = np.ones((size,) * d, dtype=np.float64)
    gx = gx + correlate_adjoint(gm / n, box)[:, None]
    return np.moveaxis(gx, 1, dim % x64.ndim)
