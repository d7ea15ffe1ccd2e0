"""`localnorm bench`: the JSON schema, the providers, the op table and the CLI (never a time)."""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import localnorm
from localnorm import backends
from localnorm.bench import BenchConfig, run, validate
from localnorm.bench import memory as bench_memory
from localnorm.bench.cli import config_from_args, parse_shapes, parse_sizes
from localnorm.bench.report import analyse, render
from localnorm.bench.schema import SchemaError, describe

ROOT = Path(__file__).resolve().parents[1]
PEERS = ["copy", "torch-eager", "tensorflow", "onnxruntime"]


def _tiny(**over: Any) -> BenchConfig:
    base: dict[str, Any] = dict(
        reps=2, warmup=1, shapes=[("tiny", (2, 8, 6, 6))], dtypes=["fp32"], layouts=["nchw"],
        sizes=[3, 5], sweep_shape=("tiny", (2, 8, 6, 6)), providers=PEERS, progress="off",
        min_sample_s=1e-4)
    base.update(over)
    return BenchConfig(**base)


@pytest.fixture(scope="module")
def tiny_doc() -> dict[str, Any]:
    return run(_tiny(), argv=["test"])


def _case(doc: dict[str, Any], case_id: str) -> dict[str, Any]:
    return next(c for c in doc["cases"] if c["id"] == case_id)


def _prov(case: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in case["providers"] if p["name"] == name)


def test_tiny_run_validates_and_survives_json(tiny_doc: dict[str, Any]) -> None:
    validate(tiny_doc)
    validate(json.loads(json.dumps(tiny_doc)))
    assert [c["id"] for c in tiny_doc["cases"]] == [
        "lrn/tiny/fp32/nchw/n5", "lrn/tiny/fp32/nchw/sweep/n3", "lrn/tiny/fp32/nchw/sweep/n5"]
    assert tiny_doc["versions"]["python"] == platform.python_version()
    assert torch.__version__.startswith(tiny_doc["versions"]["torch"])
    assert tiny_doc["threads"]["torch"] == 2
    assert tiny_doc["threads"]["tensorflow"] == 2


def test_installed_peers_are_timed(tiny_doc: dict[str, Any]) -> None:
    case = _case(tiny_doc, "lrn/tiny/fp32/nchw/n5")
    names = [p["name"] for p in case["providers"]]
    assert set(PEERS + ["localnorm"]) <= set(names)
    assert "torch-compile" not in names  # filtered out by --providers
    expect = {"localnorm": ("fwd", "bwd", "fwdbwd"), "torch-eager": ("fwd", "bwd", "fwdbwd"),
              "tensorflow": ("fwd", "bwd", "fwdbwd"), "onnxruntime": ("fwd",),
              "copy": ("fwd",)}
    for name, modes in expect.items():
        p = _prov(case, name)
        assert p["status"] == "ok", (name, p["error"])
        for mode in modes:
            m = p["modes"][mode]
            assert m["status"] == "ok", (name, mode, m["error"])
            assert len(m["samples_s"]) == 2
            assert all(math.isfinite(t) and t > 0 for t in m["samples_s"])
            assert m["q1_s"] <= m["median_s"] <= m["q3_s"]
    assert _prov(case, "onnxruntime")["modes"]["fwdbwd"]["status"] == "unsupported"
    summary = tiny_doc["summary"][0]
    assert set(summary["speedup"]) == {"torch-eager", "tensorflow", "onnxruntime"}
    assert summary["fwd_over_copy"] > 0


def test_every_other_backend_is_timed_forced(tiny_doc: dict[str, Any]) -> None:
    case = _case(tiny_doc, "lrn/tiny/fp32/nchw/n5")
    x = torch.zeros(2, 8, 6, 6)
    spec = localnorm._spec.make_lrn_spec(x, 5, 1e-4, 0.75, 2.0, "across", None, 1)
    others = {b for b in backends.available("lrn", x, spec)
              if b != case["auto_backend"] and b != "triton"}  # CPU triton: the interpreter
    ours = {p["backend"] for p in case["providers"] if p["kind"] == "ours"}
    assert ours == others | {case["auto_backend"]}
    assert "triton" not in ours  # on CPU that is Triton's interpreter, a test mode
    for b in others:
        assert _prov(case, f"localnorm[{b}]")["modes"]["fwd"]["status"] == "ok"
    assert os.environ.get(backends.ENV_VAR) is None  # restored after timing


