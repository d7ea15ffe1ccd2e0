"""Direct-sum float32 backward of LRN across channels for small windows (size <= 9; on NCHW
tiles <= 5, where the block path is faster above: ``numba_lrn._DIRECT_WIDE_MAX``).

    s = k + A * sum_{W(c)} x^2,  p = s^-beta,  t_c = dy_c x_c p_c / s_c,
    dx_i = dy_i p_i - 2 A beta x_i * sum_{c: i in W(c)} t_c

with W(c) = [c - before, c + after], so the transposed window of i is [i - after, i + before].
One walk down the channel axis of a tile does everything: at step m it squares row m into a
ring, completes s, p and t of row c = m - after (whose window ends at m), and emits dx of row
i = c - before (whose transposed window ends at c). x and dy are read from memory once and dx
written once; every other read hits three rings of ``size`` rows (squares, dy p, t), which
stay in cache (the ring keeps u = dy p, the product dx takes, so the dx loops read no dy:
the same bits, and on NCHW's eight-row loops one stream fewer); windows of at most 5 keep no
ring of squares but square the x rows of the window straight from cache. Three vectorised
loops per row (AlexNet conv1 fp32, 2 threads: backward kernel 10 ms for the float64 block
path -> 5.2-6 ms).

Precision (the accuracy policy: 1e-6 relative to the size of dx's terms): all in float32 with
exact sqrt and division, the window sums of s exactly as the forward's direct path takes them
(at most 9 non-negative terms: relative error < 6e-7), r = 1/s and p = sqrt(r) sqrt(sqrt(r))
for beta = 0.75 (one division per element), t = dy (x p r), and the transposed sums of t in
window order. Measured: worst error 2.6e-7 of the terms on random input with a 100x spike.
s must stay in [1e-18, 1e18], where s^-(1 + beta) is a normal float32: the path is taken
only when k >= 1e-18 and beta is 0.75, 0.5 or 1, and a tile where some window holds a square
above ``numba_direct.square_cap`` (s could pass 1e18, or a NaN or inf is there; checked per
row from the largest square's bits, or, in the centred-5 loops and on channels-last lines,
by float compares of each square as it is made) is redone by the float64 block path. The
choice depends on the tile's data only, so results are identical across runs and thread
counts. Both layouts add the same terms in the same order.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

from .numba_direct import (
    DIRECT_MAX,
    GROUP,
    PEAK_SLOTS,
    absmax_bits,
    group_ok,
    group_sums,
    line_sum,
    ok5,
    rows_peak,
    square_limit,
    square_row,
    sum5,
    sum_sq,
    window_peak,
    window_sum,
)
from .numba_prefetch import fetch_row
from .numba_window import POW_05, POW_075, POW_1

K_MIN, S_MAX = 1e-18, 1e18  # s stays in [K_MIN, S_MAX]: s^-(1 + beta) is a normal float32
# Rings are (RING_ROWS, B) float32: a centred window of 5 keeps rows of p and t in slots
# row % PEAK_SLOTS (GROUP rows at a time need 12 rows live), other windows in row % size;
# the last row is kept zero.
RING_ROWS = PEAK_SLOTS + 1
ZERO = RING_ROWS - 1
RING_W = 4096 + 16  # row stride of the direct path's rings (tiles of at most 4096 columns)


def direct_bwd_ok(size: int, beta: float, k: float) -> bool:
    """Whether the float32 direct backward applies (the caller checks the dtype): a short
    window, beta 0.75, 0.5 or 1, and k >= 1e-18 (so s >= 1e-18)."""
    return size <= DIRECT_MAX and beta in (0.75, 0.5, 1.0) and k >= K_MIN


@njit(cache=True, error_model="numpy")
def _p_q(sv, mode):
    """(p, q) = (s^-beta, s^-beta / s) in float32, beta = 0.75, 0.5 or 1 by mode."""
    one = np.float32(1.0)
    r = one / sv
    if mode == POW_075:
        a = np.sqrt(r)
        p = a * np.sqrt(a)
    elif mode == POW_05:
        p = np.sqrt(r)
    else:
        p = r
    return p, p * r


@njit(cache=True, error_model="numpy")
def pt_row(x, dy, o, c, i0, nb, sq, sl, nrows, w, scale, k, mode, pr, tr, slot):
    """dy p and t of row c into pr[slot], tr[slot] from the ring rows sl of squares (the
    five-row sum fused into the loop)."""
    u0 = uint64(i0)
    if nrows == 5:
        a0, a1, a2, a3, a4 = sl[0], sl[1], sl[2], sl[3], sl[4]
        for j in range(uint64(nb)):
            sv = k + scale * (sq[a0, j] + sq[a1, j] + sq[a2, j] + sq[a3, j] + sq[a4, j])
            p, q = _p_q(sv, mode)
            g = dy[o, c, u0 + j]
            pr[slot, j] = g * p
            tr[slot, j] = g * (x[o, c, u0 + j] * q)
        return
    window_sum(sq, sl, nrows, nb, w)
    pt_w(x, dy, o, c, i0, nb, w, scale, k, mode, pr, tr, slot)


@njit(cache=True, error_model="numpy")
def pt_w(x, dy, o, c, i0, nb, w, scale, k, mode, pr, tr, slot):
    """dy p and t of row c from w, the float32 window sums of its squares."""
    u0 = uint64(i0)
    for j in range(uint64(nb)):
        p, q = _p_q(k + scale * w[j], mode)
        g = dy[o, c, u0 + j]
        pr[slot, j] = g * p
        tr[slot, j] = g * (x[o, c, u0 + j] * q)


@njit(cache=True, error_model="numpy")
def pt_x5(x, dy, o, c, i0, nb, scale, k, mode, pr, tr, slot, ql):
    """p and t of interior row c of a size-5 window centred on c, its squares taken straight
    from the x rows c-2 .. c+2 (in cache), summed in window order; returns whether every
    square of those rows is <= ql (numba_direct.square_limit), tested in the same loop."""
    u0 = uint64(i0)
    ok = True
    for j in range(uint64(nb)):
        acc, xc = sum5(x, o, c, u0 + j)
        ok = ok & ok5(x, o, c, u0 + j, ql)
        p, q = _p_q(k + scale * acc, mode)
        g = dy[o, c, u0 + j]
        pr[slot, j] = g * p
        tr[slot, j] = g * (xc * q)
    return ok


@njit(cache=True, error_model="numpy", inline="always")
def _pq075(sv):
    return _p_q(sv, POW_075)


@njit(cache=True, error_model="numpy", inline="always")
def _pq05(sv):
    return _p_q(sv, POW_05)


@njit(cache=True, error_model="numpy", inline="always")
def _pq1(sv):
    return _p_q(sv, POW_1)


@njit(cache=True, error_model="numpy")
def pt_x5_group(x, dy, o, c, i0, nb, scale, k, mode, pr, tr, ql):
    """:func:`pt_x5` for the GROUP = 8 interior rows c .. c + 7 (c = 2 mod 8) in one loop (each
    column loads the x rows c - 2 .. c + 9 once) into the ring slots :func:`slot5`: the same
    bits. Returns whether every square of the 12 rows is <= ql, tested in the same loop."""
    if mode == POW_075:
        return _pt_group(x, dy, o, c, i0, nb, scale, k, pr, tr, _pq075, ql)
    if mode == POW_05:
        return _pt_group(x, dy, o, c, i0, nb, scale, k, pr, tr, _pq05, ql)
    return _pt_group(x, dy, o, c, i0, nb, scale, k, pr, tr, _pq1, ql)


@njit(cache=True, error_model="numpy", inline="always")
def _pt_group(x, dy, o, c, i0, nb, scale, k, pr, tr, pq, ql):
    u0 = uint64(i0)
    prf, trf = ring_rows(pr, slot5(c), GROUP), ring_rows(tr, slot5(c), GROUP)
    ok = True
    for j in range(uint64(nb)):
        u = u0 + j
        xs, w = group_sums(x, o, c, u)
        ok = ok & group_ok(x, o, c, u, ql)
        p, q = pq(k + scale * w[0])
        g = dy[o, c, u]
        prf[j] = g * p
        trf[j] = g * (xs[0] * q)
        p, q = pq(k + scale * w[1])
        g = dy[o, c + 1, u]
        prf[j + RING_W] = g * p
        trf[j + RING_W] = g * (xs[1] * q)
        p, q = pq(k + scale * w[2])
        g = dy[o, c + 2, u]
        prf[j + 2 * RING_W] = g * p
        trf[j + 2 * RING_W] = g * (xs[2] * q)
        p, q = pq(k + scale * w[3])
        g = dy[o, c + 3, u]
        prf[j + 3 * RING_W] = g * p
        trf[j + 3 * RING_W] = g * (xs[3] * q)
        p, q = pq(k + scale * w[4])
        g = dy[o, c + 4, u]
        prf[j + 4 * RING_W] = g * p
        trf[j + 4 * RING_W] = g * (xs[4] * q)
        p, q = pq(k + scale * w[5])
        g = dy[o, c + 5, u]
        prf[j + 5 * RING_W] = g * p
        trf[j + 5 * RING_W] = g * (xs[5] * q)
        p, q = pq(k + scale * w[6])
        g = dy[o, c + 6, u]
        prf[j + 6 * RING_W] = g * p
        trf[j + 6 * RING_W] = g * (xs[6] * q)
        p, q = pq(k + scale * w[7])
        g = dy[o, c + 7, u]
        prf[j + 7 * RING_W] = g * p
        trf[j + 7 * RING_W] = g * (xs[7] * q)
    return ok


@njit(cache=True, error_model="numpy")
def dx_x5_group(x, o, i, i0, nb, tr, pr, coef, dst, do, di0):
    """:func:`dx_row` of a centred window of 5 for the GROUP = 8 rows i .. i + 7 (i a multiple
    of 8), whose t rows i - 2 .. i + 9 are all in the rings: rows i - 2 .. i + 1 are the slots
    a .. a + 3 at the end of one half of the ring, rows i + 2 .. i + 9 the other half
    b .. b + 7 (see bwd_x5). Two loops of four rows (one of eight would need more run-time
    alias checks than LLVM makes): the same bits as dx_row."""
    _dx4(x, o, i, i0, nb, tr, pr, coef, dst, do, di0, slot5(i - 2), slot5(i + 2))
    _dx4(x, o, i + 4, i0, nb, tr, pr, coef, dst, do, di0, slot5(i + 2), slot5(i + 2) + 4)


@njit(cache=True, error_model="numpy", inline="always")
def _dx4(x, o, i, i0, nb, tr, pr, coef, dst, do, di0, a, b):
    """dx of rows i .. i + 3 from t rows i - 2 .. i + 1 at ring slots a .. a + 3 and
    i + 2 .. i + 5 at b .. b + 3 (:func:`ring_rows` views)."""
    u0 = uint64(i0)
    v0 = uint64(di0)
    ta, tb, pa, pb = ring_rows(tr, a, 4), ring_rows(tr, b, 4), ring_rows(pr, a, 4), ring_rows(
        pr, b, 2)
    for j in range(uint64(nb)):
        u = u0 + j
        v = v0 + j
        e0, e1, e2, e3 = ta[j], ta[j + RING_W], ta[j + 2 * RING_W], ta[j + 3 * RING_W]
        e4, e5, e6, e7 = tb[j], tb[j + RING_W], tb[j + 2 * RING_W], tb[j + 3 * RING_W]
        dst[do, i, v] = pa[j + 2 * RING_W] - coef * (
            x[o, i, u] * ((((e0 + e1) + e2) + e3) + e4))
        dst[do, i + 1, v] = pa[j + 3 * RING_W] - coef * (
            x[o, i + 1, u] * ((((e1 + e2) + e3) + e4) + e5))
        dst[do, i + 2, v] = pb[j] - coef * (
            x[o, i + 2, u] * ((((e2 + e3) + e4) + e5) + e6))
        dst[do, i + 3, v] = pb[j + RING_W] - coef * (
            x[o, i + 3, u] * ((((e3 + e4) + e5) + e6) + e7))


@njit(cache=True, error_model="numpy", inline="always")
def ring_rows(ring, slot, count):
    """Ring rows slot .. slot + count - 1 as one flat view: row slot + m, column j is element
    j + m * RING_W. The grouped loops index rows this way, at fixed offsets from one base
    taken before the loop, so LLVM checks each view as one range for aliasing (rows at
    arbitrary slots need more run-time checks than it makes; an offset computed inside the
    index made it give up: "unsafe indirect dependence")."""
    first = slot * RING_W
    return ring.reshape(-1)[first:first + count * RING_W]


@njit(cache=True, error_model="numpy", inline="always")
def slot5(c):
    """The ring slot of row c on the centred-5 path: (c - 2) mod PEAK_SLOTS, so the groups of
    p and t, which start at rows 2, 10, 18, ..., fill the two halves of the ring in turn."""
    return (c + PEAK_SLOTS - 2) % PEAK_SLOTS


@njit(cache=True, error_model="numpy")
def dx_row(x, o, i, i0, nb, tr, sl, nrows, st, pr, slot, coef, dst, do, di0):
    """dx of row i = dy p - coef (x * transposed window sum of t), dy p from pr[slot]."""
    u0 = uint64(i0)
    v0 = uint64(di0)
    if nrows == 5:
        a0, a1, a2, a3, a4 = sl[0], sl[1], sl[2], sl[3], sl[4]
        for j in range(uint64(nb)):
            sv = tr[a0, j] + tr[a1, j] + tr[a2, j] + tr[a3, j] + tr[a4, j]
            dst[do, i, v0 + j] = pr[slot, j] - coef * (x[o, i, u0 + j] * sv)
        return
    window_sum(tr, sl, nrows, nb, st)
    for j in range(uint64(nb)):
        dst[do, i, v0 + j] = pr[slot, j] - coef * (x[o, i, u0 + j] * st[j])


@njit(cache=True, error_model="numpy")
def _slots(first, size, length, sl, shift, period):
    """sl[t] = ring slot ((row + shift) % period) of row first + t (t < size, row inside the
    axis), else the zero row."""
    for t in range(DIRECT_MAX):
        c = first + t
        sl[t] = (c + shift) % period if t < size and 0 <= c < length else ZERO


@njit(cache=True, error_model="numpy")
def bwd_x5(x, dy, o, i0, nb, pr, tr, w, st, sl, scale, k, acap, mode, coef, dst, do, di0):
    """:func:`bwd_direct` for a centred window of 5 (the float32 scale and k): p and t of eight
    interior rows at a time (:func:`pt_x5_group`, rows 2 .. 9, 10 .. 17, ...), then dx of eight
    rows at a time (:func:`dx_x5_group`, rows 8 .. 15, 16 .. 23, ...) once their transposed
    windows' t are in the rings; the other rows one at a time. Row c lives in ring slot
    :func:`slot5` (c): a group's p and t fill one half of the ring, the rows of a loop are
    slots at fixed offsets from one or two bases, and LLVM vectorises the loops (with rows
    at arbitrary slots it needs more run-time alias checks than it will make). A group
    overwrites rows at least 9 below its first, while dx has emitted every row but the last
    two below it. AlexNet conv1 fp32, 2 threads, the bare loops: 4.0 -> 2.7 ms. Returns 1 as
    soon as a window holds an |x| above acap, which each loop tests on the rows it loads
    (no pass over each new row first: see ``numba_direct.fwd_direct_x``)."""
    length = x.shape[1]
    bits = x.view(np.int32)
    ql = square_limit(acap)
    done = 0  # rows below it have p and t in the rings
    emitted = 0  # rows below it have dx written
    while emitted < length:
        if done < length:
            if done >= 2 and (done - 2) % GROUP == 0 and done + GROUP + 2 <= length:
                ok = pt_x5_group(x, dy, o, done, i0, nb, scale, k, mode, pr, tr, ql)
                done += GROUP
            elif 2 <= done < length - 2:
                ok = pt_x5(x, dy, o, done, i0, nb, scale, k, mode, pr, tr, slot5(done), ql)
                done += 1
            else:  # the first and last two rows
                lo, hi = max(0, done - 2), min(length - 1, done + 2)
                ok = rows_peak(bits, o, lo, hi, i0, nb) <= acap
                if ok:
                    sum_sq(x, o, lo, hi, i0, nb, w)
                    pt_w(x, dy, o, done, i0, nb, w, scale, k, mode, pr, tr, slot5(done))
                done += 1
            if not ok:
                return 1
        while emitted < length and (done == length or emitted + 2 < done):
            i = emitted
            if i >= 2 and i % GROUP == 0 and i + GROUP + 2 <= done:
                dx_x5_group(x, o, i, i0, nb, tr, pr, coef, dst, do, di0)
                emitted += GROUP
            else:
                _slots(i - 2, 5, length, sl, PEAK_SLOTS - 2, PEAK_SLOTS)
                dx_row(x, o, i, i0, nb, tr, sl, 5, st, pr, slot5(i), coef, dst, do, di0)
                emitted += 1
    return 0


@njit(cache=True, error_model="numpy")
def bwd_direct(x, dy, o, i0, nb, before, size, sq, pr, tr, top, w, st, sl, scale, k, cap, acap,
               beta, mode, dst, do, di0):
    """dx of the float32 tile x[o, :, i0:i0+nb] into dst; returns 1 (and stops) as soon as a
    window holds a square above ``cap`` (s may pass 1e18, or a NaN or inf is there): the
    caller then redoes the tile. Windows of at most 5 keep no ring of squares: their squares
    are taken from x rows still in cache (the same terms in the same order).

    sq, pr, tr: (RING_ROWS, B) float32 rings; top: (RING_ROWS,) int64, the largest
    square's (or, windows <= 5, |x|'s, against ``acap``) bits by row; w, st: (B,) float32;
    sl: (DIRECT_MAX,) int64
    """
    length = x.shape[1]
    after = size - 1 - before
    nrows = 5 if size <= 5 else DIRECT_MAX
    small = size <= 5
    bits = x.view(np.int32)
    scale32, k32 = np.float32(scale), np.float32(k)
    coef = np.float32(2.0 * scale * beta)
    for j in range(nb):
        sq[ZERO, j] = 0.0
        tr[ZERO, j] = 0.0
    if size == 5 and before == 2:
        return bwd_x5(x, dy, o, i0, nb, pr, tr, w, st, sl, scale32, k32, acap, mode, coef, dst,
                      do, di0)
    top[ZERO] = 0
    for m in range(length + after + before):
        if m < length:
            if small:
                top[m % DIRECT_MAX] = absmax_bits(bits, o, m, i0, nb)
            else:
                top[m % size] = square_row(x, o, m, i0, nb, sq, m % size)
        c = m - after
        if 0 <= c < length:
            if small:
                if window_peak(top, max(0, c - before), min(length - 1, c + after)) > acap:
                    return 1
                sum_sq(x, o, max(0, c - before), min(length - 1, c + after), i0, nb, w)
                pt_w(x, dy, o, c, i0, nb, w, scale32, k32, mode, pr, tr, c % size)
            else:
                _slots(c - before, size, length, sl, 0, size)
                peak = 0
                for t in range(nrows):
                    peak = max(peak, top[sl[t]])
                if peak > cap:
                    return 1
                pt_row(x, dy, o, c, i0, nb, sq, sl, nrows, w, scale32, k32, mode, pr, tr,
                       c % size)
        i = c - before
        if 0 <= i < length:
            _slots(i - after, size, length, sl, 0, size)
            dx_row(x, o, i, i0, nb, tr, sl, nrows, st, pr, i % size, coef, dst, do, di0)
    return 0


@njit(cache=True, error_model="numpy", inline="always")
def line_pt(x2, dy2, o, sw, w, size, scale, k, mode, pl, tl):
    """p and t of line o into pl, tl from the zero-padded squares shifted to the window's
    first row (sw[c + t] is the t-th term of row c). (The shift is a view, not an index
    offset: LLVM vectorises c + t, not s0 + c + t.)"""
    length = x2.shape[2]
    if size == 5:
        for c in range(uint64(length)):
            sv = k + scale * (sw[c] + sw[c + 1] + sw[c + 2] + sw[c + 3] + sw[c + 4])
            p, q = _p_q(sv, mode)
            g = dy2[o, 0, c]
            pl[c] = g * p
            tl[c] = g * (x2[o, 0, c] * q)
        return
    line_sum(sw, size, length, w)
    for c in range(uint64(length)):
        p, q = _p_q(k + scale * w[c], mode)
        g = dy2[o, 0, c]
        pl[c] = g * p
        tl[c] = g * (x2[o, 0, c] * q)


@njit(cache=True, error_model="numpy", inline="always")
def line_dx(x2, o, tw, w, size, pl, coef, dx2):
    """dx of line o from the zero-padded t shifted to the transposed window's first row."""
    length = x2.shape[2]
    if size == 5:
        for c in range(uint64(length)):
            sv = tw[c] + tw[c + 1] + tw[c + 2] + tw[c + 3] + tw[c + 4]
            dx2[o, 0, c] = pl[c] - coef * (x2[o, 0, c] * sv)
        return
    line_sum(tw, size, length, w)
    for c in range(uint64(length)):
        dx2[o, 0, c] = pl[c] - coef * (x2[o, 0, c] * w[c])


