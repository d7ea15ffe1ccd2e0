"""Converters: exact round trips between every pair of frameworks, and each framework's own
formula (written out independently here) reproduced by the module built from its names."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from localnorm import LocalResponseNorm
from localnorm.conventions import (
    FRAMEWORKS,
    Canonical,
    close,
    convert,
    from_canonical,
    to_canonical,
)


def representable(fw: str, c: Canonical) -> bool:
    """Independent statement of what each framework can express."""
    odd_centred = c.size % 2 == 1 and c.before == c.size // 2
    across = c.region == "across"
    return {
        "torch": across and c.before == c.size // 2,
        "caffe": odd_centred and (across or c.k == 1.0),
        "tensorflow": across and odd_centred,
        "onnx": across and c.before == (c.size - 1) // 2,
        "cudnn": across and c.before == (c.size - 1) // 2 and 1 <= c.size <= 16
        and c.k >= 1e-5 and c.beta >= 0.01,
        "mxnet": across and odd_centred,
        "chainer": across and odd_centred,
        "cuda-convnet": c.k == 1.0 and c.before == c.size // 2,
    }[fw]


def grid():
    for size in range(1, 7):
        for before in sorted({size // 2, (size - 1) // 2}):
            for alpha, beta, k, region in itertools.product(
                (1e-4, 0.5), (0.75, 0.5), (1.0, 2.0), ("across", "within")
            ):
                yield Canonical(size, before, alpha, beta, k, region)


CANONICALS = list(grid())


@pytest.mark.parametrize("dst", sorted(FRAMEWORKS))
@pytest.mark.parametrize("src", sorted(FRAMEWORKS))
def test_round_trip_every_pair(src, dst):
    tried = 0
    for c in CANONICALS:
        if not representable(src, c):
            with pytest.raises(ValueError):
                from_canonical(src, c)
            continue
        src_params = from_canonical(src, c)
        assert close(to_canonical(src, **src_params), c)
        if representable(dst, c):
            dst_params = convert(src, dst, **src_params)
            back = convert(dst, src, **dst_params)
            assert back.keys() == src_params.keys()
            for key, v in src_params.items():
                w = back[key]
                assert w == v or math.isclose(w, v, rel_tol=1e-12), (src, dst, key, v, w)
            tried += 1
        else:
            with pytest.raises(ValueError):
                convert(src, dst, **src_params)
    assert tried > 0 or not any(representable(src, c) and representable(dst, c)
                                for c in CANONICALS)


def _lrn_np(x, axis, lo, hi, a, beta, k):
    """y = x * (k + a * sum_{j=c-lo}^{c+hi} x_j^2)^-beta along axis (direct loop)."""
    xm = np.moveaxis(x, axis, -1)
    s = np.zeros_like(xm)
    n = xm.shape[-1]
    for c in range(n):
        s[..., c] = (xm[..., max(0, c - lo) : min(n, c + hi + 1)] ** 2).sum(-1)
    return np.moveaxis(xm * (k + a * s) ** (-beta), -1, axis)


def _box_np(x, n, a, beta, k, lo):
    """Within-channel over the two spatial axes of NCHW: box [h-lo, h-lo+n-1]^2."""
    s = x**2
    for ax in (2, 3):
        s = np.moveaxis(s, ax, -1)
        out = np.zeros_like(s)
        for i in range(s.shape[-1]):
            out[..., i] = s[..., max(0, i - lo) : max(0, i - lo + n)].sum(-1)
        s = np.moveaxis(out, -1, ax)
    return x * (k + a * s) ** (-beta)


def formula(fw: str, p: dict, x: np.ndarray) -> np.ndarray:
    """Each framework's documented formula, in its own parameter names."""
    if fw == "caffe":
        n = p["local_size"]
        if p["norm_region"] == "WITHIN_CHANNEL":
            return _box_np(x, n, p["alpha"] / n**2, p["beta"], 1.0, (n - 1) // 2)
        return _lrn_np(x, 1, (n - 1) // 2, (n - 1) // 2, p["alpha"] / n, p["beta"], p["k"])
    if fw == "torch":
        n = p["size"]
        return _lrn_np(x, 1, n // 2, (n - 1) // 2, p["alpha"] / n, p["beta"], p["k"])
    if fw == "tensorflow":
        r = p["depth_radius"]
        return _lrn_np(x, -1, r, r, p["alpha"], p["beta"], p["bias"])
    if fw in ("onnx", "cudnn"):
        n, a, b, k = (p["size"], p["alpha"], p["beta"], p["bias"]) if fw == "onnx" else (
            p["lrnN"], p["lrnAlpha"], p["lrnBeta"], p["lrnK"])
        return _lrn_np(x, 1, (n - 1) // 2, n // 2, a / n, b, k)
    if fw == "mxnet":
        n = p["nsize"]
        return _lrn_np(x, 1, n // 2, n // 2, p["alpha"] / n, p["beta"], p["knorm"])
    if fw == "chainer":
        n = p["n"]
        return _lrn_np(x, 1, n // 2, n // 2, p["alpha"], p["beta"], p["k"])
    n = p["size"]
    if p["type"] == "rnorm":
        return _box_np(x, n, p["scale"] / n**2, p["pow"], 1.0, n // 2)
    return _lrn_np(x, 1, n // 2, n - 1 - n // 2, p["scale"] / n, p["pow"], 1.0)


@pytest.mark.parametrize("fw", sorted(FRAMEWORKS))
def test_module_reproduces_framework_formula(fw):
    rng = np.random.default_rng(0)
    checked = 0
    for c in CANONICALS:
        if not representable(fw, c):
            continue
        p = from_canonical(fw, c)
        m = LocalResponseNorm.from_framework(fw, **p)
        x = rng.standard_normal((2, 5, 6, 7)) * 2
        got = m(torch.from_numpy(x)).numpy()
        want = formula(fw, p, x)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
        checked += 1
    assert checked >= 8


def test_defaults_are_each_frameworks_own():
    assert to_canonical("caffe") == Canonical(5, 2, 1.0, 0.75, 1.0)
    assert to_canonical("tensorflow") == Canonical(11, 5, 11.0, 0.5, 1.0)
    assert to_canonical("cudnn").k == 2.0 and to_canonical("mxnet", nsize=3).k == 2.0
    assert to_canonical("chainer").k == 2.0 and to_canonical("torch", size=3).k == 1.0
    assert to_canonical("onnx", size=4).before == 1 and to_canonical("torch", size=4).before == 2
    assert to_canonical("caffe", norm_region="WITHIN_CHANNEL", k=5.0).k == 1.0  # Caffe ignores k


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: to_canonical("keras", size=3), "unknown framework"),
        (lambda: to_canonical("torch", size=3, bias=1.0), "no LRN parameter 'bias'"),
        (lambda: to_canonical("onnx"), r"needs parameter\(s\) \['size'\]"),
        (lambda: to_canonical("caffe", local_size=4), "odd local_size"),
        (lambda: to_canonical("mxnet", nsize=2), "odd nsize"),
        (lambda: to_canonical("chainer", n=4), "odd n"),
        (lambda: to_canonical("cudnn", lrnN=17), r"lrnN must be an int in \[1, 16\]"),
        (lambda: to_canonical("tensorflow", depth_radius=-1), "depth_radius"),
        (lambda: to_canonical("caffe", norm_region="SIDEWAYS"), "norm_region"),
        (lambda: to_canonical("cuda-convnet", size=3, scale=1, pow=1, type="x"), "type"),
        (lambda: convert("torch", "tensorflow", size=4), "odd, centred window"),
        (lambda: to_canonical("torch", size=3, alpha=float("nan")), "alpha must be finite"),
        (lambda: to_canonical("torch", size=3, k=0.0), "k must be > 0"),
    ],
)
def test_conversion_errors_say_why(call, match):
    with pytest.raises(ValueError, match=match):
        call()