def test_targets_and_sweep(tiny_doc: dict[str, Any]) -> None:
    ids = {t["id"] for t in tiny_doc["targets"]}
    assert {"fwd-copy", "fwdbwd-copy", "speedup-tensorflow", "speedup-eager", "size-flat",
            "fwd-memory"} <= ids
    t = next(t for t in tiny_doc["targets"] if t["id"] == "speedup-compile")
    assert t["value"] is None and t["met"] is None  # compile was not run: not measurable
    sweep = next(s for s in tiny_doc["sweeps"]
                 if s["provider"] == "localnorm" and s["mode"] == "fwd")
    assert sweep["sizes"] == [3, 5] and sweep["largest_over_smallest"] > 0
    text = render(tiny_doc)
    assert "lrn/tiny/fp32/nchw/sweep/n3" in text and "targets (issue 3)" in text


def test_cuda_targets_also_use_kernel_times(tiny_doc: dict[str, Any]) -> None:
    """On CUDA the copy and peer targets are checked twice: on wall medians and on the GPU
    kernel times (host-bound isolated calls would otherwise hide what the kernels do)."""
    doc = copy.deepcopy(tiny_doc)
    doc["config"]["device"] = "cuda"
    case = _case(doc, "lrn/tiny/fp32/nchw/n5")
    kernels = {("localnorm", "fwd"): 2e-5, ("localnorm", "fwdbwd"): 1e-4,
               ("copy", "fwd"): 1e-5, ("torch-eager", "fwdbwd"): 4e-3}
    for (name, mode), value in kernels.items():
        _prov(case, name)["modes"][mode]["kernel_s"] = value
    doc.update(analyse(doc))
    validate(doc)
    got = {t["id"]: t for t in doc["targets"] if t["case"] == f"{case['id']} (GPU kernel time)"}
    assert got["fwd-copy"]["value"] == pytest.approx(2.0) and got["fwd-copy"]["met"] is False
    assert got["fwdbwd-copy"]["value"] == pytest.approx(10.0)
    assert got["speedup-eager"]["value"] == pytest.approx(40.0) and got["speedup-eager"]["met"]
    assert got["speedup-compile"]["value"] is None  # compile was not run
    bw = next(t for t in doc["targets"] if t["id"] == "gpu-bandwidth")
    assert bw["value"] == pytest.approx(2.0) and bw["met"] is False
    assert "(GPU kernel time)" in render(doc)


def test_cuda_size_flat_also_uses_kernel_times(tiny_doc: dict[str, Any]) -> None:
    """The size sweep's kernel times give a second size-flat verdict on CUDA; on CPU the
    sweeps carry no kernel times and there is one verdict per mode."""
    cpu = next(s for s in tiny_doc["sweeps"] if s["provider"] == "localnorm" and s["mode"] == "fwd")
    assert cpu["kernel_s"] == [None, None] and cpu["kernel_largest_over_smallest"] is None
    assert sum(t["id"] == "size-flat" for t in tiny_doc["targets"]) == 2  # fwd and fwdbwd
    doc = copy.deepcopy(tiny_doc)
    doc["config"]["device"] = "cuda"
    for size, seconds in ((3, 2e-5), (5, 5e-5)):
        case = _case(doc, f"lrn/tiny/fp32/nchw/sweep/n{size}")
        _prov(case, "localnorm")["modes"]["fwd"]["kernel_s"] = seconds
    doc.update(analyse(doc))
    validate(doc)
    flat = {t["case"]: t for t in doc["targets"] if t["id"] == "size-flat"}
    kern = flat["lrn/tiny/fp32/nchw fwd n5/n3 (GPU kernel time)"]
    assert kern["value"] == pytest.approx(2.5) and kern["met"] is False
    assert flat["lrn/tiny/fp32/nchw fwdbwd n5/n3 (GPU kernel time)"]["value"] is None
    assert flat["lrn/tiny/fp32/nchw fwd n5/n3"]["value"] == pytest.approx(
        next(s for s in doc["sweeps"] if s["provider"] == "localnorm" and s["mode"] == "fwd")[
            "largest_over_smallest"])


def test_validate_names_the_bad_field(tiny_doc: dict[str, Any]) -> None:
    bad = copy.deepcopy(tiny_doc)
    bad["cases"][0]["providers"][0]["modes"]["fwd"]["median_s"] = "fast"
    with pytest.raises(SchemaError, match=r"\$\.cases\[0\]\.providers\[0\]\.modes\.fwd\.median_s"):
        validate(bad)
    bad = copy.deepcopy(tiny_doc)
    del bad["machine"]["cpu_model"]
    with pytest.raises(SchemaError, match="missing fields"):
        validate(bad)
    bad = copy.deepcopy(tiny_doc)
    bad["schema_version"] = 999
    with pytest.raises(SchemaError, match="schema_version"):
        validate(bad)
    bad = copy.deepcopy(tiny_doc)
    bad["cases"][0]["providers"][0]["modes"]["sideways"] = bad["cases"][0]["providers"][0][
        "modes"]["fwd"]
    with pytest.raises(SchemaError, match="sideways"):
        validate(bad)


