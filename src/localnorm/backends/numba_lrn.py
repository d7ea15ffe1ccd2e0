"""numba backend: fused CPU kernels for LRN across and within channels.

Forward is one pass over memory (read x, write y) and backward one pass (read x and dy,
write dx) that recomputes the denominator s in thread-local scratch. Window sums use block
prefix and suffix sums (``numba_window``): O(1) per element for any window size, with no
subtraction of partial sums, accumulated in float64. Outputs have ``torch.empty_like(x)``'s
strides, as the op's fake kernel promises. float16 and bfloat16 are converted to float32
around the kernel (one extra read and write of x in each direction), computed in float32
/float64 and stored back in the input dtype. Thread count follows ``torch.get_num_threads()``.

    s = k + A * sum_{window} x^2,   y = x * s^-beta
    dx = dy * s^-beta - 2 A beta x * sum_{transposed window} dy x s^(-beta-1)
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import torch

from .._spec import LRNSpec
from ._layout import axis_view, dense_like, match_layout
from .numba_across import lrn_bwd_kernel, lrn_fwd_kernel, num_tiles
from .numba_window import pow_mode, window_index

NAME = "numba"
_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_LOW = (torch.float16, torch.bfloat16)
# Scratch tiles of about this many float64 values per array stay in L1/L2 with room to spare.
_TILE_VALUES = 4096


def why_not(op: str, x: torch.Tensor, spec: object) -> str | None:
    """None if this backend can run ``op`` on ``x``, else the reason it cannot."""
    if op != "lrn":
        return f"does not implement {op}"
    if x.device.type != "cpu":
        return f"runs on CPU tensors only, got a {x.device.type} tensor"
    if x.dtype not in _DTYPES:
        return f"supports float16, bfloat16, float32, float64, got {x.dtype}"
    region = getattr(spec, "region", "across")
    if region not in ("across", "within"):
        return f"supports region across or within, got {region!r}"
    return None


def _set_threads() -> int:
    n = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    numba.set_num_threads(n)
    return n


@functools.lru_cache(maxsize=64)
def _plan(length: int, before: int, size: int) -> np.ndarray:
    plan = window_index(length, before, size)
    plan.setflags(write=False)
    return plan


def _block(length: int) -> int:
    """Columns per tile: a power of two in [8, 64] so one (L, B) float64 tile is small."""
    b = 64
    while b > 8 and length * b > _TILE_VALUES:
        b //= 2
    return b


def _compute(t: torch.Tensor) -> torch.Tensor:
    return t.float() if t.dtype in _LOW else t


def _np(t: torch.Tensor, axis: int) -> np.ndarray:
    view, _ = axis_view(t, axis)
    return view.detach().numpy()


def _params(spec: LRNSpec) -> tuple[float, float, float, int]:
    return float(spec.scale), float(spec.k), float(spec.beta), pow_mode(spec.beta)


def _across_fwd(xc: torch.Tensor, out: torch.Tensor, spec: LRNSpec, nthreads: int) -> None:
    xv = _np(xc, spec.dim)
    length = xv.shape[1]
    block = _block(length)
    nchunks = max(1, min(num_tiles(xv.shape, block), 4 * nthreads))
    plan = _plan(length, spec.before, spec.size)
    lrn_fwd_kernel(xv, _np(out, spec.dim), plan, *_params(spec), block, nchunks)


def _across_bwd(
    xc: torch.Tensor, dy: torch.Tensor, out: torch.Tensor, spec: LRNSpec, nthreads: int
) -> None:
    xv = _np(xc, spec.dim)
    length = xv.shape[1]
    block = _block(length)
    nchunks = max(1, min(num_tiles(xv.shape, block), 4 * nthreads))
    plan = _plan(length, spec.before, spec.size)
    tplan = _plan(length, spec.after, spec.size)
    lrn_bwd_kernel(
        xv, _np(dy, spec.dim), _np(out, spec.dim), plan, tplan, *_params(spec), block, nchunks
    )


def lrn_fwd(x: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """LRN forward; output in ``torch.empty_like(x)``'s layout and x's dtype."""
    nthreads = _set_threads()
    xd = dense_like(x.detach())
    xc = _compute(xd)
    out = torch.empty_like(xc)
    if spec.region == "across":
        _across_fwd(xc, out, spec, nthreads)
    else:
        from .numba_within import within_fwd

        within_fwd(xc, out, spec, nthreads)
    return out.to(x.dtype) if out.dtype != x.dtype else out


def lrn_bwd(x: torch.Tensor, grad_out: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """Gradient of :func:`lrn_fwd` with respect to x, in x's layout and dtype."""
    nthreads = _set_threads()
    xd = dense_like(x.detach())
    dy = match_layout(grad_out.detach(), xd)
    xc = _compute(xd)
    dyc = _compute(dy)
    out = torch.empty_like(xc)
    if spec.region == "across":
        _across_bwd(xc, dyc, out, spec, nthreads)
    else:
        from .numba_within import within_bwd

        within_bwd(xc, dyc, out, spec, nthreads)
    return out.to(x.dtype) if out.dtype != x.dtype else out
