"""Direct-sum float32 forward of LRN across channels for small windows (size <= 9; on wide
NCHW tiles only up to 5, where the block path is faster above it: numba_lrn._DIRECT_WIDE_MAX).

Every practical LRN has a short window (AlexNet and GoogLeNet use 5). For those the window
sum of row c is the plain float32 sum of its ``size`` squares in window order, taken from a
ring of the last ``size`` squared rows of the tile (each x row is squared once, when it
enters the ring, and read from memory once). The sum always adds ``DIRECT_MAX`` rows, the
ones outside the window (or outside the axis) being a row of zeros: adding +0.0 changes no
value, so the result is exactly the sum of the window's own terms, and one vectorised loop
per row does the sum, s = k + scale * sum, s^-beta and the product with x. Windows of at most
5 with beta 0.75, 0.5 or 1 keep no ring at all (``fwd_direct_x``): each row squares the x rows
of its window straight from cache, the same terms in the same order, so the same bits, without
storing and reloading a ring (AlexNet conv1 fp32, 2 threads, whole-plane tiles: kernel
2.7 -> 2.1 ms, against 1.5-2 ms for a copy); a centred window of 5 does eight interior rows
per loop (``rows_x5_group``: 12 x loads for 8 rows, not 40; 2.3 -> 2.0 ms).

Accuracy: the float32 sum of at most 9 non-negative rounded squares has relative error below
10 * 2^-24 = 6e-7, so y = x s^-beta (beta <= 1) stays within 1e-6 relative of the float64
reference, provided every s lies in [lo, 1e36] (lo >= 1e-36, raised when scale is large
enough that underflowed squares could matter; see ``direct_lo``). The path is taken only when
k >= lo, so s >= lo always; for the upper end, a row whose window may hold a square above
``square_cap`` (s could pass 1e36, the float32 sum of the squares could overflow, or a NaN or
inf is there) is recomputed in float64, as the block path does. The ring path takes the
largest square of each row as an integer maximum of the float bits (non-negative floats order
like their bits, NaN and inf above all finite ones); the loops of a centred window of 5 test
every square they make against the cap with float compares (``ok5``, ``group_ok``). No
subtraction is ever made.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types, uint64
from numba.extending import intrinsic

from .numba_prefetch import fetch_row
from .numba_window import _LO32, POW_05, POW_075, POW_1, fwd_emit, neg_pow32

DIRECT_MAX = 9
GROUP = 8  # interior rows per loop of the size-5 forward (rows_x5_group)
PEAK_SLOTS = 16  # slots of the rings of largest |x| by row: >= GROUP + 4 rows
F32_MAX_BITS = 0x7F7FFFFF  # the largest finite float32, as int32 bits


def direct_ok(size: int, scale: float, k: float) -> bool:
    """Whether the float32 direct path applies: a short window, a normal float32 scale and
    k >= ``direct_lo`` (so no s can fall below it)."""
    return size <= DIRECT_MAX and 2.0**-126 <= scale <= 1e30 and k >= direct_lo(size, scale)


def direct_lo(size: int, scale: float) -> float:
    """Smallest s taken in float32: below it, squares that underflowed float32 (absolute
    error <= 2^-150 each) could move s by more than 2^-26 relative."""
    return max(_LO32, scale * size * 2.0**-124)


def square_cap(size: int, scale: float, k: float, hi: float) -> int:
    """The int32 bits of the largest float32 square q with k + scale * size * q <= hi: a
    window whose squares are all <= q has s <= hi (up to rounding, far inside float32)."""
    if scale <= 0.0:
        return F32_MAX_BITS
    # and the float32 sum of ``size`` such squares (each rounding up by at most 2^-24) finite
    q = min((hi - k) / (scale * size), float(np.finfo(np.float32).max) / (size * 1.0001))
    if q >= float(np.finfo(np.float32).max):
        return F32_MAX_BITS
    q32 = np.float32(q)
    if float(q32) > q:
        q32 = np.nextafter(q32, np.float32(0.0))
    return int(np.array(q32, dtype=np.float32).view(np.int32))


def abs_cap(cap: int) -> int:
    """The int32 bits of the largest float32 a whose float32 square is <= the square with bits
    ``cap``: a window of |x| <= a has every square <= that one. A cap of ``F32_MAX_BITS``
    (every finite square) gives sqrt(float32 max), about 1.8e19: above it the square
    overflows to inf, so such an x still takes float64."""
    q = np.array(min(cap, F32_MAX_BITS), dtype=np.int32).view(np.float32)[()]
    a = np.float32(np.sqrt(np.float64(q)))
    while a > 0 and a * a > q:
        a = np.nextafter(a, np.float32(0.0))
    return int(np.array(a, dtype=np.float32).view(np.int32))


@njit(cache=True, error_model="numpy")
def square_row(src, o, c, i0, nb, ring, slot):
    """ring[slot, j] = src[o, c, i0 + j]^2 in float32; returns the largest square's bits."""
    u0 = uint64(i0)
    for j in range(uint64(nb)):
        v = src[o, c, u0 + j]
        ring[slot, j] = v * v
    return max_bits(ring[slot, :nb])


