"""Caffe prototxt and cuda-convnet layer configs: parsing, modules, errors, CLI, docs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from _helpers import randn
from localnorm.cli import main as cli_main
from localnorm.interop import (
    ParseError,
    caffe_lrn_layers,
    convnet_lrn_layers,
    from_convnet_cfg,
    from_prototxt,
)
from localnorm.interop.prototext import parse

TOL = 1e-5

ALEXNET = """name: "AlexNet"
# BVLC AlexNet deploy: k left out (Caffe default 1)
layer {
  name: "data"  type: "Input"  top: "data"
  input_param { shape: { dim: 10 dim: 3 dim: 227 dim: 227 } }
}
layer {
  name: "conv1"  type: "Convolution"  bottom: "data"  top: "conv1"
  param { lr_mult: 1 decay_mult: 1 }
  convolution_param { num_output: 96 kernel_size: 11 stride: 4 }
}
layer {
  name: "norm1"
  type: "LRN"
  bottom: "conv1"
  top: "norm1"
  lrn_param {
    local_size: 5
    alpha: 0.0001
    beta: 0.75
  }
}
layer { name: "norm2" type: "LRN" bottom: "conv2" top: "norm2"
  lrn_param { local_size: 5 alpha: 1e-4 beta: 0.75 } }
"""

CAFFENET_V1 = """name: "CaffeNet"
layers {
  name: "norm1"
  type: LRN
  bottom: "pool1"
  top: "norm1"
  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }
}
layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }
"""

GOOGLENET = """name: "GoogleNet"
layer {
  name: "pool1/norm1"
  type: "LRN"
  bottom: "pool1/3x3_s2"
  top: "pool1/norm1"
  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }
}
layer {
  name: "conv2/norm2"
  type: "LRN"
  bottom: "conv2/3x3"
  top: "conv2/norm2"
  lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }
}
"""

CIFAR10_FULL = """name: "CIFAR10_full"
layer {
  name: "norm1"
  type: "LRN"
  bottom: "pool1"
  top: "norm1"
  lrn_param {
    local_size: 3
    alpha: 5e-05
    beta: 0.75
    norm_region: WITHIN_CHANNEL
  }
}
"""


def caffe_across(x: np.ndarray, n: int, alpha: float, beta: float, k: float) -> np.ndarray:
    """Caffe's ACROSS_CHANNELS formula, literally (float64)."""
    c, half = x.shape[1], n // 2
    out = np.empty_like(x)
    for i in range(c):
        window = x[:, max(0, i - half): min(c, i + half + 1)]
        out[:, i] = x[:, i] * (k + alpha / n * (window ** 2).sum(1)) ** -beta
    return out


