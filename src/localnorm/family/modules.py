"""nn.Modules of the divisive-normalization family: thin, one-line forwards."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ._common import check_bool, check_border, check_float, check_int, check_odd
from .divisive import divisive_l1_penalty, divisive_norm
from .gdn import NonNegativeParametrizer, gamma_from_tensorflow_compression, gdn
from .lcn import check_threshold, lcn_kernel, local_contrast_norm, v1_norm


class LocalContrastNorm(nn.Module):
    r"""Local contrast normalization (Jarrett et al. 2009; Torch7
    ``SpatialContrastiveNormalization``). See :func:`localnorm.local_contrast_norm`.

    Shape:
        Input (N, C, \*spatial) with 1 to 3 spatial axes; output the same.

    Example:
        >>> import torch, localnorm
        >>> localnorm.LocalContrastNorm(9, threshold=1e-4)(torch.randn(1, 3, 12, 12)).shape
        torch.Size([1, 3, 12, 12])
    """

    def __init__(
        self,
        size: int = 9,
        sigma: float | None = None,
        *,
        kernel: Any = None,
        threshold: str | float = "mean",
        border: str = "renormalize",
        eps: float = 1e-6,
        dim: int = 1,
    ) -> None:
        super().__init__()
        lcn_kernel(size, sigma, kernel, 1 if kernel is None else np.ndim(kernel))  # eagerly
        self.size, self.sigma, self.kernel = size, sigma, kernel
        self.threshold = check_threshold(threshold)
        self.border = check_border(border)
        self.eps = check_float("eps", eps, 0.0, strict=True)
        self.dim = dim

    @staticmethod
    def pinto(size: int = 3, threshold: float = 1.0, *, border: str = "zeros",
              dim: int = 1) -> V1Norm:
        """Pinto et al. 2008's V1-like normalization preset (a :class:`V1Norm`)."""
        return V1Norm(size, threshold, border=border, dim=dim)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return local_contrast_norm(input, self.size, self.sigma, kernel=self.kernel,
                                   threshold=self.threshold, border=self.border, eps=self.eps,
                                   dim=self.dim)

    def extra_repr(self) -> str:
        s = "kernel=<user>" if self.kernel is not None else f"size={self.size}"
        if self.sigma is not None:
            s += f", sigma={self.sigma}"
        return s + f", threshold={self.threshold!r}, border={self.border!r}, dim={self.dim}"


class V1Norm(nn.Module):
    r"""Pinto et al. 2008's V1-like normalization. See :func:`localnorm.v1_norm`.

    Example:
        >>> import torch, localnorm
        >>> localnorm.LocalContrastNorm.pinto()(torch.randn(1, 4, 6, 6)).shape
        torch.Size([1, 4, 6, 6])
    """

    def __init__(self, size: int = 3, threshold: float = 1.0, *, border: str = "zeros",
                 dim: int = 1) -> None:
        super().__init__()
        self.size = check_odd("size", size)
        self.threshold = check_float("threshold", threshold, 0.0, strict=True)
        self.border = check_border(border, ("zeros", "valid"))
        self.dim = dim

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return v1_norm(input, self.size, self.threshold, border=self.border, dim=self.dim)

    def extra_repr(self) -> str:
        return f"size={self.size}, threshold={self.threshold}, border={self.border!r}"


class DivisiveNorm(nn.Module):
    r"""Divisive normalization (Ren et al., ICLR 2017) with a learnable sigma (kept >= 0: the
    parameter is ``sigma`` and the layer uses ``|sigma|``), an optional per-channel affine
    and an L1 penalty helper. See :func:`localnorm.divisive_norm`.

    Shape:
        Input (N, C, \*spatial), C = ``num_channels``; output the same.

    Example:
        >>> import torch, localnorm
        >>> m = localnorm.DivisiveNorm(8, size=3, channel_size=3, l1=1e-3)
        >>> y = m(torch.randn(2, 8, 5, 5))
        >>> loss = y.square().mean() + m.l1_penalty(y)
    """

    sigma: torch.Tensor

    def __init__(
        self,
        num_channels: int,
        *,
        size: int = 3,
        channel_size: int | None = None,
        sigma: float = 1.0,
        learn_sigma: bool = True,
        subtract_mean: bool = True,
        mean_size: int | None = None,
        mean_channel_size: int | None = -1,
        affine: bool = True,
        border: str = "zeros",
        l1: float = 0.0,
        dim: int = 1,
    ) -> None:
        super().__init__()
        self.num_channels = check_int("num_channels", num_channels, 1)
        self.size = check_int("size", size, 1)
        self.channel_size = None if channel_size is None else check_int(
            "channel_size", channel_size, 1)
        s = torch.tensor(check_float("sigma", sigma, 0.0))
        if check_bool("learn_sigma", learn_sigma):
            self.sigma = nn.Parameter(s)
        else:
            self.register_buffer("sigma", s)
        self.subtract_mean = check_bool("subtract_mean", subtract_mean)
        self.mean_size = mean_size if mean_size is None else check_int("mean_size", mean_size, 1)
        self.mean_channel_size = mean_channel_size
        self.border = check_border(border)
        self.l1 = check_float("l1", l1, 0.0)
        self.dim = dim
        c = self.num_channels
        self.weight = nn.Parameter(torch.ones(c)) if check_bool("affine", affine) else None
        self.bias = nn.Parameter(torch.zeros(c)) if affine else None

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return divisive_norm(input, self.size, self.channel_size, sigma=self.sigma.abs(),
                             weight=self.weight, bias=self.bias,
                             subtract_mean=self.subtract_mean, mean_size=self.mean_size,
                             mean_channel_size=self.mean_channel_size, border=self.border,
                             dim=self.dim)

    def l1_penalty(self, output: torch.Tensor) -> torch.Tensor:
        """``l1 * mean(|output|)``: Ren et al.'s sparsity term, to add to the loss."""
        return divisive_l1_penalty(output, self.l1)

    def extra_repr(self) -> str:
        return (f"{self.num_channels}, size={self.size}, channel_size={self.channel_size}, "
                f"subtract_mean={self.subtract_mean}, border={self.border!r}")


