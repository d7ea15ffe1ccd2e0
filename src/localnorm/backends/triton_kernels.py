"""Triton kernels for LRN: window sums with no subtraction of partial sums.

Every kernel sees its tensors as (O, L, I) strided views (``_layout.axis_view``): L is the axis
the window runs along, and a position is a pair (o, i). The address of element (o, c, i) is
``o*sO + c*sL + i*sI``, so one kernel serves NCHW (L strided, I contiguous) and channels-last
(L contiguous, I = 1) without a copy.

Window sums (DESIGN.md section 4). A program owns R rows = S segments of N consecutive window
starts (N = window length, a compile-time constant). For the start a = base + rr of segment
[base, base + N), the window [a, a + N - 1] is the suffix of tile 1 (elements base + rr' for
rr' >= rr) plus the prefix of tile 2 (elements base + N - 1 + rr', 1 <= rr' <= rr): two loads,
one reverse and one forward segmented scan, one addition. Nothing is ever subtracted, so a huge
element cannot make a later sum drift or go negative, and the work per element does not depend
on N. Segments tile the rows densely (R - S*N rows idle, at most about a fifth); with N known
at compile time the segment boundaries fold into the unrolled in-thread scan.

Trade-off: a program reads its inputs two or three times at small shifts; the repeats hit
L1/L2, so HBM traffic stays one read of each input and one write of each output.

Windows of at most 9 terms along a strided axis take the ring kernels further down this file
instead (``_ring_pass_kernel``, ``_ring_bwd_kernel``): direct sums over rows kept in
registers, 27-31 sm_90 SASS instructions an element for the forward (tiles of 32 or 16 rows)
against the scans' 36. Longer ones along a strided axis take the walk kernels at the end
(``_walk_pass_kernel``, ``_walk_bwd_kernel``: groups of G rows, one position a thread), and
windows along the contiguous axis up to 9 the line kernels.

Powers s**e: ``POW`` 0 uses libdevice ``pow`` (float64 on GPU); 1 splits s = 2^E * m, takes
log2(m) with the MUFU ``lg2.approx`` on m in [1, 2) and rebuilds 2^int from exponent bits, so
the error (~3e-7 relative) does not grow with |log2 s|; 3 is the same algebra with ``tl.log2``
(testable in the interpreter); 2 does exp2/log2 in float64 (the CPU interpreter); 4 is
s^-0.75 only (beta = 0.75, chosen by the host) as r sqrt(r) with r = rsqrt(s), two MUFU
operations (~2.6e-7 relative measured on an H200 over s in [1e-20, 1e20]); 5 is 4 whose
backward also takes 1/s as r r instead of a division (``_u_t``).
"""

from __future__ import annotations

import triton
import triton.language as tl

try:  # triton >= 3.0 dispatches libdevice to the current target
    from triton.language.extra import libdevice
except ImportError:  # pragma: no cover - older triton: POW mode 0 is never chosen
    libdevice = None


@triton.jit
def _pow_split(s, e, ASM: tl.constexpr):
    """s**e for float32 s > 0 (normal), e a scalar: log2 s = E + log2 m, m in [1, 2); e*E is
    split exactly with an FMA so no large logarithm is ever rounded."""
    bits = s.to(tl.int32, bitcast=True)
    ex = ((bits >> 23) & 0xFF) - 127
    m = ((bits & 0x7FFFFF) | 0x3F800000).to(tl.float32, bitcast=True)
    if ASM:
        lm = tl.inline_asm_elementwise("lg2.approx.ftz.f32 $0, $1;", "=r,r", [m],
                                       dtype=tl.float32, is_pure=True, pack=1)
    else:
        lm = tl.log2(m)
    ef = ex.to(tl.float32)
    z = e * ef
    zl = tl.fma(e + tl.zeros_like(ef), ef, -z)
    zi = tl.floor(z + 0.5)
    zf = (z - zi) + tl.fma(e + tl.zeros_like(lm), lm, zl)
    q = tl.minimum(tl.maximum(zi.to(tl.int32), -252), 252)
    h = q >> 1
    two_h = ((h + 127) << 23).to(tl.float32, bitcast=True)
    two_r = ((q - h + 127) << 23).to(tl.float32, bitcast=True)
    p = tl.exp2(zf) * two_h * two_r
    return tl.where(s == s, p, s)  # a NaN's bits would otherwise decode to a finite power


@triton.jit
def _pow(s, e, POW: tl.constexpr):
    """s ** e elementwise (s >= 0, e a scalar), see the module docstring for the modes."""
    if POW == 0:
        return libdevice.pow(s, (e + tl.zeros_like(s)).to(s.dtype))
    elif POW == 1:
        return _pow_split(s, e, True)
    elif POW == 3:
        return _pow_split(s, e, False)
    elif POW == 4 or POW == 5:  # e = -0.75 (the host checks beta): r sqrt(r), r = s^-0.5
        r = tl.math.rsqrt(s)
        return r * tl.sqrt(r)
    else:
        return tl.exp2(e.to(tl.float64) * tl.log2(s.to(tl.float64))).to(s.dtype)


@triton.jit
def _seg_add(a, fa, b, fb):
    """Segmented sum: fb marks an element that starts a new segment in scan order."""
    return tl.where(fb != 0, b, a + b), fa | fb


@triton.jit
def _seg_scans(v1, v2, first, last, r, N: tl.constexpr, R: tl.constexpr, ACC: tl.constexpr,
               SUMT: tl.constexpr, SCAN: tl.constexpr):
    """Per segment of N rows: suffix sum of v1 plus prefix sum of v2, accumulated in SUMT.
    SCAN 0: segmented scans (GPU); 1: the same sums as masked (R, R) reductions, O(R) per
    element, which the CPU interpreter runs as a few vectorised NumPy ops instead of one
    Python call per element."""
    if SCAN == 0:
        z = tl.zeros(v1.shape, tl.int32)
        suf, _ = tl.associative_scan((v1.to(SUMT), last + z), 0, _seg_add, reverse=True)
        pre, _ = tl.associative_scan((v2.to(SUMT), first + z), 0, _seg_add)
    else:
        rp = tl.arange(0, R)[None, :, None]
        rq = r[:, :, None]
        same = (rp // N) == (rq // N)
        suf = tl.sum(tl.where(same & (rp >= rq), v1.to(SUMT)[None, :, :], 0.0), axis=1)
        pre = tl.sum(tl.where(same & (rp <= rq), v2.to(SUMT)[None, :, :], 0.0), axis=1)
    return (suf + pre).to(ACC)


@triton.jit
def _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC: tl.constexpr):
    """k, A and -beta in the accumulation dtype (float args arrive as float32: hi + lo pairs
    carry float64 values to about 2**-48 relative)."""
    k = tl.cast(k_hi, ACC) + tl.cast(k_lo, ACC)
    a = tl.cast(a_hi, ACC) + tl.cast(a_lo, ACC)
    nb = tl.cast(nb_hi, ACC) + tl.cast(nb_lo, ACC)
    return k, a, nb