def test_docs_document_every_field() -> None:
    text = (ROOT / "docs" / "BENCHMARKS.md").read_text()
    missing = [p for p, _, _ in describe() if f"`{p}`" not in text]
    assert not missing, f"docs/BENCHMARKS.md lacks {missing}"


def test_peak_memory_counts_tensors() -> None:
    x = torch.randn(64, 1024)

    def two_temps() -> torch.Tensor:
        a = x * 2  # held while b is made: the peak is two tensors
        b = a + 1
        del a
        return b

    peak = bench_memory.peak_torch_cpu(two_temps)
    assert peak is not None and 2 * x.nbytes <= peak <= 2 * x.nbytes + 64  # + scalar wrappers
    out = torch.empty_like(x)
    assert bench_memory.peak_torch_cpu(lambda: out.copy_(x)) == 0


def test_profiled_measurements_print_nothing_of_their_own(capfd: pytest.CaptureFixture[str]
                                                          ) -> None:
    """torch's profiler logs a line to stderr at each start and stop (torch 2.13: "USDT: ...
    profiler_start"): the bench mutes those, and only those."""
    def loud() -> torch.Tensor:
        os.write(2, b"said by the call\n")
        return torch.empty(1 << 18)

    peak = bench_memory.peak_torch_cpu(loud)
    err = capfd.readouterr().err
    assert peak is not None and peak >= (1 << 18) * 4
    assert "said by the call" in err
    assert "profiler_st" not in err and "USDT" not in err, err


def test_memory_is_measured_in_every_mode(tiny_doc: dict[str, Any]) -> None:
    # localnorm on CPU is measured twice (torch's allocator, then the resident set): the bwd
    # mode's graph, consumed by the first call, must be built again for the second
    seen = 0
    for case in tiny_doc["cases"]:
        for prov in case["providers"]:
            if prov["kind"] != "ours" or prov["status"] != "ok":
                continue
            for mode, m in prov["modes"].items():
                if m["status"] == "ok":
                    assert m["peak_bytes"] is not None and m["error"] is None, (
                        case["id"], prov["name"], mode, m["error"])
                    seen += mode == "bwd"
    assert seen >= 2


