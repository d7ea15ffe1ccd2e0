"""Run metadata for the bench's JSON: versions, threads in effect, and the machine."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

import torch

# distribution names to try for each reported package (first installed wins)
_DISTS = {
    "torch": ("torch",),
    "numpy": ("numpy",),
    "numba": ("numba",),
    "triton": ("triton", "pytorch-triton"),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-intel"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "onnx": ("onnx",),
}


def versions() -> dict[str, str | None]:
    """Installed versions (package metadata only: nothing is imported)."""
    from .. import __version__

    out: dict[str, str | None] = {"python": platform.python_version(), "localnorm": __version__}
    for key, dists in _DISTS.items():
        out[key] = None
        for d in dists:
            try:
                out[key] = metadata.version(d)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def threads_in_effect(asked: int) -> dict[str, int | None]:
    """Thread counts each runtime used; None for a runtime this run never loaded."""
    out: dict[str, int | None] = {"torch": torch.get_num_threads(), "numba": None,
                                  "tensorflow": None, "onnxruntime": None}
    if "numba" in sys.modules:
        out["numba"] = int(sys.modules["numba"].get_num_threads())
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        out["tensorflow"] = int(tf.config.threading.get_intra_op_parallelism_threads())
    if "onnxruntime" in sys.modules:
        out["onnxruntime"] = asked  # set per session (SessionOptions.intra_op_num_threads)
    return out


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine(device: str) -> dict[str, Any]:
    gpu = None
    if device == "cuda" and torch.cuda.is_available():
        gpu = torch.cuda.get_device_name()
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = []
    return {"platform": platform.platform(), "machine": platform.machine(),
            "cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "gpu": gpu,
            "load_average": load}
