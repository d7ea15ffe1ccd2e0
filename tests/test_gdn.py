"""GDN / IGDN / GDN1 against the float64 reference, CompressAI's state dict and forward, and
tensorflow_compression's transposed gamma (checked with TensorFlow's own convolution)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import triton  # noqa: F401

import localnorm
from _helpers import randn
from localnorm import GDN, gamma_from_tensorflow_compression, gdn
from localnorm.family import LowerBound, NonNegativeParametrizer
from localnorm.reference import gdn_forward, gdn_vjp

# TensorFlow and Triton each bundle LLVM: whichever loads second aborts the process ("Option
# registered more than once") unless Triton comes first. torch.compile loads Triton, and the
# test below imports TensorFlow, so Triton is imported above, at collection time.
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}
PED = (2.0**-18) ** 2
FORMS = [dict(), dict(inverse=True), dict(alpha=1.0, epsilon=1.0),
         dict(alpha=1.0, epsilon=1.0, inverse=True), dict(alpha=1.5, epsilon=0.7)]


def params(c: int, seed: int = 0, dtype: torch.dtype = torch.float64):
    g = torch.Generator().manual_seed(seed)
    beta = 0.5 + torch.rand(c, generator=g, dtype=torch.float64)
    gamma = torch.rand(c, c, generator=g, dtype=torch.float64) * 0.5
    gamma[0, -1] = 0.0  # zeros and asymmetry: a transposed gamma cannot pass
    return beta.to(dtype), gamma.to(dtype)


def assert_ref(out: torch.Tensor, ref: np.ndarray, dtype: torch.dtype) -> None:
    o = out.detach().double().numpy()
    assert o.shape == ref.shape
    err = np.abs(o - ref)
    assert np.all(err <= RTOL[dtype] * np.abs(ref) + 1e-300), float(np.max(err / np.abs(ref)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("kw", FORMS, ids=str)
@pytest.mark.parametrize("shape,dim", [((2, 5, 4, 3), 1), ((3, 5), 1), ((2, 5, 7), 1),
                                       ((1, 5, 2, 3, 2), 1), ((1, 5, 2, 2, 2, 2), 1),
                                       ((2, 3, 4, 5), -1)], ids=str)
def test_matches_reference(dtype, kw, shape, dim):
    x = randn(*shape, seed=1, dtype=torch.float64, scale=2.0)
    beta, gamma = params(5)
    out = gdn(x.to(dtype), beta.to(dtype), gamma.to(dtype), dim=dim, **kw)
    assert out.dtype == dtype
    assert_ref(out, gdn_forward(x.numpy(), beta.numpy(), gamma.numpy(), dim=dim, **kw), dtype)


@pytest.mark.parametrize("kw", FORMS, ids=str)
def test_vjp_matches_reference_and_gradcheck(kw):
    x = randn(2, 4, 3, 3, seed=2, dtype=torch.float64).requires_grad_()
    beta, gamma = params(4, seed=3)
    beta.requires_grad_()
    gamma.requires_grad_()
    gy = randn(2, 4, 3, 3, seed=4, dtype=torch.float64)
    gdn(x, beta, gamma, **kw).backward(gy)
    dx, db, dg = gdn_vjp(x.detach().numpy(), gy.numpy(), beta.detach().numpy(),
                         gamma.detach().numpy(), **kw)
    for got, want in ((x.grad, dx), (beta.grad, db), (gamma.grad, dg)):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-13)
    f = lambda t, b, g: gdn(t, b, g, **kw)  # noqa: E731
    inner = (gamma.detach() + 1e-3).requires_grad_()  # gradcheck's steps must keep gamma >= 0
    assert torch.autograd.gradcheck(f, (x, beta, inner), eps=1e-6, atol=1e-8)


def test_non_diagonal_gamma_is_not_transposed():
    # gamma[0, 1] = 3: output 0 is divided by the energy of input 1; output 1 is untouched
    x = torch.tensor([2.0, 1.0], dtype=torch.float64).reshape(1, 2, 1, 1)
    beta = torch.ones(2, dtype=torch.float64)
    gamma = torch.tensor([[0.0, 3.0], [0.0, 0.0]], dtype=torch.float64)
    y = gdn(x, beta, gamma).flatten()
    torch.testing.assert_close(y, torch.tensor([1.0, 1.0], dtype=torch.float64))  # 2/sqrt(1+3)
    yt = gdn(x, beta, gamma.t()).flatten()  # the transposition trap gives something else
    torch.testing.assert_close(yt, torch.tensor([2.0, 1.0 / 13**0.5], dtype=torch.float64))
    m = GDN(2).double().set_values(beta, gamma)
    torch.testing.assert_close(m(x).flatten(), y)


def test_igdn_inverts_gdn_for_small_gamma():
    x = randn(2, 6, 5, 5, seed=5, dtype=torch.float64)
    beta = torch.ones(6, dtype=torch.float64)
    gamma = 0.01 * torch.rand(6, 6, generator=torch.Generator().manual_seed(6),
                              dtype=torch.float64)

    def errors(g):
        y = gdn(x, beta, g)
        z = gdn(y, beta, g, inverse=True)
        return float((y - x).abs().max()), float((z - x).abs().max())

    moved, back = errors(gamma)
    moved10, back10 = errors(gamma / 10)
    assert back < 0.1 * moved  # IGDN undoes most of what GDN did
    assert moved10 > moved / 20 and back10 < back / 50  # the residual is O(gamma^2)


def compressai_state(beta: torch.Tensor, gamma: torch.Tensor, beta_min: float = 1e-6):
    """A state dict laid out as CompressAI's GDN stores it (keys, shapes, reparameterized
    values), built from its documented semantics."""
    return {
        "beta": torch.sqrt(torch.clamp(beta + PED, min=PED)),
        "gamma": torch.sqrt(torch.clamp(gamma + PED, min=PED)),
        "beta_reparam.pedestal": torch.tensor([PED]),
        "beta_reparam.lower_bound.bound": torch.tensor([(beta_min + PED) ** 0.5]),
        "gamma_reparam.pedestal": torch.tensor([PED]),
        "gamma_reparam.lower_bound.bound": torch.tensor([PED**0.5]),
    }


def compressai_forward(state, x, inverse: bool, simplified: bool) -> torch.Tensor:
    """CompressAI's GDN / GDN1 forward written from its documented formula."""
    def value(key):
        bound = state[f"{key}_reparam.lower_bound.bound"]
        return torch.max(state[key], bound) ** 2 - state[f"{key}_reparam.pedestal"]

    c = x.shape[1]
    gamma = value("gamma").reshape(c, c, 1, 1)
    if simplified:
        norm = F.conv2d(torch.abs(x), gamma, value("beta"))
        return x * (norm if inverse else 1.0 / norm)
    norm = F.conv2d(x**2, gamma, value("beta"))
    return x * (torch.sqrt(norm) if inverse else torch.rsqrt(norm))


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("simplified", [False, True])
def test_loads_compressai_state_dict_with_identical_outputs(inverse, simplified):
    beta, gamma = params(4, seed=7, dtype=torch.float32)
    beta[1] = 0.0  # below beta_min: the lower bound must act
    state = compressai_state(beta, gamma)
    state["beta"][2] = 0.0  # a stored value below the bound, as training can leave it
    m = GDN(4, inverse=inverse, simplified=simplified)
    assert set(m.state_dict()) == set(state)
    m.load_state_dict(state)
    x = randn(2, 4, 6, 5, seed=8)
    want = compressai_forward(state, x, inverse, simplified)
    assert torch.equal(m(x), want)
    with torch.no_grad():
        assert torch.equal(m(x), want)
    assert float(m.effective_beta.detach().min()) >= 1e-6 - 1e-12
    assert torch.equal(GDN(4, inverse=inverse, simplified=simplified).state_dict()["beta"],
                       compressai_state(torch.ones(4), 0.1 * torch.eye(4))["beta"])