@njit(cache=True, error_model="numpy")
def max_bits(sq):
    """The largest int32 bit pattern of the non-negative float32 values sq (0 when empty)."""
    bits = sq.view(np.int32)
    m = 0
    for j in range(uint64(bits.shape[0])):
        m = max(m, bits[j])
    return m


@intrinsic
def bits_f32(typingctx, v):  # type: ignore[no-untyped-def]
    """The float32 whose bits are the integer v's low 32 (v: a cap's int32 bits, typed int32
    or int64): a truncation and a register bitcast."""
    if v not in (types.int32, types.int64):
        return None

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        low = args[0] if v == types.int32 else builder.trunc(args[0], ir.IntType(32))
        return builder.bitcast(low, ir.FloatType())

    return types.float32(v), codegen


@njit(cache=True, error_model="numpy", inline="always")
def square_limit(acap):
    """fl(a * a) for the float32 a with bits ``acap`` (:func:`abs_cap`): |x| <= a exactly
    when fl(x * x) <= it, since rounding keeps squares in the order of |x| and the next float
    above a squares past the cap. NaN compares false, inf above it: both fail the test."""
    a = bits_f32(acap)  # type: ignore[call-arg,var-annotated]
    return a * a


@njit(cache=True, error_model="numpy")
def row_f64(src, o, r, i0, nb, before, size, s64, scale, k):
    """s64[j] = k + scale * float64 window sum of row r (the out-of-range fallback)."""
    length = src.shape[1]
    u0 = uint64(i0)
    for j in range(uint64(nb)):
        s64[j] = 0.0
    for t in range(size):
        c = r - before + t
        if 0 <= c < length:
            for j in range(uint64(nb)):
                v = np.float64(src[o, c, u0 + j])
                s64[j] += v * v
    for j in range(uint64(nb)):
        s64[j] = k + scale * s64[j]


@njit(cache=True, error_model="numpy")
def window_sum(ring, sl, nrows, nb, w):
    """w[j] = sum of ring rows sl[0], sl[1], ... sl[nrows - 1] at column j, added in that
    order (nrows is 5 or 9). At most five input streams per loop: more pointers than LLVM's
    runtime alias-check budget stop it from vectorising."""
    a0, a1, a2, a3, a4 = sl[0], sl[1], sl[2], sl[3], sl[4]
    for j in range(uint64(nb)):
        w[j] = ring[a0, j] + ring[a1, j] + ring[a2, j] + ring[a3, j] + ring[a4, j]
    if nrows > 5:
        a5, a6, a7, a8 = sl[5], sl[6], sl[7], sl[8]
        for j in range(uint64(nb)):
            w[j] = w[j] + ring[a5, j] + ring[a6, j] + ring[a7, j] + ring[a8, j]


@njit(cache=True, error_model="numpy")
def sum5(src, o, r, u):
    """(x[r-2]^2 + x[r-1]^2 + x[r]^2 + x[r+1]^2 + x[r+2]^2 in window order, x[r]) at column u,
    float32: the window sum of an interior row of a size-5 window centred on r."""
    a0 = src[o, r - 2, u]
    a1 = src[o, r - 1, u]
    a2 = src[o, r, u]
    a3 = src[o, r + 1, u]
    a4 = src[o, r + 2, u]
    return (((a0 * a0 + a1 * a1) + a2 * a2) + a3 * a3) + a4 * a4, a2


