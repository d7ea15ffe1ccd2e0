"""Print the parity figures quoted in release notes: max |ours - peer| (float32) for each peer
on the grids of tests/test_parity.py, and the worst relative error against the float64
reference for each CPU backend. Run: python scripts/parity_figures.py"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
import triton  # noqa: F401  (before tensorflow: both bundle LLVM)

import localnorm
from localnorm import LocalResponseNorm
from localnorm.reference import lrn_forward


def randn(*shape: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64).float()


def torch_grid() -> float:
    worst = 0.0
    for size in range(1, 9):
        for c in (1, 3, 16, 64):
            for rank in (3, 4, 5):
                x = randn(2, c, *(4, 3, 2)[: rank - 2], seed=size * 100 + c)
                for a, b, k in [(1e-4, 0.75, 2.0), (1.0, 0.5, 1.0)]:
                    d = (localnorm.local_response_norm(x, size, a, b, k)
                         - F.local_response_norm(x, size, a, b, k)).abs().max().item()
                    worst = max(worst, d)
    return worst


def ort_grid() -> float:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    worst = 0.0
    for size in (1, 3, 5, 7, 9):
        for shape in [(2, 16, 5, 4), (1, 3, 6, 2), (3, 64, 2, 2)]:
            x = randn(*shape, seed=size)
            for a, b, bias in [(1e-4, 0.75, 1.0), (0.5, 0.6, 2.0)]:
                node = helper.make_node("LRN", ["x"], ["y"], size=size, alpha=a, beta=b, bias=bias)
                io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "xy"]
                m = helper.make_model(helper.make_graph([node], "g", [io[0]], [io[1]]),
                                      opset_imports=[helper.make_opsetid("", 13)])
                m.ir_version = 8
                sess = ort.InferenceSession(m.SerializeToString(),
                                            providers=["CPUExecutionProvider"])
                want = sess.run(None, {"x": x.numpy()})[0]
                ours = LocalResponseNorm.from_framework("onnx", size=size, alpha=a, beta=b,
                                                        bias=bias)(x).numpy()
                worst = max(worst, float(np.max(np.abs(ours - want))))
    return worst


def tf_grid() -> float:
    import tensorflow as tf

    worst = 0.0
    for r in (0, 1, 2, 3, 4, 5, 12):
        x = randn(2, 4, 5, 8, seed=r) * 2
        for bias, a, b in [(1.0, 1.0, 0.5), (2.0, 1e-4, 0.75), (0.5, 0.2, 1.0)]:
            want = tf.nn.local_response_normalization(x.numpy(), depth_radius=r, bias=bias,
                                                      alpha=a, beta=b).numpy()
            m = LocalResponseNorm.from_framework("tensorflow", depth_radius=r, bias=bias,
                                                 alpha=a, beta=b)
            worst = max(worst, float(np.max(np.abs(m(x).numpy() - want))))
    return worst


def within_grid() -> float:
    worst = 0.0
    for rank in (3, 4, 5):
        for size in (1, 3, 5):
            x = randn(2, 3, *(7, 6, 5)[: rank - 2], seed=size + rank) * 2
            pool = {3: F.avg_pool1d, 4: F.avg_pool2d, 5: F.avg_pool3d}[rank]
            ms = pool(x.double() ** 2, size, 1, size // 2, count_include_pad=True)
            want = x.double() * (1.0 + 0.8 * ms) ** -0.75
            got = localnorm.local_response_norm(x, size, 0.8, 0.75, 1.0, region="within")
            worst = max(worst, (got.double() - want).abs().max().item())
    return worst


def reference_worst(backend: str) -> float:
    os.environ["LOCALNORM_BACKEND"] = backend
    worst = 0.0
    for size in (1, 2, 3, 5, 9, 65, 255):
        for x in (randn(2, 300, 6, 5, seed=size) * 3,
                  randn(2, 300, 6, 5, seed=size).contiguous(memory_format=torch.channels_last)):
            x = x.clone()
            x[:, 7] *= 1e4  # spike
            for region in ("across", "within"):
                y = localnorm.local_response_norm(x, size, 1.0, 0.75, 1e-6, region=region)
                ref = lrn_forward(x.double().numpy(), size, 1.0, 0.75, 1e-6, region=region)
                rel = np.abs(y.double().numpy() - ref) / np.maximum(np.abs(ref), 1e-300)
                worst = max(worst, float(rel.max()))
    os.environ.pop("LOCALNORM_BACKEND")
    return worst


if __name__ == "__main__":
    print(f"max |ours - torch|        {torch_grid():.3g}")
    print(f"max |ours - onnxruntime|  {ort_grid():.3g}")
    print(f"max |ours - tensorflow|   {tf_grid():.3g}")
    print(f"max |ours - avg_pool|     {within_grid():.3g}")
    for b in ("composite", "numba"):
        print(f"worst rel err vs float64 reference, {b:9s} (sizes 1..255, spike, k=1e-6): "
              f"{reference_worst(b):.3g}")