def test_tensorflow_compression_gamma_layout():
    import tensorflow as tf  # a dev dependency, installed in CI
    c = 5
    beta, gamma = params(c, seed=9, dtype=torch.float32)
    gamma_tfc = gamma.t().numpy()  # tfc stores gamma[j, i]: input j, output i
    x = randn(2, 4, 3, c, seed=10)  # NHWC, as tfc.GDN's default data_format
    pool = tf.nn.convolution(tf.square(x.numpy()), gamma_tfc.reshape(1, 1, c, c)) + beta.numpy()
    want = x.numpy() / np.sqrt(pool.numpy())
    torch.testing.assert_close(gamma_from_tensorflow_compression(gamma_tfc).float(), gamma)
    m = GDN.from_tensorflow_compression(beta.numpy(), gamma_tfc, alpha=2.0, epsilon=0.5, dim=-1)
    np.testing.assert_allclose(m(x).detach().numpy(), want, rtol=1e-5)
    m1 = GDN.from_tensorflow_compression(beta.numpy(), gamma_tfc)  # tfc defaults: GDN1 form
    want1 = x.numpy() / (tf.nn.convolution(tf.abs(x.numpy()), gamma_tfc.reshape(1, 1, c, c))
                         + beta.numpy()).numpy()
    np.testing.assert_allclose(m1(x.movedim(-1, 1)).movedim(1, -1).detach().numpy(), want1,
                               rtol=1e-5)


