"""``localnorm convert --prototxt FILE | --convnet-cfg FILE | --onnx FILE``: list the LRN
layers of a model file with their equivalent parameters in every framework."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ._layers import LRNLayer, format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The model-file options of ``localnorm convert``."""
    parser.add_argument("--prototxt", metavar="FILE", default=None,
                        help="list the LRN layers of a Caffe prototxt")
    parser.add_argument("--convnet-cfg", metavar="FILE", default=None,
                        help="list the cmrnorm/rnorm layers of a cuda-convnet layer file")
    parser.add_argument("--convnet-params", metavar="FILE", default=None,
                        help="cuda-convnet layer-parameter file (scale, pow) for --convnet-cfg")
    parser.add_argument("--onnx", metavar="FILE", default=None,
                        help="list the LRN nodes of an .onnx model")


def wants_files(args: argparse.Namespace) -> bool:
    return any(getattr(args, a, None) for a in ("prototxt", "convnet_cfg", "onnx"))


def run(args: argparse.Namespace) -> int:
    """Print the table (or JSON with ``--json``) for every model file given."""
    if args.convnet_params and not args.convnet_cfg:
        raise ValueError("--convnet-params needs --convnet-cfg")
    found: list[tuple[str, list[LRNLayer]]] = []
    if args.prototxt:
        from .caffe import caffe_lrn_layers

        found.append((args.prototxt, caffe_lrn_layers(args.prototxt)))
    if args.convnet_cfg:
        from .convnet import convnet_lrn_layers

        found.append((args.convnet_cfg, convnet_lrn_layers(args.convnet_cfg,
                                                           args.convnet_params)))
    if args.onnx:
        from .onnx_import import onnx_lrn_layers

        found.append((args.onnx, onnx_lrn_layers(args.onnx)))
    if args.json:
        out: dict[str, Any] = {src: [layer.as_dict() for layer in layers]
                               for src, layers in found}
        print(json.dumps(out, indent=2))
    else:
        print("\n\n".join(format_table(layers, src) for src, layers in found))
    return 0
