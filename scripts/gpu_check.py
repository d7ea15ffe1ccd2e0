#!/usr/bin/env python3
"""One-shot GPU check of the Triton LRN backend: correctness against float64, then timings.

    PYTHONPATH=src python3 scripts/gpu_check.py --out DIR             # on a CUDA machine
    PYTHONPATH=src python3 scripts/gpu_check.py --out DIR --dry-run   # CPU interpreter, tiny

Needs only torch, triton and numpy (no pip install). Phase 1 runs the correctness items in
worker processes, which also run every timed function once so that Triton and Inductor compile
in parallel into their on-disk caches. Phase 2 times in this process alone
(triton.testing.do_bench of CUDA-graph replays, median, L2 flushed; see ``_bench`` for why
replays): localnorm forward, backward, forward+backward,
torch eager and torch.compile of F.local_response_norm, and a plain copy of the same tensor,
then each TUNING variant in TUNE beside the default. Phase 3 measures the host cost per call
(backend and public API, unsynced and isolated) and profiles the public forward+backward.
Every item catches its own exceptions; items past --budget seconds are skipped, not run.
Prints a compact table and writes everything to DIR/gpu_check.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from typing import Any

T0 = time.time()
DRY = "--dry-run" in sys.argv or "--cpu" in sys.argv
if DRY:  # must precede the import of triton.jit kernels
    os.environ["TRITON_INTERPRET"] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

from localnorm.backends import triton_kernels as K  # noqa: E402

DEV = "cpu" if DRY else "cuda"
DT = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16,
      "fp64": torch.float64}
if DRY:
    SHAPES = [(2, 8, 5, 5), (2, 6, 3, 4), (2, 8, 4, 4), (1, 6, 4, 4)]
    ACROSS, WITHIN, BIG_C = (2, 40, 3, 4), (1, 3, 9, 7), (1, 600, 1, 2)
    RANK3 = (2, 3, 37)
else:
    SHAPES = [(32, 96, 55, 55), (32, 256, 27, 27), (32, 64, 56, 56), (32, 192, 56, 56)]
    ACROSS, WITHIN, BIG_C = (2, 300, 5, 7), (2, 8, 33, 37), (2, 4096, 3, 5)
    RANK3 = (4, 16, 1001)
SWEEP = [3, 5, 9, 17, 33, 65]
# Variants of triton_lrn.TUNING timed against the defaults:
# (overrides, shape index, dtype, size, layout). SEG is the segmented-scan kernel everywhere.
# Earlier sessions' ring and line variants are in docs/BENCHMARKS.md; these are the walk's
# (windows longer than 9 along a strided axis), beside the segmented scans it replaced.
SEG = {"ring_max_n": 0, "line_max_n": 0, "walk_max_n": 0}
OLD = {"walk_max_n": 0}
TUNE = [(tn, 0, "fp32", 65, "nchw") for tn in (
    {}, OLD, {"walk_tiles64": 0}, {"walk_group": 8}, {"walk_tiles64": 0, "walk_group": 8},
    {"walk_pos": 128}, {"walk_rows": 64}, {"walk_bwd": 0})]
TUNE += [(tn, 0, "fp32", n, "nchw") for tn, n in (({}, 17), ({}, 33), ({}, 3))]
TUNE += [(tn, 1, "fp32", 65, "nchw") for tn in ({}, OLD, {"walk_bwd": 0}, {"walk_tiles64": 0})]
TUNE += [(tn, 3, "fp32", 65, "nchw") for tn in ({},)]
TUNE += [(tn, 0, "fp32", n, "cl") for tn in ({}, {"walk_cl": 1}) for n in (17, 65)]


GPU_PLAN = {"fwd_tile": 2048, "cl_rows": 32}


def _backend() -> tuple[Any, Any]:
    from localnorm.backends import composite, triton_lrn
    if DRY and not getattr(triton_lrn, "_dry_plan", False):  # the GPU's tiles, interpreted
        triton_lrn.TUNING.update(GPU_PLAN)
        triton_lrn._dry_plan = True
    return triton_lrn, composite


def _spec(x: torch.Tensor, size: int, region: str, alpha: float, k: float) -> Any:
    from localnorm._spec import make_lrn_spec
    return make_lrn_spec(x, size, alpha, 0.75, k, region, None, 1)


def _tensor(shape: tuple[int, ...], dtype: torch.dtype, layout: str, seed: int,
            kind: str = "randn") -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    if kind == "spike":
        x[:, shape[1] // 2] *= 1e4
    elif kind == "zeros":
        x.zero_()
    x = x.to(dtype).to(DEV)
    return x.contiguous(memory_format=torch.channels_last) if layout == "cl" else x


# ---------------------------------------------------------------- correctness
def correctness_items() -> list[dict[str, Any]]:
    items = []
    for layout in ("nchw", "cl"):
        for size in (3, 5, 9, 65, 255):
            items.append(dict(region="across", dtype="fp32", layout=layout, size=size))
            items.append(dict(region="within", dtype="fp32", layout=layout, size=size))
        for dt in ("bf16", "fp16"):
            for size in (5, 65):
                items.append(dict(region="across", dtype=dt, layout=layout, size=size))
            items.append(dict(region="within", dtype=dt, layout=layout, size=3))
    for size in (5, 255):
        items.append(dict(region="across", dtype="fp32", layout="nchw", size=size, kind="spike"))
    items.append(dict(region="across", dtype="fp32", layout="nchw", size=5, kind="zeros"))
    items.append(dict(region="across", dtype="fp32", layout="nchw", size=255, shape=BIG_C))
    items.append(dict(region="across", dtype="fp32", layout="cl", size=5, shape=BIG_C))
    items.append(dict(region="across", dtype="fp64", layout="nchw", size=5))
    items.append(dict(region="within", dtype="fp64", layout="cl", size=3))
    items.append(dict(region="across", dtype="fp32", layout="nchw", size=5, api=True))
    # the segmented kernel at small windows (longer ones run it by default), the two-pass ring
    # backward, ring kernels along a contiguous window axis
    for tune, layout in ((SEG, "nchw"), (SEG, "cl"), ({"ring_bwd": 0}, "nchw"),
                         ({"ring_cl": 1, "line_max_n": 0}, "cl")):
        for size in (3, 5, 9):
            items.append(dict(region="across", dtype="fp32", layout=layout, size=size,
                              tune=tune))
        items.append(dict(region="across", dtype="bf16", layout=layout, size=5, tune=tune))
        items.append(dict(region="within", dtype="fp32", layout=layout, size=5, tune=tune))
    items.append(dict(region="across", dtype="fp32", layout="nchw", size=5, kind="spike",
                      tune={"ring_bwd": 0}))
    items.append(dict(region="across", dtype="fp64", layout="cl", size=5,
                      tune={"ring_cl": 1, "line_max_n": 0}))
    # line kernels (window axis contiguous): channels-last across; rank-3 within (a contiguous
    # window axis that keeps the segmented scans: its length is no compile-time constant)
    for size in (5, 9):
        items.append(dict(region="across", dtype="fp32", layout="cl", size=size, kind="spike"))
    items.append(dict(region="across", dtype="fp64", layout="cl", size=5))
    items.append(dict(region="across", dtype="fp64", layout="cl", size=4))
    for size, dt in ((3, "fp32"), (9, "fp32"), (4, "fp32"), (5, "bf16"), (5, "fp64")):
        items.append(dict(region="within", dtype=dt, layout="nchw", size=size, shape=RANK3))
    items.append(dict(region="across", dtype="fp32", layout="cl", size=5, tune={"line_block": 256}))
    items.append(dict(region="across", dtype="fp32", layout="cl", size=9, kind="spike",
                      tune={"line_block": 4096, "line_warps": 8}))
    items.append(dict(region="across", dtype="fp32", layout="cl", size=9, kind="spike",
                      tune={"fast_pow": 1}))
    # the walk kernels: fused and two-pass backward, small tiles (many programs), groups of 8
    for tune in ({}, {"walk_bwd": 0}, {"walk_rows": 16, "walk_bwd_rows": 16, "walk_pos": 32},
                 {"walk_group": 8}):
        for size in (10, 17, 33, 65):
            items.append(dict(region="across", dtype="fp32", layout="nchw", size=size,
                              kind="spike", tune=tune))
        items.append(dict(region="across", dtype="bf16", layout="nchw", size=17, tune=tune))
        items.append(dict(region="across", dtype="fp64", layout="nchw", size=33, tune=tune))
        items.append(dict(region="within", dtype="fp32", layout="nchw", size=11, tune=tune))
    for tune in ({"fast_pow": 0}, {"fast_pow": 1}):  # POW 1 (beta != 0.75) and POW 4
        for layout, size in (("nchw", 5), ("nchw", 65), ("cl", 5), ("nchw", 255)):
            items.append(dict(region="across", dtype="fp32", layout=layout, size=size,
                              tune=tune))
        items.append(dict(region="across", dtype="fp32", layout="nchw", size=5, kind="spike",
                          tune=tune))
        items.append(dict(region="across", dtype="bf16", layout="nchw", size=5, tune=tune))
        items.append(dict(region="within", dtype="fp16", layout="cl", size=3, tune=tune))
        items.append(dict(region="within", dtype="fp32", layout="nchw", size=5, tune=tune))
    return items


def _reference(x: torch.Tensor, dy: torch.Tensor, spec: Any) -> tuple[Any, Any, Any]:
    """float64 y, dx (composite backend: direct window sums) and |terms| of dx."""
    _, comp = _backend()
    x64, dy64 = x.double(), dy.double()
    y = comp.lrn_fwd(x64, spec)
    dx = comp.lrn_bwd(x64, dy64, spec)
    s = comp.denominator(x64, spec)
    t = (dy64 * x64).abs() * s.pow(-spec.beta - 1)
    for ax in spec.axes:
        t = comp.window_sum(t, ax, spec.after, spec.before)
    mag = dy64.abs() * s.pow(-spec.beta) + 2 * spec.scale * spec.beta * x64.abs() * t
    return y, dx, mag


def _peer(x: torch.Tensor, dy: torch.Tensor, spec: Any) -> tuple[Any, Any]:
    """PyTorch's own computation in x's dtype (the STYLE.md half-precision yardstick)."""
    def run(xx: torch.Tensor, gg: torch.Tensor) -> tuple[Any, Any]:
        xg = xx.detach().clone().requires_grad_()
        if spec.region == "across":
            y = F.local_response_norm(xg, spec.size, spec.alpha, spec.beta, spec.k)
        else:
            pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[len(spec.axes) - 1]
            sq = pool(xg * xg, spec.size, 1, spec.size // 2, count_include_pad=True)
            y = xg * (spec.k + spec.alpha * sq).pow(-spec.beta)
        (g,) = torch.autograd.grad(y, xg, gg)
        return y.detach().to(x.dtype), g.to(x.dtype)

    try:
        return run(x, dy)
    except (RuntimeError, NotImplementedError):  # CPU builds lack half pooling: fp32, rounded
        return run(x.float(), dy.float())


def _ours(x: torch.Tensor, dy: torch.Tensor, spec: Any, api: bool) -> tuple[Any, Any]:
    tri, _ = _backend()
    if not api:
        return tri.lrn_fwd(x, spec), tri.lrn_bwd(x, dy, spec)
    import localnorm
    os.environ["LOCALNORM_BACKEND"] = "triton"
    xg = x.detach().clone().requires_grad_()
    y = localnorm.local_response_norm(xg, spec.size, spec.alpha, spec.beta, spec.k)
    (dx,) = torch.autograd.grad(y, xg, dy)
    os.environ.pop("LOCALNORM_BACKEND")
    return y.detach(), dx


def check(item: dict[str, Any]) -> dict[str, Any]:
    res = dict(item)
    old = _tuned(item.get("tune"))
    try:
        dtype = DT[item["dtype"]]
        shape = item.get("shape") or (ACROSS if item["region"] == "across" else WITHIN)
        res["shape"] = list(shape)
        half = dtype in (torch.float16, torch.bfloat16)
        alpha, k = (1.0, 1.0) if half else (1.0, 1e-6)
        x = _tensor(shape, dtype, item["layout"], 1, item.get("kind", "randn"))
        dy = _tensor(shape, dtype, item["layout"], 2)
        spec = _spec(x, item["size"], item["region"], alpha, k)
        y, dx = _ours(x, dy, spec, item.get("api", False))
        y_ref, dx_ref, mag = _reference(x, dy, spec)
        res["finite"] = bool(torch.isfinite(y).all() and torch.isfinite(dx).all())
        res["strides_ok"] = y.stride() == dx.stride() == torch.empty_like(x).stride()
        fe = (y.double() - y_ref).abs()
        be = (dx.double() - dx_ref).abs()
        if half:
            py, pdx = _peer(x, dy, spec)
            res["fwd_err"], res["bwd_err"] = fe.max().item(), be.max().item()
            res["peer_fwd_err"] = (py.double() - y_ref).abs().max().item()
            res["peer_bwd_err"] = (pdx.double() - dx_ref).abs().max().item()
            atol = 1e-3 if dtype == torch.float16 else 1e-2
            ok = (res["fwd_err"] <= 2 * res["peer_fwd_err"] + atol
                  and res["bwd_err"] <= 2 * res["peer_bwd_err"] + atol)
        else:
            rtol = 1e-12 if dtype == torch.float64 else 1e-6
            res["fwd_err"] = (fe / y_ref.abs().clamp_min(1e-300)).max().item()
            res["bwd_err"] = (be / mag.clamp_min(1e-300)).max().item()
            ok = bool((fe <= rtol * y_ref.abs() + 1e-30).all()) and res["bwd_err"] <= rtol
        res["ok"] = bool(ok and res["finite"] and res["strides_ok"])
    except Exception:
        res["ok"], res["error"] = False, traceback.format_exc(limit=4)[-1500:]
    finally:
        _backend()[0].TUNING.update(old)
    return res


# ---------------------------------------------------------------- probes of GPU-only code
@triton.jit
def scan_probe(v_ptr, out_ptr, N: tl.constexpr, R: tl.constexpr, B: tl.constexpr,
               SCAN: tl.constexpr):
    r = tl.arange(0, R)[:, None]
    off = r * B + tl.arange(0, B)[None, :]
    rr = r % N
    first = (rr == 0).to(tl.int32)
    last = ((rr == N - 1) | (r >= (R // N) * N)).to(tl.int32)
    v1, v2 = tl.load(v_ptr + off), tl.load(v_ptr + R * B + off)
    tl.store(out_ptr + off, K._seg_scans(v1, v2, first, last, r, N, R, tl.float32,
                                         tl.float32, SCAN))


@triton.jit
def pow_probe(s_ptr, out_ptr, e, POW: tl.constexpr, B: tl.constexpr):
    i = tl.program_id(0) * B + tl.arange(0, B)
    tl.store(out_ptr + i, K._pow(tl.load(s_ptr + i), tl.cast(e, tl.float32), POW))


def probes() -> dict[str, Any]:
    """The two pieces the CPU interpreter cannot run as the GPU does: segmented scans
    (tl.associative_scan, reverse and forward) and the split power with MUFU lg2."""
    res: dict[str, Any] = {}
    for n, rows, warps in ((3, 16, 4), (5, 16, 1), (17, 128, 1), (65, 256, 1), (255, 256, 4)):
        try:
            b = 8 if DRY else 32
            v = torch.rand(2, rows, b, device=DEV)
            out = torch.empty(rows, b, device=DEV)
            scan_probe[(1,)](v, out, N=n, R=rows, B=b, SCAN=0 if not DRY else 1,
                             num_warps=warps)
            want = torch.zeros(rows, b, dtype=torch.float64, device=DEV)
            for r in range((rows // n) * n):  # segment suffix of v[0] + segment prefix of v[1]
                lo = r - r % n
                want[r] = v[0, r:lo + n].double().sum(0) + v[1, lo:r + 1].double().sum(0)
            used = (rows // n) * n  # rows past the last whole segment are never stored
            err = (out.double() - want)[:used].abs().max() / want[:used].abs().max()
            res[f"scan n={n} R={rows} W={warps}"] = err.item()
        except Exception:
            res[f"scan n={n} R={rows} W={warps}"] = traceback.format_exc(limit=3)[-600:]
    s = torch.logspace(-20, 20, 1 << 16, dtype=torch.float64, device=DEV).float()
    for mode in ((3, 2, 4) if DRY else (1, 3, 4)):
        for e in ((-0.75,) if mode == 4 else (-0.75, -1.75, -0.5, 0.3)):
            try:
                out = torch.empty_like(s)
                pow_probe[(s.numel() // 1024,)](s, out, e, POW=mode, B=1024)
                want = s.double() ** float(torch.tensor(e, dtype=torch.float32))  # e as passed
                rel = ((out.double() - want) / want).abs()
                res[f"pow mode={mode} e={e}"] = rel[want.abs() < 1e37].max().item()
            except Exception:
                res[f"pow mode={mode} e={e}"] = traceback.format_exc(limit=3)[-600:]
    return res


# ---------------------------------------------------------------- timing cases
def case(shape: tuple[int, ...], dtype: str, size: int, layout: str = "nchw",
         compiled: bool = False, only: list[str] | None = None) -> tuple[dict[str, Any], int]:
    """Named closures to time on one input, and the element size in bytes."""
    tri, _ = _backend()
    x = _tensor(shape, DT[dtype], layout, 3)
    dy = _tensor(shape, DT[dtype], layout, 4)
    y = torch.empty_like(x)
    spec = _spec(x, size, "across", 1e-4, 2.0)
    xg = x.detach().clone().requires_grad_()
    fns: dict[str, Any] = {
        "copy": lambda: y.copy_(x),
        "fwd": lambda: tri.lrn_fwd(x, spec),
        "bwd": lambda: tri.lrn_bwd(x, dy, spec),
        "fwdbwd": lambda: (tri.lrn_fwd(x, spec), tri.lrn_bwd(x, dy, spec)),
    }

    def fb(f: Any) -> Any:
        return lambda: torch.autograd.grad(f(xg), xg, dy)

    def torch_lrn(t: torch.Tensor) -> torch.Tensor:
        return F.local_response_norm(t, size, 1e-4, 0.75, 2.0)

    if compiled:
        torch._dynamo.reset()  # one fresh compile per shape and dtype, no recompile limit
        c = torch.compile(torch_lrn, dynamic=False, backend="eager" if DRY else "inductor")
        fns = {"compile_fwd": lambda: c(x), "compile_fwdbwd": fb(c)}
    elif layout == "nchw":
        import localnorm

        def api(t: torch.Tensor) -> torch.Tensor:
            return localnorm.local_response_norm(t, size, 1e-4, 0.75, 2.0)

        fns.update(eager_fwd=lambda: torch_lrn(x), eager_fwdbwd=fb(torch_lrn),
                   api_fwdbwd=fb(api))
    if only:
        fns = {n: f for n, f in fns.items() if n in only}
    return fns, x.element_size()


def timing_items() -> list[dict[str, Any]]:
    items = [dict(shape=s, dtype=d, size=5) for s in SHAPES for d in ("fp32", "bf16")]
    items += [dict(shape=s, dtype="fp32", size=5, layout="cl") for s in SHAPES]
    items += [dict(shape=SHAPES[0], dtype="bf16", size=5, layout="cl")]
    items += [dict(shape=SHAPES[0], dtype="fp32", size=n, layout="cl") for n in (3, 9)]
    items += [dict(shape=SHAPES[0], dtype="fp32", size=n, sweep=True) for n in SWEEP if n != 5]
    if "--no-compile" not in sys.argv:
        items += [dict(shape=s, dtype=d, size=5, compiled=True) for s in SHAPES
                  for d in ("fp32", "bf16")]
    return items


def _graph(fn: Any) -> Any:
    """fn captured in a CUDA graph (its replay), or None where capture fails."""
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            fn()
        torch.cuda.current_stream().wait_stream(side)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fn()
        return g.replay
    except Exception:
        torch.cuda.synchronize()
        return None


def _bench(fn: Any, graph: bool = True) -> list[float]:
    """[median, q25, q75] in microseconds (do_bench: L2 flushed before each sample). The
    function runs as a CUDA graph replay where it can be captured: a plain call costs 50-100 us
    of host time (Python, Triton's launcher), and a sample whose launch outlasts the L2 flush
    ahead of it measures the host, not the kernel (seen on the H200: the same kernel at 30 or
    85 us, the copy unchanged). A 4th value 1.0 marks a graph replay."""
    if DRY:
        ts = []
        for _ in range(3):
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1e6)
        return [float(np.median(ts)), min(ts), max(ts), 0.0]
    import triton.testing
    replay = _graph(fn) if graph else None
    q = triton.testing.do_bench(replay or fn, warmup=10, rep=40, quantiles=[0.5, 0.25, 0.75])
    return [v * 1e3 for v in q] + [1.0 if replay else 0.0]


def _tuned(overrides: dict[str, int] | None) -> dict[str, int]:
    tri, _ = _backend()
    old = dict(tri.TUNING)
    tri.TUNING.update(overrides or {})
    return old


def warm(item: dict[str, Any], tune: dict[str, int] | None = None) -> str:
    """Run every function of a timing item once (compiles into the on-disk caches)."""
    tri, _ = _backend()
    old = _tuned(tune)
    try:
        fns, _ = case(item["shape"], item["dtype"], item["size"], item.get("layout", "nchw"),
                      item.get("compiled", False), item.get("only"))
        for fn in fns.values():
            fn()
        return "ok"
    except Exception as exc:
        return repr(exc)
    finally:
        tri.TUNING.update(old)


def _task(task: tuple[str, Any]) -> Any:
    kind, payload = task
    if kind == "check":
        return check(payload)
    if kind == "probe":
        return probes()
    return warm(*payload)


def _tune_item(tune: tuple[Any, ...]) -> dict[str, Any]:
    _, shape, dtype, size, layout = tune
    only = ["copy", "fwd", "bwd", "fwdbwd"] if ONLY_TUNE else ["fwd", "bwd"]
    return dict(shape=SHAPES[shape], dtype=dtype, size=size, layout=layout, only=only)


ONLY_TUNE = "--only-tune" in sys.argv


def _registers(item: dict[str, Any]) -> dict[str, Any]:
    """n_regs / n_spills of each kernel one forward and one backward of ``item`` launch."""
    tri, _ = _backend()
    seen: dict[str, Any] = {}
    launch = tri._launch

    def spy(kernel: Any, plan: Any, args: Any, meta: Any) -> Any:
        h = launch(kernel, plan, args, meta)
        seen[kernel.fn.__name__] = [getattr(h, "n_regs", None), getattr(h, "n_spills", None)]
        return h

    tri._launch = spy
    try:
        fns, _ = case(item["shape"], item["dtype"], item["size"], item.get("layout", "nchw"),
                      only=["fwd", "bwd"])
        for fn in fns.values():
            fn()
    except Exception as exc:
        seen["error"] = repr(exc)
    finally:
        tri._launch = launch
    return seen


BYTES = {"copy": 2, "fwd": 2, "bwd": 3, "fwdbwd": 5, "eager_fwd": 2, "eager_fwdbwd": 5,
         "api_fwdbwd": 5, "compile_fwd": 2, "compile_fwdbwd": 5}


def time_item(item: dict[str, Any], copy_us: dict[Any, float], budget: float) -> dict[str, Any]:
    res: dict[str, Any] = dict(item, shape=list(item["shape"]), us={}, errors={})
    if time.time() - T0 > budget:
        res["skipped"] = "time budget"
        return res
    try:
        fns, esize = case(item["shape"], item["dtype"], item["size"], item.get("layout", "nchw"),
                          item.get("compiled", False), item.get("only"))
    except Exception:
        res["errors"]["setup"] = traceback.format_exc(limit=3)[-800:]
        return res
    numel = int(np.prod(item["shape"]))
    for name, fn in fns.items():
        try:
            res["us"][name] = _bench(fn)
        except Exception:
            res["errors"][name] = traceback.format_exc(limit=3)[-800:]
    key = (tuple(item["shape"]), item["dtype"], item.get("layout", "nchw"))
    if "copy" in res["us"]:
        copy_us[key] = res["us"]["copy"][0]
    base = copy_us.get(key)
    res["x_copy"] = {n: v[0] / base for n, v in res["us"].items()} if base else {}
    res["gbps"] = {n: BYTES[n] * numel * esize / (v[0] * 1e-6) / 1e9
                   for n, v in res["us"].items() if n in BYTES}
    return res


# ---------------------------------------------------------------- report
def meta() -> dict[str, Any]:
    tri, _ = _backend()
    m: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__,
        "triton": triton.__version__, "numpy": np.__version__, "dry_run": DRY,
        "cuda": torch.version.cuda, "tuning": dict(tri.TUNING),
        "libdevice": tri.K.libdevice is not None,
    }
    if not DRY:
        p = torch.cuda.get_device_properties(0)
        m.update(device=p.name, capability=f"{p.major}.{p.minor}", sms=p.multi_processor_count,
                 memory_gib=round(p.total_memory / 2**30, 1))
    return m


def _fmt(v: Any, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def yardstick() -> dict[str, Any]:
    """The float64 composite on the device against the NumPy reference (the yardstick)."""
    from localnorm.reference import lrn_forward, lrn_vjp
    res: dict[str, Any] = {}
    for region in ("across", "within"):
        try:
            x, dy = _tensor(WITHIN, DT["fp64"], "nchw", 5), _tensor(WITHIN, DT["fp64"], "nchw", 6)
            spec = _spec(x, 5, region, 1.0, 1e-6)
            y, dx, _ = _reference(x, dy, spec)
            xr, dyr = x.cpu().numpy(), dy.cpu().numpy()
            yr = lrn_forward(xr, 5, 1.0, 0.75, 1e-6, region=region)
            dr = lrn_vjp(xr, dyr, 5, 1.0, 0.75, 1e-6, region=region)
            res[region] = [float(np.max(np.abs(y.cpu().numpy() - yr) / np.abs(yr))),
                           float(np.max(np.abs(dx.cpu().numpy() - dr)) / np.max(np.abs(dr)))]
        except Exception:
            res[region] = traceback.format_exc(limit=3)[-600:]
    return res


def overhead() -> dict[str, Any]:
    """Host-side cost per call on AlexNet conv1 fp32: CPU time over 100 back-to-back calls
    (no sync), the per-call time once the queue drains, the latency of one call after a sync,
    and a cProfile of the public forward+backward."""
    import cProfile
    import io
    import pstats

    import localnorm
    tri, _ = _backend()
    x = _tensor(SHAPES[0], torch.float32, "nchw", 7)
    dy = _tensor(SHAPES[0], torch.float32, "nchw", 8)
    y = torch.empty_like(x)
    xg = x.detach().clone().requires_grad_()
    spec = _spec(x, 5, "across", 1e-4, 2.0)
    mod = localnorm.LocalResponseNorm(5, 1e-4, 0.75, 2.0)

    def api_fwdbwd() -> Any:
        return torch.autograd.grad(localnorm.local_response_norm(xg, 5, 1e-4, 0.75, 2.0), xg,
                                   dy)

    fns = {"empty_like": lambda: torch.empty_like(x), "copy": lambda: y.copy_(x),
           "raw_fwd": lambda: tri.lrn_fwd(x, spec), "raw_bwd": lambda: tri.lrn_bwd(x, dy, spec),
           "api_fwd": lambda: localnorm.local_response_norm(x, 5, 1e-4, 0.75, 2.0),
           "module_fwd": lambda: mod(x), "api_fwdbwd": api_fwdbwd,
           "eager_fwd": lambda: F.local_response_norm(x, 5, 1e-4, 0.75, 2.0)}
    res: dict[str, Any] = {}
    sync = torch.cuda.synchronize if not DRY else (lambda: None)
    for name, fn in fns.items():
        try:
            for _ in range(10):
                fn()
            sync()
            t0 = time.perf_counter()
            for _ in range(100):
                fn()
            t1 = time.perf_counter()
            sync()
            t2 = time.perf_counter()
            lat = []
            for _ in range(30):
                sync()
                t = time.perf_counter()
                fn()
                sync()
                lat.append(time.perf_counter() - t)
            res[name] = {"cpu_us": (t1 - t0) * 1e4, "per_call_us": (t2 - t0) * 1e4,
                         "latency_us": float(np.median(lat)) * 1e6}
        except Exception:
            res[name] = traceback.format_exc(limit=3)[-600:]
    try:
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(100):
            api_fwdbwd()
        sync()
        pr.disable()
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(22)
        res["profile"] = buf.getvalue()[-6000:]
    except Exception:
        res["profile"] = traceback.format_exc(limit=3)[-600:]
    return res


def _worker_init() -> None:
    os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "2")  # 8 workers share the CPUs


def run_pool(tasks: list[tuple[str, Any]], workers: int, timeout: float) -> list[Any]:
    """Run tasks in spawned workers (longest first); a task past the timeout reports so, and
    the pool's own processes are terminated by pid."""
    import multiprocessing as mp
    from concurrent.futures import wait
    ex = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                             initializer=_worker_init)
    futs = [ex.submit(_task, t) for t in tasks]
    done, _ = wait(futs, timeout=timeout)
    results = []
    for t, f in zip(tasks, futs, strict=True):
        if f in done and f.exception() is None:
            results.append(f.result())
        else:
            why = "timeout" if f not in done else repr(f.exception())
            results.append(dict(t[1], ok=False, error=why) if t[0] == "check" else why)
    if len(done) < len(futs):
        procs = list(getattr(ex, "_processes", {}).values())
        ex.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            p.terminate()
    else:
        ex.shutdown(wait=True)
    return results