@triton.jit
def _positions_clamped(NO, NI, sO, sI, n_ct, n_ib, BO: tl.constexpr, BI: tl.constexpr,
                       BIG: tl.constexpr):
    """This program's channel tile, its position offsets (BO*BI,), the same offsets clamped
    into the tensor, and the mask of real positions. Channel tiles vary fastest over program
    ids so programs sharing a boundary run together. Loads at clamped offsets need no position
    mask (a lane past the edge loads a real element and its results are never stored)."""
    pid = tl.program_id(0)
    ct = pid % n_ct
    rest = pid // n_ct
    ib = rest % n_ib
    ob = rest // n_ib
    q = tl.arange(0, BO * BI)
    o = ob * BO + q // BI
    i = ib * BI + q % BI
    pmask = (o < NO) & (i < NI)
    oc = tl.minimum(o, NO - 1)
    ic = tl.minimum(i, NI - 1)
    if BIG:
        o, i, oc, ic = o.to(tl.int64), i.to(tl.int64), oc.to(tl.int64), ic.to(tl.int64)
    return ct, o * sO + i * sI, oc * sO + ic * sI, pmask


@triton.jit
def _positions(NO, NI, sO, sI, n_ct, n_ib, BO: tl.constexpr, BI: tl.constexpr,
               BIG: tl.constexpr):
    """This program's channel tile, its position offsets (BO*BI,) and their mask."""
    ct, pos, _, pmask = _positions_clamped(NO, NI, sO, sI, n_ct, n_ib, BO, BI, BIG)
    return ct, pos, pmask


