"""Public API: drop-in module, gradients, half precision, layouts, clear errors, CLI."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import localnorm
from _helpers import half_ok, randn
from localnorm import LocalResponseNorm, local_response_norm
from localnorm.cli import main as cli_main
from localnorm.reference import lrn_forward


def test_module_is_a_drop_in_for_torch():
    ours = inspect.signature(LocalResponseNorm.__init__).parameters
    theirs = inspect.signature(torch.nn.LocalResponseNorm.__init__).parameters
    positional = [p for p in theirs if p != "self"]
    assert list(ours)[1 : 1 + len(positional)] == positional
    for name in positional:
        assert ours[name].default == theirs[name].default, name
    x = randn(3, 10, 4, 4)
    for args in [(5,), (4, 1e-3), (3, 0.5, 0.6, 2.0)]:
        want = torch.nn.LocalResponseNorm(*args)(x)
        got = LocalResponseNorm(*args)(x)
        assert (got - want).abs().max() <= 1e-6
    assert repr(LocalResponseNorm(5)) == repr(torch.nn.LocalResponseNorm(5))
    r = repr(LocalResponseNorm(3, region="within", before=0, dim=-1))
    assert "region='within'" in r and "before=0" in r and "dim=-1" in r


GRAD_CASES = [
    dict(size=3), dict(size=4), dict(size=2, before=0), dict(size=5, dim=-1),
    dict(size=3, region="within"), dict(size=2, region="within"),
    dict(size=3, region="within", dim=-1), dict(size=1),
]


@pytest.mark.parametrize("kw", GRAD_CASES, ids=str)
def test_gradcheck_float64(kw):
    shape = (2, 5, 3, 4) if kw.get("region") != "within" else (1, 2, 4, 5)
    x = randn(*shape, seed=3, dtype=torch.float64).requires_grad_()
    size = kw.pop("size")
    f = lambda t: local_response_norm(t, size, 0.9, 0.75, 1.3, **kw)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("region", ["across", "within"])
def test_half_precision_large_inputs_finite_and_accurate(dtype, region):
    x = (randn(2, 16, 6, 6, seed=7) * 100).clamp(-300, 300)
    x[0, 3, 2, 2] = 300.0
    xh = x.to(dtype)
    ref = lrn_forward(xh.double().numpy(), 5, 1e-2, 0.75, 1.0, region=region)
    got = local_response_norm(xh, 5, 1e-2, 0.75, 1.0, region=region)
    assert got.dtype == dtype and torch.isfinite(got).all()
    # the peer: PyTorch's own LRN in that dtype (across; within: avg_pool composition)
    if region == "across":
        try:
            peer = F.local_response_norm(xh, 5, 1e-2, 0.75, 1.0)
        except RuntimeError:  # some CPU builds lack half kernels: fall back to fp32 math
            peer = F.local_response_norm(xh.float(), 5, 1e-2, 0.75, 1.0).to(dtype)
    else:
        sq = F.avg_pool2d(xh.float() ** 2, 5, 1, 2, count_include_pad=True).to(dtype)
        peer = xh * (1.0 + 1e-2 * sq) ** -0.75
    peer_np = peer.double().numpy()
    peer_err = float(np.nanmax(np.abs(np.where(np.isfinite(peer_np), peer_np - ref, 0))))
    assert half_ok(got, peer_err, ref, dtype)


def test_torch_overflows_in_fp16_where_we_do_not():
    x = torch.full((1, 5, 2, 2), 300.0, dtype=torch.float16)
    ours = local_response_norm(x, 5, 1e-4, 0.75, 1.0)
    assert torch.isfinite(ours).all()
    assert not torch.isfinite(x * x).all()  # why the peer breaks: 300^2 > 65504


@pytest.mark.parametrize("shape", [(0, 4, 3, 3), (2, 1, 3, 3), (2, 3, 0, 4)])
def test_empty_and_single_channel(shape):
    x = randn(*shape)
    y = local_response_norm(x, 5, 0.5, 0.75, 1.0)
    assert y.shape == x.shape
    np.testing.assert_allclose(y.numpy(), lrn_forward(x.numpy(), 5, 0.5, 0.75, 1.0), rtol=1e-6)


def test_layouts_preserved():
    x = randn(2, 6, 5, 4).contiguous(memory_format=torch.channels_last)
    y = local_response_norm(x, 3, 0.5)
    assert y.is_contiguous(memory_format=torch.channels_last)
    xt = randn(2, 5, 6, 4).transpose(1, 2)  # non-contiguous view
    yt = local_response_norm(xt, 3, 0.5)
    np.testing.assert_allclose(yt.numpy(), lrn_forward(xt.numpy(), 3, 0.5), rtol=1e-6)


def test_torch_compile_fullgraph_forward_backward():
    x = randn(2, 8, 5, 5, dtype=torch.float64)
    m = LocalResponseNorm(4, 0.5, 0.75, 2.0)
    compiled = torch.compile(m, fullgraph=True, backend="aot_eager")
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    ya, yb = m(xa), compiled(xb)
    (ya * ya).sum().backward()
    (yb * yb).sum().backward()
    assert torch.equal(ya, yb) and torch.equal(xa.grad, xb.grad)


def test_opcheck():
    x = randn(2, 6, 3, 3, dtype=torch.float64)
    args = (x, 4, 2, 0.5, 0.75, 1.5, "across", 1)
    torch.library.opcheck(torch.ops.localnorm.lrn.default, args)
    w = (x, 3, 1, 0.5, 0.75, 1.5, "within", 1)
    torch.library.opcheck(torch.ops.localnorm.lrn.default, w)
    torch.library.opcheck(torch.ops.localnorm.lrn_backward.default, (randn(2, 6, 3, 3, seed=1,
                          dtype=torch.float64),) + args)


BAD = [
    (dict(size=0), ValueError, r"size must be an int in >= 1"),
    (dict(size=2.5), TypeError, "size must be an int"),
    (dict(size=True), TypeError, "size must be an int"),
    (dict(alpha=float("inf")), ValueError, "alpha must be finite"),
    (dict(alpha=-1.0), ValueError, "alpha must be >= 0"),
    (dict(beta=float("nan")), ValueError, "beta must be finite"),
    (dict(k=0.0), ValueError, "k must be > 0 when beta > 0"),
    (dict(k=-1.0, beta=-0.5), ValueError, "k must be >= 0"),
    (dict(region="diagonal"), ValueError, "region must be one of"),
    (dict(before=5), ValueError, r"before must be an int in \[0, 4\]"),
    (dict(dim=4), ValueError, "dim must be a channel axis"),
    (dict(dim=0), ValueError, "excluding the batch axis"),
    (dict(x=torch.ones(2, 3)), ValueError, "rank >= 3"),
    (dict(x=torch.ones(1, 2, 3, 4, 5, 6), region="within"), ValueError, "rank 3..5"),
    (dict(x=torch.ones(2, 3, 4, dtype=torch.int64)), TypeError, "floating dtype"),
    (dict(x=torch.ones(2, 3, 4, dtype=torch.complex64)), TypeError, "floating dtype"),
    (dict(x=np.ones((2, 3, 4))), TypeError, "torch.Tensor"),
]


@pytest.mark.parametrize("bad,exc,match", BAD, ids=[b[2][:30] for b in BAD])
def test_bad_input_clear_error(bad, exc, match):
    kw = dict(x=torch.ones(2, 6, 3, 3), size=5, alpha=1e-4, beta=0.75, k=1.0)
    kw.update(bad)
    x = kw.pop("x")
    with pytest.raises(exc, match=match):
        local_response_norm(x, **kw)


def test_module_validates_at_construction():
    with pytest.raises(ValueError, match="size"):
        LocalResponseNorm(0)
    with pytest.raises(ValueError, match="region"):
        LocalResponseNorm(3, region="sideways")
    with pytest.raises(ValueError, match="unknown framework"):
        LocalResponseNorm.from_framework("theano", size=3)
    with pytest.raises(ValueError, match="no LRN parameter 'depth_radius'"):
        LocalResponseNorm.from_framework("caffe", depth_radius=2)


def test_backend_env_var(monkeypatch):
    monkeypatch.setenv("LOCALNORM_BACKEND", "nonsense")
    with pytest.raises(ValueError, match="LOCALNORM_BACKEND"):
        local_response_norm(torch.ones(1, 3, 2, 2), 3)


def test_cli_convert_text_and_json(capsys, tmp_path):
    assert cli_main(["convert", "--from", "tensorflow", "depth_radius=2", "alpha=2e-5",
                     "--to", "torch", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["to"]["torch"]["size"] == 5
    assert out["to"]["torch"]["alpha"] == pytest.approx(1e-4)
    assert cli_main(["convert", "--from", "torch", "size=4"]) == 0
    text = capsys.readouterr().out
    assert "tensorflow:" in text and "odd, centred window" in text and "onnx:" in text
    assert cli_main(["convert", "--from", "torch", "size=4", "--to", "tensorflow"]) == 2
    assert "odd, centred window" in capsys.readouterr().err


def test_import_needs_only_numpy_and_torch():
    """With every optional package made unimportable, import and the layer still work."""
    import subprocess
    import sys

    blocked = ("numba", "triton", "matplotlib", "tensorflow", "onnx", "onnxruntime",
               "onnxscript", "sklearn", "skimage", "tqdm")
    code = (f"import sys; sys.modules.update(dict.fromkeys({blocked!r})); "
            "import torch, localnorm; x = torch.randn(1, 4, 3, 3); "
            "y = localnorm.LocalResponseNorm(3)(x); "
            "print(float((y - torch.nn.functional.local_response_norm(x, 3)).abs().max()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip()) <= 1e-6
    assert localnorm.__version__
