"""GDN / IGDN (Balle et al. 2016): functional form and the non-negative reparameterization.

The channel pool ``beta + gamma |x|^alpha`` is one GEMM: a 1x1 convolution with ``beta`` as
its bias for channels-first tensors of rank 3 to 5, ``F.linear`` on the channels-last view
otherwise (that view is free for channels_last memory). A fused elementwise kernel cannot beat
the GEMM it would have to re-implement, so the saving is in the passes around it: the bias is
added inside the GEMM, and without autograd the root and the product run in place.

The reparameterization follows CompressAI's ``NonNegativeParametrizer`` (same buffer names and
values, so its state dicts load unchanged): a stored value p gives the parameter
``max(p, bound)^2 - pedestal`` with ``pedestal = offset^2``, ``bound = sqrt(minimum + pedestal)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._spec import check_dim, check_float, check_tensor
from ._common import check_bool, compute_dtype

_CONV = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}


class _LowerBoundFn(torch.autograd.Function):
    """``max(x, bound)`` whose gradient still flows where it would push x back up to the bound
    (otherwise a parameter stuck below the bound would never move again)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, bound: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, bound)
        return torch.maximum(x, bound.to(x.dtype))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        x, bound = ctx.saved_tensors
        keep = (x >= bound.to(x.dtype)) | (grad < 0)
        return grad * keep.to(grad.dtype), None