def print_report(out: dict[str, Any]) -> None:
    cor = out["correctness"]
    bad = [c for c in cor if not c.get("ok") and c.get("error") != "timeout"]
    late = sum(c.get("error") == "timeout" for c in cor)
    print(f"\ncorrectness: {len(cor) - len(bad) - late}/{len(cor)} ok, {len(bad)} failed, "
          f"{late} not run (phase-1 time limit)")
    for c in cor:
        flag = "ok " if c.get("ok") else ("---" if c.get("error") == "timeout" else "BAD")
        extra = c.get("error", "").strip().splitlines()[-1:] if c.get("error") else ""
        print(f"  {flag} {c['region']:6} {c['dtype']} {c['layout']:4} n={c['size']:<3} "
              f"{c.get('shape', '')} "
              f"{c.get('kind', '')}{' api' if c.get('api') else ''} fwd_err="
              f"{_fmt(c.get('fwd_err'), '.2e')} bwd_err={_fmt(c.get('bwd_err'), '.2e')}"
              f" peer={_fmt(c.get('peer_fwd_err'), '.2e')}/{_fmt(c.get('peer_bwd_err'), '.2e')}"
              f" {c.get('tune') or ''} {extra}")
    cols = ["copy", "fwd", "bwd", "fwdbwd", "api_fwdbwd", "eager_fwd", "eager_fwdbwd",
            "compile_fwd", "compile_fwdbwd"]
    print("\ntimes in us (x copy) [fwd: % of copy bandwidth]; CUDA graph replays, except *: "
          "plain calls (capture failed), host time included")
    print("shape              dt   lay  n   " + " ".join(f"{c:>17}" for c in cols))
    rows: dict[Any, dict[str, Any]] = {}
    for t in out["timing"]:
        key = (tuple(t["shape"]), t["dtype"], t.get("layout", "nchw"), t["size"])
        row = rows.setdefault(key, {})
        for n, v in t["us"].items():
            row[n] = (v[0], t["x_copy"].get(n), "" if DRY or v[3] else "*")
        if t.get("skipped"):
            row.setdefault("_skip", t["skipped"])
    for (shape, dt, lay, n), row in rows.items():
        cells = [f"{row[c][2]}{row[c][0]:8.1f} ({_fmt(row[c][1], '5.2f')})" if c in row
                 else f"{'-':>17}" for c in cols]
        bw = f" [{100 / row['fwd'][1]:.0f}%]" if "fwd" in row and row["fwd"][1] else ""
        print(f"{str(shape):18} {dt} {lay:4} {n:<3} " + " ".join(cells) + bw
              + (f" {row['_skip']}" if "_skip" in row else ""))
    for name in ("fwd", "fwdbwd"):
        sw = {t["size"]: t["us"][name][0] for t in out["timing"] if name in t["us"]
              and tuple(t["shape"]) == tuple(SHAPES[0]) and t["dtype"] == "fp32"
              and t.get("layout", "nchw") == "nchw" and not t.get("only")}
        if sw.get(3):
            print(f"size sweep {name} time / size 3:",
                  {n: round(v / sw[3], 2) for n, v in sorted(sw.items())})
    for t in out["timing"]:
        for name, err in t["errors"].items():
            print(f"timing error {t['shape']} {t['dtype']} {name}: {err.strip().splitlines()[-1]}")
    print(f"yardstick (composite f64 vs numpy, rel err fwd/bwd): {out.get('yardstick')}")
    short = {k: (v if isinstance(v, float) else v.strip().splitlines()[-1])
             for k, v in (out.get("probes") or {}).items()}
    print(f"probes (max rel err; scan ~1e-7..1e-6 from float32 sums, pow ~3e-7): {short}")
    print(f"\nelapsed {time.time() - T0:.0f}s; json: {out.get('path')}")


