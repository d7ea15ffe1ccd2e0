"""Composite backend: plain PyTorch ops, any device, any float dtype, differentiable.

This is the baseline every fused kernel must beat and the fallback when no kernel fits.
Window sums use ``avg_pool2d`` with ``divisor_override=1`` on an explicitly zero-padded
tensor, so each sum is a direct sum of its window (no running sums that could drift).
Half-precision inputs are computed in float32, so ``x * x`` never overflows (PyTorch's own
LocalResponseNorm squares in the input dtype and overflows float16 above |x| ~ 256).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._spec import LRNSpec

NAME = "composite"
_LOW = (torch.float16, torch.bfloat16)


def why_not(op: str, x: torch.Tensor, spec: object) -> str | None:
    return None


def window_sum(t: torch.Tensor, axis: int, before: int, after: int) -> torch.Tensor:
    """Sum of ``t[i - before : i + after + 1]`` along ``axis``, zero padded; differentiable."""
    shape = t.shape
    o = 1
    for s in shape[:axis]:
        o *= s
    length = shape[axis]
    t4 = t.reshape(o, 1, length, -1)
    t4 = F.pad(t4, (0, 0, before, after))
    out = F.avg_pool2d(t4, (before + after + 1, 1), stride=1, divisor_override=1)
    return out.reshape(shape)


def _compute(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in _LOW else x


# float32 window sums of n terms drift by up to ~n/2 ulps: from 8 terms on they are summed in
# float64 so float32 outputs stay within 1e-6 of the float64 reference (size 255 with a
# spike input measured 1.8e-6 when summed in float32).
_WIDE_FROM = 8


# float32 s above this (or not finite) is recomputed in float64: a square or a window's sum of
# squares past float32 (|x| above 1.8e19) would make s inf and y 0, and s^-beta of an s this
# large is near float32's subnormals, where it keeps fewer bits than the 1e-6 policy needs.
_S32_MAX = 1e36


def _sum_squares(xc: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    acc = xc * xc
    for ax in spec.axes:
        acc = window_sum(acc, ax, spec.before, spec.after)
    return acc * spec.scale + spec.k


def denominator(xc: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """s = k + A * (window sum of x^2), in the compute dtype (float64 for wide float32 sums,
    and for float32 inputs whose s leaves float32's safe range: one more pass over s, a
    data-dependent test that runs inside the op's kernel, never in a traced graph)."""
    if xc.dtype == torch.float32 and spec.size >= _WIDE_FROM:
        return _sum_squares(xc.double(), spec)
    s = _sum_squares(xc, spec)
    if xc.dtype == torch.float32 and not bool((s <= _S32_MAX).all()):
        return _sum_squares(xc.double(), spec)
    return s


def lrn(x: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """Differentiable composite LRN (autograd flows through plain torch ops). y = x s^-beta
    is formed in s's dtype, then rounded once to x's: a float64 s^-beta can be below
    float32's normal range although y is not."""
    xc = _compute(x)
    s = denominator(xc, spec)
    y = xc.to(s.dtype) * s.pow(-spec.beta)
    return y.to(x.dtype)


def _like(x: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    out.copy_(value)
    return out


def lrn_fwd(x: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    with torch.no_grad():
        return _like(x, lrn(x, spec))


def lrn_bwd(x: torch.Tensor, grad_out: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """dx = dy * s^-beta - 2 A beta x * sum_{j: c in W(j)} dy_j x_j s_j^(-beta-1)."""
    with torch.no_grad():
        xc = _compute(x)
        dy = _compute(grad_out)
        s = denominator(xc, spec)
        p = s.pow(-spec.beta)
        t = dy * xc * p / s  # float64 when s is: the transposed sums below stay wide too
        for ax in spec.axes:
            t = window_sum(t, ax, spec.after, spec.before)  # transposed window
        dx = dy * p - (2.0 * spec.scale * spec.beta) * xc * t
        return _like(x, dx.to(x.dtype))  # one rounding to the input dtype at the end
