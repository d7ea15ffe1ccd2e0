"""Tile-level building blocks of the numba LRN kernels: window sums without subtraction.

A window sum of length n is one addition of two partial sums, never a difference. Cut the
(zero-padded) axis into aligned blocks of n; the window of row c starts at j0 = c - before,
inside block q, and ends in block q + 1. Its sum is the in-block *suffix* sum from j0 to the
end of block q plus the in-block *prefix* sum of block q + 1 up to c + after. Both partial
sums are sums of a subset of the window's own terms, so a huge value outside a window can
never leak into it (a running sum that adds the head and subtracts the tail does leak, drifts,
and can go negative), and a NaN stays inside the windows that hold it. Each row costs two
scans and one addition whatever n is.

Trade-off: every tile is kept in float64 in thread-local scratch. Squares of float32 values are
exact in float64 and the window sums are then good to ~1e-16, which is what lets float32
outputs stay within 1e-6 of the float64 reference for windows up to 255 and more; float32
partial sums of 255 terms would drift by up to ~1.5e-5. The scratch stays in L1/L2, so the
wider type costs little against the memory traffic that bounds LRN.

Tiles are (L, B) arrays: L rows along the window axis, B independent columns (spatial
positions or rows of a channels-last tensor) so that every inner loop runs over contiguous
columns and vectorises.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Modes of p = s^-beta, picked once per call (the generic pow is ~10x slower than sqrt).
POW_GENERIC, POW_075, POW_05, POW_1, POW_0 = 0, 1, 2, 3, 4


def pow_mode(beta: float) -> int:
    """The special case of ``s^-beta`` that applies to ``beta``."""
    return {0.75: POW_075, 0.5: POW_05, 1.0: POW_1, 0.0: POW_0}.get(beta, POW_GENERIC)


def window_index(length: int, before: int, size: int) -> np.ndarray:
    """Per-row plan of the block prefix/suffix window sum, an int64 array (4, length).

    Row 0: 1 where a block starts (a prefix scan restarts), row 1: 1 where a block ends (a
    suffix scan restarts), row 2: the suffix row of each window, row 3: its prefix row, or
    ``length`` (an all-zero scratch row) when the window ends inside its first block.
    """
    c = np.arange(length, dtype=np.int64)
    after = size - 1 - before
    plan = np.empty((4, length), dtype=np.int64)
    plan[0] = ((c + before) % size == 0) | (c == 0)
    plan[1] = ((c + before + 1) % size == 0) | (c == length - 1)
    plan[2] = np.maximum(c - before, 0)
    r = c % size
    end = np.minimum(c + after, length - 1)
    plan[3] = np.where((r > 0) & (end >= c - r + after + 1), end, length)
    return plan


@njit(cache=True, error_model="numpy")
def neg_pow_row(s, nb, beta, mode):
    """``s[:nb] <- s[:nb] ** -beta`` in place; the branch sits outside the loops so that
    each special case vectorises (a generic pow is a libm call per element)."""
    if mode == POW_075:
        for j in range(nb):
            r = np.sqrt(s[j])
            s[j] = 1.0 / (r * np.sqrt(r))
    elif mode == POW_05:
        for j in range(nb):
            s[j] = 1.0 / np.sqrt(s[j])
    elif mode == POW_1:
        for j in range(nb):
            s[j] = 1.0 / s[j]
    elif mode == POW_0:
        for j in range(nb):
            s[j] = 1.0
    else:
        for j in range(nb):
            s[j] = s[j] ** (-beta)


@njit(cache=True, error_model="numpy")
def scan_tile(v, nb, plan, pre, suf, square):
    """In-block prefix (``pre``) and suffix (``suf``) sums of ``v`` (or of ``v**2``).

    v:   (L, B) float64 tile, columns [0, nb) valid
    pre: (L + 1, B) float64 scratch; row L is set to zero (the empty prefix)
    suf: (L, B) float64 scratch
    """
    length = v.shape[0]
    for c in range(length):
        if plan[0, c]:
            if square:
                for j in range(nb):
                    pre[c, j] = v[c, j] * v[c, j]
            else:
                for j in range(nb):
                    pre[c, j] = v[c, j]
        elif square:
            for j in range(nb):
                pre[c, j] = pre[c - 1, j] + v[c, j] * v[c, j]
        else:
            for j in range(nb):
                pre[c, j] = pre[c - 1, j] + v[c, j]
    for j in range(nb):
        pre[length, j] = 0.0
    for c in range(length - 1, -1, -1):
        if plan[1, c]:
            if square:
                for j in range(nb):
                    suf[c, j] = v[c, j] * v[c, j]
            else:
                for j in range(nb):
                    suf[c, j] = v[c, j]
        elif square:
            for j in range(nb):
                suf[c, j] = suf[c + 1, j] + v[c, j] * v[c, j]
        else:
            for j in range(nb):
                suf[c, j] = suf[c + 1, j] + v[c, j]


@njit(cache=True, error_model="numpy")
def window_tile(v, nb, plan, pre, suf, out, square):
    """``out[c] = sum_{j in W(c)} v_j`` (or ``v_j**2``) for every row c of a tile.

    ``out`` may be ``v`` itself: both scans finish before the first row is written.
    """
    scan_tile(v, nb, plan, pre, suf, square)
    for c in range(v.shape[0]):
        a = plan[2, c]
        b = plan[3, c]
        for j in range(nb):
            out[c, j] = suf[a, j] + pre[b, j]


@njit(cache=True, error_model="numpy")
def fwd_tile(xt, nb, plan, pre, suf, yt, scale, k, beta, mode):
    """y = x * (k + A * window sum of x^2)^-beta on a float64 tile ``xt`` -> ``yt``.

    ``yt`` may be ``xt``: row c of x is last read when row c of y is written.
    """
    scan_tile(xt, nb, plan, pre, suf, True)
    row = np.empty(xt.shape[1])
    for c in range(xt.shape[0]):
        a = plan[2, c]
        b = plan[3, c]
        for j in range(nb):
            row[j] = k + scale * (suf[a, j] + pre[b, j])
        neg_pow_row(row, nb, beta, mode)
        for j in range(nb):
            yt[c, j] = xt[c, j] * row[j]


@njit(cache=True, error_model="numpy")
def bwd_tile(xt, dyt, nb, plan, tplan, pre, suf, pt, tt, scale, k, beta, mode):
    """dx = dy * p - 2 A beta x * (transposed window sum of dy * x * p / s), into ``tt``.

    xt, dyt: (L, B) float64 tiles; pt, tt: (L, B) scratch (p = s^-beta, then t and dx)
    plan / tplan: window plans of the window and of the transposed window
    """
    scan_tile(xt, nb, plan, pre, suf, True)
    row = np.empty(xt.shape[1])
    for c in range(xt.shape[0]):
        a = plan[2, c]
        b = plan[3, c]
        for j in range(nb):
            row[j] = k + scale * (suf[a, j] + pre[b, j])
        for j in range(nb):
            pt[c, j] = row[j]
        neg_pow_row(row, nb, beta, mode)
        for j in range(nb):
            tt[c, j] = dyt[c, j] * xt[c, j] * (row[j] / pt[c, j])
            pt[c, j] = row[j]
    scan_tile(tt, nb, tplan, pre, suf, False)
    coef = 2.0 * scale * beta
    for c in range(xt.shape[0]):
        a = tplan[2, c]
        b = tplan[3, c]
        for j in range(nb):
            tt[c, j] = dyt[c, j] * pt[c, j] - coef * xt[c, j] * (suf[a, j] + pre[b, j])