def print_tune(out: dict[str, Any]) -> None:
    """Each TUNING variant beside the default timing of the same item (same run, same card)."""
    base = {(tuple(t["shape"]), t["dtype"], t.get("layout", "nchw"), t["size"]): t["us"]
            for t in out["timing"] if not t.get("compiled")}
    for t in out["tune"]:
        it = t["item"]
        ref = base.get((tuple(it["shape"]), it["dtype"], it["layout"], it["size"]), {})
        cells = [f"{n} {v[0]:.1f}us (default {ref[n][0]:.1f})" if n in ref else
                 f"{n} {v[0]:.1f}us" for n, v in t["us"].items()]
        print(f"tune {t['tune']} {tuple(it['shape'])} {it['dtype']} {it['layout']} "
              f"n={it['size']}: " + "; ".join(cells) + (f" {t['skipped']}" if t["skipped"] else "")
              + f" regs/spills {t.get('regs')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--dry-run", "--cpu", action="store_true", dest="dry")
    ap.add_argument("--budget", type=float, default=190.0, help="seconds; later items skip")
    ap.add_argument("--workers", type=int, default=2 if DRY else 8)
    ap.add_argument("--no-compile", action="store_true", help="no torch.compile timings")
    ap.add_argument("--only-tune", action="store_true",
                    help="time only the TUNE variants (with the copy), no correctness items")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    out: dict[str, Any] = {"meta": meta(), "correctness": [], "timing": [], "tune": []}
    print(json.dumps(out["meta"]), flush=True)
    out["yardstick"] = yardstick()
    timed = [] if ONLY_TUNE else timing_items()
    # correctness first (it matters most), then compiles for the timing phase, inductor last
    tasks: list[tuple[str, Any]] = [("probe", None)]
    if not ONLY_TUNE:
        tasks += [("check", c) for c in correctness_items()]
    tasks += [("warm", (t, None)) for t in timed if not t.get("compiled")]
    tasks += [("warm", (_tune_item(tn), tn[0])) for tn in TUNE]
    tasks += [("warm", (t, None)) for t in timed if t.get("compiled")]
    try:
        results = run_pool(tasks, args.workers, 0.55 * args.budget)
    except Exception as exc:  # no pool: run in-process (slower, serial compiles)
        print(f"worker pool failed ({exc!r}); running serially", flush=True)
        results = [_task(t) for t in tasks]
    out["probes"] = results[tasks.index(("probe", None))]
    out["correctness"] = [r for t, r in zip(tasks, results, strict=True) if t[0] == "check"]
    out["warm_errors"] = [(t[1][0], r) for t, r in zip(tasks, results, strict=True)
                          if t[0] == "warm" and r != "ok"]
    print(f"phase 1 done at {time.time() - T0:.0f}s", flush=True)
    copy_us: dict[Any, float] = {}
    for item in timed:
        out["timing"].append(time_item(item, copy_us, args.budget))
    for tn in TUNE:
        old = _tuned(tn[0])
        try:
            r = time_item(_tune_item(tn), copy_us, args.budget)
            regs = _registers(_tune_item(tn)) if not DRY else {}
        finally:
            _backend()[0].TUNING.clear()
            _backend()[0].TUNING.update(old)
        out["tune"].append(dict(tune=tn[0], item=_tune_item(tn), us=r["us"], errors=r["errors"],
                                skipped=r.get("skipped"), regs=regs))
    out["overhead"] = {} if ONLY_TUNE else overhead()
    out["meta"]["pow_fallbacks"] = dict(_backend()[0].STATE)
    out["path"] = os.path.join(args.out, "gpu_check.json")
    with open(out["path"], "w") as f:
        json.dump(out, f, indent=1, default=str)
    print_report(out)
    print_tune(out)
    print("\nhost cost per call (us): cpu = 100 calls unsynced / 100; per_call incl. drain; "
          "latency = one call between syncs")
    for name, v in out["overhead"].items():
        if name != "profile":
            cells = v if isinstance(v, str) else {k: round(t, 1) for k, t in v.items()}
            print(f"  {name:12} {cells}")
    print(out["overhead"].get("profile", "")[-3500:])


if __name__ == "__main__":
    main()
