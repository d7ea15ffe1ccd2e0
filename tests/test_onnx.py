"""ONNX export (both torch exporters) and import, checked with ONNX Runtime.

Grids run as one model with many branches (one export, one ORT session), so the big grid
stays fast; the dynamo exporter, which costs about a second per export, gets a smaller grid.
"""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper

import localnorm
from _helpers import randn
from localnorm import LocalResponseNorm
from localnorm.cli import main as cli_main
from localnorm.conventions import Canonical, from_canonical
from localnorm.interop import export_onnx, from_onnx, onnx_lrn_layers

TOL = 1e-5  # ONNX Runtime vs PyTorch, absolute, on O(1) outputs
ALPHAS, BETAS, KS = (1e-4, 0.1, 2.0), (0.5, 0.75, 1.3), (0.5, 1.0, 2.0)


class Branches(torch.nn.Module):
    """Apply every layer to the same input; one output per layer."""

    def __init__(self, layers: list[torch.nn.Module]) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(layer(x) for layer in self.layers)


def ort_run(proto: onnx.ModelProto, *xs: torch.Tensor) -> list[np.ndarray]:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), xs, strict=True)}
    return sess.run(None, feeds)


def lrn_attrs(proto: onnx.ModelProto) -> list[tuple[int, float, float, float]]:
    out = []
    for node in proto.graph.node:
        if node.op_type == "LRN":
            a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
            out.append((a["size"], a["alpha"], a["beta"], a["bias"]))
    return sorted(out)


def f32(v: float) -> float:
    return float(np.float32(v))


def fits_onnx(m: LocalResponseNorm) -> bool:
    """The exporter's rule, restated through the converters: ONNX can say it (and ONNX
    Runtime runs it: odd sizes only)."""
    before = m.size // 2 if m.before is None else m.before
    try:
        from_canonical("onnx", Canonical(m.size, before, m.alpha, m.beta, m.k, m.region))
    except ValueError:
        return False
    return m.size % 2 == 1