class LowerBound(nn.Module):
    """``max(x, bound)`` with a pass-through gradient towards the bound; buffer ``bound``."""

    bound: torch.Tensor

    def __init__(self, bound: float) -> None:
        super().__init__()
        self.register_buffer("bound", torch.tensor([float(bound)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LowerBoundFn.apply(x, self.bound)  # type: ignore[no-any-return]


class NonNegativeParametrizer(nn.Module):
    """Maps a stored value p to ``max(p, bound)^2 - pedestal`` (>= ``minimum``).

    Buffers ``pedestal`` and ``lower_bound.bound`` as in CompressAI, so a GDN state dict
    from CompressAI loads as is. :meth:`init` is the inverse map, used to store a value."""

    pedestal: torch.Tensor

    def __init__(self, minimum: float = 0.0, reparam_offset: float = 2.0**-18) -> None:
        super().__init__()
        self.minimum = check_float("minimum", minimum, 0.0)
        self.reparam_offset = check_float("reparam_offset", reparam_offset, 0.0, strict=True)
        pedestal = self.reparam_offset**2
        self.register_buffer("pedestal", torch.tensor([pedestal]))
        self.lower_bound = LowerBound((self.minimum + pedestal) ** 0.5)

    def init(self, value: torch.Tensor) -> torch.Tensor:
        """The stored value whose :meth:`forward` is ``value`` (clipped at ``minimum``)."""
        ped = self.pedestal.to(value.dtype)
        return torch.sqrt(torch.maximum(value + ped, ped))

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.lower_bound(p).square() - self.pedestal.to(p.dtype)


def _check_params(beta: object, gamma: object, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    for name, p, shape in (("beta", beta, (c,)), ("gamma", gamma, (c, c))):
        if not isinstance(p, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape {shape}, got "
                            f"{type(p).__name__}")
        if tuple(p.shape) != shape:
            extra = " (gamma[i, j] weighs input j in output i)" if name == "gamma" else ""
            raise ValueError(f"{name} must have shape {shape} for C={c} channels{extra}, "
                             f"got {tuple(p.shape)}")
    assert isinstance(beta, torch.Tensor) and isinstance(gamma, torch.Tensor)
    if not torch.compiler.is_compiling():  # value checks need the data: skip when tracing
        if bool((beta <= 0).any()):
            raise ValueError("beta must be > 0 everywhere (it keeps the denominator positive); "
                             f"min is {float(beta.detach().min())}")
        if bool((gamma < 0).any()):
            raise ValueError(f"gamma must be >= 0 everywhere; min is {float(gamma.detach().min())}")
    return beta, gamma


def gdn_pool(xa: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor, dim: int
             ) -> torch.Tensor:
    """``beta_i + sum_j gamma[i, j] xa_j`` over the channel axis ``dim`` (one GEMM)."""
    c = gamma.shape[0]
    if dim == 1 and xa.dim() in _CONV and xa.stride(1) != 1:
        w = gamma.reshape(c, c, *([1] * (xa.dim() - 2)))
        return _CONV[xa.dim()](xa, w, beta)
    return F.linear(xa.movedim(dim, -1), gamma, beta).movedim(-1, dim)


def gdn_compute(x: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor, inverse: bool,
                alpha: float, epsilon: float, dim: int) -> torch.Tensor:
    """GDN in the compute dtype of x (differentiable through plain torch ops)."""
    if alpha == 2.0:
        xa = x.square()
    elif alpha == 1.0:
        xa = x.abs()
    else:
        xa = x.abs().pow(alpha)
    s = gdn_pool(xa, beta.to(x.dtype), gamma.to(x.dtype), dim)
    e = epsilon if inverse else -epsilon
    if not s.requires_grad:  # inference: reuse s for every pass
        if e == -0.5:
            s.rsqrt_()
        elif e == 0.5:
            s.sqrt_()
        elif e == -1.0:
            s.reciprocal_()
        elif e != 1.0:
            s.pow_(e)
        return s.mul_(x)
    if e == -0.5:
        return x * s.rsqrt()
    if e == 0.5:
        return x * s.sqrt()
    if e == -1.0:
        return x * s.reciprocal()  # CompressAI's GDN1 form, bit for bit
    if e == 1.0:
        return x * s
    return x * s.pow(e)


def gdn(
    input: torch.Tensor,
    beta: torch.Tensor,
    gamma: torch.Tensor,
    *,
    inverse: bool = False,
    alpha: float = 2.0,
    epsilon: float = 0.5,
    dim: int = 1,
) -> torch.Tensor:
    r"""Generalized divisive normalization (GDN) or its inverse (IGDN).

    Balle, Laparra and Simoncelli, "Density Modeling of Images using a Generalized
    Normalization Transformation", ICLR 2016:

    .. math::
        y_i = x_i \Big(\beta_i + \sum_j \gamma_{ij} |x_j|^{\alpha}\Big)^{-\varepsilon}
        \quad (\text{IGDN: } {+\varepsilon})

    Classic GDN: alpha = 2, epsilon = 1/2. GDN1 (Johnston et al. 2019): alpha = 1,
    epsilon = 1. ``gamma[i, j]`` weighs input channel j in output channel i (CompressAI's
    layout; tensorflow_compression stores the transpose, see
    :func:`gamma_from_tensorflow_compression`). These are the parameter *values*; the module
    :class:`localnorm.GDN` keeps them non-negative by reparameterization.

    Args:
        beta: (C,), > 0.  gamma: (C, C), >= 0.
        inverse: IGDN, multiply instead of divide.
        alpha: power of |x| in the pool, >= 1 (below 1 the gradient at x = 0 is infinite).
        epsilon: exponent of the pool, > 0.
        dim: the channel axis.

    Shape:
        input: (N, C, \*spatial), rank >= 2, any memory format. Output: same shape and dtype.

    Example:
        >>> import torch, localnorm
        >>> x = torch.randn(2, 4, 5, 5)
        >>> beta, gamma = torch.ones(4), 0.1 * torch.eye(4)
        >>> y = localnorm.gdn(x, beta, gamma)
        >>> torch.allclose(y, x / torch.sqrt(1 + 0.1 * x**2))
        True
    """
    x = check_tensor("input", input, 2)
    d = check_dim(dim, x.dim())
    inv = check_bool("inverse", inverse)
    a = check_float("alpha", alpha, 1.0)
    eps = check_float("epsilon", epsilon, 0.0, strict=True)
    b, g = _check_params(beta, gamma, x.shape[d])
    if x.numel() == 0:
        return torch.empty_like(x)
    y = gdn_compute(x.to(compute_dtype(x)), b, g, inv, a, eps, d)
    return y.to(x.dtype)


def gamma_from_tensorflow_compression(gamma: Any) -> torch.Tensor:
    """tensorflow_compression's gamma (``gamma[j, i]``: input j, output i) in CompressAI's
    and localnorm's layout (``gamma[i, j]``): its transpose, as a float tensor.

    Works on ``tfc.GDN(...).gamma`` values, on ``tf.contrib.layers.gdn``'s gamma and on any
    array-like; the matrix must be square."""
    g = torch.as_tensor(np.asarray(gamma, dtype=np.float64))
    if g.dim() != 2 or g.shape[0] != g.shape[1]:
        raise ValueError(f"gamma must be a square (C, C) matrix, got shape {tuple(g.shape)}")
    return g.t().contiguous()
