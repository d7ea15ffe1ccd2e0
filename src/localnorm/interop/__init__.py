"""Interoperability: ONNX export and import, Caffe prototxt and cuda-convnet layer configs.

Nothing here imports onnx, onnxscript or onnxruntime at import time; the functions that
need them import them when called.

* :func:`export_onnx`: torch model -> ONNX (standard ``LRN`` node when ONNX can express the
  window, standard ops otherwise), with the dynamo or the TorchScript exporter.
* :func:`from_onnx` / :func:`onnx_lrn_layers`: ONNX ``LRN`` nodes -> modules / parameters.
* :func:`caffe_lrn_layers` / :func:`from_prototxt`: Caffe prototxt LRN layers.
* :func:`convnet_lrn_layers` / :func:`from_convnet_cfg`: cuda-convnet ``cmrnorm``/``rnorm``.
* :func:`format_table`: the equivalents of each layer in every framework.
"""

from ._layers import LRNLayer, ParseError, format_table
from .caffe import caffe_lrn_layers, from_prototxt
from .convnet import convnet_lrn_layers, from_convnet_cfg
from .onnx_export import export_onnx, onnx_translation_table, register_onnx_symbolic
from .onnx_import import from_onnx, onnx_lrn_layers

__all__ = [
    "LRNLayer",
    "ParseError",
    "caffe_lrn_layers",
    "convnet_lrn_layers",
    "export_onnx",
    "format_table",
    "from_convnet_cfg",
    "from_onnx",
    "from_prototxt",
    "onnx_lrn_layers",
    "onnx_translation_table",
    "register_onnx_symbolic",
]