class GDN(nn.Module):
    r"""GDN / IGDN layer (Balle et al. 2016) with CompressAI's parameter layout and state dict.

    Parameters ``beta`` (C,) and ``gamma`` (C, C) are stored reparameterized (see
    :class:`NonNegativeParametrizer`); :attr:`effective_beta` and :attr:`effective_gamma` are
    the values used. ``gamma[i, j]`` weighs input channel j in output channel i. A CompressAI
    ``GDN``/``GDN1`` state dict (keys ``beta``, ``gamma``, ``beta_reparam.pedestal``,
    ``beta_reparam.lower_bound.bound``, ``gamma_reparam.pedestal``,
    ``gamma_reparam.lower_bound.bound``) loads with :meth:`load_state_dict` unchanged.

    Args:
        num_channels: C.
        inverse: IGDN (multiplies by the pool's root).
        simplified: GDN1 (alpha = 1, epsilon = 1; Johnston et al. 2019).
        alpha, epsilon: override the exponents (defaults 2 and 1/2, or 1 and 1 for GDN1).
        beta_min: lower bound of beta (1e-6). gamma_init: diagonal of the initial gamma (0.1).
        reparam_offset: offset of the reparameterization (2^-18). dim: the channel axis.

    Shape:
        Input (N, C, \*spatial), rank >= 2, any memory format; output the same.

    Example:
        >>> import torch, localnorm
        >>> m = localnorm.GDN(8)
        >>> m(torch.randn(1, 8, 4, 4)).shape
        torch.Size([1, 8, 4, 4])
        >>> sorted(m.state_dict())[:3]
        ['beta', 'beta_reparam.lower_bound.bound', 'beta_reparam.pedestal']
    """

    def __init__(
        self,
        num_channels: int,
        *,
        inverse: bool = False,
        simplified: bool = False,
        alpha: float | None = None,
        epsilon: float | None = None,
        beta_min: float = 1e-6,
        gamma_init: float = 0.1,
        reparam_offset: float = 2.0**-18,
        dim: int = 1,
    ) -> None:
        super().__init__()
        c = check_int("num_channels", num_channels, 1)
        self.inverse = check_bool("inverse", inverse)
        self.simplified = check_bool("simplified", simplified)
        default = 1.0 if simplified else 2.0
        self.alpha = check_float("alpha", default if alpha is None else alpha, 1.0)
        default = 1.0 if simplified else 0.5
        self.epsilon = check_float("epsilon", default if epsilon is None else epsilon, 0.0,
                                   strict=True)
        self.dim = dim
        check_float("beta_min", beta_min, 0.0, strict=True)
        gi = check_float("gamma_init", gamma_init, 0.0)
        self.beta_reparam = NonNegativeParametrizer(beta_min, reparam_offset)
        self.gamma_reparam = NonNegativeParametrizer(0.0, reparam_offset)
        self.beta = nn.Parameter(self.beta_reparam.init(torch.ones(c)))
        self.gamma = nn.Parameter(self.gamma_reparam.init(gi * torch.eye(c)))

    @property
    def effective_beta(self) -> torch.Tensor:
        return self.beta_reparam(self.beta)

    @property
    def effective_gamma(self) -> torch.Tensor:
        return self.gamma_reparam(self.gamma)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return gdn(input, self.effective_beta, self.effective_gamma, inverse=self.inverse,
                   alpha=self.alpha, epsilon=self.epsilon, dim=self.dim)

    @torch.no_grad()
    def set_values(self, beta: Any, gamma: Any) -> GDN:
        """Store the parameter *values* ``beta`` (C,) and ``gamma`` (C, C, CompressAI layout)."""
        b = torch.as_tensor(beta, dtype=self.beta.dtype).to(self.beta.device)
        g = torch.as_tensor(gamma, dtype=self.gamma.dtype).to(self.gamma.device)
        if b.shape != self.beta.shape or g.shape != self.gamma.shape:
            raise ValueError(f"beta and gamma must have shapes {tuple(self.beta.shape)} and "
                             f"{tuple(self.gamma.shape)}, got {tuple(b.shape)}, {tuple(g.shape)}")
        self.beta.copy_(self.beta_reparam.init(b))
        self.gamma.copy_(self.gamma_reparam.init(g))
        return self

    @classmethod
    def from_tensorflow_compression(cls, beta: Any, gamma: Any, *, inverse: bool = False,
                                    alpha: float = 1.0, epsilon: float = 1.0,
                                    **kwargs: Any) -> GDN:
        """A GDN with ``tfc.GDN``'s parameter values (``layer.beta``, ``layer.gamma``: values,
        not the ``reparam_*`` variables). tfc's gamma is transposed into this layout. tfc's
        defaults are alpha = 1, epsilon = 1 (GDN1's form); ``tf.contrib.layers.gdn`` and
        ``tfc.GDN(alpha_parameter=2, epsilon_parameter=.5)`` need alpha=2, epsilon=0.5."""
        g = gamma_from_tensorflow_compression(gamma)
        m = cls(g.shape[0], inverse=inverse, alpha=alpha, epsilon=epsilon, **kwargs)
        return m.set_values(torch.as_tensor(beta, dtype=torch.float64), g)

    def extra_repr(self) -> str:
        return (f"{self.beta.shape[0]}, inverse={self.inverse}, alpha={self.alpha:g}, "
                f"epsilon={self.epsilon:g}")