@njit(cache=True, error_model="numpy", inline="always")
def ok5(src, o, r, u, ql):
    """Whether every square of rows r - 2 .. r + 2 at column u is <= ql (:func:`square_limit`):
    the loads and squares of :func:`sum5`, which LLVM merges with those. Float compares and a
    boolean and: no call, no integer lanes, so the loop around it keeps 8 float32 lanes."""
    a0, a1, a2 = src[o, r - 2, u], src[o, r - 1, u], src[o, r, u]
    a3, a4 = src[o, r + 1, u], src[o, r + 2, u]
    return ((a0 * a0 <= ql) & (a1 * a1 <= ql) & (a2 * a2 <= ql) & (a3 * a3 <= ql)
            & (a4 * a4 <= ql))


@njit(cache=True, error_model="numpy", inline="always")
def group_sums(src, o, r, u):
    """((x[r], .. x[r + 7]), (their window sums)) at column u for a centred window of 5: the
    12 rows r - 2 .. r + 9 loaded once, each row's five squares added in window order (the
    terms and order of :func:`sum5`, so the same bits). Shared by the grouped forward and
    backward loops."""
    a0, a1, a2, a3 = src[o, r - 2, u], src[o, r - 1, u], src[o, r, u], src[o, r + 1, u]
    a4, a5, a6, a7 = src[o, r + 2, u], src[o, r + 3, u], src[o, r + 4, u], src[o, r + 5, u]
    a8, a9, a10, a11 = src[o, r + 6, u], src[o, r + 7, u], src[o, r + 8, u], src[o, r + 9, u]
    q0, q1, q2, q3 = a0 * a0, a1 * a1, a2 * a2, a3 * a3
    q4, q5, q6, q7 = a4 * a4, a5 * a5, a6 * a6, a7 * a7
    q8, q9, q10, q11 = a8 * a8, a9 * a9, a10 * a10, a11 * a11
    return (a2, a3, a4, a5, a6, a7, a8, a9), (
        (((q0 + q1) + q2) + q3) + q4, (((q1 + q2) + q3) + q4) + q5,
        (((q2 + q3) + q4) + q5) + q6, (((q3 + q4) + q5) + q6) + q7,
        (((q4 + q5) + q6) + q7) + q8, (((q5 + q6) + q7) + q8) + q9,
        (((q6 + q7) + q8) + q9) + q10, (((q7 + q8) + q9) + q10) + q11)


@njit(cache=True, error_model="numpy", inline="always")
def group_ok(src, o, r, u, ql):
    """:func:`ok5` for the 12 rows r - 2 .. r + 9 that :func:`group_sums` loads at column u."""
    return ok5(src, o, r, u, ql) & ok5(src, o, r + 5, u, ql) & (
        (src[o, r + 8, u] * src[o, r + 8, u] <= ql) & (src[o, r + 9, u] * src[o, r + 9, u] <= ql))


@njit(cache=True, error_model="numpy")
def window_peak(top, lo, hi, slots=DIRECT_MAX):
    """The largest of top[c % slots] for rows c in [lo, hi] (largest-|x| bits by row)."""
    peak = 0
    for c in range(lo, hi + 1):
        peak = max(peak, top[c % slots])
    return peak


@njit(cache=True, error_model="numpy")
def direct_row(src, o, r, i0, nb, w, dst, do, di0, scale, k, mode):
    """Row r of y = x * (k + scale * w)^-beta in float32 for beta = 0.75, 0.5, 1 (other
    modes: w <- k + scale * w)."""
    u0 = uint64(i0)
    v0 = uint64(di0)
    if mode == POW_075 or mode == POW_05 or mode == POW_1:
        for j in range(uint64(nb)):
            dst[do, r, v0 + j] = src[o, r, u0 + j] * neg_pow32(k + scale * w[j], mode)
    else:
        for j in range(uint64(nb)):
            w[j] = k + scale * w[j]


@njit(cache=True, error_model="numpy")
def fused5(src, o, r, i0, nb, ring, sl, dst, do, di0, scale, k):
    """direct_row for beta = 0.75 with the five-row window sum fused in."""
    u0 = uint64(i0)
    v0 = uint64(di0)
    one = np.float32(1.0)
    a0, a1, a2, a3, a4 = sl[0], sl[1], sl[2], sl[3], sl[4]
    for j in range(uint64(nb)):
        sv = k + scale * (ring[a0, j] + ring[a1, j] + ring[a2, j] + ring[a3, j] + ring[a4, j])
        q = np.sqrt(sv)
        dst[do, r, v0 + j] = src[o, r, u0 + j] * (one / (q * np.sqrt(q)))


