"""Tile-level building blocks of the numba LRN kernels: window sums without subtraction.

A window sum of length n is one addition of two partial sums, never a difference. Cut the
(zero-padded) axis into aligned blocks of n; the window of row c starts at j0 = c - before,
inside block q, and ends in block q + 1. Its sum is the in-block *suffix* sum from j0 to the
end of block q plus the in-block *prefix* sum of block q + 1 up to c + after. Both partial
sums are sums of a subset of the window's own terms, so a huge value outside a window can
never leak into it (a running sum that adds the head and subtracts the tail does leak, drifts,
and can go negative), and a NaN stays inside the windows that hold it. Each row costs two
scans and one addition whatever n is.

A tile is the block of B columns ``src[o, :, i0:i0 + nb]`` of an (O, L, I) array: L rows
along the window axis, columns independent, every inner loop contiguous over columns so it
vectorises. A tile is walked once, upwards: the suffix sum is a running (B,) row, each output
row is emitted as soon as its suffix is known, and the prefix sums of the one block below are
kept in a (min(n, L) + 1, B) float64 scratch, computed when the walk enters the block above
it (its rows are still in cache). So memory is read in long runs and the scratch is small.
The across-channel kernels walk the mirrored axis (:func:`row_at`: walk row c is stored row
L - 1 - c, with the window's before and after swapped), so a walk upwards reads memory in
ascending order, which the hardware streams faster (one thread, 1024-column tiles of AlexNet
conv1: 3.0 ms descending, 2.5 ms ascending for the bare walk).
Column offsets are unsigned: numba cannot prove a signed ``i0 + j`` is non-negative, and its
wrap-around check on every index stops LLVM from vectorising.

Precision trade-off: partial sums are float64. Squares of float32 values are exact in float64
and the window sums are then good to ~1e-16, which keeps float32 outputs within 1e-6 of the
float64 reference for windows of 255 and more (float32 partial sums of 255 terms drift by up
to ~1.5e-5). For float32 outputs s^-beta itself is evaluated in float32 (twice the vector
lanes of float64; sqrt and division are what bound the kernel once memory is streamed) unless
some s of the row lies outside [1e-36, 1e36], where float32 would underflow or overflow; such
rows are recomputed in float64. sqrt and division are exact (no fastmath): rsqrt estimates
were faster but put outputs two ulps away from the peers'.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

# Modes of p = s^-beta, picked once per call (the generic pow is a libm call per element).
POW_GENERIC, POW_075, POW_05, POW_1, POW_0 = 0, 1, 2, 3, 4
_LO32, _HI32 = 1e-36, 1e36


def pow_mode(beta: float) -> int:
    """The special case of ``s^-beta`` that applies to ``beta``."""
    return {0.75: POW_075, 0.5: POW_05, 1.0: POW_1, 0.0: POW_0}.get(beta, POW_GENERIC)


def window_index(length: int, before: int, size: int, zero: int | None = None) -> np.ndarray:
    """Per-row plan of the block prefix/suffix window sum, an int64 array (2, length).

    Row 0: 1 where a block ends (the suffix restarts there; the prefix scan of the block
    below starts on the next row). Row 1: the scratch row (the row's index inside its block)
    of the prefix sum that completes the window of each row, or ``zero`` (default
    ``min(size, length)``, the last row of the scratch, which :func:`start_walk` clears) when
    the window ends inside the block where it starts. The suffix part of the window of row c
    starts at row max(c - before, 0).
    """
    c = np.arange(length, dtype=np.int64)
    after = size - 1 - before
    plan = np.empty((2, length), dtype=np.int64)
    plan[0] = ((c + before + 1) % size == 0) | (c == length - 1)
    r = c % size
    end = np.minimum(c + after, length - 1)
    nonempty = (r > 0) & (end >= c - r + after + 1)
    plan[1] = np.where(nonempty, (end + before) % size, min(size, length) if zero is None else zero)
    return plan


def scratch_rows(length: int, size: int) -> int:
    """Rows of the prefix scratch: the longest block plus the zero row."""
    return min(size, length) + 1


@njit(cache=True, error_model="numpy")
def row_at(c, length, flip):
    """The stored row of walk row c: c itself, or ``length - 1 - c`` when the walk is flipped."""
    return length - 1 - c if flip else c


@njit(cache=True, error_model="numpy")
def prefix_block(src, o, i0, nb, c0, plan, pre, square, flip):
    """In-block prefix sums of the block of rows starting at c0 (or of their squares).

    src: (O, L, I) array, tile columns [i0, i0 + nb); pre: (rows, B) float64 scratch, row
    ``c - c0`` receives the prefix sum down to row c; rows are walk rows (:func:`row_at`).
    Returns the scratch row of the block's total.
    """
    u0 = uint64(i0)
    length = src.shape[1]
    m = row_at(c0, length, flip)
    if square:
        for j in range(uint64(nb)):
            v = np.float64(src[o, m, u0 + j])
            pre[0, j] = v * v
    else:
        for j in range(uint64(nb)):
            pre[0, j] = src[o, m, u0 + j]
    c = c0
    while not plan[0, c]:
        c += 1
        q = c - c0
        m = row_at(c, length, flip)
        if square:
            for j in range(uint64(nb)):
                v = np.float64(src[o, m, u0 + j])
                pre[q, j] = pre[q - 1, j] + v * v
        else:
            for j in range(uint64(nb)):
                pre[q, j] = pre[q - 1, j] + src[o, m, u0 + j]
    return c - c0


@njit(cache=True, error_model="numpy")
def start_walk(pre, nb):
    """Zero the last scratch row (the empty prefix) before walking a tile."""
    z = pre.shape[0] - 1
    for j in range(uint64(nb)):
        pre[z, j] = 0.0


@njit(cache=True, error_model="numpy")
def emit_rows(c, before, length):
    """Rows (lo, hi) whose window sum is complete once the suffix reaches row c: the row
    whose window starts at c and, at c = 0, every row whose clipped window starts at 0."""
    if c == 0:
        return 0, min(before, length - 1) + 1
    if c + before < length:
        return c + before, c + before + 1
    return 0, 0


@njit(cache=True, error_model="numpy")
def window_row(r, nb, plan, pre, run, dst, do, di0):
    """dst[do, r, di0 + j] = window sum of row r (float64 destination)."""
    b = plan[1, r]
    u0 = uint64(di0)
    for j in range(uint64(nb)):
        dst[do, r, u0 + j] = run[j] + pre[b, j]


@njit(cache=True, error_model="numpy")
def suffix_step(src, o, i0, nb, c, restart, run, square, flip):
    """Move the running in-block suffix sum ``run`` (B,) float64 up to walk row c."""
    u0 = uint64(i0)
    m = row_at(c, src.shape[1], flip)
    if restart:
        for j in range(uint64(nb)):
            run[j] = 0.0
    if square:
        for j in range(uint64(nb)):
            v = np.float64(src[o, m, u0 + j])
            run[j] = run[j] + v * v
    else:
        for j in range(uint64(nb)):
            run[j] = run[j] + src[o, m, u0 + j]


@njit(cache=True, error_model="numpy")
def denominator(nb, b, pre, run, scale, k, s):
    """s[j] = k + scale * (run[j] + pre[b, j]); returns how many s fall outside the range
    where float32 can take s^-beta without underflow or overflow."""
    bad = 0
    for j in range(uint64(nb)):
        v = k + scale * (run[j] + pre[b, j])
        s[j] = v
        bad += (v < _LO32) | (v > _HI32)
    return bad


@njit(cache=True, error_model="numpy")
def fwd_emit(src, o, r, i0, nb, s, dst, do, di0, beta, mode, single):
    """dst[do, r, di0 + j] = src[o, r, i0 + j] * s[j] ** -beta.

    src, dst: (O, L, I) arrays of the input dtype; s: (B,) float64 denominators. Every
    mode has its own loop so that each vectorises (a libm pow in a loop body stops LLVM
    from unswitching the mode).
    """
    u0 = uint64(i0)
    v0 = uint64(di0)
    one = np.float32(1.0)
    if single and mode == POW_075:
        for j in range(uint64(nb)):
            q = np.sqrt(np.float32(s[j]))
            dst[do, r, v0 + j] = src[o, r, u0 + j] * (one / (q * np.sqrt(q)))
    elif single and mode == POW_05:
        for j in range(uint64(nb)):
            dst[do, r, v0 + j] = src[o, r, u0 + j] * (one / np.sqrt(np.float32(s[j])))
    elif single and mode == POW_1:
        for j in range(uint64(nb)):
            dst[do, r, v0 + j] = src[o, r, u0 + j] * (one / np.float32(s[j]))
    elif mode == POW_075:
        for j in range(uint64(nb)):
            q = np.sqrt(s[j])
            dst[do, r, v0 + j] = np.float64(src[o, r, u0 + j]) / (q * np.sqrt(q))
    elif mode == POW_05:
        for j in range(uint64(nb)):
            dst[do, r, v0 + j] = np.float64(src[o, r, u0 + j]) / np.sqrt(s[j])
    elif mode == POW_1:
        for j in range(uint64(nb)):
            dst[do, r, v0 + j] = np.float64(src[o, r, u0 + j]) / s[j]
    elif mode == POW_0:
        for j in range(uint64(nb)):
            dst[do, r, v0 + j] = src[o, r, u0 + j]
    else:
        for j in range(uint64(nb)):
            dst[do, r, v0 + j] = np.float64(src[o, r, u0 + j]) * s[j] ** (-beta)


@njit(cache=True, error_model="numpy")
def neg_pow32(sv, mode):
    """s^-beta in float32 for beta = 0.75, 0.5 or 1 (exact sqrt and division). The mode is
    loop-invariant, so LLVM unswitches it and each loop that calls this still vectorises."""
    one = np.float32(1.0)
    if mode == POW_075:
        q = np.sqrt(sv)
        return one / (q * np.sqrt(q))
    if mode == POW_05:
        return one / np.sqrt(sv)
    return one / sv


@njit(cache=True, error_model="numpy")
def suffix_s(src, o, c, u, j, restart, run, pre, b, scale, k):
    """One column of a fused block-path step: move the running suffix sum of squares
    ``run[j]`` to row c (restarting it at a block end) and return the float64 denominator
    s = k + scale * (suffix + the prefix ``pre[b, j]``) of the row being emitted."""
    v = np.float64(src[o, c, u])
    w = v * v if restart else run[j] + v * v
    run[j] = w
    return k + scale * (w + pre[b, j])


@njit(cache=True, error_model="numpy")
def fwd_fast(src, o, i0, nb, c, restart, r, b, pre, run, dst, do, di0, scale, k, mode):
    """Fused float32 forward step for beta = 0.75 or 0.5: move the suffix to row c, then
    emit row r of y = x * s^-beta. c and r are stored rows. The caller guarantees that every
    s of the tile lies in [1e-36, 1e36] (:func:`total_cap`); nothing is checked per element.

    One loop, so s^-beta runs at the float64 vector width; splitting it (s into a float32 row,
    then s^-beta at twice the width) measured slower on a cache-resident tile (0.436 -> 0.458
    ns per element at window 11, Xeon) and no faster from memory at 2 threads (Zen 5).
    Exact (correctly rounded) sqrt and division: fastmath {afn, arcp} would let LLVM use
    refined rsqrt estimates at about twice the throughput, but their 3.7e-7 relative error
    put outputs of magnitude ~10 two ulps away from PyTorch's and ONNX Runtime's.
    """
    u0 = uint64(i0)
    v0 = uint64(di0)
    for j in range(uint64(nb)):
        sv = suffix_s(src, o, c, u0 + j, j, restart, run, pre, b, scale, k)
        dst[do, r, v0 + j] = src[o, r, u0 + j] * neg_pow32(np.float32(sv), mode)


@njit(cache=True, error_model="numpy")
def fwd_fast_row(src, o, i0, nb, r, b, pre, run, dst, do, di0, scale, k, mode):
    """Emit row r of y = x * s^-beta with s = k + scale * (run + pre[b]), float32 power, no
    check (see :func:`fwd_fast`): the rows whose clipped windows all start at walk row 0."""
    u0 = uint64(i0)
    v0 = uint64(di0)
    for j in range(uint64(nb)):
        sv = k + scale * (run[j] + pre[b, j])
        dst[do, r, v0 + j] = src[o, r, u0 + j] * neg_pow32(np.float32(sv), mode)


def total_cap(scale: float, k: float, hi: float) -> float:
    """The largest block total T such that k + scale * 2 T <= hi: a window is a suffix of one
    block plus a prefix of the next, so if no block's sum of squares exceeds T, no s does.
    inf when scale is 0."""
    return (hi - k) / (2.0 * scale) if scale > 0.0 else float("inf")


@njit(cache=True, error_model="numpy")
def over_cap(row, nb, cap):
    """Whether some value of row[:nb] exceeds cap or is NaN (one check per block, not per
    element)."""
    bad = False
    for j in range(uint64(nb)):
        bad |= not (row[j] <= cap)
    return bad
