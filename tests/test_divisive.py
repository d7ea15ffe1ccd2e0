"""Divisive normalization (Ren et al. 2017) against the float64 reference, by hand and
against LayerNorm, its all-channels / one-pixel special case."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import localnorm
from _helpers import randn
from localnorm import DivisiveNorm, divisive_l1_penalty, divisive_norm
from localnorm.reference import divisive_forward, divisive_vjp

RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def assert_ref(out: torch.Tensor, ref: np.ndarray, dtype: torch.dtype) -> None:
    """|out - ref| <= rtol (|ref| + RMS(ref)): x - mean cancels, so zero crossings are judged
    on the data's scale."""
    o = out.detach().double().numpy()
    assert o.shape == ref.shape
    worst = float(np.max(np.abs(o - ref) / (np.abs(ref) + np.sqrt(np.mean(ref**2)))))
    assert np.all(np.isfinite(o)) and worst <= RTOL[dtype], worst


CASES = [
    dict(),
    dict(channel_size=3, border="renormalize"),
    dict(size=4, channel_size=2),
    dict(size=1, channel_size=5, sigma=0.3),
    dict(subtract_mean=False, sigma=0.5, channel_size=1),
    dict(mean_size=5, mean_channel_size=1, size=3, channel_size=None, border="renormalize"),
    dict(dim=-1, channel_size=3),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("kw", CASES, ids=str)
def test_matches_reference(dtype, kw):
    x = randn(2, 5, 6, 7, seed=1, dtype=torch.float64, scale=2.0) + 0.5
    assert_ref(divisive_norm(x.to(dtype), **kw), divisive_forward(x.numpy(), **kw), dtype)


@pytest.mark.parametrize("shape", [(2, 3, 9), (1, 4, 3, 4, 5)], ids=str)
def test_other_ranks(shape):
    x = randn(*shape, seed=2, dtype=torch.float64)
    kw = dict(size=3, channel_size=3, border="renormalize")
    assert_ref(divisive_norm(x, **kw), divisive_forward(x.numpy(), **kw), torch.float64)


@pytest.mark.parametrize("kw", CASES, ids=str)
def test_vjp_matches_reference(kw):
    kw, c = dict(kw), 5
    x = randn(2, c, 4, 5, seed=3, dtype=torch.float64).requires_grad_()
    sigma = torch.tensor(kw.pop("sigma", 0.7), dtype=torch.float64, requires_grad=True)
    w = (1.0 + randn(c, seed=4, dtype=torch.float64)).requires_grad_()
    b = randn(c, seed=5, dtype=torch.float64).requires_grad_()
    if kw.get("dim") == -1:
        x = randn(2, 4, 5, c, seed=3, dtype=torch.float64).requires_grad_()
    y = divisive_norm(x, sigma=sigma, weight=w, bias=b, **kw)
    gy = randn(*y.shape, seed=6, dtype=torch.float64)
    y.backward(gy)
    ref = divisive_vjp(x.detach().numpy(), gy.numpy(), sigma=float(sigma.detach()),
                       weight=w.detach(), bias=b.detach(), **kw)
    assert_ref(x.grad, ref["input"], torch.float64)
    assert math.isclose(float(sigma.grad), ref["sigma"], rel_tol=1e-12, abs_tol=1e-12)
    assert_ref(w.grad, ref["weight"], torch.float64)
    assert_ref(b.grad, ref["bias"], torch.float64)


@pytest.mark.parametrize("kw", [dict(), dict(channel_size=2, size=2, border="renormalize"),
                                dict(subtract_mean=False)], ids=str)
def test_gradcheck(kw):
    x = randn(1, 3, 4, 4, seed=7, dtype=torch.float64).requires_grad_()
    s = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([0.1, 0.0, -0.3], dtype=torch.float64, requires_grad=True)
    f = lambda t, s, w, b: divisive_norm(t, sigma=s, weight=w, bias=b, **kw)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x, s, w, b), eps=1e-6, atol=1e-8)


# Hand-computed: C = 1, x = [1, 2, 6], spatial box of 3, sigma = 1.
# renormalize: counts [2, 3, 2], mean [1.5, 3, 4], v = [-0.5, -1, 2], E[v^2] = [0.625, 1.75, 2.5]
# zeros:       mean [1, 3, 8/3], v = [0, -1, 10/3], E[v^2] = [1/3, 109/27, 109/27]
HAND = [
    ("renormalize", [-0.5 / math.sqrt(1.625), -1 / math.sqrt(2.75), 2 / math.sqrt(3.5)]),
    ("zeros", [0.0, -1 / math.sqrt(1 + 109 / 27), (10 / 3) / math.sqrt(1 + 109 / 27)]),
]