def grid_layers(sizes, params) -> list[LocalResponseNorm]:
    layers = []
    for size, (alpha, beta, k) in itertools.product(sizes, params):
        for before in sorted({size // 2, (size - 1) // 2}):
            layers.append(LocalResponseNorm(size, alpha, beta, k, before=before))
    return layers


def check_grid(layers: list[LocalResponseNorm], dynamo: bool) -> float:
    x = randn(2, 7, 5, 4, seed=1, scale=2.0)
    model = Branches(layers).eval()
    proto = export_onnx(model, (x,), dynamo=dynamo)
    got = ort_run(proto, x)
    worst = 0.0
    for layer, out in zip(layers, got, strict=True):
        want = layer(x).numpy()
        worst = max(worst, float(np.abs(out - want).max()))
    assert worst <= TOL, worst
    # An LRN node exactly for the layers whose window ONNX can express, with their values.
    want_nodes = sorted((m.size, f32(m.alpha), f32(m.beta), f32(m.k))
                        for m in layers if fits_onnx(m))
    assert lrn_attrs(proto) == want_nodes
    assert 0 < len(want_nodes) < len(layers)
    return worst


# Every pair of alpha, beta and k levels meets once (an L9 orthogonal array).
PAIRS = [(ALPHAS[i], BETAS[j], KS[(i + j) % 3]) for i in range(3) for j in range(3)]


def test_export_grid_torchscript():
    """Sizes 1..8 (odd and even; 8 > C=7), both windows, 9 alpha/beta/k triples."""
    layers = grid_layers(range(1, 9), PAIRS)
    assert len(layers) == 108
    check_grid(layers, dynamo=False)


def test_export_grid_dynamo():
    params = [(1e-4, 0.75, 1.0), (2.0, 1.3, 0.5), (0.1, 0.5, 2.0)]
    check_grid(grid_layers(range(1, 9), params), dynamo=True)


CASES = [  # (module kwargs, input shape, LRN node expected)
    (dict(size=5), (2, 6, 5, 4), True),
    (dict(size=4), (2, 6, 5, 4), False),  # PyTorch's even window: extra channel below
    (dict(size=4, before=1), (2, 6, 5, 4), False),  # ONNX's window, but ORT refuses even
    (dict(size=5, before=0), (2, 6, 5, 4), False),
    (dict(size=3, dim=-1), (2, 5, 4, 6), True),  # Transpose around LRN
    (dict(size=4, dim=2), (2, 3, 6, 4), False),
    (dict(size=5), (2, 6, 7), True),  # rank 3: reshaped to 4-D around LRN
    (dict(size=3, dim=-1), (2, 3, 3, 4, 5), True),
    (dict(size=6), (2, 6, 3, 4, 5), False),
    (dict(size=3, region="within"), (2, 3, 6, 5), False),
    (dict(size=2, region="within"), (2, 3, 7), False),
    (dict(size=4, region="within", dim=-1), (2, 4, 3, 5, 3), False),
    (dict(size=3, region="within", before=0), (1, 2, 5, 5), False),
]


@pytest.mark.parametrize("kwargs,shape,has_lrn", CASES)
def test_export_cases_torchscript(kwargs, shape, has_lrn):
    m = LocalResponseNorm(alpha=0.7, beta=0.6, k=1.5, **kwargs).eval()
    x = randn(*shape, seed=2, scale=2.0)
    proto = export_onnx(m, (x,), dynamo=False)
    (got,) = ort_run(proto, x)
    assert np.abs(got - m(x).numpy()).max() <= TOL
    assert any(n.op_type == "LRN" for n in proto.graph.node) == has_lrn
    if not has_lrn:  # standard ops only, no custom domain
        assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)


class PerInput(torch.nn.Module):
    """Layer i applied to input i (one export for inputs of different ranks)."""

    def __init__(self, layers: list[torch.nn.Module]) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)

    def forward(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(layer(x) for layer, x in zip(self.layers, xs, strict=True))


def test_export_cases_dynamo():
    """The same cases through the dynamo exporter, in one export."""
    layers = [LocalResponseNorm(alpha=0.7, beta=0.6, k=1.5, **kw) for kw, _, _ in CASES]
    xs = [randn(*shape, seed=3, scale=2.0) for _, shape, _ in CASES]
    proto = export_onnx(PerInput(layers).eval(), tuple(xs))
    for m, x, got in zip(layers, xs, ort_run(proto, *xs), strict=True):
        assert np.abs(got - m(x).numpy()).max() <= TOL, m
    assert sum(n.op_type == "LRN" for n in proto.graph.node) == sum(h for *_, h in CASES)


def onnx_spec_lrn(x: np.ndarray, size: int, alpha: float, beta: float, bias: float):
    """The ONNX operator spec, literally (float64). onnx.reference's LRN cannot serve: in
    onnx 1.23 it loops over the batch axis where it means the channel axis."""
    c = x.shape[1]
    lo, hi = (size - 1) // 2, -(-(size - 1) // 2)
    sq = np.zeros_like(x)
    for i in range(c):
        sq[:, i] = (x[:, max(0, i - lo): min(c, i + hi + 1)] ** 2).sum(1)
    return x / (bias + alpha / size * sq) ** beta


def test_even_lrn_node_follows_the_onnx_spec():
    """even_lrn=True: an even size with ONNX's window becomes an LRN node, whose spec
    semantics equal the module; a PyTorch-window even size never does."""
    x = randn(2, 7, 3, 3, seed=4, scale=2.0)
    for size in (2, 4, 6, 8):
        m = LocalResponseNorm(size, 0.5, 0.8, 1.5, before=(size - 1) // 2).eval()
        for dynamo in (False, True) if size == 4 else (False,):
            proto = export_onnx(m, (x,), dynamo=dynamo, even_lrn=True)
            assert [n.op_type for n in proto.graph.node] == ["LRN"]
            (size_, alpha, beta, bias), = lrn_attrs(proto)
            want = onnx_spec_lrn(x.double().numpy(), size_, alpha, beta, bias)
            assert np.abs(want - m(x).double().numpy()).max() <= TOL
        torch_window = LocalResponseNorm(size, 0.5, 0.8, 1.5).eval()
        proto = export_onnx(torch_window, (x,), dynamo=False, even_lrn=True)
        assert not any(n.op_type == "LRN" for n in proto.graph.node)


def test_export_in_a_network_with_dynamic_shapes(tmp_path):
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                              LocalResponseNorm(5, 1e-2, 0.75, 2.0),
                              LocalResponseNorm(4, 1e-2, 0.75, 2.0)).eval()
    x, x2 = randn(1, 3, 9, 9, seed=5), randn(3, 3, 6, 11, seed=6)
    path = tmp_path / "net.onnx"
    proto = export_onnx(net, (x,), path, dynamo=False, input_names=["x"],
                        dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}})
    assert onnx.load(str(path)) == proto
    (got,) = ort_run(proto, x2)
    assert np.abs(got - net(x2).detach().numpy()).max() <= TOL
    dim = torch.export.Dim.AUTO
    proto = export_onnx(net, (x,), dynamic_shapes=({0: dim, 2: dim, 3: dim},))
    (got,) = ort_run(proto, x2)
    assert np.abs(got - net(x2).detach().numpy()).max() <= TOL


