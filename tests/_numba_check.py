"""Checks of the numba LRN kernels against the float64 reference (accuracy policy, DESIGN.md
section 4), shared by the numba test files."""

from __future__ import annotations

import numpy as np
import torch

from _helpers import randn, rel_close
from localnorm._spec import make_lrn_spec
from localnorm.backends import numba_lrn
from localnorm.reference import lrn_forward, lrn_vjp
from localnorm.reference.lrn import window_sum


def _spec(x, size, alpha=1e-4, beta=0.75, k=1.0, region="across", before=None, dim=1):
    return make_lrn_spec(x, size, alpha, beta, k, region, before, dim)


def _kw(spec):
    return dict(region=spec.region, before=spec.before, dim=spec.dim)


def _vjp_scale(x, dy, spec):
    """|dy| s^-beta + 2 A beta |x| * (transposed window sum of |dy x| s^(-beta-1)): the size
    of the two terms of dx, which the error of a float32 dx is measured against."""
    x = x.double().numpy()
    dy = np.abs(dy.double().numpy())
    acc = x * x
    for ax in spec.axes:
        acc = window_sum(acc, ax, spec.before, spec.after)
    s = spec.k + spec.scale * acc
    t = dy * np.abs(x) * s ** (-spec.beta - 1)
    for ax in spec.axes:
        t = window_sum(t, ax, spec.after, spec.before)
    return dy * s ** -spec.beta + 2 * spec.scale * abs(spec.beta) * np.abs(x) * t


def check(x, spec, dy=None, rtol=None):
    """Forward against the reference (relative, every element) and backward against the
    reference relative to the size of its terms; returns (y, dx)."""
    y = numba_lrn.lrn_fwd(x, spec)
    assert y.dtype == x.dtype and y.stride() == torch.empty_like(x).stride()
    p = (spec.size, spec.alpha, spec.beta, spec.k)
    ref = lrn_forward(x.double().numpy(), *p, **_kw(spec))
    ok, worst = rel_close(y, ref, x.dtype)
    assert ok, f"forward: worst relative error {worst:.3g}"
    dy = randn(*x.shape, seed=7, dtype=x.dtype) if dy is None else dy
    dx = numba_lrn.lrn_bwd(x, dy, spec)
    assert dx.dtype == x.dtype and dx.stride() == torch.empty_like(x).stride()
    rv = lrn_vjp(x.double().numpy(), dy.double().numpy(), *p, **_kw(spec))
    tol = (rtol or (1e-6 if x.dtype == torch.float32 else 1e-12)) * _vjp_scale(x, dy, spec)
    tol += float(torch.finfo(x.dtype).smallest_normal * torch.finfo(x.dtype).eps)  # a subnormal
    err = np.abs(dx.double().numpy() - rv)
    assert np.all(err <= tol), f"backward: worst {np.max(err / tol):.3g}x the tolerance"
    return y, dx
