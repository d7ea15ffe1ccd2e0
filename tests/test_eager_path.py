"""The direct eager path (``localnorm.ops.lrn.call``): plain eager calls skip torch's dispatcher,
everything a tracer, mode or transform must see goes through the ``localnorm::lrn`` op, and both
give the same bits and the same gradients."""

from __future__ import annotations

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from _helpers import randn
from localnorm import local_response_norm
from localnorm._spec import make_lrn_spec
from localnorm.ops import lrn as lrn_ops

KW = dict(size=5, alpha=1e-3, beta=0.75, k=2.0)


def _spec(x, **kw):
    kw = {**KW, **kw}
    return make_lrn_spec(x, kw["size"], kw["alpha"], kw["beta"], kw["k"], "across", None, 1)


def _op(x, **kw):
    return lrn_ops.lrn(x, *lrn_ops._params(_spec(x, **kw)))


@pytest.fixture
def op_calls(monkeypatch):
    """Counts the calls that reach the custom op."""
    calls = []
    real = lrn_ops.lrn

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(lrn_ops, "lrn", counting)
    return calls


def test_plain_eager_skips_the_op(op_calls):
    x = randn(2, 8, 5, 5)
    local_response_norm(x, **KW)
    local_response_norm(x.requires_grad_(), **KW).sum().backward()
    assert op_calls == []
    assert x.grad is not None


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_same_bits_and_gradients_as_the_op(layout, dtype):
    x = randn(3, 11, 6, 7, dtype=dtype, seed=1)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    g = randn(3, 11, 6, 7, dtype=dtype, seed=2)
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    ya = local_response_norm(xa, **KW)
    yb = _op(xb)
    assert type(ya.grad_fn).__name__ == "_EagerBackward"
    assert "localnorm_lrn" in type(yb.grad_fn).__name__
    assert torch.equal(ya, yb) and ya.stride() == yb.stride()
    ya.backward(g)
    yb.backward(g)
    assert torch.equal(xa.grad, xb.grad)
    with torch.no_grad():
        assert torch.equal(local_response_norm(x, **KW), yb)


def test_double_backward_fails_as_with_the_op():
    for fn in (lambda x: local_response_norm(x, **KW), _op):
        x = randn(2, 8, 4, 4).requires_grad_()
        (g,) = torch.autograd.grad(fn(x).sum(), x, create_graph=True)
        with pytest.raises(RuntimeError, match="no autograd formula"):
            g.sum().backward()


class _FnMode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


class _DispatchMode(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.append(str(func))
        return func(*args, **(kwargs or {}))


def test_modes_tracing_and_transforms_see_the_op(op_calls):
    x = randn(2, 8, 4, 4)
    assert lrn_ops.direct_ok(x)
    with _FnMode():
        local_response_norm(x, **KW)
    mode = _DispatchMode()
    with mode:
        local_response_norm(x, **KW)
    assert any("localnorm.lrn" in s for s in mode.seen)
    torch.vmap(lambda t: local_response_norm(t, **KW))(randn(3, 2, 8, 4, 4))
    with torch.profiler.profile() as prof:
        local_response_norm(x, **KW)
    assert any("localnorm::lrn" in e.name for e in prof.events())
    traced = torch.jit.trace(lambda t: local_response_norm(t, **KW), x, check_trace=False)
    assert "localnorm::lrn" in str(traced.graph)
    assert not lrn_ops.direct_ok(torch.nn.Parameter(x))
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, torch.ones_like(x))
        assert not lrn_ops.direct_ok(dual)
    assert len(op_calls) >= 5  # mode (2), vmap, profiler, trace
    assert lrn_ops.direct_ok(x)  # nothing left behind


def test_compiled_call_goes_through_the_op():
    x = randn(2, 8, 4, 4)
    ref = local_response_norm(x, **KW)
    out = torch.compile(lambda t: local_response_norm(t, **KW), fullgraph=True, backend="eager")(x)
    assert torch.equal(out, ref)


def test_batched_gradients_go_through_the_op():
    # gradcheck's batched check vmaps over the backward: the eager backward must hand the
    # functorch-wrapped gradient to the op instead of the kernel.
    x = randn(1, 4, 3, 3, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: local_response_norm(t, 3, 1e-1, 0.75, 1.0), (x,), check_batched_grad=True
    )
    jac = torch.autograd.functional.jacobian(
        lambda t: local_response_norm(t, 3, 1e-1, 0.75, 1.0), x.detach(), vectorize=True
    )
    ref = torch.autograd.functional.jacobian(
        lambda t: _op(t, size=3, alpha=1e-1, beta=0.75, k=1.0), x.detach()
    )
    assert torch.allclose(jac, ref, rtol=1e-12, atol=1e-15)
