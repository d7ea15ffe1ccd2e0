"""Local contrast normalization and Pinto's V1 norm against the float64 references, by hand,
and by the invariances the math guarantees."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import localnorm
from _helpers import randn
from localnorm import LocalContrastNorm, V1Norm, local_contrast_norm, v1_norm
from localnorm.family.bench import straightforward_lcn
from localnorm.reference import gaussian_window, lcn_forward, lcn_vjp, v1_forward, v1_vjp

# The subtractive step x - mu cancels, so a float32 error is judged against |ref| plus the RMS
# of the output (the scale of the data), not against |ref| alone at zero crossings.
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12}
MODES = [(t, b) for t in ("mean", 0.05) for b in ("renormalize", "zeros")]


def assert_ref(out: torch.Tensor, ref: np.ndarray, dtype: torch.dtype) -> None:
    o = out.detach().double().numpy()
    assert o.shape == ref.shape
    scale = np.abs(ref) + np.sqrt(np.mean(ref**2))
    worst = float(np.max(np.abs(o - ref) / scale))
    assert np.all(np.isfinite(o)) and worst <= RTOL[dtype], worst


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("threshold,border", MODES)
@pytest.mark.parametrize("shape,size", [((2, 3, 9, 11), 5), ((1, 1, 7), 3), ((1, 2, 5, 6, 4), 3),
                                        ((2, 4, 4, 4), 9)], ids=str)
def test_matches_reference(dtype, threshold, border, shape, size):
    x = randn(*shape, seed=1, dtype=torch.float64, scale=3.0) + 1.0
    ref = lcn_forward(x.numpy(), gaussian_window(size, ndim=len(shape) - 2), threshold, border)
    out = local_contrast_norm(x.to(dtype), size, threshold=threshold, border=border)
    assert out.dtype == dtype
    assert_ref(out, ref, dtype)


@pytest.mark.parametrize("threshold,border", MODES)
def test_vjp_matches_reference(threshold, border):
    x = randn(2, 3, 6, 7, seed=2, dtype=torch.float64).requires_grad_()
    gy = randn(2, 3, 6, 7, seed=3, dtype=torch.float64)
    kernel = np.outer([1.0, 2.0, 1.0], [1.0, 3.0, 4.0, 3.0, 1.0])
    local_contrast_norm(x, kernel=kernel, threshold=threshold, border=border).backward(gy)
    ref = lcn_vjp(x.detach().numpy(), gy.numpy(), kernel, threshold, border)
    assert_ref(x.grad, ref, torch.float64)


@pytest.mark.parametrize("threshold,border", MODES)
def test_gradcheck(threshold, border):
    x = randn(2, 2, 5, 6, seed=4, dtype=torch.float64).requires_grad_()
    f = lambda t: local_contrast_norm(t, 3, 1.0, threshold=threshold, border=border)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("threshold", ["mean", 0.1])
def test_double_backward(threshold):
    x = randn(1, 2, 5, 5, seed=20, dtype=torch.float64).requires_grad_()
    f = lambda t: local_contrast_norm(t, 3, threshold=threshold)  # noqa: E731
    assert torch.autograd.gradgradcheck(f, (x,), eps=1e-6, atol=1e-6)


def test_dim_last_user_kernel_and_module_equal_function():
    x = randn(2, 5, 6, 3, seed=5, dtype=torch.float64)  # NHWC logically
    kernel = np.ones((3, 3))
    got = local_contrast_norm(x, kernel=kernel, threshold=0.1, dim=-1)
    ref = lcn_forward(x.numpy(), kernel, 0.1, "renormalize", dim=-1)
    assert_ref(got, ref, torch.float64)
    m = LocalContrastNorm(kernel=kernel, threshold=0.1, dim=-1)
    assert torch.equal(m(x), got)
    m2 = LocalContrastNorm(7, 1.5, threshold=1e-4, border="zeros")
    x2 = randn(2, 3, 8, 8, seed=6)
    assert torch.equal(m2(x2), local_contrast_norm(x2, 7, 1.5, threshold=1e-4, border="zeros"))
    assert "size=7" in repr(m2) and "zeros" in repr(m2)


def test_channels_last_and_noncontiguous():
    x = randn(2, 4, 10, 9, seed=7)
    want = local_contrast_norm(x, 5)
    cl = x.contiguous(memory_format=torch.channels_last)
    got = local_contrast_norm(cl, 5)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    assert got.is_contiguous(memory_format=torch.channels_last)
    big = randn(2, 8, 20, 9, seed=8)
    view = big[:, ::2, ::2]
    assert not view.is_contiguous()
    torch.testing.assert_close(local_contrast_norm(view, 5), local_contrast_norm(view.clone(), 5),
                               rtol=1e-6, atol=1e-6)


# Hand-computed: C = 1, x = [0, 3, 6], box window [1, 1, 1] / 3.
# zeros:       mu = [1, 3, 3], v = [-1, 0, 3], K v^2 = [1/3, 10/3, 3], sigma = sqrt of that.
# renormalize: mass = [2/3, 1, 2/3], mu = [1.5, 3, 4.5], v = [-1.5, 0, 1.5],
#              K v^2 = [3/4, 3/2, 3/4], sigma = sqrt(K v^2) / mass
S_ZEROS = [math.sqrt(1 / 3), math.sqrt(10 / 3), math.sqrt(3)]
S_RENORM = [1.5 * math.sqrt(0.75), math.sqrt(1.5), 1.5 * math.sqrt(0.75)]
HAND = [
    ("zeros", "mean", [-1 / (sum(S_ZEROS) / 3), 0.0, 3 / max(S_ZEROS[2], sum(S_ZEROS) / 3)]),
    ("zeros", 1.0, [-1.0, 0.0, math.sqrt(3)]),
    ("renormalize", "mean", [-2 / math.sqrt(3), 0.0, 2 / math.sqrt(3)]),
    ("renormalize", 2.0, [-0.75, 0.0, 0.75]),
]


@pytest.mark.parametrize("border,threshold,want", HAND, ids=str)
def test_hand_computed_example(border, threshold, want):
    x = torch.tensor([[[0.0, 3.0, 6.0]]], dtype=torch.float64)
    y = local_contrast_norm(x, kernel=[1.0, 1.0, 1.0], threshold=threshold, border=border)
    torch.testing.assert_close(y[0, 0], torch.tensor(want, dtype=torch.float64),
                               rtol=1e-14, atol=1e-14)
    # the same example as a 2-D image of height 1 with a 1 x 3 window, two identical channels
    x2 = x.reshape(1, 1, 1, 3).expand(1, 2, 1, 3)
    y2 = local_contrast_norm(x2, kernel=[[1.0, 1.0, 1.0]], threshold=threshold, border=border)
    torch.testing.assert_close(y2[0, 1, 0], y[0, 0], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("threshold", ["mean", 1e-4])
def test_affine_invariance_renormalize(threshold):
    # mu(a x + b) = a mu + b exactly when the window is renormalized, so v and sigma scale by a
    x = randn(2, 3, 9, 8, seed=9, dtype=torch.float64)
    y = local_contrast_norm(x, 5, threshold=threshold)
    for a, b in [(3.0, 7.0), (0.5, -2.0)]:
        torch.testing.assert_close(local_contrast_norm(a * x + b, 5, threshold=threshold), y,
                                   rtol=1e-10, atol=1e-10)


def test_invariance_zeros_border():
    x = randn(1, 2, 15, 15, seed=10, dtype=torch.float64)
    y = local_contrast_norm(x, 3, border="zeros")
    torch.testing.assert_close(local_contrast_norm(4.0 * x, 3, border="zeros"), y,
                               rtol=1e-10, atol=1e-10)
    # a shift or a tilt only survives near the border (zero padding is not shifted) and the
    # subtractive step removes any affine function of position in the interior
    r = torch.arange(15, dtype=torch.float64)
    ii, jj = torch.meshgrid(r, r, indexing="ij")
    tilt = 5.0 + 0.3 * ii - 0.2 * jj
    y1 = local_contrast_norm(x, 3, threshold=1e-4, border="zeros")
    y2 = local_contrast_norm(x + tilt, 3, threshold=1e-4, border="zeros")
    torch.testing.assert_close(y2[..., 2:-2, 2:-2], y1[..., 2:-2, 2:-2], rtol=1e-10, atol=1e-10)
    assert (y2 - y1).abs().max() > 0.1  # and the border does change


def test_zero_mean_output_in_the_interior():
    r = torch.arange(12, dtype=torch.float64)
    ii, jj = torch.meshgrid(r, r, indexing="ij")
    ramp = (2.0 + 0.5 * ii + 0.25 * jj).expand(1, 3, 12, 12)
    y = local_contrast_norm(ramp, 5, threshold=0.01, border="zeros")
    # a symmetric window averages an affine map to itself: v = 0 where the window is inside
    assert y[..., 2:-2, 2:-2].abs().max() < 1e-12
    x = randn(4, 3, 40, 40, seed=11, dtype=torch.float64) + 5.0
    y = local_contrast_norm(x, 5)
    inner = y[..., 4:-4, 4:-4]
    assert abs(float(inner.mean())) < 0.01 < float(inner.std())


def test_straightforward_composition_agrees():
    x = randn(2, 3, 12, 12, seed=12, dtype=torch.float64)
    for th in (None, 1e-4):
        want = straightforward_lcn(x, 5, th)
        got = local_contrast_norm(x, 5, threshold="mean" if th is None else th)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_blank_input_is_finite_with_finite_gradient():
    x = torch.zeros(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    y = local_contrast_norm(x, 3)
    y.sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all()
    relu = torch.relu(randn(1, 2, 8, 8, seed=13, dtype=torch.float64) - 1.0).requires_grad_()
    local_contrast_norm(relu, 3, threshold=1e-4).square().sum().backward()
    assert torch.isfinite(relu.grad).all()


def test_half_precision_and_empty():
    x = randn(1, 3, 8, 8, seed=14)
    ref = lcn_forward(x.double().numpy(), gaussian_window(5), "mean", "renormalize")
    for dt in (torch.float16, torch.bfloat16):
        out = local_contrast_norm(x.to(dt), 5)
        assert out.dtype == dt
        assert np.max(np.abs(out.double().numpy() - ref)) < 0.05
    assert local_contrast_norm(torch.empty(0, 3, 5, 5), 3).shape == (0, 3, 5, 5)


def test_compile_traces_without_graph_breaks():
    f = torch.compile(lambda t: local_contrast_norm(t, 5), backend="aot_eager", fullgraph=True)
    x = randn(2, 3, 8, 8, seed=15)
    torch.testing.assert_close(f(x), local_contrast_norm(x, 5))


@pytest.mark.parametrize("call,match", [
    (lambda x: local_contrast_norm(x, 4), "size must be odd"),
    (lambda x: local_contrast_norm(x, -3), "size must be an int in >= 1, got -3"),
    (lambda x: local_contrast_norm(x, 5, -1.0), "sigma must be > 0"),
    (lambda x: local_contrast_norm(x, 5, threshold="max"), "threshold must be 'mean' or a float"),
    (lambda x: local_contrast_norm(x, 5, threshold=-1e-4), "threshold must be > 0"),
    (lambda x: local_contrast_norm(x, 5, border="reflect"), "border must be one of"),
    (lambda x: local_contrast_norm(x, kernel=np.ones((3, 3)), sigma=1.0), "either kernel or sigma"),
    (lambda x: local_contrast_norm(x, kernel=np.ones((2, 3))), r"kernel.shape\[0\] must be odd"),
    (lambda x: local_contrast_norm(x, kernel=-np.ones((3, 3))), "non-negative"),
    (lambda x: local_contrast_norm(x, kernel=np.ones(3)), "one axis per spatial axis"),
    (lambda x: local_contrast_norm(x[0, 0], 3), "rank"),
    (lambda x: local_contrast_norm(x, 3, dim=0), "dim must be a channel axis"),
    (lambda x: local_contrast_norm(x.long(), 3), "floating dtype"),
    (lambda x: LocalContrastNorm(6), "size must be odd"),
    (lambda x: v1_norm(x, 2), "size must be odd"),
    (lambda x: v1_norm(x, 3, 0.0), "threshold must be > 0"),
    (lambda x: v1_norm(x, 3, border="renormalize"), "border must be one of"),
    (lambda x: v1_norm(x[..., :2], 3, border="valid"), "needs every spatial size > 2"),
])
def test_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(randn(1, 2, 5, 5))


# ---- Pinto's V1-like normalization ----

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("border", ["zeros", "valid"])
@pytest.mark.parametrize("shape,size,dim", [((2, 3, 7, 6), 3, 1), ((1, 4, 9), 5, 1),
                                            ((1, 5, 6, 2), 3, -1)], ids=str)
def test_v1_matches_reference(dtype, border, shape, size, dim):
    x = randn(*shape, seed=16, dtype=torch.float64) * 0.7
    ref = v1_forward(x.numpy(), size, 1.0, border, dim)
    assert_ref(v1_norm(x.to(dtype), size, 1.0, border=border, dim=dim), ref, dtype)


@pytest.mark.parametrize("border", ["zeros", "valid"])
def test_v1_vjp_and_gradcheck(border):
    x = randn(1, 2, 5, 6, seed=17, dtype=torch.float64).requires_grad_()
    y = v1_norm(x, 3, 0.8, border=border)
    gy = randn(*y.shape, seed=18, dtype=torch.float64)
    y.backward(gy)
    assert_ref(x.grad, v1_vjp(x.detach().numpy(), gy.numpy(), 3, 0.8, border), torch.float64)
    f = lambda t: v1_norm(t, 3, 0.8, border=border)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-8)


def test_v1_hand_computed_and_preset():
    # [0, 0.5, 0]: every 3-neighbourhood has mean 1/6 and norm sqrt(6)/6 < 1, so no division
    x = torch.tensor([[[0.0, 0.5, 0.0]]], dtype=torch.float64)
    want = torch.tensor([-1 / 6, 1 / 3, -1 / 6], dtype=torch.float64)
    torch.testing.assert_close(v1_norm(x)[0, 0], want, rtol=1e-14, atol=1e-14)
    # [0, 3, 0]: mean 1, norm sqrt(6) >= 1, so divide
    x = torch.tensor([[[0.0, 3.0, 0.0]]], dtype=torch.float64)
    want = torch.tensor([-1.0, 2.0, -1.0], dtype=torch.float64) / math.sqrt(6)
    torch.testing.assert_close(v1_norm(x)[0, 0], want, rtol=1e-14, atol=1e-14)
    m = LocalContrastNorm.pinto(border="valid")
    assert isinstance(m, V1Norm) and isinstance(m, torch.nn.Module)
    x4 = randn(2, 3, 6, 7, seed=19)
    assert torch.equal(m(x4), v1_norm(x4, border="valid"))
    assert m(x4).shape == (2, 3, 4, 5)


def test_public_names():
    for name in ("local_contrast_norm", "LocalContrastNorm", "v1_norm", "V1Norm"):
        assert name in localnorm.__all__ and hasattr(localnorm, name)
