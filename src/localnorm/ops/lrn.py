"""``torch.library`` custom ops for LRN, with registered autograd and fake kernels.

``localnorm::lrn`` and ``localnorm::lrn_backward`` are opaque to torch.compile (no graph
break: the fake kernels describe the output), dispatch at run time to the best backend
(``localnorm.backends.select``), and return tensors in ``torch.empty_like(x)``'s layout.
The backward op recomputes the denominator from x instead of saving it: one tensor saved
(x), not three.

Eager calls that no tracer, mode or transform can see (:func:`direct_ok`) skip the dispatcher:
:func:`call` runs the backend itself, through a plain ``torch.autograd.Function`` when x needs
a gradient. Same kernels, same bits; the custom op's Python layers (autograd wrapper, dynamo
guard, backend wrapper) cost 0.1-0.3 ms a call with cold caches, 5-10% of a memory-bound
AlexNet-size LRN forward on CPU. Everything else (torch.compile, export, jit tracing, vmap and
other functorch transforms, forward-mode AD, torch function or dispatch modes, tensor
subclasses, the profiler) goes through the op.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.autograd.forward_ad as _fwad

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
    return _forward(x, _spec(x, size, before, alpha, beta, k, region, dim))


def _forward(x: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    if x.numel() == 0:
        return torch.empty_like(x)
    return backends.select("lrn", x, spec).lrn_fwd(x, spec)


def _backward_impl(grad_out: torch.Tensor, x: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    if x.numel() == 0:
        return torch.empty_like(x)
    return backends.select("lrn", x, spec).lrn_bwd(x, grad_out, spec)


@lrn.register_fake
def _lrn_fake(x, size, before, alpha, beta, k, region, dim):  # type: ignore[no-untyped-def]
    return torch.empty_like(x)


@torch.library.custom_op("localnorm::lrn_backward", mutates_args=())
def lrn_backward(
    grad_out: torch.Tensor, x: torch.Tensor, size: int, before: int, alpha: float,
    beta: float, k: float, region: str, dim: int,
) -> torch.Tensor:
    """Gradient of :func:`lrn` with respect to x."""
    return _backward_impl(grad_out, x, _spec(x, size, before, alpha, beta, k, region, dim))


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


def _params(spec: LRNSpec) -> tuple[Any, ...]:
    return (spec.size, spec.before, spec.alpha, spec.beta, spec.k, spec.region, spec.dim)


_DENSE_KEYS = {"cpu": torch._C.DispatchKey.CPU, "cuda": torch._C.DispatchKey.CUDA}


def _dense_key(x: torch.Tensor) -> bool:
    """Whether x dispatches to its device's dense kernels: a tensor batched by the legacy vmap
    (autograd's batched gradients) has no such key, only ``Batched``."""
    key = _DENSE_KEYS.get(x.device.type)
    return key is not None and torch._C._dispatch_keys(x).has(key)


def direct_ok(x: object) -> bool:
    """Whether an eager call on ``x`` may run the backend without torch's dispatcher: a plain
    strided tensor (no subclass, no functorch wrapper, no legacy vmap batching, which autograd
    uses for batched gradients) outside torch.compile, jit tracing, functorch transforms,
    forward-mode AD, torch function and dispatch modes and the profiler (each of those must
    see ``localnorm::lrn`` itself)."""
    return (
        not torch.compiler.is_compiling()
        and type(x) is torch.Tensor
        and x.layout == torch.strided
        and _dense_key(x)
        and not torch.jit.is_tracing()
        and torch._C._len_torch_dispatch_stack() == 0
        and torch._C._len_torch_function_stack() == 0
        and not torch._C._are_functorch_transforms_active()
        and not torch._C._functorch.is_functorch_wrapped_tensor(x)
        and not torch._C._autograd._profiler_enabled()
        and _fwad._current_level < 0
    )


class _Eager(torch.autograd.Function):
    """The op's autograd formula for direct eager calls (see :func:`direct_ok`)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.spec = spec
        return _forward(x, spec)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        (x,) = ctx.saved_tensors
        # create_graph (the op says it has no double backward) or batched gradients (vmap over
        # the backward: grad is a functorch wrapper) go through the op, like the forward.
        if torch.is_grad_enabled() or not direct_ok(grad):
            return lrn_backward(grad, x, *_params(ctx.spec)), None
        return _backward_impl(grad, x, ctx.spec), None


def call(x: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """LRN of ``x`` under a validated ``spec``: the backend directly for plain eager calls,
    else the ``localnorm::lrn`` op. Both give the same bits."""
    if direct_ok(x):
        if x.requires_grad and torch.is_grad_enabled():
            out: torch.Tensor = _Eager.apply(x, spec)
            return out
        return _forward(x, spec)
    return lrn(x, *_params(spec))
