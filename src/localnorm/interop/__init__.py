"""Interoperability: ONNX export and import, Caffe prototxt and cuda-convnet layer configs."""

from .onnx_export import export_onnx, onnx_translation_table, register_onnx_symbolic

__all__ = ["export_onnx", "onnx_translation_table", "register_onnx_symbolic"]
