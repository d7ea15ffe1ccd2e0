"""Fused numba kernels for LRN within a channel: a size^d box over the d spatial axes.

The box sum is separable: one 1-D window sum per spatial axis, each with the block
prefix/suffix tiles of ``numba_window`` (no subtraction, O(1) per element for any size), or
for windows of at most ``_DIRECT_MAX`` the plain sum of the window's terms in window order
(no subtraction either; shifted contiguous runs, so no tile is transposed).
Work is cut into units along the leading non-spatial axes in memory order (each (n, c) plane
of an NCHW tensor, each sample of a channels-last one). A unit's volume is copied once into
float64 scratch as x^2, summed axis by axis between two scratch buffers, and the output is
written once, so memory sees one read of x (and dy) and one write of the result. Units are
independent and always cut the same way, so results do not depend on the thread count.
float32 units that are planes (two spatial axes, NCHW or channels-last) with a box of at most
5 x 5 take the float32 direct sums of ``numba_within_direct`` instead, NCHW planes a stack at
a time, and come back to this path unit by unit when their values need it. Box 3, 2 threads,
forward / backward kernels: AlexNet conv1's shape 8.0 / 15.8 -> 4.0 / 7.2 ms (channels-last
14.1 / 23.7 -> 3.8 / 6.8 ms; the copy 1.9 ms), Caffe's CIFAR-10 (100, 32, 16, 16) 1.67 / 3.14
-> 0.68 / 1.12 ms, (100, 32, 8, 8) 1.17 / 2.19 -> 0.39 / 0.54 ms.

    s = k + A * sum_{box} x^2,   y = x * s^-beta,   A = alpha / size^d
    dx = dy * s^-beta - 2 A beta x * sum_{transposed box} dy x s^(-beta-1)
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import torch
from numba import njit, prange, uint64

from .._spec import LRNSpec
from .numba_across import PAD, WIDE_MIN, gather, scatter, window_tile
from .numba_grad import neg_pow, t_emit
from .numba_window import fwd_emit, pow_mode, scratch_rows, window_index
from .numba_within_direct import (
    abs_caps,
    band_rows,
    band_scratch,
    bwd_stack,
    bwd_unit,
    fwd_stack,
    fwd_unit,
    plane_shape,
    stack_planes,
    stack_scratch,
)

_BLOCK = 256  # columns per tile of a 1-D window pass
# Windows up to this size are summed directly (their terms added in window order, O(size) per
# element, no transposes of tiles): AlexNet conv1's shape, 2 threads, forward / fwd+bwd:
# size 3 12.7 / 37.5 -> 8.3 / 24.6 ms, size 5 12.6 / 37.2 -> 10.5 / 31.5 ms; at 7 the two ways
# tie (12.5 ms), at 9 the direct sums lose (14.7 against 12.2 ms).
_DIRECT_MAX = 5


@njit(cache=True, error_model="numpy")
def _window_direct(s3, d3, before, size):
    """d3[o, c, i] = s3[o, lo, i] + ... + s3[o, hi, i] over the window [lo, hi] of row c
    (clipped to the axis), added in window order. Each (L, I) block is contiguous, so the
    window's term t is one run of the block shifted by (t - before) * I values, added with
    one contiguous loop whatever the axis."""
    outer, length, inner = s3.shape
    n = length * inner
    s2 = s3.reshape((outer, n))
    d2 = d3.reshape((outer, n))
    for o in range(outer):
        for j in range(uint64(n)):
            d2[o, j] = 0.0
        for t in range(size):
            shift = (t - before) * inner
            j0, j1 = max(0, -shift), min(n, n - shift)
            if j1 <= j0:
                continue
            u0 = uint64(j0 + shift)
            v0 = uint64(j0)
            for j in range(uint64(j1 - j0)):
                d2[o, v0 + j] += s2[o, u0 + j]


@njit(cache=True, error_model="numpy")
def _window_axis(src, dst, dims, plan, before, size, pre, run, t1, t2):
    """1-D window sums of ``src`` viewed as dims = (O, L, I) along L, into ``dst``.

    src, dst: (V,) float64 volumes; t1, t2: (max L * (B + PAD),) float64 tile buffers
    """
    outer, length, inner = dims[0], dims[1], dims[2]
    s3 = src.reshape((outer, length, inner))
    d3 = dst.reshape((outer, length, inner))
    if size <= _DIRECT_MAX:
        _window_direct(s3, d3, before, size)
        return
    block = run.shape[0]
    width = block + PAD
    if inner >= WIDE_MIN:
        for o in range(outer):
            for i0 in range(0, inner, block):
                nb = min(block, inner - i0)
                window_tile(s3, o, i0, nb, plan, before, pre, run, d3, o, i0, False)
    else:
        g1 = t1[: length * width].reshape((1, length, width))
        g2 = t2[: length * width].reshape((1, length, width))
        for f0 in range(0, outer * inner, block):
            nb = min(block, outer * inner - f0)
            gather(s3, f0, nb, g1)
            window_tile(g1, 0, 0, nb, plan, before, pre, run, g2, 0, 0, False)
            scatter(g2, d3, f0, nb)


@njit(cache=True, error_model="numpy")
def _box(a, b, dims, plans, before, size, pre, run, t1, t2):
    """Box sums of volume ``a`` over every spatial axis: returns (the buffer that holds them,
    the other one), both ``a`` and ``b`` are overwritten."""
    for q in range(dims.shape[0]):
        _window_axis(a, b, dims[q], plans[q], before, size, pre, run, t1, t2)
        a, b = b, a
    return a, b


@njit(cache=True, error_model="numpy")
def _squares(x2, u, a):
    for j in range(a.shape[0]):
        v = np.float64(x2[u, j])
        a[j] = v * v


@njit(cache=True, error_model="numpy")
def _denominator(a, scale, k):
    # a <- k + scale * a; count of values where float32 s^-beta would over/underflow
    bad = 0
    for j in range(a.shape[0]):
        v = k + scale * a[j]
        a[j] = v
        bad += (v < 1e-36) | (v > 1e36)
    return bad


@njit(cache=True, error_model="numpy")
def _scratch(vol, prows, maxlen, size):
    """One thread's float64 scratch: two unit volumes, and for the block sums (windows above
    ``_DIRECT_MAX``) the prefix rows, the running suffix and two tile transposes."""
    if size <= _DIRECT_MAX:
        prows = maxlen = 0
    return (np.empty(vol), np.empty(vol), np.empty((prows, _BLOCK + PAD)), np.empty(_BLOCK),
            np.empty(maxlen * (_BLOCK + PAD)), np.empty(maxlen * (_BLOCK + PAD)))


@njit(cache=True, error_model="numpy")
def _fwd_f64(x2, y2, u, dims, plans, before, size, scale, k, beta, mode, scratch):
    """y of unit u by the float64 box sums (any dtype, window and rank)."""
    a, b, pre, run, t1, t2 = scratch
    vol = x2.shape[1]
    _squares(x2, u, a)
    s, _ = _box(a, b, dims, plans, before, size, pre, run, t1, t2)
    bad = _denominator(s, scale, k)
    fwd_emit(x2.reshape((x2.shape[0], 1, vol)), u, 0, 0, vol, s,
             y2.reshape((y2.shape[0], 1, vol)), u, 0, beta, mode, x2.itemsize == 4 and bad == 0)


@njit(cache=True, error_model="numpy")
def _bwd_f64(x2, dy2, dx2, u, dims, plans, tplans, before, after, scale, k, beta, mode, scratch,
             p):
    """dx of unit u by the float64 box sums; p: (V,) float64 scratch."""
    a, b, pre, run, t1, t2 = scratch
    units, vol = x2.shape
    size = before + after + 1
    coef = 2.0 * scale * beta
    _squares(x2, u, a)
    s, t = _box(a, b, dims, plans, before, size, pre, run, t1, t2)
    bad = _denominator(s, scale, k)
    neg_pow(s, p, vol, beta, mode, x2.itemsize == 4 and bad == 0)
    t_emit(x2.reshape((units, 1, vol)), dy2.reshape((units, 1, vol)), u, 0, 0, vol, s,
           p.reshape((1, 1, vol)), t.reshape((1, 1, vol)))
    w, _ = _box(t, s, dims, tplans, after, size, pre, run, t1, t2)
    for j in range(vol):
        xv = np.float64(x2[u, j])
        dx2[u, j] = np.float64(dy2[u, j]) * p[j] - coef * xv * w[j]


@njit(cache=True, error_model="numpy", parallel=True)
def within_fwd_kernel(x2, y2, dims, plans, prows, before, size, scale, k, beta, mode, nchunks):
    """y = x * (k + scale * box sum of x^2)^-beta for each unit row of x2.

    x2, y2: (U, V) C-contiguous arrays of one dtype; dims: (d, 3) int64 (O, L, I) views of a
    volume, one per spatial axis; plans: (d, 2, max L) int64 window plans
    """
    units, vol = x2.shape
    for ch in prange(nchunks):
        scratch = _scratch(vol, prows, plans.shape[2], size)
        for u in range(ch * units // nchunks, (ch + 1) * units // nchunks):
            _fwd_f64(x2, y2, u, dims, plans, before, size, scale, k, beta, mode, scratch)


@njit(cache=True, error_model="numpy", parallel=True)
def within_bwd_kernel(x2, dy2, dx2, dims, plans, tplans, prows, before, after, scale, k, beta,
                      mode, nchunks):
    """dx for each unit row: dy p - 2 scale beta x * (transposed box sum of dy x p / s).

    x2, dy2, dx2: (U, V) C-contiguous arrays of one dtype; tplans: plans of the transposed box
    """
    units, vol = x2.shape
    size = before + after + 1
    for ch in prange(nchunks):
        scratch = _scratch(vol, prows, plans.shape[2], size)
        p = np.empty(vol)
        for u in range(ch * units // nchunks, (ch + 1) * units // nchunks):
            _bwd_f64(x2, dy2, dx2, u, dims, plans, tplans, before, after, scale, k, beta, mode,
                     scratch, p)


@njit(cache=True, error_model="numpy", parallel=True)
def within_fwd_planes(x2, y2, dims, plans, prows, before, size, scale, k, beta, mode, nchunks,
                      plane, band, acap, stack):
    """:func:`within_fwd_kernel` for float32 units that are (H, W, e) planes, by the float32
    direct sums of ``numba_within_direct`` (a unit holding an |x| above ``acap``, int32
    bits, or a NaN or an inf, by the float64 path). plane: (H, W, e); band: output rows per
    band; stack > 0: NCHW planes (e = 1) go that many at a time (fwd_stack)."""
    units, vol = x2.shape
    h, w, e = plane[0], plane[1], plane[2]
    for ch in prange(nchunks):
        sq, b, s, _, _ = band_scratch(band if stack == 0 else 0, size, (w + size - 1) * e,
                                      False)
        sq2, b2, s2, _, _ = stack_scratch(stack, h, w, size, False)
        scratch = _scratch(0, 0, 0, size)  # the float64 path's, allocated on first need
        lo, hi = ch * units // nchunks, (ch + 1) * units // nchunks
        for u0 in range(lo, hi, max(stack, 1)):
            count = min(stack, hi - u0)
            if stack and fwd_stack(x2, y2, u0, count, h, w, before, size, scale, k, mode, acap,
                                   sq2, b2, s2):
                continue
            if stack and sq.shape[0] == 0:  # a plane of the stack needs a band of its own
                sq, b, s, _, _ = band_scratch(band, size, (w + size - 1) * e, False)
            for u in range(u0, u0 + max(count, 1)):
                if fwd_unit(x2, y2, u, h, w, e, before, size, scale, k, mode, band, acap, sq,
                            b, s):
                    continue
                if scratch[0].shape[0] == 0:
                    scratch = _scratch(vol, prows, plans.shape[2], size)
                _fwd_f64(x2, y2, u, dims, plans, before, size, scale, k, beta, mode, scratch)


@njit(cache=True, error_model="numpy", parallel=True)
def within_bwd_planes(x2, dy2, dx2, dims, plans, tplans, prows, before, after, scale, k, beta,
                      mode, nchunks, plane, band, acap, stack):
    """:func:`within_bwd_kernel` for float32 (H, W, e) planes by the float32 direct sums, as
    :func:`within_fwd_planes`."""
    units, vol = x2.shape
    size = before + after + 1
    h, w, e = plane[0], plane[1], plane[2]
    for ch in prange(nchunks):
        sq, b, s, tp, pp = band_scratch(band if stack == 0 else 0, size, (w + size - 1) * e,
                                        True)
        sq2, b2, s2, tp2, pp2 = stack_scratch(stack, h, w, size, True)
        scratch = _scratch(0, 0, 0, size)
        p = np.empty(0)
        lo, hi = ch * units // nchunks, (ch + 1) * units // nchunks
        for u0 in range(lo, hi, max(stack, 1)):
            count = min(stack, hi - u0)
            if stack and bwd_stack(x2, dy2, dx2, u0, count, h, w, before, size, scale, k, beta,
                                   mode, acap, sq2, b2, s2, tp2, pp2):
                continue
            if stack and sq.shape[0] == 0:
                sq, b, s, tp, pp = band_scratch(band, size, (w + size - 1) * e, True)
            for u in range(u0, u0 + max(count, 1)):
                if bwd_unit(x2, dy2, dx2, u, h, w, e, before, size, scale, k, beta, mode, band,
                            acap, sq, b, s, tp, pp):
                    continue
                if scratch[0].shape[0] == 0:
                    scratch = _scratch(vol, prows, plans.shape[2], size)
                    p = np.empty(vol)
                _bwd_f64(x2, dy2, dx2, u, dims, plans, tplans, before, after, scale, k, beta,
                         mode, scratch, p)


class _Geometry(NamedTuple):
    """What a call needs besides the tensors, cached by shape, strides and parameters."""

    order: tuple[int, ...]  # the axes in memory order
    units: int
    dims: np.ndarray  # (d, 3) int64: the (O, L, I) view of each spatial axis of a unit
    plans: np.ndarray  # window plans of the float64 path, and of the transposed window
    tplans: np.ndarray
    prows: int
    fwd: tuple[np.ndarray, int, int, int] | None  # the direct path's (_direct), or None
    bwd: tuple[np.ndarray, int, int, int] | None


@functools.lru_cache(maxsize=64)
def _geometry(shape: tuple[int, ...], strides: tuple[int, ...], axes: tuple[int, ...],
              before: int, size: int, scale: float, k: float, beta: float,
              single: bool) -> _Geometry:
    order = sorted(range(len(shape)), key=lambda d: (-strides[d], -shape[d]))
    spatial = [a in axes for a in order]
    lead = 0
    while lead < len(order) and not spatial[lead]:
        lead += 1
    pshape = [shape[d] for d in order]
    vshape = pshape[lead:]
    dims = np.array([(math.prod(vshape[:q]), vshape[q], math.prod(vshape[q + 1 :]))
                     for q, sp in enumerate(spatial[lead:]) if sp],
                    dtype=np.int64).reshape(-1, 3)
    after = size - 1 - before
    direct = [_direct(dims, size, scale, k, beta, b) if single else None for b in (False, True)]
    for arr in (dims, *(d[0] for d in direct if d is not None)):
        arr.setflags(write=False)
    return _Geometry(tuple(order), math.prod(pshape[:lead]), dims, _plans(dims, before, size),
                     _plans(dims, after, size), _prows(dims, size), direct[0], direct[1])


def _geometry_of(xd: torch.Tensor, spec: LRNSpec) -> _Geometry:
    return _geometry(tuple(xd.shape), tuple(xd.stride()), tuple(spec.axes), spec.before,
                     spec.size, float(spec.scale), float(spec.k), float(spec.beta),
                     xd.dtype == torch.float32)


def _units_view(t: torch.Tensor, geo: _Geometry) -> np.ndarray:
    """(U, V) NumPy view of ``t`` (the strides the geometry was made for) in memory order."""
    return t.permute(geo.order).reshape(geo.units, -1).numpy()


def _plans(dims: np.ndarray, before: int, size: int) -> np.ndarray:
    """Window plans of every spatial axis, sharing one scratch whose last row is zero."""
    maxlen = int(dims[:, 1].max())
    zero = _prows(dims, size) - 1
    plans = np.zeros((dims.shape[0], 2, maxlen), dtype=np.int64)
    for q, length in enumerate(dims[:, 1]):
        plans[q, :, :length] = window_index(int(length), before, size, zero)
    plans.setflags(write=False)
    return plans


def _prows(dims: np.ndarray, size: int) -> int:
    return max(scratch_rows(int(length), size) for length in dims[:, 1])


def _direct(
    dims: np.ndarray, size: int, scale: float, k: float, beta: float, backward: bool
) -> tuple[np.ndarray, int, int, int] | None:
    """(plane, band rows, |x| cap, planes per stack) of the float32 direct path, or None where
    it does not apply (numba_within_direct). Stacks (0: none) take NCHW planes that fit whole
    in one band."""
    plane = plane_shape(dims)
    if plane is None:
        return None
    acap = abs_caps(size, scale, k, beta, backward)
    if acap is None:
        return None
    h, w, e = plane
    band = band_rows(h, w, e, size, (size - 1) * (2 if backward else 1))
    stack = stack_planes(h, w, size) if e == 1 and band == h else 0
    return np.array(plane, dtype=np.int64), band, acap, stack


def within_fwd(xc: torch.Tensor, out: torch.Tensor, spec: LRNSpec, nthreads: int) -> None:
    """Fill ``out`` (same strides as ``xc``) with LRN within channels of ``xc``."""
    geo = _geometry_of(xc, spec)
    nchunks = max(1, min(geo.units, 4 * nthreads))
    args = (_units_view(xc, geo), _units_view(out, geo), geo.dims, geo.plans, geo.prows,
            spec.before, spec.size, float(spec.scale), float(spec.k), float(spec.beta),
            pow_mode(spec.beta), nchunks)
    if geo.fwd is None:
        within_fwd_kernel(*args)
    else:
        within_fwd_planes(*args, *geo.fwd)


def within_bwd(
    xc: torch.Tensor, dy: torch.Tensor, out: torch.Tensor, spec: LRNSpec, nthreads: int
) -> None:
    """Fill ``out`` with the gradient of LRN within channels (dy has xc's strides)."""
    geo = _geometry_of(xc, spec)
    nchunks = max(1, min(geo.units, 4 * nthreads))
    args = (_units_view(xc, geo), _units_view(dy, geo), _units_view(out, geo), geo.dims,
            geo.plans, geo.tplans, geo.prows, spec.before, spec.after, float(spec.scale),
            float(spec.k), float(spec.beta), pow_mode(spec.beta), nchunks)
    if geo.bwd is None:
        within_bwd_kernel(*args)
    else:
        within_bwd_planes(*args, *geo.bwd)