@njit(cache=True, error_model="numpy")
def absmax_bits(bits, o, m, i0, nb):
    """The largest |x| of row m of the tile, as int32 bits (NaN and inf above all finite)."""
    u0 = uint64(i0)
    mx = 0
    for j in range(uint64(nb)):
        mx = max(mx, bits[o, m, u0 + j] & 0x7FFFFFFF)
    return mx


@njit(cache=True, error_model="numpy")
def note_peaks(bits, o, i0, nb, top, known, last):
    """Store the largest |x| (bits) of rows known .. last in top[row % PEAK_SLOTS]; returns
    the new count of rows known (rows are looked at once each, in order)."""
    for c in range(known, last + 1):
        top[c % PEAK_SLOTS] = absmax_bits(bits, o, c, i0, nb)
    return max(known, last + 1)


@njit(cache=True, error_model="numpy")
def rows_peak(bits, o, lo, hi, i0, nb):
    """The largest |x| (int32 bits) of rows lo .. hi of the tile."""
    peak = 0
    for c in range(lo, hi + 1):
        peak = max(peak, absmax_bits(bits, o, c, i0, nb))
    return peak


@njit(cache=True, error_model="numpy")
def rows_x5(src, o, r, i0, nb, dst, do, di0, scale, k, mode, ql):
    """Interior row r of a size-5 window centred on r: the squares of rows r-2 .. r+2 taken
    straight from x (no ring of squares to store and reload), summed in window order.
    Returns whether every square of the window is <= ql (:func:`square_limit`), tested in
    the same loop: if not, the row is wrong and the caller redoes it."""
    u0 = uint64(i0)
    v0 = uint64(di0)
    ok = True
    for j in range(uint64(nb)):
        u = u0 + j
        acc, xr = sum5(src, o, r, u)
        ok = ok & ok5(src, o, r, u, ql)
        dst[do, r, v0 + j] = xr * neg_pow32(k + scale * acc, mode)
    return ok


@njit(cache=True, error_model="numpy")
def rows_x5_group(src, o, r, i0, nb, dst, do, di0, scale, k, mode, ql):
    """:func:`rows_x5` for the ``GROUP`` = 8 interior rows r .. r + 7 in one loop: each column
    loads the 12 x rows r - 2 .. r + 9 once, where eight single-row loops load 40, so a row
    costs 1.5 loads from cache instead of 5 (AlexNet conv1 fp32, 2 threads, whole planes: the
    bare loop 1.96 -> 1.63 ms, against a 1.45-1.5 ms copy). Each row's sum has the terms,
    order and arithmetic of :func:`rows_x5`: the same bits. Returns whether every square of
    the 12 rows is <= ql, tested in the same loop: if not, some row is wrong and the caller
    redoes the group."""
    if mode == POW_075:
        return _group(src, o, r, i0, nb, dst, do, di0, scale, k, _pow075, ql)
    if mode == POW_05:
        return _group(src, o, r, i0, nb, dst, do, di0, scale, k, _pow05, ql)
    return _group(src, o, r, i0, nb, dst, do, di0, scale, k, _pow1, ql)


@njit(cache=True, error_model="numpy", inline="always")
def _pow075(sv):
    return neg_pow32(sv, POW_075)


@njit(cache=True, error_model="numpy", inline="always")
def _pow05(sv):
    return neg_pow32(sv, POW_05)


@njit(cache=True, error_model="numpy", inline="always")
def _pow1(sv):
    return neg_pow32(sv, POW_1)


@njit(cache=True, error_model="numpy", inline="always")
def _group(src, o, r, i0, nb, dst, do, di0, scale, k, powf, ql):
    """:func:`rows_x5_group` with s^-beta computed by ``powf`` (one specialisation each)."""
    u0 = uint64(i0)
    v0 = uint64(di0)
    ok = True
    for j in range(uint64(nb)):
        u = u0 + j
        xs, w = group_sums(src, o, r, u)
        ok = ok & group_ok(src, o, r, u, ql)
        v = v0 + j
        dst[do, r, v] = xs[0] * powf(k + scale * w[0])
        dst[do, r + 1, v] = xs[1] * powf(k + scale * w[1])
        dst[do, r + 2, v] = xs[2] * powf(k + scale * w[2])
        dst[do, r + 3, v] = xs[3] * powf(k + scale * w[3])
        dst[do, r + 4, v] = xs[4] * powf(k + scale * w[4])
        dst[do, r + 5, v] = xs[5] * powf(k + scale * w[5])
        dst[do, r + 6, v] = xs[6] * powf(k + scale * w[6])
        dst[do, r + 7, v] = xs[7] * powf(k + scale * w[7])
    return ok


