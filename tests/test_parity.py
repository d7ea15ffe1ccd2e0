"""Live parity against the peers: PyTorch, ONNX Runtime, the ONNX spec, TensorFlow, avg_pool."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import localnorm
from _helpers import randn
from localnorm import LocalResponseNorm, local_response_norm

ATOL32 = 1e-6


@pytest.mark.parametrize("rank", [3, 4, 5])
@pytest.mark.parametrize("channels", [1, 3, 16, 64])
@pytest.mark.parametrize("size", range(1, 9))
def test_matches_torch(size, channels, rank):
    shape = (2, channels) + (4, 3, 2)[: rank - 2]
    x = randn(*shape, seed=size * 100 + channels)
    for alpha, beta, k in [(1e-4, 0.75, 2.0), (1.0, 0.5, 1.0)]:
        want = F.local_response_norm(x, size, alpha, beta, k)
        got = local_response_norm(x, size, alpha, beta, k)
        assert (got - want).abs().max().item() <= ATOL32
        assert torch.equal(
            LocalResponseNorm(size, alpha, beta, k)(x), got
        ), "module must equal function"


def _onnx_lrn_session(size, alpha, beta, bias):
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("LRN", ["x"], ["y"], size=size, alpha=alpha, beta=beta, bias=bias)
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "xy"]
    graph = helper.make_graph([node], "lrn", [io[0]], [io[1]])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("size", [1, 3, 5, 7, 9])
@pytest.mark.parametrize("shape", [(2, 16, 5, 4), (1, 3, 6, 2), (3, 64, 2, 2)])  # ORT: 4-D only
def test_matches_onnxruntime_odd_sizes(size, shape):
    x = randn(*shape, seed=size)
    for alpha, beta, bias in [(1e-4, 0.75, 1.0), (0.5, 0.6, 2.0)]:
        want = _onnx_lrn_session(size, alpha, beta, bias).run(None, {"x": x.numpy()})[0]
        m = LocalResponseNorm.from_framework("onnx", size=size, alpha=alpha, beta=beta, bias=bias)
        got = m(x).numpy()
        assert np.max(np.abs(got - want)) <= ATOL32


def _onnx_spec(x, size, alpha, beta, bias):
    """The ONNX operator spec, literally: i in [c - floor((size-1)/2), c + ceil((size-1)/2)]."""
    c_ = x.shape[1]
    sq = np.zeros_like(x)
    for c in range(c_):
        lo = max(0, c - int(np.floor((size - 1) / 2)))
        hi = min(c_ - 1, c + int(np.ceil((size - 1) / 2)))
        sq[:, c] = (x[:, lo : hi + 1] ** 2).sum(axis=1)
    return x / (bias + alpha / size * sq) ** beta


@pytest.mark.parametrize("size", [2, 4, 6, 8])
def test_matches_onnx_spec_even_sizes(size):
    x = randn(2, 9, 3, 3, seed=size, scale=2.0)
    want = _onnx_spec(x.double().numpy(), size, 0.3, 0.75, 1.5)
    m = LocalResponseNorm.from_framework("onnx", size=size, alpha=0.3, beta=0.75, bias=1.5)
    assert m.before == (size - 1) // 2
    assert np.max(np.abs(m(x).double().numpy() - want)) <= ATOL32
    # and PyTorch's window differs for even sizes: the two conventions must not agree
    torch_y = local_response_norm(x, size, 0.3, 0.75, 1.5).double().numpy()
    assert np.max(np.abs(torch_y - want)) > 1e-3


@pytest.mark.parametrize("radius", [0, 1, 2, 3, 4, 5, 12])
def test_matches_tensorflow_nhwc(radius):
    import tensorflow as tf  # CI installs tensorflow-cpu: a missing peer fails, never skips
    x = randn(2, 4, 5, 8, seed=radius, scale=2.0)  # NHWC, depth 8 (< 2*12+1)
    for bias, alpha, beta in [(1.0, 1.0, 0.5), (2.0, 1e-4, 0.75), (0.5, 0.2, 1.0)]:
        want = tf.nn.local_response_normalization(
            x.numpy(), depth_radius=radius, bias=bias, alpha=alpha, beta=beta
        ).numpy()
        m = LocalResponseNorm.from_framework(
            "tensorflow", depth_radius=radius, bias=bias, alpha=alpha, beta=beta
        )
        assert m.dim == -1
        assert np.max(np.abs(m(x).numpy() - want)) <= ATOL32


@pytest.mark.parametrize("rank", [3, 4, 5])
@pytest.mark.parametrize("size", [1, 3, 5])
def test_within_matches_avg_pool(size, rank):
    shape = (2, 3) + (7, 6, 5)[: rank - 2]
    x = randn(*shape, seed=size + rank, scale=2.0)
    pool = {3: F.avg_pool1d, 4: F.avg_pool2d, 5: F.avg_pool3d}[rank]
    alpha, beta, k = 0.8, 0.75, 1.0
    mean_sq = pool(x.double() ** 2, size, stride=1, padding=size // 2, count_include_pad=True)
    want = x.double() * (k + alpha * mean_sq) ** (-beta)
    got = local_response_norm(x, size, alpha, beta, k, region="within")
    assert (got.double() - want).abs().max().item() <= ATOL32
    caffe = LocalResponseNorm.from_framework(
        "caffe", local_size=size, alpha=alpha, beta=beta, norm_region="WITHIN_CHANNEL"
    )
    assert torch.equal(caffe(x), got)


def test_api_surface():
    for name in ["local_response_norm", "LocalResponseNorm", "conventions", "reference"]:
        assert hasattr(localnorm, name), name
    for name in ["to_canonical", "from_canonical", "convert", "FRAMEWORKS"]:
        assert hasattr(localnorm.conventions, name), name
    assert set(localnorm.conventions.FRAMEWORKS) == {
        "caffe", "torch", "tensorflow", "onnx", "cudnn", "mxnet", "chainer", "cuda-convnet"
    }