# bwd_lines prefetches x and dy LINES_AHEAD elements (8 KiB, whole lines) ahead of the line it
# works on: channels-last lines are one stream a thread, which the hardware prefetchers alone
# keep too short (AlexNet conv1 channels-last fp32, 2 threads, caches evicted: backward kernel
# 7.5 -> 7.0 ms; googlenet-lrn1 6.2-6.4 -> 5.5-5.6 ms).
LINES_AHEAD = 2048


@njit(cache=True, error_model="numpy")
def bwd_lines(x2, dy2, f0, nb, before, size, sqp, tp, pl, w, scale, k, acap, beta, mode, dx2):
    """:func:`bwd_direct` along lines f0 .. f0 + nb - 1 of (O, 1, L) arrays (channels-last: a
    line is one pixel's contiguous channels), with shifted loads of zero-padded lines; returns
    1 as soon as a line holds an |x| above ``acap`` (the caller redoes the whole tile, so the
    lines before it may have written dx). The test is on each square as the line makes it
    (float compares against ``square_limit(acap)``), not a pass over the tile's memory first:
    that pass read every line with no arithmetic beside it.

    sqp, tp: (L + 2 * DIRECT_MAX,) float32, zero outside [DIRECT_MAX, DIRECT_MAX + L);
    pl, w: (L,) float32
    """
    length = x2.shape[2]
    after = size - 1 - before
    scale32, k32 = np.float32(scale), np.float32(k)
    coef = np.float32(2.0 * scale * beta)
    for c in range(sqp.shape[0]):
        sqp[c] = 0.0
        tp[c] = 0.0
    sq_in, t_in = sqp[DIRECT_MAX:], tp[DIRECT_MAX:]
    sw = sqp[DIRECT_MAX - before:]  # window of c: rows c - before .. c + after
    tw = tp[DIRECT_MAX - after:]  # transposed window of i: rows i - after .. i + before
    ql = square_limit(acap)
    # Lines are indexed in x2, dy2, dx2, never sliced: a slice of an array every thread shares
    # costs an atomic reference count on its one meminfo, and two threads bouncing that cache
    # line per line took a third of the channels-last backward.
    ahead = max(1, LINES_AHEAD // length)
    for o in range(f0, f0 + nb):
        if o + ahead < x2.shape[0]:
            fetch_row(x2, o + ahead, 0, 0, length, False)
            fetch_row(dy2, o + ahead, 0, 0, length, False)
        ok = True
        for c in range(uint64(length)):
            v = x2[o, 0, c]
            q = v * v
            sq_in[c] = q
            ok = ok & (q <= ql)
        if not ok:
            return 1
        line_pt(x2, dy2, o, sw, w, size, scale32, k32, mode, pl, t_in)
        line_dx(x2, o, tw, w, size, pl, coef, dx2)
    return 0