@triton.jit
def _tile(NO, NI, sO, sI, n_ct, n_ib, N: tl.constexpr, R: tl.constexpr, BO: tl.constexpr,
          BI: tl.constexpr, BIG: tl.constexpr):
    """This program's first output channel c0, position offsets (1, BO*BI) and mask, and the
    rows: r (R, 1), within-segment index rr, segment-start/-end flags and row validity."""
    ct, pos, pmask = _positions(NO, NI, sO, sI, n_ct, n_ib, BO, BI, BIG)
    r = tl.arange(0, R)[:, None]
    rr = r % N
    used = r < (R // N) * N
    first = (rr == 0).to(tl.int32)
    last = ((rr == N - 1) | (r >= (R // N) * N)).to(tl.int32)
    c0 = ct * ((R // N) * N)
    return c0, pos[None, :], pmask[None, :], r, rr, used, first, last


@triton.jit
def _both(cmask, pmask):
    """cmask & pmask as a boolean mask: the interpreter makes int32 of a scalar mask & a block
    one, which its loads and stores refuse (the comparison folds away when compiled)."""
    return (cmask & pmask) != 0


@triton.jit
def _ld(ptr, c, pos, cmask, pmask, sL, ACC: tl.constexpr, BIG: tl.constexpr):
    """Load elements (channel c, position pos), zero where masked, in the accumulation dtype."""
    if BIG:
        c = c.to(tl.int64)
    return tl.load(ptr + c * sL + pos, mask=_both(cmask, pmask), other=0.0).to(ACC)


@triton.jit
def _ldc(ptr, row, posc, L, sL, ACC: tl.constexpr, BIG: tl.constexpr):
    """Row ``row`` at clamped positions posc, zero if the row is outside [0, L): the address is
    clamped instead of masked, so the load carries no predicate and the compiler can issue the
    loads of many rows back to back (masked ones it put behind branches, one in flight)."""
    rc = tl.minimum(tl.maximum(row, 0), L - 1)
    if BIG:
        rc = rc.to(tl.int64)
    v = tl.load(ptr + rc * sL + posc).to(ACC)
    return tl.where((row >= 0) & (row < L), v, 0.0)


@triton.jit
def _src(src_ptr, c, pos, cmask, pmask, sL, SRC: tl.constexpr, ACC: tl.constexpr,
         BIG: tl.constexpr):
    """The summand at (c, pos): SRC 0 src itself, 1 src**2."""
    v = _ld(src_ptr, c, pos, cmask, pmask, sL, ACC, BIG)
    if SRC == 1:
        v = v * v
    return v


@triton.jit
def _wsum(src_ptr, a0, r, rr, used, first, last, L, pos, pmask, sL, N: tl.constexpr,
          R: tl.constexpr, SRC: tl.constexpr, ACC: tl.constexpr, BIG: tl.constexpr,
          SUMT: tl.constexpr, SCAN: tl.constexpr):
    """Window sums of the SRC summand over [a0 + r, a0 + r + N - 1], zeros outside [0, L)."""
    c1 = a0 + r
    m1 = used & (c1 >= 0) & (c1 < L)
    v1 = _src(src_ptr, c1, pos, m1, pmask, sL, SRC, ACC, BIG)
    c2 = c1 + (N - 1)
    m2 = used & (rr >= 1) & (c2 >= 0) & (c2 < L)
    v2 = _src(src_ptr, c2, pos, m2, pmask, sL, SRC, ACC, BIG)
    return _seg_scans(v1, v2, first, last, r, N, R, ACC, SUMT, SCAN)


@triton.jit
def _st(ptr, c, pos, cmask, pmask, sL, v, BIG: tl.constexpr):
    """Store v at (channel c, position pos) where both masks hold, in ptr's dtype."""
    if BIG:
        c = c.to(tl.int64)
    tl.store(ptr + c * sL + pos, v.to(ptr.dtype.element_ty), mask=_both(cmask, pmask))


@triton.jit
def _u_t(dyv, xv, ws, k, a, nb, POW: tl.constexpr):
    """The backward's first half at one element: u = dy s^-beta and t = u x / s with
    s = k + A ws (t formed so that x = 0 gives t = 0 even where s^(-beta-1) would overflow,
    also if a subnormal k flushed s to 0)."""
    s = k + a * ws
    if POW == 5:  # beta = 0.75: with r = s^-0.5, s^-beta = r sqrt(r) and 1/s = r r
        r = tl.math.rsqrt(s)
        u = dyv * (r * tl.sqrt(r))
        t = tl.where(xv == 0.0, 0.0, (u * xv) * (r * r))
    else:
        u = dyv * _pow(s, nb, POW)
        t = tl.where(xv == 0.0, 0.0, (u * xv) / s)
    return u, t


@triton.jit
def _dx(uv, xv, ws, a, nb):
    """The backward's second half: dx = u - 2 A beta x ws (nb = -beta; ws sums t)."""
    return uv + (2.0 * a * nb) * xv * ws


@triton.jit
def _epilogue(ws, xv, c, cm, pos, pmask, dy_ptr, u_ptr, out_ptr, sL, k, a, nb,
              EPI: tl.constexpr, ACC: tl.constexpr, BIG: tl.constexpr, POW: tl.constexpr,
              aux=None):
    """Store a pass's result at channel(s) c from the window sum ws and x's value xv there:
    EPI 0: ws; 1: y = x s^-beta with s = k + A ws; 4 (backward, first half): with
    q = s^-beta, u = dy q (stored to u_ptr) and t = dy x q / s (= dy x s^(-beta-1), formed so
    that x = 0 gives t = 0 even where s^(-beta-1) would overflow); 5 (backward, second half,
    ws the transposed-window sum of t): dx = u - 2 A beta x ws. ``aux``, if given, is dy (EPI
    4) or u (EPI 5) already loaded (ring kernels); else they load here."""
    if EPI == 0:
        res = ws
    elif EPI == 1:
        res = xv * _pow(k + a * ws, nb, POW)
    elif EPI == 4:
        dyv = _ld(dy_ptr, c, pos, cm, pmask, sL, ACC, BIG) if aux is None else aux
        u, res = _u_t(dyv, xv, ws, k, a, nb, POW)
        _st(u_ptr, c, pos, cm, pmask, sL, u, BIG)
    else:
        uv = _ld(u_ptr, c, pos, cm, pmask, sL, ACC, BIG) if aux is None else aux
        res = _dx(uv, xv, ws, a, nb)
    _st(out_ptr, c, pos, cm, pmask, sL, res, BIG)


@triton.jit(do_not_specialize=["sO", "sL"])
def _lrn_pass_kernel(
    src_ptr,  # (O, L, I) values whose window sums are taken: x, t, or a partial sum
    x_ptr,  # (O, L, I) input x (EPI 1, 4 and 5)
    dy_ptr,  # (O, L, I) upstream gradient (EPI 4)
    u_ptr,  # (O, L, I) u = dy s^-beta: written by EPI 4, read by EPI 5
    out_ptr,  # (O, L, I) result: partial sum (EPI 0), y (1), t (4) or dx (5)
    NO, L, NI,  # view sizes (O, L, I)
    sO, sL, sI,  # view strides in elements, shared by every tensor argument
    k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo,  # k, A, -beta as float32 hi + lo pairs
    n_ct, n_ib,  # number of channel tiles and of i blocks
    N: tl.constexpr, BEFORE: tl.constexpr,  # window of c: [c - BEFORE, c - BEFORE + N - 1]
    SRC: tl.constexpr, EPI: tl.constexpr, ACC: tl.constexpr, R: tl.constexpr,
    BO: tl.constexpr, BI: tl.constexpr, BIG: tl.constexpr, POW: tl.constexpr,
    SUMT: tl.constexpr, SCAN: tl.constexpr,
):
    """One separable pass: ws = window sum along L of the SRC summand (segmented scans over R
    rows a program), then the epilogue EPI (see ``_epilogue``)."""
    c0, pos, pmask, r, rr, used, first, last = _tile(NO, NI, sO, sI, n_ct, n_ib, N, R, BO, BI,
                                                     BIG)
    k, a, nb = _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC)
    ws = _wsum(src_ptr, c0 - BEFORE, r, rr, used, first, last, L, pos, pmask, sL, N, R, SRC,
               ACC, BIG, SUMT, SCAN)
    c = c0 + r
    cm = used & (c < L)
    xv = ws
    if EPI != 0:
        xv = _ld(x_ptr, c, pos, cm, pmask, sL, ACC, BIG)
    _epilogue(ws, xv, c, cm, pos, pmask, dy_ptr, u_ptr, out_ptr, sL, k, a, nb, EPI, ACC, BIG,
              POW)


# The forward pass with stride specialisation: when the strides are multiples of 16 elements
# Triton vectorises the position axis (4 float32 per load, ~27% fewer instructions per element
# for the forward; the backward would spill registers, so it never uses this variant).
_lrn_pass_kernel_vec = triton.jit(_lrn_pass_kernel.fn)


# ---------------------------------------------------------------- ring kernels (N <= RING)
# For windows of at most RING terms a program walks its channel rows once, top to bottom, and
# keeps the newest N rows in registers (a ring of named values, newest first: the walk is
# unrolled, so each push only renames values). Each window is summed directly, N adds with no
# subtraction; every element is loaded once, plus N - 1 halo rows a tile (L2 hits: the
# neighbouring tile runs beside it). The segmented scans cost some 36 instructions an element
# (sm_90 SASS, forward), the ring forward 27-31, mostly addressing.
# Loads are software-pipelined, PIPE rows at a time: the next PIPE rows of every stream load
# before this group's results are stored. The compiler cannot move a load above an earlier
# store (x and y might alias), so a plain walk keeps one load in flight per thread.
# Halo row addresses are clamped into [0, L) and rows outside it zeroed (``_ldc``): an
# unpredicated load, where a masked one compiled to a branch around each load. A tile's own
# rows need neither when the tiles divide L (EVEN). RING = 9: nine named ring slots below (the
# host, triton_lrn, routes longer windows to the segmented kernel).
PIPE = tl.constexpr(8)


@triton.jit
def _push(v, r0, r1, r2, r3, r4, r5, r6, r7):
    """The ring after loading v: v becomes the newest value, the oldest drops out."""
    return v, r0, r1, r2, r3, r4, r5, r6, r7


@triton.jit
def _ring_sum(r0, r1, r2, r3, r4, r5, r6, r7, r8, N: tl.constexpr, SQ: tl.constexpr):
    """Sum of the N newest ring values (their squares if SQ)."""
    s = r0 * r0 if SQ else r0
    if N > 1:
        s += r1 * r1 if SQ else r1
    if N > 2:
        s += r2 * r2 if SQ else r2
    if N > 3:
        s += r3 * r3 if SQ else r3
    if N > 4:
        s += r4 * r4 if SQ else r4
    if N > 5:
        s += r5 * r5 if SQ else r5
    if N > 6:
        s += r6 * r6 if SQ else r6
    if N > 7:
        s += r7 * r7 if SQ else r7
    if N > 8:
        s += r8 * r8 if SQ else r8
    return s


@triton.jit
def _pick(J: tl.constexpr, r0, r1, r2, r3, r4, r5, r6, r7, r8):
    """Slot J (for a ring, the value loaded J steps back; 0 is the newest)."""
    if J == 0:
        v = r0
    elif J == 1:
        v = r1
    elif J == 2:
        v = r2
    elif J == 3:
        v = r3
    elif J == 4:
        v = r4
    elif J == 5:
        v = r5
    elif J == 6:
        v = r6
    elif J == 7:
        v = r7
    else:
        v = r8
    return v


@triton.jit
def _ldr(ptr, row, posc, L, sL, ACC: tl.constexpr, BIG: tl.constexpr, SAFE: tl.constexpr):
    """Row ``row`` at clamped positions: a plain load where the row is known to lie in [0, L)
    (SAFE), else ``_ldc``."""
    if SAFE:
        r = row.to(tl.int64) if BIG else row
        v = tl.load(ptr + r * sL + posc).to(ACC)
    else:
        v = _ldc(ptr, row, posc, L, sL, ACC, BIG)
    return v


@triton.jit
def _row(ptr, lo, j: tl.constexpr, T: tl.constexpr, ON: tl.constexpr, posc, L, sL, z,
         ACC: tl.constexpr, BIG: tl.constexpr, S0: tl.constexpr, S1: tl.constexpr):
    """Row lo + j of a stream at step j: ``_ldr`` (plain where S0 <= j < S1, the steps whose
    rows are known to lie in [0, L)), or z past step T or for a stream that is not ON."""
    return _ldr(ptr, lo + j, posc, L, sL, ACC, BIG, S0 <= j and j < S1) if ON and j < T else z


@triton.jit
def _rows(ptr, lo, p: tl.constexpr, T: tl.constexpr, ON: tl.constexpr, posc, L, sL,
          ACC: tl.constexpr, BIG: tl.constexpr, S0: tl.constexpr, S1: tl.constexpr):
    """The PIPE = 8 rows lo + p .. lo + p + 7 of a stream at clamped positions (``_row``)."""
    z = tl.zeros(posc.shape, ACC)
    return (_row(ptr, lo, p, T, ON, posc, L, sL, z, ACC, BIG, S0, S1),
            _row(ptr, lo, p + 1, T, ON, posc, L, sL, z, ACC, BIG, S0, S1),
            _row(ptr, lo, p + 2, T, ON, posc, L, sL, z, ACC, BIG, S0, S1),
            _row(ptr, lo, p + 3, T, ON, posc, L, sL, z, ACC, BIG, S0, S1),
            _row(ptr, lo, p + 4, T, ON, posc, L, sL, z, ACC, BIG, S0, S1),
            _row(ptr, lo, p + 5, T, ON, posc, L, sL, z, ACC, BIG, S0, S1),
            _row(ptr, lo, p + 6, T, ON, posc, L, sL, z, ACC, BIG, S0, S1),
            _row(ptr, lo, p + 7, T, ON, posc, L, sL, z, ACC, BIG, S0, S1))


@triton.jit(do_not_specialize=["sO", "sL"])
def _ring_pass_kernel(
    src_ptr, x_ptr, dy_ptr, u_ptr, out_ptr,  # as in _lrn_pass_kernel
    NO, L, NI, sO, sL, sI,
    k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo,
    n_ct, n_ib,
    N: tl.constexpr, BEFORE: tl.constexpr,  # window of c: [c - BEFORE, c - BEFORE + N - 1]
    SRC: tl.constexpr, EPI: tl.constexpr, ACC: tl.constexpr,
    CC: tl.constexpr,  # output rows a program: [ct * CC, ct * CC + CC)
    BO: tl.constexpr, BI: tl.constexpr, BIG: tl.constexpr, POW: tl.constexpr,
    EVEN: tl.constexpr,  # CC divides L: every program's own CC rows lie in [0, L)
):
    """``_lrn_pass_kernel``'s pass (same arguments and epilogues) for N <= RING. Step m loads
    src row c0 - BEFORE + m into the ring; from m = N - 1 on, the ring holds the window of
    c = c0 + m - (N - 1), whose direct sum is ws; x at c (SRC 1) is a ring value. Two more
    streams run in step with c: x (SRC 0 with an epilogue that needs it) and dy (EPI 4) or
    u (EPI 5)."""
    ct, pos, posc, pmask = _positions_clamped(NO, NI, sO, sI, n_ct, n_ib, BO, BI, BIG)
    k, a, nb = _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC)
    c0 = ct * CC
    steps: tl.constexpr = CC + N - 1
    # steps whose src row (c0 - BEFORE + m) / x and aux row (c0 - (N - 1) + m) is the
    # program's own, in [0, L) when EVEN
    s_safe0: tl.constexpr = BEFORE if EVEN else 0
    s_safe1: tl.constexpr = BEFORE + CC if EVEN else 0
    c_safe0: tl.constexpr = N - 1 if EVEN else 0
    c_safe1: tl.constexpr = N - 1 + CC if EVEN else 0
    xon: tl.constexpr = SRC == 0 and EPI != 0  # streams: x for SRC 0 with an epilogue,
    aon: tl.constexpr = EPI >= 4  # aux (dy or u) for EPI 4 and 5
    aux_ptr = dy_ptr if EPI == 4 else u_ptr
    s_lo = c0 - BEFORE
    c_lo = c0 - (N - 1)  # c at step 0 (the first N - 1 steps store nothing)
    r0 = tl.zeros((BO * BI,), ACC)
    r1, r2, r3, r4, r5, r6, r7, r8 = r0, r0, r0, r0, r0, r0, r0, r0
    s0, s1, s2, s3, s4, s5, s6, s7 = _rows(src_ptr, s_lo, 0, steps, True, posc, L, sL, ACC,
                                           BIG, s_safe0, s_safe1)
    x0, x1, x2, x3, x4, x5, x6, x7 = _rows(x_ptr, c_lo, 0, steps, xon, posc, L, sL, ACC, BIG,
                                           c_safe0, c_safe1)
    a0, a1, a2, a3, a4, a5, a6, a7 = _rows(aux_ptr, c_lo, 0, steps, aon, posc, L, sL, ACC,
                                           BIG, c_safe0, c_safe1)
    for p in tl.static_range(0, steps, PIPE):
        ns0, ns1, ns2, ns3, ns4, ns5, ns6, ns7 = _rows(src_ptr, s_lo, p + PIPE, steps, True,
                                                       posc, L, sL, ACC, BIG, s_safe0, s_safe1)
        nx0, nx1, nx2, nx3, nx4, nx5, nx6, nx7 = _rows(x_ptr, c_lo, p + PIPE, steps, xon, posc,
                                                       L, sL, ACC, BIG, c_safe0, c_safe1)
        na0, na1, na2, na3, na4, na5, na6, na7 = _rows(aux_ptr, c_lo, p + PIPE, steps, aon, posc,
                                                       L, sL, ACC, BIG, c_safe0, c_safe1)
        for q in tl.static_range(PIPE):
            if p + q < steps:
                v = _pick(q, s0, s1, s2, s3, s4, s5, s6, s7, s7)
                r0, r1, r2, r3, r4, r5, r6, r7, r8 = _push(v, r0, r1, r2, r3, r4, r5, r6, r7)
                if p + q >= N - 1:
                    c = c_lo + (p + q)
                    cm = c < L
                    ws = _ring_sum(r0, r1, r2, r3, r4, r5, r6, r7, r8, N, SRC == 1)
                    xv = ws
                    if SRC == 1:
                        xv = _pick(N - 1 - BEFORE, r0, r1, r2, r3, r4, r5, r6, r7, r8)
                    elif xon:
                        xv = _pick(q, x0, x1, x2, x3, x4, x5, x6, x7, x7)
                    av = _pick(q, a0, a1, a2, a3, a4, a5, a6, a7, a7) if aon else None
                    _epilogue(ws, xv, c, cm, pos, pmask, dy_ptr, u_ptr, out_ptr, sL, k, a, nb,
                              EPI, ACC, BIG, POW, av)
        s0, s1, s2, s3, s4, s5, s6, s7 = ns0, ns1, ns2, ns3, ns4, ns5, ns6, ns7
        x0, x1, x2, x3, x4, x5, x6, x7 = nx0, nx1, nx2, nx3, nx4, nx5, nx6, nx7
        a0, a1, a2, a3, a4, a5, a6, a7 = na0, na1, na2, na3, na4, na5, na6, na7


@triton.jit(do_not_specialize=["sO", "sL"])
def _ring_bwd_kernel(
    x_ptr, dy_ptr, dx_ptr,  # (O, L, I) input, upstream gradient, result
    NO, L, NI, sO, sL, sI,
    k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo,
    n_ct, n_ib,
    N: tl.constexpr, BEFORE: tl.constexpr, ACC: tl.constexpr, CC: tl.constexpr,
    BO: tl.constexpr, BI: tl.constexpr, BIG: tl.constexpr, POW: tl.constexpr,
    EVEN: tl.constexpr,  # CC divides L
):
    """The whole single-axis backward for N <= RING in one walk, no scratch tensors:
    dx_c = u_c - 2 A beta x_c sum_{j = c - AFTER}^{c + BEFORE} t_j with u_j = dy_j s_j^-beta and
    t_j = u_j x_j / s_j (AFTER = N - 1 - BEFORE). Step m loads x row c0 - (N - 1) + m, which
    completes s_j for j = row - AFTER (dy row j loads in step); t_j then completes the
    transposed window of c = j - BEFORE. Three rings: x, t and u (N, N and BEFORE + 1 rows).
    Reads x rows c0 - (N-1) .. c0 + CC - 1 + (N-1) and dy rows c0 - AFTER .. c0 + CC - 1 +
    BEFORE once each; writes dx rows c0 .. c0 + CC - 1."""
    ct, pos, posc, pmask = _positions_clamped(NO, NI, sO, sI, n_ct, n_ib, BO, BI, BIG)
    k, a, nb = _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC)
    c0 = ct * CC
    steps: tl.constexpr = CC + 2 * (N - 1)
    x_safe0: tl.constexpr = N - 1 if EVEN else 0  # steps loading the program's own rows
    x_safe1: tl.constexpr = N - 1 + CC if EVEN else 0
    j_safe0: tl.constexpr = 2 * (N - 1) - BEFORE if EVEN else 0
    j_safe1: tl.constexpr = 2 * (N - 1) - BEFORE + CC if EVEN else 0
    x_lo = c0 - (N - 1)
    j_lo = x_lo - (N - 1 - BEFORE)  # j at step 0 (from step N - 1 on, j is a real row)
    x0 = tl.zeros((BO * BI,), ACC)
    x1, x2, x3, x4, x5, x6, x7, x8 = x0, x0, x0, x0, x0, x0, x0, x0
    t0, t1, t2, t3, t4, t5, t6, t7, t8 = x0, x0, x0, x0, x0, x0, x0, x0, x0
    u0, u1, u2, u3, u4, u5, u6, u7, u8 = x0, x0, x0, x0, x0, x0, x0, x0, x0
    l0, l1, l2, l3, l4, l5, l6, l7 = _rows(x_ptr, x_lo, 0, steps, True, posc, L, sL, ACC, BIG,
                                           x_safe0, x_safe1)
    g0, g1, g2, g3, g4, g5, g6, g7 = _rows(dy_ptr, j_lo, 0, steps, True, posc, L, sL, ACC, BIG,
                                           j_safe0, j_safe1)
    for p in tl.static_range(0, steps, PIPE):
        nl0, nl1, nl2, nl3, nl4, nl5, nl6, nl7 = _rows(x_ptr, x_lo, p + PIPE, steps, True, posc,
                                                       L, sL, ACC, BIG, x_safe0, x_safe1)
        ng0, ng1, ng2, ng3, ng4, ng5, ng6, ng7 = _rows(dy_ptr, j_lo, p + PIPE, steps, True, posc,
                                                       L, sL, ACC, BIG, j_safe0, j_safe1)
        for q in tl.static_range(PIPE):
            m = p + q
            if m < steps:
                v = _pick(q, l0, l1, l2, l3, l4, l5, l6, l7, l7)
                x0, x1, x2, x3, x4, x5, x6, x7, x8 = _push(v, x0, x1, x2, x3, x4, x5, x6, x7)
                if m >= N - 1:
                    ws = _ring_sum(x0, x1, x2, x3, x4, x5, x6, x7, x8, N, True)
                    xj = _pick(N - 1 - BEFORE, x0, x1, x2, x3, x4, x5, x6, x7, x8)
                    dyj = _pick(q, g0, g1, g2, g3, g4, g5, g6, g7, g7)
                    u, t = _u_t(dyj, xj, ws, k, a, nb, POW)
                    t0, t1, t2, t3, t4, t5, t6, t7, t8 = _push(t, t0, t1, t2, t3, t4, t5, t6,
                                                               t7)
                    u0, u1, u2, u3, u4, u5, u6, u7, u8 = _push(u, u0, u1, u2, u3, u4, u5, u6,
                                                               u7)
                    if m >= 2 * (N - 1):
                        c = x_lo + (m - (N - 1))
                        tw = _ring_sum(t0, t1, t2, t3, t4, t5, t6, t7, t8, N, False)
                        uc = _pick(BEFORE, u0, u1, u2, u3, u4, u5, u6, u7, u8)
                        xc = _pick(N - 1, x0, x1, x2, x3, x4, x5, x6, x7, x8)  # the oldest
                        _st(dx_ptr, c, pos, c < L, pmask, sL, _dx(uc, xc, tw, a, nb), BIG)
        l0, l1, l2, l3, l4, l5, l6, l7 = nl0, nl1, nl2, nl3, nl4, nl5, nl6, nl7
        g0, g1, g2, g3, g4, g5, g6, g7 = ng0, ng1, ng2, ng3, ng4, ng5, ng6, ng7


# ---------------------------------------------------------------- line kernels (N <= RING)
# Where the window axis is the contiguous one (channels-last across channels: (O, L, 1) views
# of dense lines, L the channel count), a program takes BLOCK consecutive elements, one or
# more per thread, and sums each window directly from N loads at shifts -BEFORE .. AFTER of
# its own addresses: the shifted loads hit the cache lines the unshifted ones brought in (L1),
# so memory traffic stays one read of x and one write of y, and every load is coalesced (the
# segmented scans need R >= 32 rows a thread there; the ring kernels read 4 bytes a lane at a
# stride of L). L is a compile-time constant: e // L is a multiply and a shift. The backward
# is one kernel too: each element recomputes the N windows of its transposed window (2N - 1
# loads of x, N of dy, N powers), so it reads x and dy once from memory and writes dx once,
# with no scratch.


@triton.jit
def _line_coords(NO, L: tl.constexpr, BLOCK: tl.constexpr, BIG: tl.constexpr):
    """This program's element addresses (BLOCK,) (the lines lie back to back: the address is
    the flat index), their position c in the line, and the mask of real elements."""
    e = tl.arange(0, BLOCK)
    if BIG:
        e = e.to(tl.int64) + tl.program_id(0).to(tl.int64) * BLOCK
    else:
        e = e + tl.program_id(0) * BLOCK
    o = e // L
    return e, e - o * L, o < NO


@triton.jit
def _ld_line(ptr, addr, c, valid, d: tl.constexpr, L: tl.constexpr, ACC: tl.constexpr):
    """The element d places along the line from (addr, c), zero outside [0, L)."""
    m = valid & (c + d >= 0) & (c + d < L)
    return tl.load(ptr + addr + d, mask=m, other=0.0).to(ACC)


@triton.jit
def _line_fwd_kernel(
    x_ptr, y_ptr,  # (O, L, 1) views with strides (L, 1, 1)
    NO,  # lines
    k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo,
    L: tl.constexpr, N: tl.constexpr, BEFORE: tl.constexpr, ACC: tl.constexpr,
    BLOCK: tl.constexpr, BIG: tl.constexpr, POW: tl.constexpr,
):
    """y = x (k + A sum_{d = -BEFORE}^{AFTER} x_{c+d}^2)^-beta, the window summed directly."""
    addr, c, valid = _line_coords(NO, L, BLOCK, BIG)
    k, a, nb = _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC)
    ws = tl.zeros(addr.shape, ACC)
    xv = ws
    for d in tl.static_range(N):
        v = _ld_line(x_ptr, addr, c, valid, d - BEFORE, L, ACC)
        ws += v * v
        if d == BEFORE:
            xv = v
    y = xv * _pow(k + a * ws, nb, POW)
    tl.store(y_ptr + addr, y.to(y_ptr.dtype.element_ty), mask=valid)


@triton.jit
def _line_bwd_kernel(
    x_ptr, dy_ptr, dx_ptr,  # (O, L, 1) views with strides (L, 1, 1)
    NO,
    k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo,
    L: tl.constexpr, N: tl.constexpr, BEFORE: tl.constexpr, ACC: tl.constexpr,
    BLOCK: tl.constexpr, BIG: tl.constexpr, POW: tl.constexpr,
):
    """dx_c = u_c - 2 A beta x_c sum_{j = c - AFTER}^{c + BEFORE} t_j (as ``_ring_bwd_kernel``),
    every s_j recomputed here from x at shifts -(N-1) .. N-1 (2N - 1 loads, L1 hits but one).
    Elements j outside the line load x = dy = 0, so their t_j is 0."""
    addr, c, valid = _line_coords(NO, L, BLOCK, BIG)
    k, a, nb = _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC)
    after: tl.constexpr = N - 1 - BEFORE
    # The windows of j = c - after .. c + BEFORE start at the N consecutive shifts -(N-1) .. 0:
    # window jj = (suffix from shift jj - (N-1) of block 1, the shifts -(N-1) .. 0) + (prefix
    # up to shift jj of block 2, the shifts 1 .. N-1), about 3N adds for the N windows.
    # Block 1 loads from shift 0 down: ring r holds its x (slot i: shift i - (N-1)), ring p
    # its suffix sums of squares (slot jj: the sum from shift jj - (N-1) to 0).
    r0 = tl.zeros(addr.shape, ACC)
    r1, r2, r3, r4, r5, r6, r7, r8 = r0, r0, r0, r0, r0, r0, r0, r0
    p0, p1, p2, p3, p4, p5, p6, p7, p8 = r0, r0, r0, r0, r0, r0, r0, r0, r0
    suf = r0
    for i in tl.static_range(N):
        v = _ld_line(x_ptr, addr, c, valid, -i, L, ACC)
        suf = v * v if i == 0 else suf + v * v
        r0, r1, r2, r3, r4, r5, r6, r7, r8 = _push(v, r0, r1, r2, r3, r4, r5, r6, r7)
        p0, p1, p2, p3, p4, p5, p6, p7, p8 = _push(suf, p0, p1, p2, p3, p4, p5, p6, p7)
    xc = _pick(N - 1, r0, r1, r2, r3, r4, r5, r6, r7, r8)
    # Block 2 loads from shift 1 up, its x in ring w (newest: shift jj), pre its prefix sum.
    w0 = tl.zeros(addr.shape, ACC)
    w1, w2, w3, w4, w5, w6, w7, w8 = w0, w0, w0, w0, w0, w0, w0, w0
    pre, uc, tw = w0, w0, w0
    for jj in tl.static_range(N):
        ws = _pick(jj, p0, p1, p2, p3, p4, p5, p6, p7, p8)
        if jj > 0:
            v = _ld_line(x_ptr, addr, c, valid, jj, L, ACC)
            pre = v * v if jj == 1 else pre + v * v
            w0, w1, w2, w3, w4, w5, w6, w7, w8 = _push(v, w0, w1, w2, w3, w4, w5, w6, w7)
            ws = ws + pre
        if jj + BEFORE <= N - 1:  # x_j, j = c + jj - after: shift jj + BEFORE - (N - 1)
            xj = _pick(jj + BEFORE, r0, r1, r2, r3, r4, r5, r6, r7, r8)
        else:
            xj = _pick(after, w0, w1, w2, w3, w4, w5, w6, w7, w8)
        dyj = _ld_line(dy_ptr, addr, c, valid, jj - after, L, ACC)
        u, t = _u_t(dyj, xj, ws, k, a, nb, POW)
        tw += t
        if jj == after:
            uc = u
    tl.store(dx_ptr + addr, _dx(uc, xc, tw, a, nb).to(dx_ptr.dtype.element_ty), mask=valid)


# ---------------------------------------------------------------- walk kernel (long windows)
# Windows longer than the ring's along a strided axis. A program owns CT output rows of BO*BI
# positions (one per thread on GPU) and walks them in groups of G rows (G <= N - 1, a power of
# two). With N - 1 = Q G + RM, the window of start a = a0 + g G + j (a0 = the program's first
# start, j < G) splits at group edges into
#   head:   rows a .. the end of group g      (suffix sums of the group's tile, reversed scan)
#   middle: the whole groups g + 1 .. g + Q - 1, and also g + Q where j >= G - RM
#   tail:   rows from the start of the window's last group to a + N - 1.
# The tail rows of all G starts form one G-row tile starting RM rows into group g + Q: its
# first G - RM rows lie in group g + Q, the last RM in group g + Q + 1, so the tails are a
# segmented prefix scan of that tile plus, for the first segment, the first RM rows of group
# g + Q ("carry", the previous step's second segment). Group totals (carry + the first
# segment's sum) go into a ring of named values, newest first; the middle is the sum of the
# Q - 1 newest. Every term is a sum of squares (or of t) added once: nothing is subtracted, so
# a large element cannot make a later sum drift or go negative (DESIGN.md section 4), and the
# work per element is O(1 + Q / G) whatever N is. Q prologue steps fill the ring and carry.
# Each step loads three G-row tiles (head, tail, and x at the output rows), meant to hit L1/L2
# after a row's first touch (not measured: the H100 runs had no profiler). The ring has the
# ring kernels' 9 slots: Q - 1 <= 9, so N <= 11 G.


@triton.jit
def _add(a, b):
    return a + b


@triton.jit
def _cum(v, j, B: tl.constexpr, G: tl.constexpr, REV: tl.constexpr, SCAN: tl.constexpr):
    """Inclusive cumulative sums of the (G, P) tile v down its rows (up from the last if REV,
    which only tiles with no restart use), restarting at row B (B = G: no restart). SCAN 0:
    scans (GPU); 1: masked (G, G, P) reductions (the interpreter: a few NumPy operations
    instead of one Python call per element)."""
    if SCAN == 0:
        if B < G:
            f = ((j == 0) | (j == B)).to(tl.int32) + tl.zeros(v.shape, tl.int32)
            out, _ = tl.associative_scan((v, f), 0, _seg_add)
        else:
            out = tl.associative_scan(v, 0, _add, reverse=REV)
    else:
        i = tl.arange(0, G)[None, :, None]
        jj = j[:, :, None]
        keep = (i >= jj) if REV else (i <= jj)
        if B < G:
            keep = keep & ((i >= B) == (jj >= B))
        out = tl.sum(tl.where(keep, v[None, :, :], 0.0), axis=1)
    return out


@triton.jit
def _newest(Q1: tl.constexpr, t0, t1, t2, t3, t4, t5, t6, t7, t8, z):
    """Sum of the Q1 newest ring values (z, zeros, for Q1 = 0)."""
    s = z
    if Q1 > 0:
        s = _ring_sum(t0, t1, t2, t3, t4, t5, t6, t7, t8, Q1, False)
    return s


@triton.jit
def _walk_src(src_ptr, row, posc, L, sL, SRC: tl.constexpr, ACC: tl.constexpr,
              BIG: tl.constexpr, SUMT: tl.constexpr, LD: tl.constexpr, BP: tl.constexpr,
              NR: tl.constexpr):
    """The summand at rows ``row`` (G, 1) in SUMT. LD 0: the SRC summand (0: src, 1: src**2)
    of a strided view, zero outside [0, L); LD 1: a program's private scratch of NR rows of
    BP (``_walk_bwd_kernel``; rows past it, which only a prefetch reads, clamped)."""
    if LD == 0:
        v = _ldc(src_ptr, row, posc, L, sL, ACC, BIG)
        if SRC == 1:
            v = v * v
    else:
        v = tl.load(src_ptr + tl.minimum(row, NR - 1) * BP + tl.arange(0, BP)[None, :])
    return v.to(SUMT)


@triton.jit
def _walk_tiles(src_ptr, x_ptr, aux_ptr, a0, c0, g, j, posc, L, sL, N: tl.constexpr,
                G: tl.constexpr, SRC: tl.constexpr, EPI: tl.constexpr, LD: tl.constexpr,
                ACC: tl.constexpr, BIG: tl.constexpr, TT: tl.constexpr, BP: tl.constexpr,
                NR: tl.constexpr):
    """Step g's loads: the tail tile (summands in TT at rows a0 + (g + Q) G + RM + j), the
    head tile (rows a0 + g G + j), and x and the aux stream (dy or u) at the output rows
    c0 + g G + j (zeros where the epilogue needs none)."""
    Q: tl.constexpr = (N - 1) // G
    RM: tl.constexpr = (N - 1) % G
    v = _walk_src(src_ptr, a0 + ((g + Q) * G + RM) + j, posc, L, sL, SRC, ACC, BIG, TT, LD,
                  BP, NR)
    h = _walk_src(src_ptr, a0 + g * G + j, posc, L, sL, SRC, ACC, BIG, TT, LD, BP, NR)
    c = c0 + g * G + j
    xv = tl.zeros(h.shape, ACC)
    av = xv
    if EPI != 0:
        xv = _ldc(x_ptr, c, posc, L, sL, ACC, BIG)
    if EPI >= 4:
        av = _ldc(aux_ptr, c, posc, L, sL, ACC, BIG)
    return v, h, xv, av


@triton.jit
def _group_total(v, carry, seg1, RM: tl.constexpr):
    """From a tail tile v: the total of its first segment's group (carry, the first RM rows
    of that group, plus the first segment), and the next carry (its second segment, the
    first RM rows of the group after), both in carry's dtype."""
    total = carry + tl.sum(tl.where(seg1, v, 0.0), axis=0).to(carry.dtype)
    nxt = carry
    if RM > 0:
        nxt = tl.sum(tl.where(seg1, 0.0, v), axis=0).to(carry.dtype)
    return total, nxt


@triton.jit
def _walk_step(v, h, xv, av, carry, t0, t1, t2, t3, t4, t5, t6, t7, t8, z, c0, g, j,
               own0, own1, out_ptr, u_ptr, pos, pmask, L, sL, k, a, nb, N: tl.constexpr,
               G: tl.constexpr, EPI: tl.constexpr, ACC: tl.constexpr, BIG: tl.constexpr,
               POW: tl.constexpr, SCAN: tl.constexpr, BP: tl.constexpr):
    """Step g of a walk from its tiles: the window sums of its G starts, the epilogue, and
    the new carry and ring (see the comment above ``_add``)."""
    Q: tl.constexpr = (N - 1) // G
    RM: tl.constexpr = (N - 1) % G
    B: tl.constexpr = G - RM  # the tail tile's second segment starts at this row
    seg1 = j < B
    total, nxt = _group_total(v, carry, seg1, RM)
    mid = _newest(Q - 1, t0, t1, t2, t3, t4, t5, t6, t7, t8, z)
    tail = _cum(v, j, B, G, False, SCAN)  # v's last use: it need not live through the epilogue
    head = _cum(h, j, G, G, True, SCAN)
    rest = tl.where(seg1, (mid + carry)[None, :], (mid + total)[None, :]) + tail.to(z.dtype)
    ws = (head.to(z.dtype) + rest).to(ACC)
    c = c0 + g * G + j
    cm = (c >= 0) & (c < L)
    if EPI == 6:  # the fused backward's first walk: t (private rows) and u (own rows)
        u, t = _u_t(av, xv, ws, k, a, nb, POW)
        tl.store(out_ptr + (g * G + j) * BP + tl.arange(0, BP)[None, :], t)
        _st(u_ptr, c, pos, cm & (c >= own0) & (c < own1), pmask, sL, u, BIG)
    elif EPI == 7:  # its second: dx
        _st(out_ptr, c, pos, cm, pmask, sL, _dx(av, xv, ws, a, nb), BIG)
    else:  # av is dy (EPI 4) or u (5); EPI 0 and 1 ignore it (and EPI 0 xv)
        _epilogue(ws, xv, c, cm, pos, pmask, out_ptr, u_ptr, out_ptr, sL, k, a, nb, EPI, ACC,
                  BIG, POW, av)
    t0, t1, t2, t3, t4, t5, t6, t7, t8 = _push(total, t0, t1, t2, t3, t4, t5, t6, t7)
    return nxt, t0, t1, t2, t3, t4, t5, t6, t7, t8


@triton.jit
def _walk(src_ptr, x_ptr, aux_ptr, u_ptr, out_ptr, a0, c0, own0, own1, pos, posc, pmask, L,
          sL, k, a, nb, N: tl.constexpr, G: tl.constexpr, STEPS: tl.constexpr,
          SRC: tl.constexpr, EPI: tl.constexpr, LD: tl.constexpr, ACC: tl.constexpr,
          BIG: tl.constexpr, POW: tl.constexpr, SUMT: tl.constexpr, SCAN: tl.constexpr,
          BP: tl.constexpr, NR: tl.constexpr, LOOP: tl.constexpr, TT: tl.constexpr):
    """STEPS steps of G rows: the window sums ws of starts a0 + g G + j, then an epilogue at
    rows c = c0 + g G + j (``_epilogue``'s EPI 0, 1, 4, 5 at rows of [0, L), with aux_ptr dy
    (4) or u (5); 6: the fused backward's first walk, which stores t at out_ptr's private rows
    g G + j and u = dy s^-beta (aux_ptr: dy) at the rows c of [own0, own1) inside [0, L); 7:
    its second, dx from ws, u (aux_ptr) and x). Q prologue steps first fill the carry and
    the ring. LOOP 0: the steps unrolled; 1: a loop; 2: a loop that loads step g + 1's tiles
    before step g's stores (the compiler cannot move a load above a store that might alias
    it). The tiles' summands and scans are in TT, the group totals, carry and the sums of
    the parts in SUMT (TT = ACC with SUMT = float64 leaves no float32 chain longer than G - 1
    additions)."""
    Q: tl.constexpr = (N - 1) // G
    RM: tl.constexpr = (N - 1) % G
    j = tl.arange(0, G)[:, None]
    seg1 = j < G - RM
    z = tl.zeros((BP,), SUMT)
    t0, t1, t2, t3, t4, t5, t6, t7, t8 = z, z, z, z, z, z, z, z, z
    carry = z
    for g in tl.static_range(-Q, 0):  # the tails of the Q groups before step 0's
        v = _walk_src(src_ptr, a0 + ((g + Q) * G + RM) + j, posc, L, sL, SRC, ACC, BIG, TT,
                      LD, BP, NR)
        total, carry = _group_total(v, carry, seg1, RM)
        t0, t1, t2, t3, t4, t5, t6, t7, t8 = _push(total, t0, t1, t2, t3, t4, t5, t6, t7)
    if LOOP == 0:
        for g in tl.static_range(STEPS):
            v, h, xv, av = _walk_tiles(src_ptr, x_ptr, aux_ptr, a0, c0, g, j, posc, L, sL, N,
                                       G, SRC, EPI, LD, ACC, BIG, TT, BP, NR)
            carry, t0, t1, t2, t3, t4, t5, t6, t7, t8 = _walk_step(
                v, h, xv, av, carry, t0, t1, t2, t3, t4, t5, t6, t7, t8, z, c0, g, j, own0,
                own1, out_ptr, u_ptr, pos, pmask, L, sL, k, a, nb, N, G, EPI, ACC, BIG, POW,
                SCAN, BP)
    else:
        if LOOP == 2:
            vn, hn, xn, an = _walk_tiles(src_ptr, x_ptr, aux_ptr, a0, c0, 0, j, posc, L, sL,
                                         N, G, SRC, EPI, LD, ACC, BIG, TT, BP, NR)
        for g in range(STEPS):
            if LOOP == 2:
                v, h, xv, av = vn, hn, xn, an
                vn, hn, xn, an = _walk_tiles(src_ptr, x_ptr, aux_ptr, a0, c0, g + 1, j, posc,
                                             L, sL, N, G, SRC, EPI, LD, ACC, BIG, TT, BP, NR)
            else:
                v, h, xv, av = _walk_tiles(src_ptr, x_ptr, aux_ptr, a0, c0, g, j, posc, L, sL,
                                           N, G, SRC, EPI, LD, ACC, BIG, TT, BP, NR)
            carry, t0, t1, t2, t3, t4, t5, t6, t7, t8 = _walk_step(
                v, h, xv, av, carry, t0, t1, t2, t3, t4, t5, t6, t7, t8, z, c0, g, j, own0,
                own1, out_ptr, u_ptr, pos, pmask, L, sL, k, a, nb, N, G, EPI, ACC, BIG, POW,
                SCAN, BP)


@triton.jit(do_not_specialize=["sO", "sL"])
def _walk_pass_kernel(
    src_ptr, x_ptr, dy_ptr, u_ptr, out_ptr,  # as in _lrn_pass_kernel
    NO, L, NI, sO, sL, sI,
    k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo,
    n_ct, n_ib,
    N: tl.constexpr, BEFORE: tl.constexpr,  # window of c: [c - BEFORE, c - BEFORE + N - 1]
    SRC: tl.constexpr, EPI: tl.constexpr, ACC: tl.constexpr,
    G: tl.constexpr,  # rows a step (a power of two, G <= N - 1, N <= 11 G)
    CT: tl.constexpr,  # output rows a program: [ct * CT, ct * CT + CT), a multiple of G
    BO: tl.constexpr, BI: tl.constexpr, BIG: tl.constexpr, POW: tl.constexpr,
    SUMT: tl.constexpr, SCAN: tl.constexpr,
    LOOP: tl.constexpr, TT: tl.constexpr,  # see ``_walk``
):
    """``_lrn_pass_kernel``'s pass (same arguments and epilogues) as a walk over groups of G
    rows with head, middle and tail sums (see the comment above)."""
    ct, pos, posc, pmask = _positions_clamped(NO, NI, sO, sI, n_ct, n_ib, BO, BI, BIG)
    k, a, nb = _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC)
    c0 = ct * CT
    aux_ptr = dy_ptr if EPI == 4 else u_ptr
    _walk(src_ptr, x_ptr, aux_ptr, u_ptr, out_ptr, c0 - BEFORE, c0, c0, c0, pos[None, :],
          posc[None, :], pmask[None, :], L, sL, k, a, nb, N, G, CT // G, SRC, EPI, 0, ACC,
          BIG, POW, SUMT, SCAN, BO * BI, 1, LOOP, TT)