@njit(cache=True, error_model="numpy")
def sum_sq(src, o, lo, hi, i0, nb, w):
    """w[j] = x[lo]^2 + ... + x[hi]^2 at column j in float32, added in that order."""
    u0 = uint64(i0)
    for j in range(uint64(nb)):
        v = src[o, lo, u0 + j]
        w[j] = v * v
    for c in range(lo + 1, hi + 1):
        for j in range(uint64(nb)):
            v = src[o, c, u0 + j]
            w[j] = w[j] + v * v


@njit(cache=True, error_model="numpy")
def fwd_direct_x(src, o, i0, nb, before, size, top, w, s64, dst, do, di0, scale, k, acap, beta,
                 mode):
    """:func:`fwd_direct` for windows of at most 5 and beta 0.75, 0.5 or 1, with no ring:
    each row's squares are taken from x rows that are still in cache (a centred window of 5
    does eight interior rows at a time, :func:`rows_x5_group`). The terms, their order and the
    arithmetic are those of the ring path (leading and trailing zero terms change no bit), so
    results are the same bits. acap: :func:`abs_cap` of the square cap.

    A row whose window holds an |x| above acap (s may pass 1e36, or a NaN or inf is there)
    is done in float64. The loops of a centred window of 5 test each square they make
    against ``square_limit(acap)`` and the caller redoes their rows if one fails: a row
    takes float64 exactly when its own window holds such a value, as when the check came
    first. It did come first, in a pass over each new row before the loops that use it; that
    pass took every row from memory apart from the arithmetic, and on a box with slow
    division it cost half the copy again (AlexNet conv1 fp32, 2 threads, caches evicted,
    Xeon: the grouped loops alone 3.22 ms against the copy's 3.20, with the pass first 4.82
    ms). The test is float compares and a boolean and, not an integer maximum: the ``max``
    of the int32 bits stayed a call to numba's overload in this loop, which kept LLVM from
    vectorising it in its own compiled function ("call instruction cannot be vectorized"); a
    process that compiled the kernels then ran the loop scalar (forward 10.7-11.6 ms), one
    that loaded them from numba's cache 4 lanes wide (4.3 ms). An int32 maximum as a select
    vectorised both ways, but 4 lanes wide. With the compares, 8 lanes both ways: forward
    kernel 5.9-6.2 -> 4.2-4.6 ms, backward 9.1 -> 7.2-7.4 ms (AlexNet conv1 fp32 NCHW, 2
    threads, caches evicted, Xeon). Other windows still look first (top: (PEAK_SLOTS,) int64
    largest-|x| bits by row, row c in slot c % PEAK_SLOTS): their sums are a loop a row, and
    the largest |x| taken in it ran slower (0.83 -> 1.04 ns an element, size 3, in cache).
    """
    length = src.shape[1]
    after = size - 1 - before
    bits = src.view(np.int32)
    scale32, k32 = np.float32(scale), np.float32(k)
    ql = square_limit(acap)
    centred5 = size == 5 and before == 2
    known = 0  # rows known .. have their largest |x| in top (below it: not needed again)
    single = 0  # rows below it are not taken in groups (a group was redone up to there)
    r = 0
    while r < length:
        if centred5 and r >= 2 and r + GROUP + 2 <= length and r >= single:
            if rows_x5_group(src, o, r, i0, nb, dst, do, di0, scale32, k32, mode, ql):
                r += GROUP
                continue
            single = r + GROUP  # redo the group's rows one at a time
        lo, hi = max(0, r - before), min(length - 1, r + after)
        if centred5 and lo == r - 2 and hi == r + 2:
            ok = rows_x5(src, o, r, i0, nb, dst, do, di0, scale32, k32, mode, ql)
        else:
            known = note_peaks(bits, o, i0, nb, top, max(known, lo), hi)
            ok = window_peak(top, lo, hi, PEAK_SLOTS) <= acap
            if ok:
                sum_sq(src, o, lo, hi, i0, nb, w)
                direct_row(src, o, r, i0, nb, w, dst, do, di0, scale32, k32, mode)
        if not ok:  # float64
            row_f64(src, o, r, i0, nb, before, size, s64, scale, k)
            fwd_emit(src, o, r, i0, nb, s64, dst, do, di0, beta, mode, False)
        r += 1


