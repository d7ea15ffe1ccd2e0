"""nn.Module wrappers: thin, one-line forwards over :mod:`localnorm.functional`."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from . import functional as F
from ._spec import make_lrn_spec


class LocalResponseNorm(nn.Module):
    r"""Drop-in replacement for :class:`torch.nn.LocalResponseNorm` (same positional
    signature and outputs), plus ``region``, ``before`` and ``dim``.

    See :func:`localnorm.local_response_norm` for the formula and window convention.

    Shape:
        Input (N, C, \*spatial); output the same.

    Example:
        >>> import torch, localnorm
        >>> m = localnorm.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        >>> m(torch.randn(1, 16, 4, 4)).shape
        torch.Size([1, 16, 4, 4])
    """

    __constants__ = ["size", "alpha", "beta", "k", "region", "before", "dim"]

    def __init__(
        self,
        size: int,
        alpha: float = 1e-4,
        beta: float = 0.75,
        k: float = 1.0,
        *,
        region: str = "across",
        before: int | None = None,
        dim: int = 1,
    ) -> None:
        super().__init__()
        # Validate eagerly on a rank-5 stand-in so bad parameters fail at construction.
        make_lrn_spec(torch.empty(0, 1, 1, 1, 1), size, alpha, beta, k, region, before, 1)
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.region = region
        self.before = before
        self.dim = dim

    @classmethod
    def from_framework(cls, framework: str, **params: Any) -> LocalResponseNorm:
        """Build the module from another framework's own parameter names, e.g.
        ``LocalResponseNorm.from_framework("tensorflow", depth_radius=2, bias=1.0)``."""
        from .conventions import framework_info, to_canonical

        c = to_canonical(framework, **params)
        return cls(c.size, c.alpha, c.beta, c.k, region=c.region, before=c.before,
                   dim=framework_info(framework).channel_dim)

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k,
                                     region=self.region, before=self.before, dim=self.dim)

    def extra_repr(self) -> str:
        s = "{size}, alpha={alpha}, beta={beta}, k={k}".format(**self.__dict__)
        if self.region != "across":
            s += f", region={self.region!r}"
        if self.before is not None:
            s += f", before={self.before}"
        if self.dim != 1:
            s += f", dim={self.dim}"
        return s