@triton.jit(do_not_specialize=["sO", "sL"])
def _walk_bwd_kernel(
    x_ptr, dy_ptr, u_ptr, dx_ptr,  # (O, L, I) views: input, upstream gradient, u, result
    t_ptr,  # private scratch: E rows of BO * BI a program, in ACC
    NO, L, NI, sO, sL, sI,
    k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo,
    n_ct, n_ib,
    N: tl.constexpr, BEFORE: tl.constexpr, ACC: tl.constexpr, G: tl.constexpr,
    CT: tl.constexpr, E: tl.constexpr,  # E: rows of t, CT + N - 1 rounded up to G
    BO: tl.constexpr, BI: tl.constexpr, BIG: tl.constexpr, POW: tl.constexpr,
    SUMT: tl.constexpr, SCAN: tl.constexpr, LOOP: tl.constexpr, TT: tl.constexpr,
):
    """The whole single-axis backward for long windows, one program per CT output rows:
    dx_c = u_c - 2 A beta x_c sum_{j = c - AFTER}^{c + BEFORE} t_j with u_j = dy_j s_j^-beta
    and t_j = u_j x_j / s_j. The first walk takes s_j for the E rows j from c0 - AFTER on
    and stores t_j in the program's private scratch (zeros for j outside [0, L)) and u_j of
    its own rows into u_ptr; the second walks that scratch for the transposed windows and
    writes dx. Nothing is shared between programs, so the result does not depend on their
    order; the scratch is meant to stay in L2 between the walks (not measured)."""
    ct, pos, posc, pmask = _positions_clamped(NO, NI, sO, sI, n_ct, n_ib, BO, BI, BIG)
    k, a, nb = _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC)
    pos, posc, pmask = pos[None, :], posc[None, :], pmask[None, :]
    c0 = ct * CT
    after: tl.constexpr = N - 1 - BEFORE
    BP: tl.constexpr = BO * BI
    pid = tl.program_id(0)
    tp = t_ptr + (pid.to(tl.int64) * (E * BP) if BIG else pid * (E * BP))
    _walk(x_ptr, x_ptr, dy_ptr, u_ptr, tp, c0 - (N - 1), c0 - after, c0, c0 + CT, pos, posc,
          pmask, L, sL, k, a, nb, N, G, E // G, 1, 6, 0, ACC, BIG, POW, SUMT, SCAN, BP, E, LOOP,
          TT)
    tl.debug_barrier()
    _walk(tp, x_ptr, u_ptr, u_ptr, dx_ptr, 0, c0, c0, c0, pos, posc, pmask, L, sL, k, a, nb,
          N, G, CT // G, 0, 7, 1, ACC, BIG, POW, SUMT, SCAN, BP, E, LOOP, TT)