@njit(cache=True, error_model="numpy")
def fwd_direct(src, o, i0, nb, before, size, ring, top, sl, s32, s64, dst, do, di0, scale, k,
               cap, acap, beta, mode):
    """y = x * (k + scale * window sum of x^2)^-beta for the float32 tile src[o, :, i0:i0+nb].

    ring: (DIRECT_MAX + 1, B) float32 scratch, its last row kept zero; top: (PEAK_SLOTS,)
    int64, the largest square's bits per ring row (in its first DIRECT_MAX + 1 slots);
    sl: (DIRECT_MAX,) int64; s32: (B,) float32, s64: (B,) float64 scratch;
    cap: :func:`square_cap` for s <= 1e36
    """
    if size <= 5 and (mode == POW_075 or mode == POW_05 or mode == POW_1):
        fwd_direct_x(src, o, i0, nb, before, size, top, s32, s64, dst, do, di0, scale, k, acap,
                     beta, mode)
        return
    length = src.shape[1]
    after = size - 1 - before
    zero = ring.shape[0] - 1
    for j in range(nb):
        ring[zero, j] = 0.0
    top[zero] = 0
    scale32, k32 = np.float32(scale), np.float32(k)
    nrows = 5 if size <= 5 else DIRECT_MAX
    for c in range(min(after, length)):
        top[c % DIRECT_MAX] = square_row(src, o, c, i0, nb, ring, c % DIRECT_MAX)
    for r in range(length):
        if r + after < length:
            slot = (r + after) % DIRECT_MAX
            top[slot] = square_row(src, o, r + after, i0, nb, ring, slot)
        peak = 0
        for t in range(DIRECT_MAX):
            c = r - before + t
            sl[t] = c % DIRECT_MAX if t < size and 0 <= c < length else zero
            peak = max(peak, top[sl[t]])
        if peak > cap:  # s may pass 1e36, or a NaN or inf is in the window: float64
            row_f64(src, o, r, i0, nb, before, size, s64, scale, k)
            fwd_emit(src, o, r, i0, nb, s64, dst, do, di0, beta, mode, False)
        elif nrows == 5 and mode == POW_075:
            fused5(src, o, r, i0, nb, ring, sl, dst, do, di0, scale32, k32)
        else:
            window_sum(ring, sl, nrows, nb, s32)
            direct_row(src, o, r, i0, nb, s32, dst, do, di0, scale32, k32, mode)
            if not (mode == POW_075 or mode == POW_05 or mode == POW_1):
                fwd_emit(src, o, r, i0, nb, s32.astype(np.float64), dst, do, di0, beta, mode,
                         False)


@njit(cache=True, error_model="numpy")
def line_f64(x2, o, before, size, s64, scale, k):
    """s64[c] = k + scale * float64 window sum of line x2[o, 0, :] at c (the fallback)."""
    length = x2.shape[2]
    for c in range(length):
        acc = 0.0
        for t in range(max(0, before - c), min(size, length - c + before)):
            v = np.float64(x2[o, 0, c - before + t])
            acc += v * v
        s64[c] = k + scale * acc


@njit(cache=True, error_model="numpy")
def line_sum(sqp, size, length, w):
    """w[c] = sqp[c] + sqp[c + 1] + ... + sqp[c + size - 1], added in that order."""
    if size == 5:
        for c in range(uint64(length)):
            w[c] = sqp[c] + sqp[c + 1] + sqp[c + 2] + sqp[c + 3] + sqp[c + 4]
        return
    for c in range(uint64(length)):
        w[c] = sqp[c]
    for t in range(1, size):
        sh = sqp[t:]
        for c in range(uint64(length)):
            w[c] = w[c] + sh[c]


