"""Triton kernels for LRN: window sums with no subtraction of partial sums.

Every kernel sees its tensors as (O, L, I) strided views (``_layout.axis_view``): L is the axis
the window runs along, and a position is a pair (o, i). The address of element (o, c, i) is
``o*sO + c*sL + i*sI``, so one kernel serves NCHW (L strided, I contiguous) and channels-last
(L contiguous, I = 1) without a copy.

Window sums (DESIGN.md section 4). A program owns M sub-tiles of n = window-length consecutive
window starts a = a0 + r, r in [0, n). The window [a, a + n - 1] is the suffix of tile 1
(elements a0 + r', r' >= r) plus the inclusive prefix of tile 2 (elements a0 + n - 1 + r',
1 <= r' <= r): two loads, one reverse and one forward ``tl.cumsum``, one addition. Nothing is
ever subtracted, so a huge element cannot make a later sum drift or go negative, and the work
per element does not depend on n. Tiles are padded to NP = next_power_of_2(n) rows and masked;
rows past n cost registers, not memory traffic.

Trade-off: each program reads its input twice (tile 2 of one sub-tile is tile 1 of the next,
shifted by one); the second read hits L1/L2 because neighbouring channel tiles are neighbouring
program ids. HBM traffic stays one read of x (and dy) and one write.

Powers: ``POW`` 0 uses libdevice ``pow`` (GPU, float32/float64: accurate to about 1 ulp);
1 uses exp2(e*log2(s)) in float32 (float16/bfloat16 inputs, whose rounding dwarfs its ~1e-6
error); 2 does exp2/log2 in float64 (the CPU interpreter, which cannot call libdevice).
"""

from __future__ import annotations

import triton
import triton.language as tl

try:  # triton >= 3.0 dispatches libdevice to the current target
    from triton.language.extra import libdevice
except ImportError:  # pragma: no cover - older triton: POW mode 0 is never chosen
    libdevice = None


@triton.jit
def _pow(s, e, POW: tl.constexpr):
    """s ** e elementwise (s >= 0, e a scalar)."""
    if POW == 0:
        return libdevice.pow(s, (e + tl.zeros_like(s)).to(s.dtype))
    elif POW == 1:
        return tl.exp2(e * tl.log2(s))
    else:
        return tl.exp2(e.to(tl.float64) * tl.log2(s.to(tl.float64))).to(s.dtype)


@triton.jit
def _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC: tl.constexpr):
    """k, A and -beta in the accumulation dtype (float args arrive as float32: hi + lo pairs
    carry float64 values to about 2**-48 relative)."""
    k = k_hi.to(ACC) + k_lo.to(ACC)
    a = a_hi.to(ACC) + a_lo.to(ACC)
    nb = nb_hi.to(ACC) + nb_lo.to(ACC)
    return k, a, nb


@triton.jit
def _tile(O, I, sO, sI, n_ct, n_ib, M: tl.constexpr, NP: tl.constexpr, BO: tl.constexpr,
          BI: tl.constexpr, BIG: tl.constexpr):
    """This program's channel tile, position offsets (1, 1, BO*BI), position mask, and the
    sub-tile (M, 1, 1) and row (1, NP, 1) indices. Channel tiles vary fastest over program ids
    so the programs sharing a tile boundary run together."""
    pid = tl.program_id(0)
    ct = pid % n_ct
    rest = pid // n_ct
    ib = rest % n_ib
    ob = rest // n_ib
    q = tl.arange(0, BO * BI)
    o = ob * BO + q // BI
    i = ib * BI + q % BI
    pmask = (o < O) & (i < I)
    if BIG:
        o = o.to(tl.int64)
        i = i.to(tl.int64)
    pos = o * sO + i * sI
    m = tl.arange(0, M)[:, None, None]
    r = tl.arange(0, NP)[None, :, None]
    return ct, pos[None, None, :], pmask[None, None, :], m, r


@triton.jit
def _ld(ptr, c, pos, cmask, pmask, sL, ACC: tl.constexpr, BIG: tl.constexpr):
    """Load elements (channel c, position pos), zero where masked, in the accumulation dtype."""
    if BIG:
        c = c.to(tl.int64)
    return tl.load(ptr + c * sL + pos, mask=cmask & pmask, other=0.0).to(ACC)