def caffe_within(x: np.ndarray, n: int, alpha: float, beta: float) -> np.ndarray:
    """Caffe's WITHIN_CHANNEL formula: zero-padded n x n box, alpha / n^2, k = 1."""
    h, w = x.shape[2:]
    pad = np.pad(x ** 2, ((0, 0), (0, 0), (n // 2, n // 2), (n // 2, n // 2)))
    box = sum(pad[:, :, i:i + h, j:j + w] for i in range(n) for j in range(n))
    return x * (1 + alpha / n ** 2 * box) ** -beta


def convnet_cmr(x: np.ndarray, size: int, scale: float, pow_: float, k: float = 1.0):
    """cuda-convnet cmrnorm: maps [c - size//2, c - size//2 + size), scale / size."""
    c, lo = x.shape[1], size // 2
    out = np.empty_like(x)
    for i in range(c):
        window = x[:, max(0, i - lo): min(c, i - lo + size)]
        out[:, i] = x[:, i] * (k + scale / size * (window ** 2).sum(1)) ** -pow_
    return out


def close(module, x: torch.Tensor, want: np.ndarray) -> float:
    err = float(np.abs(module(x).numpy() - want).max())
    assert err <= TOL * max(1.0, float(np.abs(want).max())), err
    return err


@pytest.mark.parametrize("text,names,lines", [
    (ALEXNET, ["norm1", "norm2"], [12, 23]),
    (CAFFENET_V1, ["norm1"], [2]),
    (GOOGLENET, ["pool1/norm1", "conv2/norm2"], [2, 9]),
])
def test_across_channel_nets(text, names, lines, tmp_path):
    path = tmp_path / "deploy.prototxt"
    path.write_text(text)
    layers = caffe_lrn_layers(path)
    assert [layer.name for layer in layers] == names
    x = randn(2, 12, 3, 3, seed=0, scale=30.0).double()  # scale so alpha=1e-4 matters
    for layer in layers:
        assert layer.params == {"local_size": 5, "alpha": 1e-4, "beta": 0.75, "k": 1.0,
                                "norm_region": "ACROSS_CHANNELS"}
        close(layer.module(), x, caffe_across(x.numpy(), 5, 1e-4, 0.75, 1.0))
    assert list(from_prototxt(str(path))) == names
    assert [layer.line for layer in layers] == lines  # the line of "layer {"


def test_within_channel_cifar10_full():
    (layer,) = caffe_lrn_layers(CIFAR10_FULL)
    assert layer.canonical.region == "within" and layer.line == 2
    x = randn(2, 3, 7, 6, seed=1, scale=30.0).double()
    close(layer.module(), x, caffe_within(x.numpy(), 3, 5e-5, 0.75))
    eq = layer.equivalents()
    assert eq["cuda-convnet"] == {"size": 3, "scale": 5e-5, "pow": 0.75, "type": "rnorm"}
    assert "error" in eq["torch"]


def test_defaults_k_and_old_enum_forms():
    text = """layers { name: 'a' type: LRN lrn_param { } }
layer { name: "b" type: "LRN" lrn_param { k: 2 norm_region: 1 local_size: 3 engine: CUDNN } }
layer { name: "c" type: "LRN" lrn_param { local_size: 3 k: 9 norm_region: WITHIN_CHANNEL } }
"""
    a, b, c = caffe_lrn_layers(text)
    assert a.params == {"local_size": 5, "alpha": 1.0, "beta": 0.75, "k": 1.0,
                        "norm_region": "ACROSS_CHANNELS"}
    assert (b.params["norm_region"], b.canonical.region, b.canonical.k) == (
        "WITHIN_CHANNEL", "within", 1.0)  # Caffe ignores k within a channel
    assert c.canonical.k == 1.0 and c.params["k"] == 9.0


def test_text_format_details():
    text = """# header comment
net_name: "a" "b"  # adjacent strings concatenate
layer <
  name: 'n\\'1' ; type: "LRN",
  include: { phase: TEST }
  lrn_param { alpha: 2e-4 beta: .5 local_size: 3 }  # trailing comment
>
layer { name: "x" type: "Pooling" pool_param { kernel_size: [3, 3] pool: MAX } }
"""
    msg = parse(text)
    assert msg.last("net_name").value == "ab"
    pool = msg.all("layer")[1].value.last("pool_param").value
    assert [f.value for f in pool.all("kernel_size")] == [3, 3]
    (layer,) = caffe_lrn_layers(text)
    assert (layer.name, layer.line) == ("n'1", 3)
    assert (layer.params["alpha"], layer.params["beta"]) == (2e-4, 0.5)


MALFORMED = [  # (text, line named, message fragment)
    ('layer {\n  name: "n"\n  type: "LRN"\n', 3, "missing '}' for the message opened on line 1"),
    ('layer { name: "n" }\n}\n', 2, "no message is open"),
    ('layer {\n  name: "n\n}\n', 2, "unterminated string"),
    ('layer {\n  name "n"\n}\n', 2, "expected ':' or '{' after field 'name'"),
    ('layer {\n  name: \n}\n', 3, "expected a value for field 'name'"),
    ('layer {\n  name: "n" @\n}\n', 2, "unexpected character '@'"),
    ('layer { type: "LRN"\n lrn_param {\n  localsize: 5 } }\n', 3, "unknown lrn_param field"),
    ('layer { type: "LRN"\n lrn_param {\n  local_size: 4 } }\n', 3, "odd local_size"),
    ('layer { type: "LRN"\n lrn_param {\n  local_size: 5.5 } }\n', 3, "positive integer"),
    ('layer { type: "LRN"\n lrn_param {\n\n  alpha: "big" } }\n', 4, "alpha must be a number"),
    ('layer { type: "LRN"\n lrn_param { alpha: -1 } }\n', 2, "alpha must be >= 0"),
    ('layer { type: "LRN"\n lrn_param { norm_region: SIDEWAYS } }\n', 2, "norm_region"),
    ('layer { type: "LRN" lrn_param: 3 }\n', 1, "lrn_param must be a message"),
    ('layer { a: [1, 2 }\n', 1, "expected ',' or ']'"),
]


@pytest.mark.parametrize("text,line,fragment", MALFORMED)
def test_malformed_prototxt_names_the_line(text, line, fragment, tmp_path):
    path = tmp_path / "bad.prototxt"
    path.write_text(text)
    with pytest.raises(ParseError, match=re.escape(fragment)) as info:
        caffe_lrn_layers(path)
    assert info.value.line == line
    assert f"{path}, line {line}:" in str(info.value)


LAYERS_CFG = """# cuda-convnet layers.cfg (CIFAR-10 18% style)
[data]
type=data
dataIdx=0

[conv1]
type=conv
inputs=data
channels=3
filters=32

[rnorm1]
type=cmrnorm
inputs=pool1
channels=32
size=9

[rnorm2]
type=rnorm
inputs=conv2
channels=32
size=3
"""

PARAMS_CFG = """[conv1]
epsW=0.001
wc=0.004

[rnorm1]
scale=0.001
pow=0.75

[rnorm2]
scale: 0.002
pow: 0.5
"""


def test_convnet_two_files(tmp_path):
    layers_path, params_path = tmp_path / "layers.cfg", tmp_path / "params.cfg"
    layers_path.write_text(LAYERS_CFG)
    params_path.write_text(PARAMS_CFG)
    cmr, rn = convnet_lrn_layers(layers_path, params_path)
    assert (cmr.name, cmr.line, cmr.canonical.region) == ("rnorm1", 12, "across")
    assert cmr.params == {"type": "cmrnorm", "size": 9, "scale": 0.001, "pow": 0.75}
    x = randn(2, 11, 3, 3, seed=2, scale=5.0).double()
    close(cmr.module(), x, convnet_cmr(x.numpy(), 9, 0.001, 0.75))
    assert rn.canonical.region == "within"
    close(rn.module(), x, caffe_within(x.numpy(), 3, 0.002, 0.5))  # scale / size^2
    assert list(from_convnet_cfg(layers_path, params_path)) == ["rnorm1", "rnorm2"]


def test_convnet_inline_even_size_and_min_div():
    cfg = "[n]\ntype=CMRNORM\nsize=4\nscale=0.5\npow=0.75\nminDiv=2\n"
    (layer,) = convnet_lrn_layers(cfg)
    assert (layer.canonical.before, layer.canonical.k) == (2, 2.0)
    x = randn(2, 6, 2, 2, seed=3).double()
    close(layer.module(), x, convnet_cmr(x.numpy(), 4, 0.5, 0.75, k=2.0))


MALFORMED_CFG = [
    ("[a]\ntype=cmrnorm\nsize=five\nscale=1\npow=1\n", 3, "size must be an integer"),
    ("[a]\ntype=cmrnorm\nsize=5\npow=1\n", 1, "needs 'scale'"),
    ("[a]\ntype=cmrnorm\nsize=5\nscale=x\npow=1\n", 4, "scale must be a number"),
    ("type=cmrnorm\n", 1, "before any [section]"),
    ("[a\ntype=cmrnorm\n", 1, "malformed section header"),
    ("[a]\ntype=cmrnorm\njunk\n", 3, "expected 'key=value'"),
    ("[a]\ntype=rnorm\n[a]\n", 3, "already defined on line 1"),
    ("[a]\ntype=cmrnorm\nsize=0\nscale=1\npow=1\n", 3, "size must be an int"),
    ("[a]\ntype=cmrnorm\nsize=5\nscale=-1\npow=1\n", 4, "alpha must be >= 0"),
    ("[a]\ntype=cmrnorm\nsize=5\nscale=1\npow=1\nblocked=1\n", 6, "blocked=1"),
]


@pytest.mark.parametrize("text,line,fragment", MALFORMED_CFG)
def test_malformed_cfg_names_the_line(text, line, fragment, tmp_path):
    path = tmp_path / "layers.cfg"
    path.write_text(text)
    with pytest.raises(ParseError, match=re.escape(fragment)) as info:
        convnet_lrn_layers(path)
    assert info.value.line == line and f"{path}, line {line}:" in str(info.value)


def test_cfg_contradiction_names_both_files(tmp_path):
    layers_path, params_path = tmp_path / "layers.cfg", tmp_path / "params.cfg"
    layers_path.write_text("[r]\ntype=cmrnorm\nsize=5\nscale=1e-3\npow=0.75\n")
    params_path.write_text("[r]\n\nscale=2e-3\n")
    with pytest.raises(ParseError, match="contradicts scale=1e-3 on line 4") as info:
        convnet_lrn_layers(layers_path, params_path)
    assert info.value.line == 3 and str(params_path) in str(info.value)


def test_cli_tables(tmp_path, capsys):
    proto = tmp_path / "alexnet.prototxt"
    proto.write_text(ALEXNET)
    assert cli_main(["convert", "--prototxt", str(proto)]) == 0
    out = capsys.readouterr().out
    assert "2 LRN layer(s)" in out and "norm1 (line 12): caffe local_size=5" in out
    assert "tensorflow: depth_radius=2  bias=1  alpha=2e-05  beta=0.75" in out
    cfg, params = tmp_path / "layers.cfg", tmp_path / "params.cfg"
    cfg.write_text(LAYERS_CFG)
    params.write_text(PARAMS_CFG)
    assert cli_main(["convert", "--convnet-cfg", str(cfg), "--convnet-params", str(params),
                     "--json"]) == 0
    data = json.loads(capsys.readouterr().out)[str(cfg)]
    assert data[0]["equivalents"]["torch"] == {"size": 9, "alpha": 0.001, "beta": 0.75,
                                               "k": 1.0}
    bad = tmp_path / "bad.prototxt"
    bad.write_text("layer {\n  name: 'x'\n")
    assert cli_main(["convert", "--prototxt", str(bad)]) == 2
    assert f"{bad}, line 2:" in capsys.readouterr().err
    assert cli_main(["convert"]) == 2
    assert "--prototxt" in capsys.readouterr().err
    assert cli_main(["convert", "--convnet-params", str(params)]) == 2


def test_pitfalls_page_snippets_run():
    page = Path(__file__).resolve().parents[1] / "docs" / "PITFALLS.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert len(blocks) == 6
    for i, block in enumerate(blocks):
        exec(compile(block, f"PITFALLS.md block {i}", "exec"), {})
