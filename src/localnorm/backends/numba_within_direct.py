"""Direct-sum float32 LRN within channels on planes, for boxes of at most 5 x 5.

    s = k + A * sum_{box} x^2,   y = x * s^-beta,   A = alpha / size^2
    dx = dy * s^-beta - 2 A beta x * sum_{transposed box} t,   t = dy x s^(-beta-1)

A unit (one (n, c) plane of an NCHW tensor, one sample of a channels-last one) is an
(H, W, e) block in memory: e = 1 value per position (NCHW) or e = C (channels-last: every
channel is its own plane, interleaved). A band of output rows is done at a time: the squares
of its rows and of the window's rows around them go into a float32 scratch band padded with
zeros (``before`` positions left, ``after`` right; rows outside the plane are zero rows), so
every box is complete and no loop tests an edge (padded terms are zeros, which the contract
counts in n). The box sum is separable and taken in two passes of long contiguous loops over
the band, each adding one shifted copy per term in window order: along W (terms e values
apart), then along H (terms one padded row apart). So memory sees one read of x (and dy) and
one write of the result, and every pass in between runs on a band in cache at full float32
vector width. The float64 unit path (numba_within) serves everything else: other ranks,
other windows, and a unit holding values these sums cannot take. NCHW planes that fit whole
go a stack of planes at a time (see "stacks of NCHW planes" below).

Precision: the argument of the across-channel direct paths (``numba_direct``,
``numba_direct_grad``) with 5 + 5 terms in place of 9: float32 squares summed in float32, at
most 4 roundings along W and 4 along H, all terms non-negative, so s is within 9 roundings
(5.4e-7) of the exact sum; the backward's sums of t (either sign) carry at most 8 roundings
of the largest partial sum, as the across path's size-9 windows do. s must lie where float32
takes s^-beta (forward: [direct_lo, 1e36]; backward: [1e-18, 1e18], where s^-(1 + beta) is a
normal float32): the path is taken only for such k and for beta 0.75, 0.5 or 1, and a unit
holding an |x| whose square could push s past the top (or a NaN or inf) is redone by the
float64 unit path. That choice depends on the unit's data only and the bands are cut by the
shape only, so results do not depend on the thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from .numba_direct import abs_cap, direct_lo, lines_absmax, square_cap
from .numba_direct_grad import K_MIN, S_MAX, _p_q
from .numba_window import neg_pow32

BOX_MAX = 5  # the largest window per axis (25 terms)
_BETAS = (0.75, 0.5, 1.0)
# float32 values per scratch band: whole planes of NCHW tensors up to ~250 x 250 fit, a
# channels-last AlexNet conv1 sample (55 x 96 values a row) takes bands of 7 rows.
_BAND_VALUES = 1 << 16
_STACK_VALUES = 1 << 15  # float32 values per scratch stack of NCHW planes (128 KiB)


def plane_shape(dims: np.ndarray) -> tuple[int, int, int] | None:
    """(H, W, e) when a unit's volume is an (H, W, e) block with its two spatial axes in
    memory order (``dims``: numba_within's (O, L, I) view of each spatial axis), else None."""
    if dims.shape[0] != 2:
        return None
    (o0, h, i0), (o1, w, e) = (tuple(int(v) for v in d) for d in dims)
    if o0 != 1 or o1 != h or i0 != w * e:
        return None
    return h, w, e


def abs_caps(size: int, scale: float, k: float, beta: float, backward: bool) -> int | None:
    """The |x| cap (int32 bits, numba_direct.abs_cap) of a unit this path takes, or None when
    the path does not apply to these parameters."""
    terms = size * size
    if size > BOX_MAX or beta not in _BETAS or not 2.0**-126 <= scale <= 1e30:
        return None
    if k < direct_lo(terms, scale) or (backward and k < K_MIN):
        return None
    return abs_cap(square_cap(terms, scale, k, S_MAX if backward else 1e36))


def band_rows(h: int, w: int, e: int, size: int, halo: int) -> int:
    """Output rows per band: as many as keep a band of them plus ``halo`` rows within
    ``_BAND_VALUES`` (at least one)."""
    prow = (w + size - 1) * e
    return max(1, min(h, _BAND_VALUES // prow - halo))


@njit(cache=True, error_model="numpy")
def units_peak(x2, u0, count):
    """The largest |x| of units u0 .. u0 + count - 1 of the float32 (U, V) array x2, as int32
    bits (NaN and inf above every finite value): numba_direct.lines_absmax, one loop over
    their contiguous memory."""
    return lines_absmax(x2.reshape((x2.shape[0], 1, x2.shape[1])), u0, count)


@njit(cache=True, error_model="numpy")
def band_squares(x2, u, h, rowlen, first, nrows, sq, left, prow):
    """Rows q = 0 .. nrows - 1 of the padded band sq (flat, rows of ``prow``, data from column
    ``left``) = squares of row first + q of unit u, or zeros outside [0, h); returns the
    largest |x| read, as :func:`units_peak`. The pad columns are never written, so they stay
    zero."""
    bits = x2.view(np.int32)
    mx = 0
    for q in range(nrows):
        r = first + q
        d0 = uint64(q * prow + left)
        if 0 <= r < h:
            v0 = uint64(r * rowlen)
            for j in range(uint64(rowlen)):
                v = x2[u, v0 + j]
                sq[d0 + j] = v * v
                mx = max(mx, bits[u, v0 + j] & 0x7FFFFFFF)
        else:
            for j in range(uint64(rowlen)):
                sq[d0 + j] = 0.0
    return mx


@njit(cache=True, error_model="numpy")
def box_rows(a, b, s, nrows, prow, size, e):
    """Box sums of the padded band ``a`` (nrows rows of prow): s row q (q < nrows - size + 1),
    column c < rowlen, is the sum over rows q .. q + size - 1 and columns c .. c + (size - 1) e
    of a, along W first (into b), each in term order. Columns past rowlen hold partial sums
    nobody reads."""
    shifted_sum(a, b, nrows * prow - (size - 1) * e, size, e)
    shifted_sum(b, s, (nrows - size + 1) * prow, size, prow)


@njit(cache=True, error_model="numpy")
def shifted_sum(a, b, span, size, step):
    """b[j] = a[j] + a[j + step] + ... + a[j + (size - 1) step] for j < span, added in that
    order: one loop for 3 and 5 terms (AlexNet's and Caffe's CIFAR-10 windows), else one pass
    per term (the same additions in the same order, so the same bits)."""
    n = uint64(span)
    u1, u2, u3, u4 = uint64(step), uint64(2 * step), uint64(3 * step), uint64(4 * step)
    if size == 3:
        for j in range(n):
            b[j] = a[j] + a[j + u1] + a[j + u2]
        return
    if size == 5:
        for j in range(n):
            b[j] = a[j] + a[j + u1] + a[j + u2] + a[j + u3] + a[j + u4]
        return
    for j in range(n):
        b[j] = a[j]
    for t in range(1, size):
        off = uint64(t * step)
        for j in range(n):
            b[j] += a[j + off]


@njit(cache=True, error_model="numpy")
def band_scratch(band, size, prow, backward):
    """(sq, b, s, t, p) float32 scratch of one thread, zeroed once (pads stay zero); all
    empty for ``band`` = 0."""
    halo = 2 * (size - 1) if backward else size - 1
    n = (band + halo) * prow if band else 0
    m = (band + size - 1) * prow if backward and band else 0
    return (np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32),
            np.zeros(n, dtype=np.float32), np.zeros(m, dtype=np.float32),
            np.zeros(m, dtype=np.float32))


@njit(cache=True, error_model="numpy")
def fwd_unit(x2, y2, u, h, w, e, before, size, scale, k, mode, band, acap, sq, b, s):
    """y of float32 unit u by bands of ``band`` rows; returns False, having written nothing,
    if some |x| of the unit is above ``acap`` (int32 bits; NaN and inf are above). A unit in
    one band is checked while it is squared, one in several bands first
    (:func:`units_peak`)."""
    rowlen = w * e
    prow = (w + size - 1) * e
    if band < h and units_peak(x2, u, 1) > acap:
        return False
    scale32, k32 = np.float32(scale), np.float32(k)
    for r0 in range(0, h, band):
        nr = min(band, h - r0)
        if band_squares(x2, u, h, rowlen, r0 - before, nr + size - 1, sq, before * e,
                        prow) > acap:
            return False
        box_rows(sq, b, s, nr + size - 1, prow, size, e)
        for q in range(nr):
            v0 = uint64((r0 + q) * rowlen)
            s0 = uint64(q * prow)
            for j in range(uint64(rowlen)):
                sv = k32 + scale32 * s[s0 + j]
                y2[u, v0 + j] = x2[u, v0 + j] * neg_pow32(sv, mode)
    return True


@njit(cache=True, error_model="numpy")
def bwd_unit(x2, dy2, dx2, u, h, w, e, before, size, scale, k, beta, mode, band, acap, sq, b, s,
             tp, pp):
    """dx of float32 unit u by bands of ``band`` rows: s, p and t of the band's rows and of
    the ``size - 1`` rows of the transposed window around them, then the transposed box sums
    of t. Returns False, having written nothing, as :func:`fwd_unit`."""
    after = size - 1 - before
    rowlen = w * e
    prow = (w + size - 1) * e
    if band < h and units_peak(x2, u, 1) > acap:
        return False
    scale32, k32 = np.float32(scale), np.float32(k)
    coef = np.float32(2.0 * scale * beta)
    for r0 in range(0, h, band):
        nr = min(band, h - r0)
        nt = nr + size - 1  # rows of t: r0 - after .. r0 + nr - 1 + before
        if band_squares(x2, u, h, rowlen, r0 - after - before, nt + size - 1, sq, before * e,
                        prow) > acap:
            return False
        box_rows(sq, b, s, nt + size - 1, prow, size, e)
        for q in range(nt):
            c = r0 - after + q
            t0 = uint64(q * prow + after * e)
            if c < 0 or c >= h:
                for j in range(uint64(rowlen)):
                    tp[t0 + j] = 0.0
                continue
            v0 = uint64(c * rowlen)
            s0 = uint64(q * prow)
            for j in range(uint64(rowlen)):
                p, qv = _p_q(k32 + scale32 * s[s0 + j], mode)
                pp[s0 + j] = p
                tp[t0 + j] = dy2[u, v0 + j] * (x2[u, v0 + j] * qv)
        box_rows(tp, b, s, nt, prow, size, e)
        for q in range(nr):
            v0 = uint64((r0 + q) * rowlen)
            s0 = uint64(q * prow)
            p0 = uint64((q + after) * prow)
            for j in range(uint64(rowlen)):
                dx2[u, v0 + j] = dy2[u, v0 + j] * pp[p0 + j] - coef * (x2[u, v0 + j] * s[s0 + j])
    return True


# --- stacks of NCHW planes ------------------------------------------------------------------
# An NCHW plane of AlexNet conv1 (55 x 55) or CIFAR-10 (16 x 16, 8 x 8) gives loops of one
# row, 55, 16 or 8 values: LLVM's 16-lane loops then leave much or all of s^-beta to scalar
# sqrt and division. Planes with e = 1 that fit whole are instead done a stack at a time: the
# planes one above the other in the padded scratch, with size - 1 zero rows between them, so
# the window passes and s^-beta are each one loop over the whole stack (the rows between the
# planes are computed and never read), and only the squares, the product with x and the
# stores go row by row. Each plane adds the same terms in the same order as alone: the bits
# do not depend on the stacking.


def stack_planes(h: int, w: int, size: int) -> int:
    """Planes per stack: as many padded planes as fit in ``_STACK_VALUES`` (at least one)."""
    return max(1, _STACK_VALUES // ((h + size - 1) * (w + size - 1)))


@njit(cache=True, error_model="numpy")
def stack_scratch(count, h, w, size, backward):
    """(sq, b, s, t, p): float32 scratch of one thread for stacks of ``count`` planes, zeroed
    once (the padding is never written)."""
    n = count * (h + size - 1) * (w + size - 1)
    m = n if backward else 0
    return (np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32),
            np.zeros(n, dtype=np.float32), np.zeros(m, dtype=np.float32),
            np.zeros(m, dtype=np.float32))


@njit(cache=True, error_model="numpy")
def _stack_squares(src, u0, count, h, w, size, top, dst):
    """Squares of units u0 .. u0 + count - 1 of src (U, h * w) into the padded stack dst,
    plane i's row r at stack row i * (h + size - 1) + top + r, column top."""
    prow = w + size - 1
    per = h + size - 1
    for i in range(count):
        for r in range(h):
            d0 = uint64((i * per + top + r) * prow + top)
            v0 = uint64(r * w)
            for j in range(uint64(w)):
                v = src[u0 + i, v0 + j]
                dst[d0 + j] = v * v


@njit(cache=True, error_model="numpy")
def fwd_stack(x2, y2, u0, count, h, w, before, size, scale, k, mode, acap, sq, b, s):
    """y of the float32 NCHW planes u0 .. u0 + count - 1 as one stack; returns False, having
    written nothing, if one of them holds an |x| above ``acap`` (then each is done alone)."""
    if units_peak(x2, u0, count) > acap:
        return False
    prow = w + size - 1
    per = h + size - 1
    _stack_squares(x2, u0, count, h, w, size, before, sq)
    box_rows(sq, b, s, count * per, prow, size, 1)
    scale32, k32 = np.float32(scale), np.float32(k)
    for j in range(uint64((count * per - size + 1) * prow)):
        s[j] = neg_pow32(k32 + scale32 * s[j], mode)
    for i in range(count):
        for r in range(h):
            s0 = uint64((i * per + r) * prow)
            v0 = uint64(r * w)
            for j in range(uint64(w)):
                y2[u0 + i, v0 + j] = x2[u0 + i, v0 + j] * s[s0 + j]
    return True


@njit(cache=True, error_model="numpy")
def bwd_stack(x2, dy2, dx2, u0, count, h, w, before, size, scale, k, beta, mode, acap, sq, b, s,
              tp, pp):
    """dx of the float32 NCHW planes u0 .. u0 + count - 1 as one stack (t in a second stack,
    padded for the transposed window); returns False as :func:`fwd_stack`."""
    if units_peak(x2, u0, count) > acap:
        return False
    after = size - 1 - before
    prow = w + size - 1
    per = h + size - 1
    _stack_squares(x2, u0, count, h, w, size, before, sq)
    box_rows(sq, b, s, count * per, prow, size, 1)
    scale32, k32 = np.float32(scale), np.float32(k)
    coef = np.float32(2.0 * scale * beta)
    for j in range(uint64((count * per - size + 1) * prow)):
        p, qv = _p_q(k32 + scale32 * s[j], mode)
        pp[j] = p
        s[j] = qv
    for i in range(count):
        for r in range(h):
            s0 = uint64((i * per + r) * prow)
            t0 = uint64((i * per + after + r) * prow + after)
            v0 = uint64(r * w)
            for j in range(uint64(w)):
                tp[t0 + j] = dy2[u0 + i, v0 + j] * (x2[u0 + i, v0 + j] * s[s0 + j])
    box_rows(tp, b, s, count * per, prow, size, 1)
    for i in range(count):
        for r in range(h):
            s0 = uint64((i * per + r) * prow)
            v0 = uint64(r * w)
            for j in range(uint64(w)):
                dx2[u0 + i, v0 + j] = (dy2[u0 + i, v0 + j] * pp[s0 + j]
                                       - coef * (x2[u0 + i, v0 + j] * s[s0 + j]))
    return True
