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

Powers s**e: ``POW`` 0 uses libdevice ``pow`` (float64 on GPU); 1 splits s = 2^E * m, takes
log2(m) with the MUFU ``lg2.approx`` on m in [1, 2) and rebuilds 2^int from exponent bits, so
the error (~3e-7 relative) does not grow with |log2 s|; 3 is the same algebra with ``tl.log2``
(testable in the interpreter); 2 does exp2/log2 in float64 (the CPU interpreter); 4 is
s^-0.75 only (beta = 0.75, chosen by the host) as r sqrt(r) with r = rsqrt(s), two MUFU
operations (~2.6e-7 relative measured on an H200 over s in [1e-20, 1e20]).
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
    elif POW == 4:  # e = -0.75 (the host checks beta): s^-0.75 = r sqrt(r) with r = s^-0.5
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
def _tile(NO, NI, sO, sI, n_ct, n_ib, N: tl.constexpr, R: tl.constexpr, BO: tl.constexpr,
          BI: tl.constexpr, BIG: tl.constexpr):
    """This program's first output channel c0, position offsets (1, BO*BI) and mask, and the
    rows: r (R, 1), within-segment index rr, segment-start/-end flags and row validity.
    Channel tiles vary fastest over program ids so programs sharing a boundary run together."""
    pid = tl.program_id(0)
    ct = pid % n_ct
    rest = pid // n_ct
    ib = rest % n_ib
    ob = rest // n_ib
    q = tl.arange(0, BO * BI)
    o = ob * BO + q // BI
    i = ib * BI + q % BI
    pmask = (o < NO) & (i < NI)
    if BIG:
        o = o.to(tl.int64)
        i = i.to(tl.int64)
    pos = o * sO + i * sI
    r = tl.arange(0, R)[:, None]
    rr = r % N
    used = r < (R // N) * N
    first = (rr == 0).to(tl.int32)
    last = ((rr == N - 1) | (r >= (R // N) * N)).to(tl.int32)
    c0 = ct * ((R // N) * N)
    return c0, pos[None, :], pmask[None, :], r, rr, used, first, last


@triton.jit
def _ld(ptr, c, pos, cmask, pmask, sL, ACC: tl.constexpr, BIG: tl.constexpr):
    """Load elements (channel c, position pos), zero where masked, in the accumulation dtype."""
    if BIG:
        c = c.to(tl.int64)
    return tl.load(ptr + c * sL + pos, mask=cmask & pmask, other=0.0).to(ACC)


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
    """One separable pass: ws = window sum along L of the SRC summand, then the epilogue
    EPI 0: ws; 1: y = x s^-beta with s = k + A ws;
    4 (backward, first half): with q = s^-beta, u = dy q and t = dy x q / s (= dy x s^(-beta-1),
    formed so that x = 0 gives t = 0 even where s^(-beta-1) would overflow); 5 (backward,
    second half, ws the transposed-window sum of t): dx = u - 2 A beta x ws."""
    c0, pos, pmask, r, rr, used, first, last = _tile(NO, NI, sO, sI, n_ct, n_ib, N, R, BO, BI,
                                                     BIG)
    k, a, nb = _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC)
    ws = _wsum(src_ptr, c0 - BEFORE, r, rr, used, first, last, L, pos, pmask, sL, N, R, SRC,
               ACC, BIG, SUMT, SCAN)
    c = c0 + r
    cm = used & (c < L)
    if EPI == 0:
        res = ws
    elif EPI == 1:
        xv = _ld(x_ptr, c, pos, cm, pmask, sL, ACC, BIG)
        res = xv * _pow(k + a * ws, nb, POW)
    elif EPI == 4:
        xv = _ld(x_ptr, c, pos, cm, pmask, sL, ACC, BIG)
        dyv = _ld(dy_ptr, c, pos, cm, pmask, sL, ACC, BIG)
        s = k + a * ws
        q = _pow(s, nb, POW)
        u = dyv * q
        res = tl.where(xv == 0.0, 0.0, (u * xv) / s)  # 0, also if a subnormal k flushed s to 0
        uc = c.to(tl.int64) if BIG else c
        tl.store(u_ptr + uc * sL + pos, u.to(u_ptr.dtype.element_ty), mask=cm & pmask)
    else:
        xv = _ld(x_ptr, c, pos, cm, pmask, sL, ACC, BIG)
        uv = _ld(u_ptr, c, pos, cm, pmask, sL, ACC, BIG)
        res = uv + (2.0 * a * nb) * xv * ws
    if BIG:
        c = c.to(tl.int64)
    tl.store(out_ptr + c * sL + pos, res.to(out_ptr.dtype.element_ty), mask=cm & pmask)


# The forward pass with stride specialisation: when the strides are multiples of 16 elements
# Triton vectorises the position axis (4 float32 per load, ~27% fewer instructions per element
# for the forward; the backward would spill registers, so it never uses this variant).
_lrn_pass_kernel_vec = triton.jit(_lrn_pass_kernel.fn)