@njit(cache=True, error_model="numpy")
def line5(x2, o, sqp, y2, scale, k):
    """:func:`fused5` along line o: beta = 0.75, size 5, the window sum fused in."""
    one = np.float32(1.0)
    for c in range(uint64(x2.shape[2])):
        sv = k + scale * (sqp[c] + sqp[c + 1] + sqp[c + 2] + sqp[c + 3] + sqp[c + 4])
        q = np.sqrt(sv)
        y2[o, 0, c] = x2[o, 0, c] * (one / (q * np.sqrt(q)))


@njit(cache=True, error_model="numpy")
def lines_absmax(x2, f0, nb):
    """The largest |x| of lines f0 .. f0 + nb - 1 of x2 (O, 1, L) as int32 bits: one long
    loop over their contiguous memory (per-line loops of a few dozen channels would spend
    more on loop set-up than on the work)."""
    length = x2.shape[2]
    bits = x2.reshape(-1).view(np.int32)
    u0 = uint64(f0 * length)
    mx = 0
    for j in range(uint64(nb * length)):
        mx = max(mx, bits[u0 + j] & 0x7FFFFFFF)
    return mx


@njit(cache=True, error_model="numpy")
def fwd_lines(x2, f0, nb, before, size, sqp, w, s64, y2, scale, k, cap, beta, mode):
    """The direct forward of lines f0 .. f0 + nb - 1 of x2 (O, 1, L) (channels-last: a line is
    one pixel's contiguous channels), with no transpose: the window sum of channel c is the sum
    of sqp[c .. c + 4] (or c + 8), shifted contiguous loads of the zero-padded squares
    sqp[before + c] = x2[o, 0, c]^2. Same terms, order and arithmetic as :func:`fwd_direct`,
    so both layouts give identical bits wherever both take the direct sums (NCHW does up to
    size 5), except that a line is redone in float64 when any of its squares is above ``cap``
    (a superset of the rows :func:`fwd_direct` redoes).

    sqp: (L + DIRECT_MAX,) float32, w: (L,) float32, s64: (L,) float64 scratch
    """
    length = x2.shape[2]
    scale32, k32 = np.float32(scale), np.float32(k)
    for c in range(sqp.shape[0]):
        sqp[c] = 0.0
    sq_in = sqp[before:before + length]
    qcap = bits_f32(cap)  # type: ignore[call-arg,var-annotated]
    for o in range(f0, f0 + nb):  # indexed, never sliced: see numba_direct_grad.bwd_lines
        ok = True  # every square <= cap (NaN fails), tested as it is made: no second loop
        for c in range(uint64(length)):
            v = x2[o, 0, c]
            q = v * v
            sq_in[c] = q
            ok = ok & (q <= qcap)
        if not ok:
            line_f64(x2, o, before, size, s64, scale, k)
            fwd_emit(x2, o, 0, 0, length, s64, y2, o, 0, beta, mode, False)
        elif size == 5 and mode == POW_075:
            line5(x2, o, sqp, y2, scale32, k32)
        else:
            line_sum(sqp, size, length, w)
            direct_row(x2, o, 0, 0, length, w, y2, o, 0, scale32, k32, mode)
            if not (mode == POW_075 or mode == POW_05 or mode == POW_1):
                fwd_emit(x2, o, 0, 0, length, w.astype(np.float64), y2, o, 0, beta, mode, False)


# Channels-last lines of a centred window of 5 with beta 0.75, 0.5 or 1 (fwd_lines5) go in
# flat runs of whole lines, FLAT_SPAN elements or fewer, each in loops of FLAT_CHUNK elements;
# before each loop, the x FLAT_AHEAD elements (16 KiB) further on is prefetched, one hint a
# cache line.
# AlexNet conv1 channels-last fp32, forward kernel, caches evicted: 2 threads 5.1-5.3 ->
# 4.3-4.4 ms, 1 thread 9.9-10.4 -> 7.6 ms; without the prefetch 5.2 and 9.5 ms.
FLAT_SPAN = 2048
FLAT_CHUNK = 256
FLAT_AHEAD = 4096


