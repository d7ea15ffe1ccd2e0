"""Fused numba kernels for LRN across channels on an (O, L, I) view (window along L).

Work is cut into tiles of B columns; a column is one (o, i) pair, a full line of L values
along the channel axis. When I >= B (NCHW: I = H*W), a tile is B consecutive i of one o and
its loads are contiguous rows; otherwise (channels-last: I = 1) a tile is B consecutive
flattened (o, i) pairs and is transposed into the (L, B) scratch on load and back on store.
Tiles depend on the shape only, never on the thread count, and every element is computed by
the same instructions in any tile, so results are identical bit for bit across runs and
thread counts. Forward reads x once and writes y once; backward reads x and dy once and
writes dx once, recomputing s in scratch instead of storing it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .numba_window import bwd_tile, fwd_tile


@njit(cache=True, error_model="numpy")
def _load(src, tile, g, nb, per_o, wide):
    # src: (O, L, I) array; tile: (L, B) float64; g: tile index; wide: I >= B (row loads)
    length = src.shape[1]
    inner = src.shape[2]
    if wide:
        o = g // per_o
        i0 = (g % per_o) * tile.shape[1]
        for c in range(length):
            for j in range(nb):
                tile[c, j] = src[o, c, i0 + j]
    else:
        f0 = g * tile.shape[1]
        for j in range(nb):
            o = (f0 + j) // inner
            i = (f0 + j) % inner
            for c in range(length):
                tile[c, j] = src[o, c, i]


@njit(cache=True, error_model="numpy")
def _store(tile, dst, g, nb, per_o, wide):
    # tile: (L, B) float64 -> dst: (O, L, I) array of the output dtype
    length = dst.shape[1]
    inner = dst.shape[2]
    if wide:
        o = g // per_o
        i0 = (g % per_o) * tile.shape[1]
        for c in range(length):
            for j in range(nb):
                dst[o, c, i0 + j] = tile[c, j]
    else:
        f0 = g * tile.shape[1]
        for j in range(nb):
            o = (f0 + j) // inner
            i = (f0 + j) % inner
            for c in range(length):
                dst[o, c, i] = tile[c, j]


@njit(cache=True, error_model="numpy")
def _tiling(shape, block):
    # (number of tiles, tiles per o (wide only), wide?) for an (O, L, I) view
    outer, _, inner = shape
    if inner >= block:
        per_o = (inner + block - 1) // block
        return outer * per_o, per_o, True
    return (outer * inner + block - 1) // block, 1, False


@njit(cache=True, error_model="numpy")
def _width(g, ntiles, per_o, wide, shape, block):
    # valid columns of tile g
    if wide:
        return min(block, shape[2] - (g % per_o) * block)
    return min(block, shape[0] * shape[2] - g * block)


@njit(parallel=True, cache=True, error_model="numpy")
def lrn_fwd_kernel(x, y, plan, scale, k, beta, mode, block, nchunks):
    """y = x * (k + scale * sum_{W(c)} x^2)^-beta along axis 1.

    x, y: (O, L, I) arrays of one dtype (float32 or float64), y written, x read once
    plan: (4, L) int64 window plan (numba_window.window_index)
    """
    length = x.shape[1]
    ntiles, per_o, wide = _tiling(x.shape, block)
    for ch in prange(nchunks):
        xt = np.empty((length, block))
        yt = np.empty((length, block))
        pre = np.empty((length + 1, block))
        suf = np.empty((length, block))
        for g in range(ch * ntiles // nchunks, (ch + 1) * ntiles // nchunks):
            nb = _width(g, ntiles, per_o, wide, x.shape, block)
            _load(x, xt, g, nb, per_o, wide)
            fwd_tile(xt, nb, plan, pre, suf, yt, scale, k, beta, mode)
            _store(yt, y, g, nb, per_o, wide)


@njit(parallel=True, cache=True, error_model="numpy")
def lrn_bwd_kernel(x, dy, dx, plan, tplan, scale, k, beta, mode, block, nchunks):
    """dx = dy * s^-beta - 2 scale beta x * sum_{j: c in W(j)} dy_j x_j s_j^(-beta-1).

    x, dy, dx: (O, L, I) arrays of one dtype; dx written
    plan, tplan: (4, L) int64 plans of the window and of the transposed window
    """
    length = x.shape[1]
    ntiles, per_o, wide = _tiling(x.shape, block)
    for ch in prange(nchunks):
        xt = np.empty((length, block))
        dyt = np.empty((length, block))
        pt = np.empty((length, block))
        tt = np.empty((length, block))
        pre = np.empty((length + 1, block))
        suf = np.empty((length, block))
        for g in range(ch * ntiles // nchunks, (ch + 1) * ntiles // nchunks):
            nb = _width(g, ntiles, per_o, wide, x.shape, block)
            _load(x, xt, g, nb, per_o, wide)
            _load(dy, dyt, g, nb, per_o, wide)
            bwd_tile(xt, dyt, nb, plan, tplan, pre, suf, pt, tt, scale, k, beta, mode)
            _store(tt, dx, g, nb, per_o, wide)


def num_tiles(shape: tuple[int, int, int], block: int) -> int:
    """How many tiles :func:`lrn_fwd_kernel` cuts an (O, L, I) view into."""
    outer, _, inner = shape
    if inner >= block:
        return outer * -(-inner // block)
    return -(-outer * inner // block)
