"""Tile-level pieces of the numba LRN backward pass (see ``numba_window`` for the tiles).

    p = s^-beta,   t = dy * x * p / s,   dx = dy * p - 2 A beta x * (transposed window sum of t)

The first walk of a tile stores p and t rows (float64 scratch; p float32 on the fast walk
below); the second walks t with the transposed window and emits dx. For float32 inputs with
beta = 0.75 or 0.5 each step is one fused loop in float32 arithmetic for p and p / s (exact
sqrt and division: the backward keeps no fastmath, t carries the gradient's accuracy), valid
while s^(1 + beta) stays a normal float32 number, i.e. s in [1e-18, 1e18]: the tile's block
totals are checked against that once a block, and a tile that fails is walked again with each
row checked, rows out of range in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from .numba_window import POW_0, POW_05, POW_075, POW_1, suffix_s


@njit(cache=True, error_model="numpy")
def t_fast(x, dy, o, i0, nb, c, restart, r, b, pre, run, pt, tt, scale, k, mode):
    """Fused float32 step: move the suffix of x^2 to row c, then store p and t of row r.

    mode: POW_075 or POW_05. The caller guarantees that every s of the tile lies in
    [1e-18, 1e18] (``numba_direct_grad.K_MIN``, ``S_MAX``; ``numba_window.total_cap``); nothing
    is checked per element.
    """
    u0 = uint64(i0)
    for j in range(uint64(nb)):
        sv = suffix_s(x, o, c, u0 + j, j, restart, run, pre, b, scale, k)
        pt[0, r, j], tt[0, r, j] = p_t32(sv, dy[o, r, u0 + j], x[o, r, u0 + j], mode)


@njit(cache=True, error_model="numpy")
def t_fast_row(x, dy, o, i0, nb, r, b, pre, run, pt, tt, scale, k, mode):
    """Store p and t of row r with s = k + scale * (run + pre[b]), as :func:`t_fast` does:
    the rows whose clipped windows all start at walk row 0 (a third of the rows at window 65
    of 96 channels). One loop: with the checked walk's three loops there (s, p, then t with a
    float64 division) the backward took 7.9-8.4 ms against 7.1-7.5 (AlexNet conv1 fp32,
    window 65, 2 threads)."""
    u0 = uint64(i0)
    for j in range(uint64(nb)):
        sv = k + scale * (run[j] + pre[b, j])
        pt[0, r, j], tt[0, r, j] = p_t32(sv, dy[o, r, u0 + j], x[o, r, u0 + j], mode)


@njit(cache=True, error_model="numpy")
def p_t32(sv, dyv, xv, mode):
    """(p, t) = (s^-beta, dy x s^(-beta-1)) for beta = 0.75 or 0.5: s^(-beta-1) in float32
    (exact sqrt and division), t's product in float64."""
    s32 = np.float32(sv)
    a = np.sqrt(s32)
    den = s32 * a * np.sqrt(a) if mode == POW_075 else s32 * a
    q = np.float32(1.0) / den  # s^(-beta - 1)
    return q * s32, np.float64(dyv) * np.float64(xv) * q


@njit(cache=True, error_model="numpy")
def neg_pow(s, p, nb, beta, mode, single):
    """p[j] = s[j] ** -beta, in float32 arithmetic when ``single`` (the caller has checked that
    every s lies in [1e-36, 1e36])."""
    one = np.float32(1.0)
    if single and mode == POW_075:
        for j in range(nb):
            q = np.sqrt(np.float32(s[j]))
            p[j] = one / (q * np.sqrt(q))
    elif single and mode == POW_05:
        for j in range(nb):
            p[j] = one / np.sqrt(np.float32(s[j]))
    elif single and mode == POW_1:
        for j in range(nb):
            p[j] = one / np.float32(s[j])
    elif mode == POW_075:
        for j in range(nb):
            q = np.sqrt(s[j])
            p[j] = 1.0 / (q * np.sqrt(q))
    elif mode == POW_05:
        for j in range(nb):
            p[j] = 1.0 / np.sqrt(s[j])
    elif mode == POW_1:
        for j in range(nb):
            p[j] = 1.0 / s[j]
    elif mode == POW_0:
        for j in range(nb):
            p[j] = 1.0
    else:
        for j in range(nb):
            p[j] = s[j] ** (-beta)


@njit(cache=True, error_model="numpy")
def t_emit(x, dy, o, r, i0, nb, s, pt, tt):
    """t = dy * x * p / s of row r into tt[0, r, :], with p = pt[0, r, :] already stored.

    x, dy: (O, L, I) input-dtype arrays; s: (B,) float64; pt, tt: (1, L, B) float64
    """
    u0 = uint64(i0)
    for j in range(uint64(nb)):
        xy = np.float64(dy[o, r, u0 + j]) * np.float64(x[o, r, u0 + j])
        tt[0, r, j] = xy * (pt[0, r, j] / s[j])


@njit(cache=True, error_model="numpy")
def dx_emit(x, dy, o, r, i0, nb, b, pre, run, pt, coef, dst, do, di0):
    """dx = dy * p - coef * x * (run + pre[b]) of row r (run + pre[b]: the transposed window
    sum of t) into dst[do, r, di0:di0+nb], an (O, L, I) input-dtype array."""
    u0 = uint64(i0)
    v0 = uint64(di0)
    for j in range(uint64(nb)):
        xv = np.float64(x[o, r, u0 + j])
        dyv = np.float64(dy[o, r, u0 + j])
        dst[do, r, v0 + j] = dyv * pt[0, r, j] - coef * xv * (run[j] + pre[b, j])


@njit(cache=True, error_model="numpy")
def dx_fused(x, dy, o, i0, nb, c, restart, r, b, tt, pre, run, pt, coef, dst, do, di0):
    """Move the suffix of t to row c, then emit dx of row r (one loop)."""
    u0 = uint64(i0)
    v0 = uint64(di0)
    for j in range(uint64(nb)):
        v = tt[0, c, j]
        w = v if restart else run[j] + v
        run[j] = w
        xv = np.float64(x[o, r, u0 + j])
        dyv = np.float64(dy[o, r, u0 + j])
        dst[do, r, v0 + j] = dyv * pt[0, r, j] - coef * xv * (w + pre[b, j])
