"""Benchmark runner: cases, interleaved timing, peak memory, and the JSON document.

Protocol (docs/BENCHMARKS.md): for each group of cases (one main case, or the whole size
sweep) every provider is built, then warmed up (each mode called ``warmup`` times, which also
compiles torch.compile graphs and numba kernels), then timed ``reps`` times round-robin:
repetition r runs every (case, provider) once, starting at the r-th mod P, so slow drift
(thermal, other processes) hits all providers and sizes alike; localnorm forced to its other
backends (the composite) gets its repetitions after all the others' (see ``run_group``).
Before each sample the caches are flushed; a sample times one call, or a loop of calls when a
call is faster than ``min_sample_s``. Python's cyclic garbage collector runs before each
repetition and is paused during it (as in ``timeit``): a collection triggered inside a timed
call costs 5-10 ms in a process holding torch, TensorFlow and compiled graphs, and lands on
whichever provider allocates after another one left garbage (an autograd graph, say).
Medians and interquartile ranges are reported. Peak memory is measured afterwards, on one
extra call per mode, so the profiler never perturbs a timed sample.
"""

from __future__ import annotations

import gc
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from . import memory
from .ops import OpEntry, bytes_of, resolve
from .peers import MODES, Inputs, Prepared, Provider, Unsupported
from .progress import Progress

SHAPES: dict[str, tuple[int, ...]] = {
    "alexnet-conv1": (32, 96, 55, 55),
    "alexnet-conv2": (32, 256, 27, 27),
    "googlenet-lrn1": (32, 64, 56, 56),
    "googlenet-lrn2": (32, 192, 56, 56),
    "seq-3d": (32, 96, 3025),
}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
          "fp64": torch.float64}
LAYOUTS = ("nchw", "channels_last")


@dataclass
class BenchConfig:
    """Everything a run depends on (``localnorm bench --help`` documents each field)."""

    device: str = "cpu"
    threads: int = 2
    quick: bool = False
    reps: int = 10
    warmup: int = 3
    min_sample_s: float = 1e-4  # loop only calls faster than this (timer resolution)
    flush: bool = True  # evict caches before every sample (memory.CacheFlusher)
    seed: int = 0
    ops: list[str] = field(default_factory=lambda: ["lrn"])
    shapes: list[tuple[str, tuple[int, ...]]] = field(
        default_factory=lambda: list(SHAPES.items()))
    dtypes: list[str] = field(default_factory=lambda: ["fp32", "bf16"])
    layouts: list[str] = field(default_factory=lambda: list(LAYOUTS))
    sizes: list[int] = field(default_factory=lambda: [3, 5, 9, 17, 33, 65])
    sweep_shape: tuple[str, tuple[int, ...]] = ("alexnet-conv1", SHAPES["alexnet-conv1"])
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0
    modes: list[str] = field(default_factory=lambda: list(MODES))
    providers: list[str] | None = None  # None: all
    peers_everywhere: bool = True  # False: peers only in the first main case of each op
    all_backends: bool = True  # also time localnorm forced to each other backend
    progress: str = "bar"  # "bar" (tqdm if installed, else lines), "lines", or "off"

    @classmethod
    def quick_config(cls, **over: Any) -> BenchConfig:
        """About a minute on 2 cores: AlexNet conv1 in fp32, fwd and fwd+bwd, 5 samples;
        the peers in NCHW only; localnorm (auto backend) and the copy also in channels_last
        and at sizes 3 and 65."""
        base: dict[str, Any] = dict(
            quick=True, reps=5, warmup=1, shapes=[("alexnet-conv1", SHAPES["alexnet-conv1"])],
            dtypes=["fp32"], sizes=[3, 65], modes=["fwd", "fwdbwd"], peers_everywhere=False,
            all_backends=False)
        base.update(over)
        return cls(**base)


@dataclass(frozen=True)
class Case:
    op: str
    group: str
    shape_name: str
    shape: tuple[int, ...]
    dtype: str
    layout: str
    size: int | None

    @property
    def id(self) -> str:
        """e.g. ``lrn/alexnet-conv1/fp32/nchw/n5``; sweep cases ``.../nchw/sweep/n65``."""
        tail = "/sweep" if self.group == "sweep" else ""
        tail += f"/n{self.size}" if self.size is not None else ""
        return f"{self.op}/{self.shape_name}/{self.dtype}/{self.layout}{tail}"


