"""``torch.library`` custom ops for LRN, with registered autograd and fake kernels.

``localnorm::lrn`` and ``localnorm::lrn_backward`` are opaque to torch.compile (no graph
break: the fake kernels describe the output), dispatch at run time to the best backend
(``localnorm.backends.select``), and return tensors in ``torch.empty_like(x)``'s layout.
The backward op recomputes the denominator from x instead of saving it: one tensor saved
(x), not three.
"""

from __future__ import annotations

from typing import Any

import torch

from .. import backends
from .._spec import LRNSpec


def _spec(x: torch.Tensor, size: int, before: int, alpha: float, beta: float, k: float,
          region: str, dim: int) -> LRNSpec:
    return LRNSpec(region, size, before, alpha, beta, k, dim, x.dim())


@torch.library.custom_op("localnorm::lrn", mutates_args=())
def lrn(
    x: torch.Tensor, size: int, before: int, alpha: float, beta: float, k: float,
    region: str, dim: int,
) -> torch.Tensor:
    """LRN forward on validated, canonical parameters (see ``localnorm._spec.LRNSpec``)."""
    if x.numel() == 0:
        return torch.empty_like(x)
    spec = _spec(x, size, before, alpha, beta, k, region, dim)
    return backends.select("lrn", x, spec).lrn_fwd(x, spec)


@lrn.register_fake
def _lrn_fake(x, size, before, alpha, beta, k, region, dim):  # type: ignore[no-untyped-def]
    return torch.empty_like(x)


@torch.library.custom_op("localnorm::lrn_backward", mutates_args=())
def lrn_backward(
    grad_out: torch.Tensor, x: torch.Tensor, size: int, before: int, alpha: float,
    beta: float, k: float, region: str, dim: int,
) -> torch.Tensor:
    """Gradient of :func:`lrn` with respect to x."""
    if x.numel() == 0:
        return torch.empty_like(x)
    spec = _spec(x, size, before, alpha, beta, k, region, dim)
    return backends.select("lrn", x, spec).lrn_bwd(x, grad_out, spec)


@lrn_backward.register_fake
def _lrn_backward_fake(grad_out, x, size, before, alpha, beta, k, region, dim):  # type: ignore[no-untyped-def]
    return torch.empty_like(x)


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    ctx.save_for_backward(inputs[0])
    ctx.params = inputs[1:]


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
    (x,) = ctx.saved_tensors
    dx = lrn_backward(grad, x, *ctx.params)
    return (dx,) + (None,) * len(ctx.params)


lrn.register_autograd(_backward, setup_context=_setup_context)