FAMILY = [
    ("local_contrast_norm", lambda: localnorm.LocalContrastNorm(5)),
    ("local_contrast_norm", lambda: localnorm.LocalContrastNorm(5, threshold=1e-4,
                                                                border="zeros")),
    ("v1_norm", lambda: localnorm.V1Norm(3)),
    ("divisive_norm", lambda: localnorm.DivisiveNorm(6)),
    ("divisive_norm", lambda: localnorm.DivisiveNorm(6, channel_size=3, subtract_mean=False)),
    ("gdn", lambda: localnorm.GDN(6)),
    ("gdn", lambda: localnorm.GDN(6, inverse=True)),
    ("gdn", lambda: localnorm.GDN(6, simplified=True)),
]


@pytest.mark.parametrize("dynamo", [False, True])
def test_family_exports_to_standard_ops(dynamo):
    for name in {n for n, _ in FAMILY}:
        assert hasattr(localnorm, name), f"localnorm.{name} is missing"
    torch.manual_seed(0)
    layers = [make() for _, make in FAMILY]
    with torch.no_grad():  # move learned parameters off their initial values
        for layer in layers:
            for p in layer.parameters():
                p.add_(0.05 * torch.rand_like(p))
    x = randn(2, 6, 9, 8, seed=7)
    proto = export_onnx(Branches(layers).eval(), (x,), dynamo=dynamo)
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)
    for layer, got in zip(layers, ort_run(proto, x), strict=True):
        with torch.no_grad():
            assert np.abs(got - layer(x).numpy()).max() <= TOL, layer


@pytest.mark.parametrize("dynamo", [False, True])
def test_divisor_override_pools_export_exactly(dynamo):
    """torch's exporters drop avg_pool's divisor_override; export_onnx puts it back."""

    class Sums(torch.nn.Module):
        def forward(self, x):
            return (F.avg_pool2d(x, 3, stride=1, divisor_override=1),
                    F.avg_pool3d(x.unsqueeze(1), (2, 3, 1), stride=1, padding=(1, 1, 0),
                                 divisor_override=2),
                    F.avg_pool2d(x, 2))

    x = randn(2, 3, 6, 5, seed=8)
    outs = ort_run(export_onnx(Sums(), (x,), dynamo=dynamo), x)
    for got, want in zip(outs, Sums()(x), strict=True):
        assert np.abs(got - want.numpy()).max() <= TOL
    if not dynamo:  # the fix is scoped to export_onnx: torch's own symbolic is back
        import io

        buf = io.BytesIO()
        torch.onnx.export(Sums(), (x,), buf, dynamo=False)
        (plain, *_) = ort_run(onnx.load_from_string(buf.getvalue()), x)
        assert np.allclose(plain * 9, outs[0], atol=TOL)


@pytest.mark.parametrize("dynamo", [False, True])
def test_export_half_and_double(dynamo):
    """float16 computes in float32 inside the graph (Cast around it), matching PyTorch;
    float64 graphs are typed float64 throughout (ONNX Runtime has no float64 LRN or
    AveragePool kernel on CPU, so onnx.reference evaluates the standard-op graph)."""
    from onnx.reference import ReferenceEvaluator

    layers = [LocalResponseNorm(5, 0.7, 0.6, 1.5), LocalResponseNorm(4, 0.7, 0.6, 1.5),
              LocalResponseNorm(3, 0.7, 0.6, 1.5, region="within")]
    x = randn(2, 6, 5, 4, seed=12, scale=3.0)
    half = x.half()
    proto = export_onnx(Branches(layers).eval(), (half,), dynamo=dynamo)
    for m, got in zip(layers, ort_run(proto, half), strict=True):
        assert got.dtype == np.float16
        assert np.abs(got.astype(np.float64) - m(half).double().numpy()).max() <= 2e-3
    double = x.double()
    proto = export_onnx(Branches(layers[1:]).eval(), (double,), dynamo=dynamo)
    onnx.checker.check_model(proto, full_check=True)
    outs = ReferenceEvaluator(proto).run(None, {proto.graph.input[0].name: double.numpy()})
    for m, got in zip(layers[1:], outs, strict=True):
        assert got.dtype == np.float64
        assert np.abs(got - m(double).numpy()).max() <= 1e-12


def test_export_rejects_old_opsets():
    with pytest.raises(ValueError, match="opset_version must be >= 15"):
        export_onnx(LocalResponseNorm(3), (torch.randn(1, 3, 2, 2),), opset_version=13)