@triton.jit
def _src(src_ptr, x_ptr, dy_ptr, s_ptr, c, pos, cmask, pmask, sL, nb,
         SRC: tl.constexpr, ACC: tl.constexpr, BIG: tl.constexpr, POW: tl.constexpr):
    """The summand at (c, pos): SRC 0 src itself, 1 src**2, 2 dy*x*s**(-beta-1)."""
    if SRC == 0:
        v = _ld(src_ptr, c, pos, cmask, pmask, sL, ACC, BIG)
    elif SRC == 1:
        v = _ld(src_ptr, c, pos, cmask, pmask, sL, ACC, BIG)
        v = v * v
    else:
        xv = _ld(x_ptr, c, pos, cmask, pmask, sL, ACC, BIG)
        dyv = _ld(dy_ptr, c, pos, cmask, pmask, sL, ACC, BIG)
        sv = _ld(s_ptr, c, pos, cmask, pmask, sL, ACC, BIG)
        sv = tl.where(cmask & pmask, sv, 1.0)
        v = dyv * xv * _pow(sv, nb, POW) / sv
    return v


@triton.jit
def _wsum(src_ptr, x_ptr, dy_ptr, s_ptr, a0, r, n, L, pos, pmask, sL, nb,
          SRC: tl.constexpr, ACC: tl.constexpr, BIG: tl.constexpr, POW: tl.constexpr):
    """Window sums of the SRC summand over [a0 + r, a0 + r + n - 1], zeros outside [0, L)."""
    c1 = a0 + r
    m1 = (r < n) & (c1 >= 0) & (c1 < L)
    v1 = _src(src_ptr, x_ptr, dy_ptr, s_ptr, c1, pos, m1, pmask, sL, nb, SRC, ACC, BIG, POW)
    c2 = c1 + (n - 1)
    m2 = (r >= 1) & (r < n) & (c2 >= 0) & (c2 < L)
    v2 = _src(src_ptr, x_ptr, dy_ptr, s_ptr, c2, pos, m2, pmask, sL, nb, SRC, ACC, BIG, POW)
    return tl.cumsum(v1, axis=1, reverse=True) + tl.cumsum(v2, axis=1)


@triton.jit
def _lrn_pass_kernel(
    src_ptr,  # (O, L, I) values whose window sums are taken: x, or a float32 partial sum
    x_ptr,  # (O, L, I) input x (SRC 2, EPI 1 and 3)
    dy_ptr,  # (O, L, I) upstream gradient (SRC 2, EPI 3)
    s_ptr,  # (O, L, I) float32 denominator s saved by an EPI 2 pass (SRC 2, EPI 3)
    out_ptr,  # (O, L, I) result: partial sum (EPI 0), y (1), s (2) or dx (3)
    O, L, I,  # view sizes
    sO, sL, sI,  # view strides in elements, shared by every tensor argument
    n, before,  # window length; the window of c is [c - before, c - before + n - 1]
    k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo,  # k, A, -beta as float32 hi + lo pairs
    n_ct, n_ib,  # number of channel tiles and of i blocks
    SRC: tl.constexpr, EPI: tl.constexpr, ACC: tl.constexpr, M: tl.constexpr,
    NP: tl.constexpr, BO: tl.constexpr, BI: tl.constexpr, BIG: tl.constexpr,
    POW: tl.constexpr,
):
    """One separable pass: ws = window sum along L of the SRC summand, then the epilogue
    EPI 0: ws; 1: y = x * (k + A ws)^-beta; 2: s = k + A ws;
    3: dx = dy * s^-beta - 2 A beta x ws (ws the transposed-window sum of t)."""
    ct, pos, pmask, m, r = _tile(O, I, sO, sI, n_ct, n_ib, M, NP, BO, BI, BIG)
    k, a, nb = _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC)
    c0 = ct * (M * n) + m * n
    ws = _wsum(src_ptr, x_ptr, dy_ptr, s_ptr, c0 - before, r, n, L, pos, pmask, sL, nb,
               SRC, ACC, BIG, POW)
    c = c0 + r
    cm = (r < n) & (c < L)
    if EPI == 0:
        res = ws
    elif EPI == 1:
        xv = _ld(x_ptr, c, pos, cm, pmask, sL, ACC, BIG)
        res = xv * _pow(k + a * ws, nb, POW)
    elif EPI == 2:
        res = k + a * ws
    else:
        xv = _ld(x_ptr, c, pos, cm, pmask, sL, ACC, BIG)
        dyv = _ld(dy_ptr, c, pos, cm, pmask, sL, ACC, BIG)
        sv = _ld(s_ptr, c, pos, cm, pmask, sL, ACC, BIG)
        sv = tl.where(cm & pmask, sv, 1.0)
        res = dyv * _pow(sv, nb, POW) + (2.0 * a * nb) * xv * ws
    if BIG:
        c = c.to(tl.int64)
    tl.store(out_ptr + c * sL + pos, res.to(out_ptr.dtype.element_ty), mask=cm & pmask)