@pytest.mark.parametrize("border,want", HAND, ids=str)
def test_hand_computed_example(border, want):
    x = torch.tensor([[[1.0, 2.0, 6.0]]], dtype=torch.float64)
    y = divisive_norm(x, 3, 1, sigma=1.0, border=border)
    torch.testing.assert_close(y[0, 0], torch.tensor(want, dtype=torch.float64),
                               rtol=1e-14, atol=1e-14)


def test_all_channels_one_pixel_is_layer_norm_over_channels():
    x = randn(3, 6, 4, 5, seed=8, dtype=torch.float64)
    w, b = randn(6, seed=9, dtype=torch.float64), randn(6, seed=10, dtype=torch.float64)
    got = divisive_norm(x, 1, None, sigma=0.1, weight=w, bias=b)
    want = F.layer_norm(x.movedim(1, -1), (6,), w, b, eps=0.01).movedim(-1, 1)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_module_equals_function_and_sigma_stays_non_negative():
    x = randn(2, 4, 5, 5, seed=11)
    m = DivisiveNorm(4, size=3, channel_size=3, sigma=0.5)
    with torch.no_grad():
        m.sigma.fill_(-0.5)
        m.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]))
    want = divisive_norm(x, 3, 3, sigma=0.5, weight=m.weight, bias=m.bias)
    assert torch.equal(m(x), want)
    m(x).sum().backward()
    assert m.sigma.grad is not None and m.weight.grad is not None
    fixed = DivisiveNorm(4, learn_sigma=False, affine=False)
    assert [n for n, _ in fixed.named_parameters()] == []
    assert "sigma" in fixed.state_dict()
    torch.testing.assert_close(fixed(x), divisive_norm(x))


def test_l1_penalty():
    y = torch.tensor([[1.0, -3.0], [0.0, 4.0]])
    assert float(divisive_l1_penalty(y, 0.5)) == pytest.approx(1.0)
    m = DivisiveNorm(2, l1=0.25)
    assert float(m.l1_penalty(y)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="strength must be >= 0"):
        divisive_l1_penalty(y, -1.0)


def test_channels_last_noncontiguous_half_and_empty():
    x = randn(2, 6, 7, 8, seed=12)
    want = divisive_norm(x, 3, 3)
    cl = x.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(divisive_norm(cl, 3, 3), want, rtol=1e-6, atol=1e-6)
    view = randn(2, 12, 14, 8, seed=13)[:, ::2, ::2]
    torch.testing.assert_close(divisive_norm(view, 3, 3), divisive_norm(view.clone(), 3, 3))
    ref = divisive_forward(x.double().numpy(), 3, 3)
    for dt in (torch.float16, torch.bfloat16):
        out = divisive_norm(x.to(dt), 3, 3)
        assert out.dtype == dt and np.max(np.abs(out.double().numpy() - ref)) < 0.05
    assert divisive_norm(torch.empty(0, 3, 4, 4)).shape == (0, 3, 4, 4)


def test_compile_traces_without_graph_breaks():
    f = torch.compile(lambda t: divisive_norm(t, 3, 3), backend="aot_eager", fullgraph=True)
    x = randn(2, 4, 6, 6, seed=14)
    torch.testing.assert_close(f(x), divisive_norm(x, 3, 3))


@pytest.mark.parametrize("call,match", [
    (lambda x: divisive_norm(x, 0), r"size must be an int in >= 1, got 0"),
    (lambda x: divisive_norm(x, 3, -2), r"channel_size must be an int in >= 1, got -2"),
    (lambda x: divisive_norm(x, sigma=-1.0), "sigma must be >= 0"),
    (lambda x: divisive_norm(x, sigma=torch.ones(2)), "sigma must be a scalar"),
    (lambda x: divisive_norm(x, weight=torch.ones(3)), r"weight must have shape \(C,\) = \(2,\)"),
    (lambda x: divisive_norm(x, bias=[0.0, 1.0]), "bias must be a tensor"),
    (lambda x: divisive_norm(x, border="same"), "border must be one of"),
    (lambda x: divisive_norm(x, subtract_mean=1), "subtract_mean must be a bool"),
    (lambda x: divisive_norm(x, mean_size=-1), "mean_size must be an int"),
    (lambda x: divisive_norm(x[0, 0]), "rank"),
    (lambda x: DivisiveNorm(0), "num_channels must be an int"),
    (lambda x: DivisiveNorm(2, sigma=-0.1), "sigma must be >= 0"),
])
def test_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(randn(1, 2, 5, 5))


def test_public_names():
    for name in ("divisive_norm", "DivisiveNorm", "divisive_l1_penalty"):
        assert name in localnorm.__all__ and hasattr(localnorm, name)