def lrn_model(nodes: list[dict], shape=(2, 9, 4, 3)) -> onnx.ModelProto:
    made = [helper.make_node("LRN", ["x"], [f"y{i}"], name=f"lrn{i}", **attrs)
            for i, attrs in enumerate(nodes)]
    outs = [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, shape)
            for i in range(len(nodes))]
    graph = helper.make_graph(made, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, shape)], outs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def node_grid(sizes):
    return [dict(size=s, alpha=a, beta=b, bias=k)
            for s, a, b, k in itertools.product(sizes, ALPHAS, BETAS, KS)]


def test_import_odd_nodes_match_onnxruntime():
    nodes = node_grid((1, 3, 5, 7, 9, 11))  # 11 > C = 9
    model = lrn_model(nodes)
    x = randn(2, 9, 4, 3, seed=9, scale=2.0)
    modules = from_onnx(model)
    assert len(modules) == len(nodes) == 162
    for m, got in zip(modules, ort_run(model, x), strict=True):
        assert np.abs(m(x).numpy() - got).max() <= TOL


def test_import_even_nodes_match_the_spec():
    x = randn(2, 9, 4, 3, seed=10, scale=2.0)
    for attrs in node_grid((2, 4, 6, 10)):
        node = helper.make_node("LRN", ["x"], ["y"], **attrs)
        m = from_onnx(node)
        assert m.before == (attrs["size"] - 1) // 2
        got = m(x.double()).numpy()
        want = onnx_spec_lrn(x.double().numpy(), attrs["size"], f32(attrs["alpha"]),
                             f32(attrs["beta"]), f32(attrs["bias"]))
        assert np.abs(got - want).max() <= TOL


def test_import_defaults_short_decimals_and_errors(tmp_path):
    m = from_onnx(helper.make_node("LRN", ["x"], ["y"], size=3))
    assert (m.size, m.alpha, m.beta, m.k, m.before) == (3, 1e-4, 0.75, 1.0, None)
    assert from_onnx(helper.make_node("LRN", ["x"], ["y"], size=5, alpha=0.8)).alpha == 0.8
    with pytest.raises(ValueError, match="expected an ONNX LRN node"):
        from_onnx(helper.make_node("Relu", ["x"], ["y"]))
    with pytest.raises(ValueError, match="'size'"):
        from_onnx(helper.make_node("LRN", ["x"], ["y"], alpha=1.0))
    with pytest.raises(ValueError, match="unknown attribute 'radius'"):
        from_onnx(helper.make_node("LRN", ["x"], ["y"], size=3, radius=1))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x01\x02not a model")
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        from_onnx(bad)


def test_module_onnx_module_round_trip(tmp_path):
    """Export, read the file back, and get the same layers (exactly for ONNX-fit windows)."""
    layers = [LocalResponseNorm(5, 2e-4, 0.75, 2.0), LocalResponseNorm(3, 0.1, 0.5, 1.0),
              LocalResponseNorm(4, 0.1, 0.5, 1.0)]
    path = tmp_path / "m.onnx"
    export_onnx(torch.nn.Sequential(*layers).eval(), (randn(1, 8, 3, 3),), path, dynamo=False)
    back = from_onnx(path)
    assert [(m.size, m.alpha, m.beta, m.k) for m in back] == [(5, 2e-4, 0.75, 2.0),
                                                               (3, 0.1, 0.5, 1.0)]
    x = randn(2, 8, 3, 3, seed=11)
    for a, b in zip(layers, back, strict=False):
        assert torch.equal(a(x), b(x))
    layer = onnx_lrn_layers(path)[0]
    assert layer.equivalents()["tensorflow"] == {"depth_radius": 2, "bias": 2.0,
                                                 "alpha": pytest.approx(2e-4 / 5),
                                                 "beta": 0.75}


def test_cli_lists_onnx_lrn_nodes(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(lrn_model([dict(size=5, alpha=1e-4, beta=0.75, bias=2.0),
                         dict(size=4)]), str(path))
    assert cli_main(["convert", "--onnx", str(path)]) == 0
    out = capsys.readouterr().out
    assert "2 LRN layer(s)" in out and "lrn0: onnx size=5" in out
    assert "depth_radius=2  bias=2  alpha=2e-05  beta=0.75" in out
    assert "before=1" in out  # the even node keeps ONNX's window
    assert cli_main(["convert", "--onnx", str(path), "--json"]) == 0
    import json

    data = json.loads(capsys.readouterr().out)[str(path)]
    assert data[0]["equivalents"]["caffe"]["local_size"] == 5
    assert "error" in data[1]["equivalents"]["torch"]
