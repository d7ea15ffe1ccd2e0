"""Canonical memory views shared by the kernel backends.

Kernels see an LRN input as a 3-D view (O, L, I): L is the axis the window runs along and
the view's strides are the input's own, so no copy is made for contiguous (NCHW) or
channels-last inputs. Any other layout is first made dense with ``torch.empty_like``'s
memory format, the same format the op's fake kernel promises for the output.
"""

from __future__ import annotations

import math

import torch


def is_dense(x: torch.Tensor) -> bool:
    """True when ``x`` covers a contiguous block of memory with no overlap, in some order."""
    if x.is_contiguous():
        return True
    dims = sorted((d for d in range(x.dim()) if x.size(d) != 1), key=lambda d: x.stride(d))
    expected = 1
    for d in dims:
        if x.stride(d) != expected:
            return False
        expected *= x.size(d)
    return True


def dense_like(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself if it is dense (non-overlapping, no gaps), else a dense copy in the format
    ``torch.empty_like`` would pick, so outputs and inputs share one stride pattern."""
    if is_dense(x):
        return x
    out = torch.empty_like(x)
    out.copy_(x)
    return out


def axis_views(
    axis: int, x: torch.Tensor, *same: torch.Tensor
) -> tuple[list[torch.Tensor], tuple[int, int, int]]:
    """(O, L, I) views around ``axis`` of a dense ``x`` and of tensors with x's strides (the
    permutation into memory order is worked out once; a tensor with other strides raises)."""
    if x.is_contiguous():  # already in memory order: a plain view
        dims = x.shape
        shape = (math.prod(dims[:axis]), dims[axis], math.prod(dims[axis + 1 :]))
        return [t.view(shape) for t in (x, *same)], shape
    order = sorted(range(x.dim()), key=lambda d: (-x.stride()[d], -x.size()[d]))
    xp = x.permute(order)  # memory order: strides decrease, so xp is contiguous
    if not xp.is_contiguous():
        raise ValueError("axis_view needs a dense tensor; call dense_like first")
    pos = order.index(axis)
    shape = (math.prod(xp.shape[:pos]), xp.shape[pos], math.prod(xp.shape[pos + 1 :]))
    return [xp.view(shape)] + [t.permute(order).view(shape) for t in same], shape


def axis_view(x: torch.Tensor, axis: int) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Permute a dense ``x`` into memory order and view it as (O, L, I) around ``axis``.

    Returns the view's (O, L, I) sizes with the view; strides are ``view.stride()``. For an
    NCHW tensor and axis 1 this is (N, C, H*W) with strides (C*H*W, H*W, 1); for channels
    last it is (N*H*W, C, 1) with strides (C, 1, 1).
    """
    views, shape = axis_views(axis, x)
    return views[0], shape


def match_layout(t: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """``t`` with exactly ``ref``'s strides (a copy only when they differ)."""
    if t.stride() == ref.stride() and t.dtype == ref.dtype:
        return t
    out = torch.empty_like(ref)
    out.copy_(t)
    return out