def test_lower_bound_gradient_and_reparametrizer():
    lb = LowerBound(0.5)
    p = torch.tensor([0.0, 1.0], requires_grad=True)
    lb(p).backward(torch.tensor([1.0, 1.0]))
    assert p.grad.tolist() == [0.0, 1.0]  # descent would push p[0] further below: blocked
    p.grad = None
    lb(p).backward(torch.tensor([-1.0, -1.0]))
    assert p.grad.tolist() == [-1.0, -1.0]  # towards the bound: passes
    r = NonNegativeParametrizer(minimum=0.2)
    v = torch.tensor([0.0, 0.2, 3.0], dtype=torch.float64)
    torch.testing.assert_close(r(r.init(v)), torch.tensor([0.2, 0.2, 3.0], dtype=torch.float64))


def test_module_equals_function_layouts_and_gradients():
    m = GDN(6, gamma_init=0.2)
    with torch.no_grad():
        m.set_values(1.0 + torch.rand(6), 0.3 * torch.rand(6, 6))
    x = randn(2, 6, 5, 4, seed=11)
    want = gdn(x, m.effective_beta.detach(), m.effective_gamma.detach())
    torch.testing.assert_close(m(x), want, rtol=0, atol=0)
    cl = x.contiguous(memory_format=torch.channels_last)
    got = m(cl)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    assert got.is_contiguous(memory_format=torch.channels_last)
    x5 = randn(1, 6, 3, 4, 5, seed=12)
    torch.testing.assert_close(m(x5.contiguous(memory_format=torch.channels_last_3d)), m(x5),
                               rtol=1e-6, atol=1e-6)
    view = randn(2, 12, 10, 4, seed=13)[:, ::2, ::2]
    torch.testing.assert_close(m(view), m(view.clone()), rtol=0, atol=0)
    m(x).square().sum().backward()
    assert m.beta.grad.abs().sum() > 0 and m.gamma.grad.abs().sum() > 0
    assert "inverse=False" in repr(m) and "alpha=2" in repr(m)
    g1 = GDN(6, simplified=True, inverse=True)
    assert (g1.alpha, g1.epsilon, g1.inverse) == (1.0, 1.0, True)


def test_half_precision_empty_and_compile():
    beta, gamma = params(4, seed=14, dtype=torch.float32)
    x = randn(2, 4, 5, 5, seed=15, scale=3.0)
    ref = gdn_forward(x.double().numpy(), beta.double().numpy(), gamma.double().numpy())
    for dt in (torch.float16, torch.bfloat16):
        out = gdn(x.to(dt), beta, gamma)
        assert out.dtype == dt
        assert np.max(np.abs(out.double().numpy() - ref) / (np.abs(ref) + 1e-3)) < 2e-2
    assert gdn(torch.empty(0, 4, 3, 3), beta, gamma).shape == (0, 4, 3, 3)
    m = GDN(4)
    f = torch.compile(m, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(f(x), m(x))


@pytest.mark.parametrize("call,match", [
    (lambda x, b, g: gdn(x, b, g[:, :2]), r"gamma must have shape \(3, 3\)"),
    (lambda x, b, g: gdn(x, b[:2], g), r"beta must have shape \(3,\)"),
    (lambda x, b, g: gdn(x, b, g.numpy()), "gamma must be a torch.Tensor"),
    (lambda x, b, g: gdn(x, b, -g), "gamma must be >= 0"),
    (lambda x, b, g: gdn(x, 0 * b, g), "beta must be > 0"),
    (lambda x, b, g: gdn(x, b, g, alpha=0.5), "alpha must be >= 1.0"),
    (lambda x, b, g: gdn(x, b, g, epsilon=0.0), "epsilon must be > 0"),
    (lambda x, b, g: gdn(x, b, g, inverse="yes"), "inverse must be a bool"),
    (lambda x, b, g: gdn(x, b, g, dim=0), "dim must be a channel axis"),
    (lambda x, b, g: gdn(x[0, 0, 0], b, g), "rank"),
    (lambda x, b, g: gamma_from_tensorflow_compression(np.ones((3, 2))), "square"),
    (lambda x, b, g: GDN(0), "num_channels must be an int"),
    (lambda x, b, g: GDN(3, epsilon=-1.0), "epsilon must be > 0"),
    (lambda x, b, g: GDN(3).set_values(b, g[:2]), "beta and gamma must have shapes"),
])
def test_clear_errors(call, match):
    beta, gamma = params(3, dtype=torch.float32)
    with pytest.raises((ValueError, TypeError), match=match):
        call(randn(1, 3, 4, 4), beta, gamma)


def test_public_names():
    for name in ("gdn", "GDN", "gamma_from_tensorflow_compression"):
        assert name in localnorm.__all__ and hasattr(localnorm, name)