def make_groups(cfg: BenchConfig, ops: list[OpEntry]) -> list[list[Case]]:
    """Cases in run order, grouped: each main case (op x shape x dtype x layout at the default
    size) alone, then per op with a window one group holding the whole size sweep (fp32,
    contiguous, ``sweep_shape``), so that its sizes are timed interleaved, as providers are."""
    groups: list[list[Case]] = []
    for op in ops:
        size = cfg.size if op.has_size else None
        for name, shape in cfg.shapes:
            for dt in cfg.dtypes:
                for lay in cfg.layouts:
                    if lay == "channels_last" and len(shape) not in (4, 5):
                        continue  # no channels-last memory format for this rank
                    groups.append([Case(op.name, "main", name, shape, dt, lay, size)])
        if op.has_size and cfg.sizes:
            name, shape = cfg.sweep_shape
            groups.append([Case(op.name, "sweep", name, shape, "fp32", "nchw", n)
                           for n in sorted(set(cfg.sizes))])
    return groups


def make_inputs(case: Case, cfg: BenchConfig) -> Inputs:
    gen = torch.Generator().manual_seed(cfg.seed)
    dtype = DTYPES[case.dtype]
    x = torch.randn(case.shape, generator=gen).to(dtype)
    g = torch.randn(case.shape, generator=gen).to(dtype)
    if case.layout == "channels_last":
        fmt = torch.channels_last if len(case.shape) == 4 else torch.channels_last_3d
        x, g = x.contiguous(memory_format=fmt), g.contiguous(memory_format=fmt)
    x, g = x.to(cfg.device), g.to(cfg.device)
    return Inputs(x, g, case.size or cfg.size, cfg.alpha, cfg.beta, cfg.k)


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block (a forced backend), then restore them."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def sample(fn: Callable[[], Any], number: int, cuda: bool) -> float:
    """Seconds per call of ``fn``, averaged over ``number`` back-to-back calls."""
    if cuda:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(number):
            fn()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end)) / 1e3 / number
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


@dataclass
class ModeRun:
    status: str = "ok"
    error: str | None = None
    samples: list[float] = field(default_factory=list)
    number: int = 1
    peak_bytes: int | None = None
    output_bytes: int | None = None
    memory_method: str | None = None
    kernel_s: float | None = None


@dataclass
class ProviderRun:
    provider: Provider
    prep: Prepared | None = None
    status: str = "ok"
    error: str | None = None
    modes: dict[str, ModeRun] = field(default_factory=dict)

    def live(self) -> list[tuple[str, ModeRun]]:
        return [(m, r) for m, r in self.modes.items() if r.status == "ok"]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


def _build(p: Provider, inp: Inputs, modes: list[str]) -> ProviderRun:
    run = ProviderRun(p)
    try:
        run.prep = p.build(inp)
    except Unsupported as exc:
        run.status, run.error = "unsupported", str(exc)
    except Exception as exc:  # a peer that breaks must not stop the bench
        run.status, run.error = "error", _short(exc)
    if run.prep is None:
        return run
    for m in modes:
        if m in run.prep.calls:
            run.modes[m] = ModeRun()
        else:
            run.modes[m] = ModeRun("unsupported", run.prep.unsupported.get(m, "not provided"))
    return run