@triton.jit
def _lrn_bwd_kernel(
    x_ptr,  # (O, L, I) input x
    dy_ptr,  # (O, L, I) upstream gradient, same strides as x
    dx_ptr,  # (O, L, I) result dx, same strides as x
    O, L, I,  # view sizes
    sO, sL, sI,  # view strides in elements
    n, before,  # window length; the window of c is [c - before, c - before + n - 1]
    k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo,  # k, A, -beta as float32 hi + lo pairs
    n_ct, n_ib,  # number of channel tiles and of i blocks
    ACC: tl.constexpr, M: tl.constexpr, NP: tl.constexpr, BO: tl.constexpr,
    BI: tl.constexpr, BIG: tl.constexpr, POW: tl.constexpr,
):
    """Fused backward along one axis: dx_c = dy_c s_c^-beta - 2 A beta x_c T_c, where T_c sums
    t_j = dy_j x_j s_j^(-beta-1) over the transposed window j in [c - after, c + before].

    T for the n outputs of a sub-tile needs t on two tiles (channels ja + r and ja + n - 1 + r,
    ja = c0 - after); s is recomputed on both (and on the outputs) from x, so HBM traffic is
    one read of x and dy and one write of dx, with no intermediate in memory. The x tile at
    c0 + r is shared by both s recomputations.
    """
    ct, pos, pmask, m, r = _tile(O, I, sO, sI, n_ct, n_ib, M, NP, BO, BI, BIG)
    k, a, nb = _scalars(k_hi, k_lo, a_hi, a_lo, nb_hi, nb_lo, ACC)
    after = n - 1 - before
    c0 = ct * (M * n) + m * n
    rn = r < n
    r1 = r >= 1
    # x**2 on channels c0 - n + 1 + r, c0 + r, c0 + n - 1 + r: the windows of both t tiles.
    cq = c0 + r
    q1 = _ld(x_ptr, cq - (n - 1), pos, rn & (cq - (n - 1) >= 0) & (cq - (n - 1) < L), pmask,
             sL, ACC, BIG)
    q2 = _ld(x_ptr, cq, pos, rn & (cq < L), pmask, sL, ACC, BIG)
    q3 = _ld(x_ptr, cq + (n - 1), pos, rn & r1 & (cq + (n - 1) < L), pmask, sL, ACC, BIG)
    q1 = q1 * q1
    q2 = q2 * q2
    q3 = q3 * q3
    sa = k + a * (tl.cumsum(q1, axis=1, reverse=True) + tl.cumsum(tl.where(r1, q2, 0.0), axis=1))
    sb = k + a * (tl.cumsum(q2, axis=1, reverse=True) + tl.cumsum(q3, axis=1))
    ja = c0 - after + r
    ma = rn & (ja >= 0) & (ja < L)
    xa = _ld(x_ptr, ja, pos, ma, pmask, sL, ACC, BIG)
    ta = _ld(dy_ptr, ja, pos, ma, pmask, sL, ACC, BIG) * xa * _pow(sa, nb, POW) / sa
    jb = ja + (n - 1)
    mb = rn & r1 & (jb >= 0) & (jb < L)
    xb = _ld(x_ptr, jb, pos, mb, pmask, sL, ACC, BIG)
    tb = _ld(dy_ptr, jb, pos, mb, pmask, sL, ACC, BIG) * xb * _pow(sb, nb, POW) / sb
    t_sum = (tl.cumsum(tl.where(ma, ta, 0.0), axis=1, reverse=True)
             + tl.cumsum(tl.where(mb, tb, 0.0), axis=1))
    ws = _wsum(x_ptr, x_ptr, x_ptr, x_ptr, c0 - before, r, n, L, pos, pmask, sL, nb,
               1, ACC, BIG, POW)
    cm = rn & (cq < L)
    xc = _ld(x_ptr, cq, pos, cm, pmask, sL, ACC, BIG)
    dyc = _ld(dy_ptr, cq, pos, cm, pmask, sL, ACC, BIG)
    dx = dyc * _pow(k + a * ws, nb, POW) + (2.0 * a * nb) * xc * t_sum
    if BIG:
        cq = cq.to(tl.int64)
    tl.store(dx_ptr + cq * sL + pos, dx.to(dx_ptr.dtype.element_ty), mask=cm & pmask)