@njit(cache=True, error_model="numpy")
def line_pos(length, block):
    """pos[j] = j mod length for the flat runs of :func:`fwd_lines5` (float32, so the masks
    of its loop are as wide as its data): each element's channel in its line."""
    lines = max(1, min(block, FLAT_SPAN // length))
    pos = np.empty(lines * length, dtype=np.float32)
    for j in range(lines * length):
        pos[j] = j % length
    return pos


@njit(cache=True, error_model="numpy")
def flat5(xf, u0, n, length, pos, yf, scale, k, qcap, mode):
    """The centred-5 forward (:func:`line5`, or :func:`line_sum` and :func:`direct_row`) of
    n / length whole lines from flat index u0 of xf (the lines' contiguous memory), in loops
    over the whole run instead of two loops a line, which for lines of a few dozen channels
    cost about as much to set up as the work. False when a square is above
    qcap (or NaN): the caller then redoes the run line by line (every y of it).

    xf[u0 - 2] and xf[u0 + n + 1] must exist: the loads are not masked, the terms are.
    pos: (>= n,) float32 from :func:`line_pos`
    """
    xs = (xf[u0 - 2:u0 - 2 + n], xf[u0 - 1:u0 - 1 + n], xf[u0:u0 + n],
          xf[u0 + 1:u0 + 1 + n], xf[u0 + 2:u0 + 2 + n])
    ys = yf[u0:u0 + n]
    xp = xf.reshape((1, 1, -1))
    ok = True
    for c0 in range(0, n, FLAT_CHUNK):
        ahead = u0 + c0 + FLAT_AHEAD
        if ahead < xf.shape[0]:
            fetch_row(xp, 0, 0, ahead, min(FLAT_CHUNK, xf.shape[0] - ahead), False)
        ok = ok & flat5_loop(xs, ys, pos, c0, min(n, c0 + FLAT_CHUNK), length, scale, k, qcap,
                             mode)
    return ok


@njit(cache=True, error_model="numpy")
def flat5_loop(xs, ys, pos, c0, c1, length, scale, k, qcap, mode):
    """ys[j] for j in [c0, c1) of a flat run, xs the run's x shifted by -2 .. +2.

    A channel squares x[j - 2 .. j + 2] as it reads them (the neighbours' squares are made
    again: no scratch, one loop); a term from another line (pos[j], the channel of j, < 2 or
    > length - 3) is replaced by +0.0, so the sum adds the same values in the same order as
    :func:`line5` (beta 0.75) or :func:`line_sum` (0.5, 1) on its zero-padded line, and the
    same power: the same bits. Each element's own square is tested against qcap (False if
    one fails).
    """
    x0, x1, x2, x3, x4 = xs
    zero, one = np.float32(0.0), np.float32(1.0)
    two, hi1, hi2 = np.float32(2.0), np.float32(length - 2), np.float32(length - 3)
    ok = True
    for j in range(uint64(c0), uint64(c1)):
        p = pos[j]
        v0, v1, v2, v3, v4 = x0[j], x1[j], x2[j], x3[j], x4[j]
        q2 = v2 * v2
        ok = ok & (q2 <= qcap)
        a0 = v0 * v0 if p >= two else zero
        a1 = v1 * v1 if p >= one else zero
        a3 = v3 * v3 if p <= hi1 else zero
        a4 = v4 * v4 if p <= hi2 else zero
        ys[j] = v2 * neg_pow32(k + scale * (a0 + a1 + q2 + a3 + a4), mode)
    return ok


@njit(cache=True, error_model="numpy")
def fwd_lines5(x2, f0, nb, pos, sqp, w, s64, y2, scale, k, cap, beta, mode):
    """:func:`fwd_lines` for a centred window of 5 and beta 0.75, 0.5 or 1, in flat runs of whole
    lines (:func:`flat5`); a run with a square above ``cap`` goes line by line, and so does
    a run without two values of the array either side (flat5 reads them): the first and
    the last, and one before a last line of a single value."""
    length = x2.shape[2]
    xf, yf = x2.reshape(-1), y2.reshape(-1)
    per = pos.shape[0] // length
    scale32, k32 = np.float32(scale), np.float32(k)
    qcap = bits_f32(cap)  # type: ignore[call-arg,var-annotated]
    for a in range(f0, f0 + nb, per):
        m = min(per, f0 + nb - a)
        u0, n = a * length, m * length
        if (u0 < 2 or u0 + n + 2 > xf.shape[0]
                or not flat5(xf, u0, n, length, pos, yf, scale32, k32, qcap, mode)):
            fwd_lines(x2, a, m, 2, 5, sqp, w, s64, y2, scale, k, cap, beta, mode)
