"""The JSON document written by ``localnorm bench --json PATH``, described and validated.

The schema lives here as data (``SCHEMA``), so that one description drives three things:
:func:`validate` (used by the tests and by the bench before it writes), :func:`describe`
(the field table in docs/BENCHMARKS.md is its output: ``python -m localnorm.bench.schema``),
and the test that checks the docs name every field. No jsonschema dependency.

Bump ``SCHEMA_VERSION`` whenever a field is added, removed or changes meaning.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

SCHEMA_VERSION = 2
MODES = ("fwd", "bwd", "fwdbwd")
STATUSES = ("ok", "error", "unsupported")
METHODS = ("torch-allocator", "cuda-allocator", "rss-hwm", "max(torch-allocator,rss-hwm)", None)


class SchemaError(ValueError):
    """The document does not match the schema; the message gives the JSON path."""


@dataclass(frozen=True)
class F:
    """A leaf field: JSON type name(s), one-line meaning, null allowed or not, allowed values."""

    types: str  # "int" | "float" | "str" | "bool", or several joined by "|"
    doc: str
    nullable: bool = False
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ListOf:
    item: Any  # F | dict | ListOf | MapOf
    doc: str


@dataclass(frozen=True)
class MapOf:
    """An object whose keys are data (backend names, modes); ``keys`` restricts them."""

    value: Any
    doc: str
    keys: tuple[str, ...] = ()


_TIMING = {
    "status": F("str", "ok, error (it raised) or unsupported (the peer lacks it)",
                choices=STATUSES),
    "error": F("str", "why the mode did not run (null when status is ok)", nullable=True),
    "median_s": F("float", "median seconds per call over the samples", nullable=True),
    "q1_s": F("float", "25th percentile of the samples, seconds per call", nullable=True),
    "q3_s": F("float", "75th percentile of the samples, seconds per call", nullable=True),
    "iqr_s": F("float", "interquartile range q3_s - q1_s, seconds", nullable=True),
    "samples_s": ListOf(F("float", "seconds per call"), "every sample, in run order"),
    "number": F("int", "calls averaged inside one sample (more than 1 only for fast calls)"),
    "peak_bytes": F("int", "peak bytes allocated during one call, output included",
                    nullable=True),
    "output_bytes": F("int", "bytes of the result the call allocates (y for fwd, dx for bwd "
                             "and fwdbwd; 0 when it writes into a preallocated buffer)",
                      nullable=True),
    "kernel_s": F("float", "CUDA only: sum of the GPU kernel durations of one call "
                           "(torch.profiler); far below median_s means host-bound", nullable=True),
    "memory_method": F("str", "how peak_bytes was measured: torch-allocator, cuda-allocator, "
                              "rss-hwm, or max(torch-allocator,rss-hwm) (see Memory)",
                       nullable=True, choices=METHODS),
}

_PROVIDER = {
    "name": F("str", "provider name: localnorm (auto backend), localnorm[<backend>], "
                     "torch-eager, torch-compile, tensorflow, onnxruntime, copy, clone, ..."),
    "kind": F("str", "ours, peer, or floor (copy into a preallocated buffer; clone)",
              choices=("ours", "peer", "floor")),
    "backend": F("str", "localnorm backend that ran (ours only)", nullable=True),
    "note": F("str", "what the provider was given when it differs from the case (its native "
                     "layout, a reshape to 4-D, converted parameters)", nullable=True),
    "status": F("str", "ok, or error/unsupported when the provider could not be set up",
                choices=STATUSES),
    "error": F("str", "why setup failed (null when status is ok)", nullable=True),
    "modes": MapOf(_TIMING, "timings by mode: fwd, bwd (backward alone), fwdbwd", MODES),
}

_CASE = {
    "id": F("str", "unique case label, e.g. lrn/alexnet-conv1/fp32/nchw/n5 (main) or "
                   "lrn/alexnet-conv1/fp32/nchw/sweep/n65 (sweep)"),
    "op": F("str", "operator: lrn, lrn-within, gdn, lcn, dn"),
    "group": F("str", "main (shape x dtype x layout) or sweep (window sizes, all timed "
                      "interleaved)",
               choices=("main", "sweep")),
    "shape_name": F("str", "name of the shape (alexnet-conv1, ..., or custom)"),
    "shape": ListOf(F("int", "extent"), "input shape (N, C, *spatial)"),
    "dtype": F("str", "fp32, bf16, fp16 or fp64", choices=("fp32", "bf16", "fp16", "fp64")),
    "layout": F("str", "memory format of the input: nchw (contiguous) or channels_last",
                choices=("nchw", "channels_last")),
    "size": F("int", "LRN window size (null for ops without one)", nullable=True),
    "input_bytes": F("int", "bytes of the input tensor"),
    "auto_backend": F("str", "backend localnorm picks for this input (ours only)",
                      nullable=True),
    "providers": ListOf(_PROVIDER, "one entry per provider timed in this case"),
}

_SUMMARY = {
    "case": F("str", "case id"),
    "fwd_over_copy": F("float", "localnorm fwd median / copy median", nullable=True),
    "fwdbwd_over_copy": F("float", "localnorm fwdbwd median / copy median", nullable=True),
    "bwd_over_copy": F("float", "localnorm bwd median / copy median", nullable=True),
    "fwd_kernel_over_copy": F("float", "CUDA: localnorm fwd kernel_s / copy kernel_s",
                              nullable=True),
    "fwdbwd_kernel_over_copy": F("float", "CUDA: localnorm fwdbwd kernel_s / copy kernel_s",
                                 nullable=True),
    "fwd_over_clone": F("float", "localnorm fwd median / clone median (the floor for an op "
                                 "that allocates its output)", nullable=True),
    "fwdbwd_over_clone": F("float", "localnorm fwdbwd median / clone median", nullable=True),
    "fwd_extra_over_input": F("float", "(fwd peak_bytes - output_bytes) / input_bytes",
                              nullable=True),
    "speedup": MapOf(MapOf(F("float", "peer median / localnorm median (> 1: we are faster)",
                             nullable=True), "by mode", MODES),
                     "by peer name, for each mode both ran"),
}

_SWEEP = {
    "key": F("str", "op/shape/dtype/layout of the sweep"),
    "provider": F("str", "provider name"),
    "mode": F("str", "fwd, bwd or fwdbwd", choices=MODES),
    "sizes": ListOf(F("int", "window size"), "sizes, ascending"),
    "median_s": ListOf(F("float", "median seconds", nullable=True), "one per size"),
    "largest_over_smallest": F("float", "median at the largest size / at the smallest",
                               nullable=True),
    "kernel_s": ListOf(F("float", "CUDA: one call's GPU kernel seconds (null on CPU)",
                         nullable=True), "one per size"),
    "kernel_largest_over_smallest": F("float", "CUDA: kernel_s at the largest size / at the "
                                      "smallest (null on CPU)", nullable=True),
}

_TARGET = {
    "id": F("str", "target id (fwd-copy, fwdbwd-copy, speedup-compile, speedup-tensorflow, "
                   "speedup-eager, size-flat, fwd-memory, gpu-bandwidth)"),
    "description": F("str", "the Targets line of issue 3 it checks"),
    "case": F("str", "case id (or sweep key) the value comes from"),
    "value": F("float", "measured value, in the unit of the threshold", nullable=True),
    "threshold": F("float", "bound the value is compared with"),
    "relation": F("str", "<= or >=", choices=("<=", ">=")),
    "met": F("bool", "value relation threshold holds (null: not measurable here)",
             nullable=True),
}

SCHEMA: dict[str, Any] = {
    "schema_version": F("int", f"version of this layout (now {SCHEMA_VERSION})"),
    "tool": F("str", "always 'localnorm bench'"),
    "created_utc": F("str", "ISO 8601 time the run finished"),
    "argv": ListOf(F("str", "argument"), "command-line arguments of the run"),
    "config": {
        "device": F("str", "cpu or cuda", choices=("cpu", "cuda")),
        "threads": F("int", "thread count asked for (--threads)"),
        "quick": F("bool", "--quick was given"),
        "reps": F("int", "timed samples per provider and mode"),
        "warmup": F("int", "untimed calls per provider and mode before timing"),
        "min_sample_s": F("float", "a sample loops a call faster than this until it lasts "
                                   "this long (timer resolution)"),
        "flush_bytes": F("int", "bytes written before every sample to evict the caches "
                                "(0: --no-flush)"),
        "seed": F("int", "seed of the random inputs"),
        "ops": ListOf(F("str", "op"), "operators asked for (--ops)"),
        "shapes": ListOf(F("str", "name=NxCx..."), "shapes of the main group"),
        "dtypes": ListOf(F("str", "dtype"), "dtypes of the main group"),
        "layouts": ListOf(F("str", "layout"), "layouts of the main group"),
        "sizes": ListOf(F("int", "size"), "window sizes of the sweep (--sizes)"),
        "sweep_shape": F("str", "name=NxCx... of the sweep"),
        "peers_everywhere": F("bool", "peers timed in every case (--quick: only in the first "
                                      "main case of each op)"),
        "all_backends": F("bool", "localnorm also timed forced to each other backend that can "
                                  "run the case (not with --quick)"),
        "modes": ListOf(F("str", "mode", choices=MODES), "modes timed (--quick: fwd, fwdbwd)"),
        "providers": ListOf(F("str", "provider name"),
                            "--providers filter (empty: every provider; ours always runs)"),
        "params": {
            "size": F("int", "LRN size of the main group"),
            "alpha": F("float", "alpha (PyTorch convention: divided by size)"),
            "beta": F("float", "beta"),
            "k": F("float", "k"),
        },
    },
    "machine": {
        "platform": F("str", "platform.platform()"),
        "machine": F("str", "platform.machine()"),
        "cpu_model": F("str", "model name from /proc/cpuinfo", nullable=True),
        "cpu_count": F("int", "logical CPUs (os.cpu_count())", nullable=True),
        "gpu": F("str", "torch.cuda.get_device_name() when CUDA is used", nullable=True),
        "load_average": ListOf(F("float", "load"), "os.getloadavg() (1, 5, 15 minutes) at the "
                               "start of the run, before any timing; empty where unknown. A "
                               "load near or above cpu_count means other processes competed "
                               "for the cores"),
    },
    "versions": MapOf(F("str", "version string (null: not installed)", nullable=True),
                      "python, localnorm, torch, numpy, numba, triton, tensorflow, "
                      "onnxruntime, onnx"),
    "threads": MapOf(F("int", "thread count in effect", nullable=True),
                     "threads each runtime used: torch, numba, tensorflow, onnxruntime"),
    "cases": ListOf(_CASE, "every case, in run order"),
    "summary": ListOf(_SUMMARY, "per case: ratios to the copy and speedups over peers"),
    "sweeps": ListOf(_SWEEP, "time against window size, per provider and mode"),
    "targets": ListOf(_TARGET, "each Targets line of issue 3, per case it applies to"),
}


def _check_leaf(spec: F, value: Any, path: str) -> None:
    if value is None:
        if not spec.nullable:
            raise SchemaError(f"{path}: null is not allowed")
        return
    ok = False
    for t in spec.types.split("|"):
        if t == "int":
            ok |= isinstance(value, int) and not isinstance(value, bool)
        elif t == "float":
            ok |= isinstance(value, int | float) and not isinstance(value, bool)
            if ok and not math.isfinite(value):
                raise SchemaError(f"{path}: {value} is not finite")
        elif t == "str":
            ok |= isinstance(value, str)
        elif t == "bool":
            ok |= isinstance(value, bool)
    if not ok:
        raise SchemaError(f"{path}: expected {spec.types}, got {type(value).__name__}")
    if spec.choices and value not in spec.choices:
        raise SchemaError(f"{path}: {value!r} is not one of {spec.choices}")


def _check(spec: Any, value: Any, path: str) -> None:
    if isinstance(spec, F):
        _check_leaf(spec, value, path)
    elif isinstance(spec, ListOf):
        if not isinstance(value, list):
            raise SchemaError(f"{path}: expected a list, got {type(value).__name__}")
        for i, item in enumerate(value):
            _check(spec.item, item, f"{path}[{i}]")
    elif isinstance(spec, MapOf):
        if not isinstance(value, dict):
            raise SchemaError(f"{path}: expected an object, got {type(value).__name__}")
        for key, item in value.items():
            if spec.keys and key not in spec.keys:
                raise SchemaError(f"{path}: unexpected key {key!r} (allowed: {spec.keys})")
            _check(spec.value, item, f"{path}.{key}")
    else:
        if not isinstance(value, dict):
            raise SchemaError(f"{path}: expected an object, got {type(value).__name__}")
        missing = sorted(set(spec) - set(value))
        extra = sorted(set(value) - set(spec))
        if missing or extra:
            raise SchemaError(f"{path}: missing fields {missing}, unknown fields {extra}")
        for key, sub in spec.items():
            _check(sub, value[key], f"{path}.{key}")


def validate(doc: Any) -> None:
    """Raise :class:`SchemaError` (naming the JSON path) unless ``doc`` matches ``SCHEMA``."""
    _check(SCHEMA, doc, "$")
    if doc["schema_version"] != SCHEMA_VERSION:
        raise SchemaError(f"$.schema_version: expected {SCHEMA_VERSION}, got "
                          f"{doc['schema_version']}")


def describe(spec: Any = None, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(path, type, meaning) for every field, depth first; ``[]`` marks list items and
    ``<key>`` a data-dependent key."""
    spec = SCHEMA if spec is None else spec
    if isinstance(spec, F):
        t = spec.types + (" or null" if spec.nullable else "")
        yield path, t, spec.doc
    elif isinstance(spec, ListOf):
        yield path, "list", spec.doc
        yield from describe(spec.item, f"{path}[]")
    elif isinstance(spec, MapOf):
        yield path, "object", spec.doc
        yield from describe(spec.value, f"{path}.<key>")
    else:
        if path:
            yield path, "object", ""
        for key, sub in spec.items():
            yield from describe(sub, f"{path}.{key}" if path else key)


def markdown_table() -> str:
    """The field table of docs/BENCHMARKS.md."""
    rows = ["| field | type | meaning |", "|---|---|---|"]
    rows += [f"| `{p}` | {t} | {d} |" for p, t, d in describe()]
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