def test_load_warning_counts_other_processes_only(
    tiny_doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the load average is sampled before any timing, so the bench's own threads are not in
    # it (sampled at the end, the WARNING fired on every run); the WARNING then says other
    # processes competed for the cores
    from localnorm.bench import runner

    timed: list[bool] = []
    run_group = runner.run_group

    def timing(*args: Any, **kw: Any) -> Any:
        timed.append(True)
        return run_group(*args, **kw)

    monkeypatch.setattr(runner, "run_group", timing)
    monkeypatch.setattr("localnorm.bench.meta.os.getloadavg",
                        lambda: (2.5 if timed else 0.25, 0.0, 0.0))
    measured = run(_tiny(sizes=[], modes=["fwd"], providers=["copy"]))
    assert timed and measured["machine"]["load_average"][0] == 0.25
    doc = copy.deepcopy(tiny_doc)
    ncpu, threads = doc["machine"]["cpu_count"], doc["config"]["threads"]
    doc["machine"]["load_average"] = [max(0.0, ncpu - threads - 0.6), 0.0, 0.0]
    assert "WARNING: load average" not in render(doc)
    doc["machine"]["load_average"] = [ncpu - threads + 1.0, 0.0, 0.0]
    assert "WARNING: load average" in render(doc)


def test_peers_that_cannot_run_say_why() -> None:
    doc = run(_tiny(dtypes=["bf16"], sizes=[], modes=["fwd"]))
    case = doc["cases"][0]
    ort = _prov(case, "onnxruntime")
    assert ort["status"] == "unsupported" and "float32" in ort["error"]
    assert _prov(case, "tensorflow")["status"] == "unsupported"
    assert _prov(case, "localnorm")["modes"]["fwd"]["status"] == "ok"


def test_even_size_is_unsupported_by_tensorflow_and_onnx() -> None:
    doc = run(_tiny(sizes=[], modes=["fwd"], size=4))
    case = doc["cases"][0]
    assert _prov(case, "tensorflow")["status"] == "unsupported"
    assert _prov(case, "onnxruntime")["status"] == "unsupported"
    assert _prov(case, "torch-eager")["modes"]["fwd"]["status"] == "ok"


def _fake_family(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-ins for GDN and LCN when localnorm does not have them yet."""
    class FakeGDN(torch.nn.Module):
        def __init__(self, num_channels: int) -> None:
            super().__init__()
            self.beta = torch.nn.Parameter(torch.ones(num_channels))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x / torch.sqrt(self.beta[:, None, None] + x * x)

    class FakeLCN(torch.nn.Module):
        def __init__(self, size: int = 9) -> None:
            super().__init__()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x - x.mean(dim=(1, 2, 3), keepdim=True)

    for fn, mod, cls in (("gdn", "GDN", FakeGDN), ("local_contrast_norm", "LocalContrastNorm",
                                                   FakeLCN)):
        if not hasattr(localnorm, fn):
            monkeypatch.setattr(localnorm, fn, lambda x: x, raising=False)
            monkeypatch.setattr(localnorm, mod, cls, raising=False)


def test_family_ops_get_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_family(monkeypatch)
    doc = run(_tiny(ops=["gdn", "lcn"], providers=["copy", "torch-composition"],
                    modes=["fwd", "fwdbwd"]))
    assert [c["id"] for c in doc["cases"]] == ["gdn/tiny/fp32/nchw", "lcn/tiny/fp32/nchw"]
    for case in doc["cases"]:
        for name in ("localnorm", "torch-composition", "copy"):
            assert _prov(case, name)["modes"]["fwd"]["status"] == "ok", (case["id"], name)
    assert all(t["id"] != "fwd-copy" for t in doc["targets"])  # LRN targets only


def test_within_channel_op_is_timed_against_its_composition() -> None:
    doc = run(_tiny(ops=["lrn-within"], layouts=["nchw", "channels_last"],
                    providers=["copy", "torch-composition", "torch-composition-compile"],
                    modes=["fwd", "fwdbwd"]))
    validate(doc)
    assert [c["id"] for c in doc["cases"]] == ["lrn-within/tiny/fp32/nchw",
                                               "lrn-within/tiny/fp32/channels_last"]
    for case in doc["cases"]:
        for name in ("localnorm", "torch-composition", "torch-composition-compile"):
            for mode in ("fwd", "fwdbwd"):
                assert _prov(case, name)["modes"][mode]["status"] == "ok", (case["id"], name)
    assert doc["sweeps"] == [] and doc["targets"] == []  # LRN-across targets only


def test_bad_arguments_name_the_flag() -> None:
    with pytest.raises(ValueError, match="--shapes"):
        parse_shapes("alexnet,3x4")
    assert parse_shapes("8x16x5x5,seq-3d")[0] == ("8x16x5x5", (8, 16, 5, 5))
    with pytest.raises(ValueError, match="--sizes"):
        parse_sizes("3,0")
    with pytest.raises(ValueError, match="--ops"):
        run(_tiny(ops=["batchnorm"]))
    from localnorm.cli import _build_parser

    args = _build_parser().parse_args(["bench", "--quick", "--dtypes", "fp8"])
    with pytest.raises(ValueError, match="--dtypes"):
        config_from_args(args)
    args = _build_parser().parse_args(["bench", "--quick", "--threads", "3"])
    cfg = config_from_args(args)
    assert cfg.quick and cfg.threads == 3 and cfg.modes == ["fwd", "fwdbwd"]


@pytest.mark.slow
def test_cli_quick_smoke(tmp_path: Path) -> None:
    """`localnorm bench --quick --json PATH` as CI runs it: asserts the schema, never a time."""
    out = tmp_path / "bench.json"
    # conftest sets TRITON_INTERPRET=1 for the Triton tests; a user's shell does not have it
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run(
        [sys.executable, "-m", "localnorm", "bench", "--quick", "--progress", "lines",
         "--json", str(out)],
        capture_output=True, text=True, timeout=1200, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    validate(doc)
    assert doc["config"]["quick"] is True
    first = doc["cases"][0]
    assert first["id"] == "lrn/alexnet-conv1/fp32/nchw/n5"
    names = {p["name"] for p in first["providers"]}
    assert {"localnorm", "copy", "torch-eager", "torch-compile", "tensorflow",
            "onnxruntime"} <= names
    assert {c["id"] for c in doc["cases"]} >= {"lrn/alexnet-conv1/fp32/channels_last/n5",
                                                "lrn/alexnet-conv1/fp32/nchw/sweep/n3",
                                                "lrn/alexnet-conv1/fp32/nchw/sweep/n65"}
    assert "targets (issue 3)" in proc.stdout