def _warm(run: ProviderRun, cfg: BenchConfig, flush: Callable[[], None]) -> None:
    """Warm-up calls (compiles happen here); a mode that raises is marked error. The last
    warm-up call's time sets how many calls one sample loops over."""
    assert run.prep is not None
    cuda = cfg.device == "cuda"
    with environment(run.prep.env):
        for mode, mr in run.live():
            fn, setup = run.prep.calls[mode], run.prep.setup.get(mode)
            try:
                t = math.inf
                for _ in range(max(1, cfg.warmup)):
                    flush()
                    if setup is not None:
                        setup()
                    t = sample(fn, 1, cuda)
                mr.number = max(1, min(1000, math.ceil(cfg.min_sample_s / max(t, 1e-9))))
                if setup is not None:
                    mr.number = 1  # each call needs its own setup
            except NotImplementedError as exc:  # the peer lacks a kernel (dtype, layout)
                mr.status, mr.error = "unsupported", _short(exc)
            except Exception as exc:
                mr.status, mr.error = "error", _short(exc)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect cyclic garbage now, then keep the collector off until the block ends."""
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _time_rep(runs: list[ProviderRun], rep: int, cfg: BenchConfig,
              flush: Callable[[], None]) -> None:
    with gc_paused():
        cuda = cfg.device == "cuda"
        order = runs[rep % len(runs):] + runs[: rep % len(runs)] if runs else []
        for run in order:
            assert run.prep is not None
            with environment(run.prep.env):
                for mode, mr in run.live():
                    try:
                        flush()
                        if mode in run.prep.setup:
                            run.prep.setup[mode]()
                        mr.samples.append(sample(run.prep.calls[mode], mr.number, cuda))
                    except Exception as exc:
                        mr.status, mr.error = "error", _short(exc)


def _measure_memory(run: ProviderRun, cfg: BenchConfig, input_bytes: int) -> None:
    assert run.prep is not None
    with environment(run.prep.env):
        for mode, mr in run.live():
            fn, setup = run.prep.calls[mode], run.prep.setup.get(mode)
            try:
                mr.peak_bytes, mr.memory_method = memory.peak(
                    fn, cfg.device, run.prep.memory, run.provider.kind == "ours", setup)
            except Exception as exc:  # memory is a side measurement; keep the timings
                mr.peak_bytes, mr.memory_method = None, None
                mr.error = f"memory not measured: {_short(exc)}"
            mr.output_bytes = input_bytes if run.prep.fresh_output else 0
            if cfg.device == "cuda" and run.prep.memory == "torch":
                try:
                    if setup is not None:
                        setup()
                    mr.kernel_s = memory.kernel_seconds_cuda(fn)
                except Exception as exc:
                    mr.error = f"kernel time not measured: {_short(exc)}"


def _providers(op: OpEntry, inp: Inputs, cfg: BenchConfig, with_peers: bool) -> list[Provider]:
    providers = op.ours(inp) + op.peers(cfg.threads)
    if not cfg.all_backends:
        providers = [p for p in providers if p.kind != "ours" or p.name == "localnorm"]
    if not with_peers:
        providers = [p for p in providers if p.kind != "peer"]
    if cfg.providers is not None:
        providers = [p for p in providers if p.kind == "ours" or p.name in cfg.providers]
    return providers


def run_group(cases: list[Case], op: OpEntry, cfg: BenchConfig, tick: Callable[[str], None],
              with_peers: bool = True, flush: Callable[[], None] = lambda: None
              ) -> list[dict[str, Any]]:
    """Build and warm every provider of every case in the group, time them all interleaved
    (one round-robin over every (case, provider) per repetition), then measure memory."""
    built = []
    for case in cases:
        inp = make_inputs(case, cfg)
        runs = [_build(p, inp, cfg.modes) for p in _providers(op, inp, cfg, with_peers)]
        for run in runs:
            if run.prep is not None:
                _warm(run, cfg, flush)
        built.append((case, inp, runs))
    tick("warm-up")
    live = [r for _, _, runs in built for r in runs if r.prep is not None]
    # localnorm forced to its other backends (the composite: plain torch ops, 60x slower, with
    # temporaries of several times the input) is timed after the others, not among them: the
    # calls that followed it in the rotation ran 2-7x slower for a while (googlenet-lrn1
    # channels_last fwd+bwd: 5.5 ms alone, medians of 14-21 ms with IQRs of 13-22 ms beside it).
    aside = [r for r in live if r.provider.kind == "ours" and r.provider.name != "localnorm"]
    main = [r for r in live if r not in aside]
    for rep in range(cfg.reps):
        _time_rep(main, rep, cfg, flush)
        tick(f"rep {rep + 1}/{cfg.reps}")
    for rep in range(cfg.reps):
        _time_rep(aside, rep, cfg, flush)
    docs = []
    for case, inp, runs in built:
        input_bytes = bytes_of(case.shape, DTYPES[case.dtype])
        for r in runs:
            if r.prep is not None:
                _measure_memory(r, cfg, input_bytes)
        auto = None
        if case.op == "lrn":
            from .ops import lrn_auto_backend

            auto = lrn_auto_backend(inp)
        docs.append({
            "id": case.id, "op": case.op, "group": case.group, "shape_name": case.shape_name,
            "shape": list(case.shape), "dtype": case.dtype, "layout": case.layout,
            "size": case.size, "input_bytes": input_bytes, "auto_backend": auto,
            "providers": [_provider_doc(r) for r in runs],
        })
    tick("memory")
    return docs


def _quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _mode_doc(mr: ModeRun) -> dict[str, Any]:
    ok = mr.status == "ok" and bool(mr.samples)
    q1, med, q3 = ((_quantile(mr.samples, q) for q in (0.25, 0.5, 0.75)) if ok
                   else (None, None, None))
    return {
        "status": mr.status if (ok or mr.status != "ok") else "error",
        "error": mr.error if (ok or mr.status != "ok") else (mr.error or "no samples"),
        "median_s": med, "q1_s": q1, "q3_s": q3,
        "iqr_s": (q3 - q1) if q1 is not None and q3 is not None else None,
        "samples_s": list(mr.samples), "number": mr.number, "peak_bytes": mr.peak_bytes,
        "output_bytes": mr.output_bytes, "memory_method": mr.memory_method,
        "kernel_s": mr.kernel_s,
    }


def _provider_doc(run: ProviderRun) -> dict[str, Any]:
    prep = run.prep
    return {
        "name": run.provider.name, "kind": run.provider.kind,
        "backend": prep.backend if prep else None, "note": prep.note if prep else None,
        "status": run.status, "error": run.error,
        "modes": {m: _mode_doc(r) for m, r in run.modes.items()},
    }


def run(cfg: BenchConfig, argv: list[str] | None = None) -> dict[str, Any]:
    """Run the whole bench and return the JSON document (validated against the schema)."""
    from . import report
    from .meta import machine, threads_in_effect, versions
    from .schema import SCHEMA_VERSION, validate

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    ops = resolve(cfg.ops)
    groups = make_groups(cfg, ops)
    by_name = {o.name: o for o in ops}
    old_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    progress = Progress(len(groups) * (cfg.reps + 2), cfg.progress)
    # Sampled before any timing: at the end, the load average counted the bench's own
    # threads of the last minute, and the table's WARNING fired on every run.
    mach = machine(cfg.device)
    docs: list[dict[str, Any]] = []
    flusher = memory.CacheFlusher(cfg.device, cfg.flush)
    try:
        first: dict[str, str] = {}
        for i, group in enumerate(groups, 1):
            op = group[0].op
            progress.case(i, len(groups), ", ".join(c.id for c in group))
            first.setdefault(op, group[0].id)
            peers = cfg.peers_everywhere or first[op] == group[0].id
            for case_doc in run_group(group, by_name[op], cfg, progress.tick, peers, flusher):
                docs.append(case_doc)
                progress.done(case_doc)
        thr = threads_in_effect(cfg.threads)
    finally:
        progress.close()
        torch.set_num_threads(old_threads)
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION, "tool": "localnorm bench",
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "argv": list(argv or []), "config": {**_config_doc(cfg), "flush_bytes": flusher.nbytes},
        "machine": mach,
        "versions": versions(), "threads": thr, "cases": docs,
    }
    doc.update(report.analyse(doc))
    validate(doc)
    return doc


def _config_doc(cfg: BenchConfig) -> dict[str, Any]:
    def fmt(name: str, shape: tuple[int, ...]) -> str:
        return f"{name}={'x'.join(map(str, shape))}"

    return {
        "device": cfg.device, "threads": cfg.threads, "quick": cfg.quick, "reps": cfg.reps,
        "warmup": cfg.warmup, "min_sample_s": cfg.min_sample_s, "seed": cfg.seed,
        "ops": list(cfg.ops), "shapes": [fmt(n, s) for n, s in cfg.shapes],
        "dtypes": list(cfg.dtypes), "layouts": list(cfg.layouts), "sizes": list(cfg.sizes),
        "sweep_shape": fmt(*cfg.sweep_shape), "peers_everywhere": cfg.peers_everywhere,
        "all_backends": cfg.all_backends,
        "modes": list(cfg.modes), "providers": list(cfg.providers or []),
        "params": {"size": cfg.size, "alpha": cfg.alpha, "beta": cfg.beta, "k": cfg.k},
    }
