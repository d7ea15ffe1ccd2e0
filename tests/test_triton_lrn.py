"""Triton backend against the float64 reference (CPU interpreter in CI, TRITON_INTERPRET=1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _helpers import half_ok, randn, rel_close, spike
from localnorm import local_response_norm
from localnorm._spec import make_lrn_spec
from localnorm.backends import triton_lrn  # CI installs triton: missing it fails, never skips
from localnorm.reference import lrn_forward, lrn_vjp
from localnorm.reference.lrn import window_sum

if not torch.cuda.is_available() and not triton_lrn.INTERPRET:
    pytest.fail("no GPU and TRITON_INTERPRET was not set before import (tests/conftest.py)")
DEV = "cuda" if torch.cuda.is_available() else "cpu"
# The GPU's plan: segmented scans (slow in the interpreter, so on small tensors only), rows in
# registers, 32 rows when the window axis is contiguous. The interpreter's default computes
# the same segment sums as masked reductions over large tiles.
GPU_PLAN = {"fwd_tile": 2048, "cl_rows": 32, "scan": 0, "walk_rows": 64, "walk_bwd_rows": 128,
            "walk_pos": 128}


@pytest.fixture(autouse=True)
def _force_triton(monkeypatch):
    monkeypatch.setenv("LOCALNORM_BACKEND", "triton")


def _params(kw):
    p = dict(alpha=0.9, beta=0.75, k=1e-6, region="across", before=None, dim=1)
    p.update(kw)
    return p


def _run(x, dy, size, **kw):
    """Our y and dx through the public API (autograd -> localnorm::lrn_backward)."""
    p = _params(kw)
    xg = x.to(DEV).detach().requires_grad_()
    y = local_response_norm(xg, size, p["alpha"], p["beta"], p["k"], region=p["region"],
                            before=p["before"], dim=p["dim"])
    (dx,) = torch.autograd.grad(y, xg, dy.to(DEV))
    return y.detach().cpu(), dx.cpu()


def _refs(x, dy, size, **kw):
    """Reference y, dx, and the magnitude |dy| s^-b + 2 A b |x| sum|t| that bounds dx's rounding
    (dx is a difference of two terms, so its error is relative to their size, not to dx)."""
    p = _params(kw)
    xr, dyr = x.double().numpy(), dy.double().numpy()
    args = (size, p["alpha"], p["beta"], p["k"])
    opts = dict(region=p["region"], before=p["before"], dim=p["dim"])
    spec = make_lrn_spec(x, size, p["alpha"], p["beta"], p["k"], p["region"], p["before"],
                         p["dim"])
    acc = xr * xr
    for ax in spec.axes:
        acc = window_sum(acc, ax, spec.before, spec.after)
    s = p["k"] + spec.scale * acc
    t = np.abs(dyr * xr) * s ** (-p["beta"] - 1)
    for ax in spec.axes:
        t = window_sum(t, ax, spec.after, spec.before)
    mag = np.abs(dyr) * s ** -p["beta"] + 2 * spec.scale * abs(p["beta"]) * np.abs(xr) * t
    return lrn_forward(xr, *args, **opts), lrn_vjp(xr, dyr, *args, **opts), mag


def _check(x, size, rtol=1e-6, **kw):
    dy = randn(*x.shape, seed=11, dtype=x.dtype)
    y, dx = _run(x, dy, size, **kw)
    y_ref, dx_ref, mag = _refs(x, dy, size, **kw)
    ok, worst = rel_close(y, y_ref, x.dtype)
    assert ok, f"forward worst relative error {worst:.3g}"
    assert torch.isfinite(dx).all()
    err = np.abs(dx.double().numpy() - dx_ref)
    assert np.all(err <= rtol * mag + 1e-30), f"backward worst {np.max(err / mag):.3g}"
    assert y.stride() == torch.empty_like(x).stride()
    assert dx.stride() == torch.empty_like(x).stride()


def _gpu_plan(monkeypatch):
    for key, val in GPU_PLAN.items():
        monkeypatch.setitem(triton_lrn.TUNING, key, val)


@pytest.fixture(params=["interp_plan", "gpu_plan"])
def plan(request, monkeypatch):
    if request.param == "gpu_plan":
        _gpu_plan(monkeypatch)
    return request.param


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 9, 255])
def test_across_matches_reference(size, plan):
    _check(randn(2, 7, 3, 5, seed=size, scale=3.0), size)


@pytest.mark.parametrize("before", [0, 3])
def test_across_even_size_and_explicit_before(before):
    _check(randn(2, 9, 3, 3, seed=1), 4, before=before)


@pytest.mark.parametrize("shape,size", [((2, 1, 4, 4), 5), ((2, 3, 4, 4), 9), ((1, 2, 3), 255)])
def test_single_channel_and_window_larger_than_c(shape, size):
    _check(randn(*shape, seed=2, scale=2.0), size)


@pytest.mark.parametrize("shape", [(3, 10, 7), (2, 10, 3, 5), (2, 6, 3, 2, 5)])
def test_across_ranks(shape, plan):
    _check(randn(*shape, seed=4, scale=2.0), 5)


@pytest.mark.parametrize("layout", ["channels_last", "transposed", "dim_last", "sliced"])
def test_layouts(layout, plan):
    x = randn(2, 12, 5, 4, seed=5, scale=2.0)
    dim = 1
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "transposed":
        x = randn(2, 5, 12, 4, seed=5).transpose(1, 2)
    elif layout == "dim_last":
        x, dim = x.permute(0, 2, 3, 1).contiguous(), -1
    else:
        x = randn(2, 24, 5, 9, seed=5)[:, ::2, :, 1:5]
    _check(x, 5, dim=dim)


@pytest.mark.parametrize("size", [3, 5, 255])
def test_spike_k_tiny(size, plan):
    _check(spike((2, 40, 2, 3), channel=17), size, alpha=1.0, k=1e-6)


@pytest.mark.parametrize("layout,size,c", [("nchw", 255, 4096), ("channels_last", 5, 4096),
                                           ("nchw", 9, 300)])
def test_large_c(layout, size, c):
    """C = 4096 through the segmented scans (255) and the line kernels (channels-last, 5); the
    ring kernels (9) over 19 tiles of C = 300 (the interpreter walks their rows one step at a
    time: 4096 took half a minute)."""
    x = spike((1, c, 1, 2), channel=c // 2)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    _check(x, size, alpha=1.0, k=1e-6)


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_zeros(layout):
    x = torch.zeros(2, 6, 3, 3)
    dy = randn(2, 6, 3, 3, seed=3)
    if layout == "channels_last":
        x, dy = (t.contiguous(memory_format=torch.channels_last) for t in (x, dy))
    y, dx = _run(x, dy, 5, k=2.0)
    assert torch.equal(y, x)
    torch.testing.assert_close(dx, dy * 2.0**-0.75, rtol=1e-6, atol=0)


@pytest.mark.parametrize("shape", [(2, 3, 11), (2, 3, 5, 7), (1, 2, 4, 5, 6)])
def test_within_ranks(shape, plan):
    x = randn(*shape, seed=6, scale=2.0)
    x.view(-1)[7] *= 1e3
    _check(x, 3, region="within", alpha=1.0)
    _check(x, 4, region="within", alpha=1.0)


@pytest.mark.parametrize("layout", ["channels_last", "dim_last"])
def test_within_layouts(layout):
    x = randn(2, 3, 6, 5, seed=8, scale=2.0)
    if layout == "channels_last":
        _check(x.contiguous(memory_format=torch.channels_last), 3, region="within", alpha=1.0)
    else:
        _check(x.permute(0, 2, 3, 1).contiguous(), 5, region="within", dim=-1, alpha=1.0)


@pytest.mark.parametrize("region", ["across", "within"])
def test_float64(region):
    _check(randn(2, 6, 4, 5, seed=9, dtype=torch.float64), 5, rtol=1e-12, region=region,
           alpha=1.0)


def _peer(x, dy, size, region):
    """PyTorch's own computation in x's dtype (its CPU half kernels may be missing: float32
    math rounded to the dtype, as tests/test_api.py does)."""
    xf = x.float().requires_grad_()
    if region == "across":
        y = F.local_response_norm(xf, size, 0.9, 0.75, 1.0)
    else:
        pad = size // 2
        sq = F.avg_pool2d(xf * xf, size, 1, pad, count_include_pad=True)
        y = xf * (1.0 + 0.9 * sq) ** -0.75
    (g,) = torch.autograd.grad(y, xf, dy.float())
    return y.detach().to(x.dtype), g.to(x.dtype)


@pytest.mark.parametrize("pow_mode", [-1, 3, 4, 5])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("region", ["across", "within"])
def test_half_precision(dtype, region, pow_mode, monkeypatch):
    monkeypatch.setitem(triton_lrn.TUNING, "pow", pow_mode)  # 3: the GPU's split power
    x = (randn(2, 16, 6, 6, seed=7) * 100).clamp(-300, 300).to(dtype)
    dy = randn(2, 16, 6, 6, seed=8).to(dtype)
    y, dx = _run(x, dy, 5, alpha=0.9, k=1.0, region=region)
    assert y.dtype == dtype and dx.dtype == dtype
    assert torch.isfinite(y).all() and torch.isfinite(dx).all()
    y_ref, dx_ref, _ = _refs(x, dy, 5, alpha=0.9, k=1.0, region=region)
    py, pdx = _peer(x, dy, 5, region)
    assert half_ok(y, float(np.max(np.abs(py.double().numpy() - y_ref))), y_ref, dtype)
    assert half_ok(dx, float(np.max(np.abs(pdx.double().numpy() - dx_ref))), dx_ref, dtype)


@pytest.mark.parametrize("size", [3, 5, 9])
def test_vectorised_forward_variant(size, monkeypatch):
    _gpu_plan(monkeypatch)
    monkeypatch.setitem(triton_lrn.TUNING, "fwd_vec", 1)
    monkeypatch.setitem(triton_lrn.TUNING, "ring_max_n", 0)  # the segmented kernel's variant
    _check(randn(2, 11, 4, 4, seed=size, scale=2.0), size)  # H*W = 16: strides 16-aligned


def test_int64_offsets_and_fast_pow(monkeypatch):
    monkeypatch.setitem(triton_lrn.TUNING, "big_numel", 0)
    _check(randn(2, 9, 3, 4, seed=12), 5)
    _check(randn(2, 3, 4, 5, seed=12), 3, region="within")
    monkeypatch.setitem(triton_lrn.TUNING, "pow", 3)
    y, _ = _run(randn(2, 9, 3, 4, seed=12), randn(2, 9, 3, 4), 5)
    np.testing.assert_allclose(y, lrn_forward(randn(2, 9, 3, 4, seed=12).numpy(), 5, 0.9, 0.75,
                                              1e-6), rtol=1e-5)


@pytest.mark.parametrize("pow_mode", [4, 5])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("region", ["across", "within"])
@pytest.mark.parametrize("size", [3, 5, 65])
def test_rsqrt_power_for_beta_three_quarters(size, region, layout, pow_mode, monkeypatch):
    """POW 4 (s^-0.75 = r sqrt(r), r = rsqrt(s)) and POW 5 (also 1/s = r^2 in the backward),
    the GPU's modes for beta = 0.75, in every kernel (ring, line, segmented)."""
    _gpu_plan(monkeypatch)
    monkeypatch.setitem(triton_lrn.TUNING, "pow", pow_mode)
    if layout == "channels_last":
        x = randn(2, 9, 5, 4, seed=size, scale=2.0).contiguous(memory_format=torch.channels_last)
        _check(x, size, region=region)
        return
    _check(randn(2, 9, 5, 4, seed=size, scale=2.0), size, region=region)
    _check(spike((2, 9, 3, 3), channel=4), size, region=region, alpha=1.0, k=1e-6)


def test_rsqrt_power_is_chosen_for_beta_three_quarters_only(monkeypatch):
    x = randn(2, 6, 3, 3)
    monkeypatch.setattr(triton_lrn, "_pow_mode", lambda dtype: 1)  # as on a GPU

    def pow_mode(beta, k=1.0):
        spec = make_lrn_spec(x, 5, 1.0, beta, k, "across", None, 1)
        return triton_lrn._common(x.view(2, 6, 9), 5, 2, spec)[1]["POW"]

    assert pow_mode(0.75) == 5 and pow_mode(0.5) == 1 and pow_mode(0.7500001) == 1
    assert pow_mode(0.75, k=2.0**-126) == 5 and pow_mode(0.75, k=1e-39) == 1  # subnormal k
    monkeypatch.setitem(triton_lrn.TUNING, "fast_pow", 1)
    assert pow_mode(0.75) == 4 and pow_mode(0.75, k=1e-39) == 1
    monkeypatch.setitem(triton_lrn.TUNING, "fast_pow", 0)
    assert pow_mode(0.75) == 1


def test_backward_where_s_to_minus_beta_minus_one_overflows():
    """k = 1e-30 and x = 0: s^(-beta-1) = 1e52.5 overflows float32, yet dx = dy k^-beta =
    3.2e22 is finite; t = u x / s keeps x = 0 from making 0 * inf."""
    x = torch.zeros(2, 7, 3, 3)
    dy = randn(2, 7, 3, 3, seed=3)
    y, dx = _run(x, dy, 5, alpha=1.0, k=1e-30)
    assert torch.equal(y, x) and torch.isfinite(dx).all()
    want = dy.double() * 1e-30 ** -0.75
    assert torch.allclose(dx.double(), want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("pow_mode", [-1, 3, 4, 5])
def test_deterministic_and_nan_stays_in_its_window(pow_mode, monkeypatch):
    monkeypatch.setitem(triton_lrn.TUNING, "pow", pow_mode)
    x = randn(2, 12, 3, 3, seed=13)
    y1, d1 = _run(x, x, 5)
    y2, d2 = _run(x, x, 5)
    assert torch.equal(y1, y2) and torch.equal(d1, d2)
    x[0, 6, 1, 1] = float("nan")
    y = local_response_norm(x.to(DEV), 5, 0.9).cpu()
    nan = torch.isnan(y)
    assert nan[0, 4:9, 1, 1].all() and int(nan.sum()) == 5


def test_beta_zero_is_identity():
    x = randn(2, 5, 3, 3, seed=14)
    y, dx = _run(x, x, 3, beta=0.0, k=1.0)
    assert torch.equal(y, x) and torch.equal(dx, x)


def test_why_not():
    x = randn(2, 4, 3, 3)
    spec = make_lrn_spec(x, 3, 1e-4, 0.75, 1.0, "across", None, 1)
    assert triton_lrn.why_not("lrn", x.to(DEV), spec) is None
    assert "gdn" in triton_lrn.why_not("gdn", x, spec)
    assert "float" in triton_lrn.why_not("lrn", x.to(torch.int32), spec)
    assert "meta" in triton_lrn.why_not("lrn", x.to("meta"), spec)


# Ring kernels (windows up to 9 along a strided axis) beside the segmented scans they replace
# there, and their variants: every one must match the reference on every shape.
KERNEL_VARIANTS = {
    "ring": {},
    "segmented": {"ring_max_n": 0, "walk_max_n": 0},
    "walk": {"ring_max_n": 0},
    "ring two-pass backward": {"ring_bwd": 0},
    "ring rows clamped everywhere": {"ring_even": 0},
    "ring on a contiguous axis": {"ring_cl": 1, "line_max_n": 0},
    "ring tiles of 32": {"ring_rows": 32, "ring_fwd_rows": 32},
    "line": {},
    # many programs, lines across block edges
    "line blocks of 32": {"line_block": 32, "line_bwd_block": 32},
    "line blocks of 32, int64": {"line_block": 32, "line_bwd_block": 32, "big_numel": 0},
    "segmented along the line": {"line_max_n": 0},
}


# channels-last runs the line kernels (or, without them, the segmented scans or with ring_cl
# the ring kernels); the ring variants change nothing there, the line ones nothing on NCHW
LINE = ("line", "line blocks of 32", "line blocks of 32, int64", "segmented along the line")
LAYOUT_VARIANTS = [(v, "nchw") for v in KERNEL_VARIANTS if v not in LINE] + [
    (v, "channels_last") for v in ("ring on a contiguous axis", *LINE)]


@pytest.mark.parametrize("variant,layout", LAYOUT_VARIANTS)
@pytest.mark.parametrize("size,before", [(1, None), (2, 0), (3, None), (4, 3), (5, None),
                                         (6, None), (7, 1), (8, 7), (9, None)])
def test_ring_variants_match_reference(variant, layout, size, before, monkeypatch):
    """C = 48 (tiles of 16 or 24 divide it: EVEN) and 37 (they do not): several 8-row load
    groups a tile, halo rows on both sides, windows with every offset."""
    for key, val in KERNEL_VARIANTS[variant].items():
        monkeypatch.setitem(triton_lrn.TUNING, key, val)
    for c in (48, 37):
        x = spike((2, c, 3, 2), channel=20)
        if layout == "channels_last":
            x = x.contiguous(memory_format=torch.channels_last)
        _check(x, size, alpha=1.0, k=1e-6, before=before)


@pytest.mark.parametrize("variant,layout", [("ring", "nchw"), ("ring two-pass backward", "nchw"),
                                            ("line", "channels_last")])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_ring_dtypes(variant, layout, dtype, monkeypatch):
    for key, val in KERNEL_VARIANTS[variant].items():
        monkeypatch.setitem(triton_lrn.TUNING, key, val)
    x = randn(2, 21, 3, 3, seed=15, scale=3.0, dtype=dtype)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    if dtype == torch.float64:
        _check(x, 5, rtol=1e-12, alpha=0.9)
        return
    dy = randn(2, 21, 3, 3, seed=16, dtype=dtype)
    y, dx = _run(x, dy, 5, alpha=0.9, k=1.0)
    assert y.dtype == dtype and dx.dtype == dtype
    y_ref, dx_ref, _ = _refs(x, dy, 5, alpha=0.9, k=1.0)
    py, pdx = _peer(x, dy, 5, "across")
    assert half_ok(y, float(np.max(np.abs(py.double().numpy() - y_ref))), y_ref, dtype)
    assert half_ok(dx, float(np.max(np.abs(pdx.double().numpy() - dx_ref))), dx_ref, dtype)


# The walk kernels (windows longer than 9 along a strided axis): the interpreter's tiles, the
# GPU's (tl.associative_scan, 64 or 128 rows and 128 positions a program), small tiles (many
# programs, each fused backward program recomputing the halo rows of t its neighbours own),
# two walk passes for the backward, groups of 4 rows, the steps unrolled, int64 offsets,
# loads a step ahead with float32 tiles, and channels-last (the window axis the contiguous
# one, with ``walk_cl``); each way of summing a window: one group of rows (17 = 16 + 1), a
# remainder (18, 100), several whole groups (33, 65), the largest groups (255: 32 rows).
WALK_VARIANTS = {
    "interpreter tiles": {},
    "gpu tiles": GPU_PLAN,
    "small tiles": {"walk_rows": 16, "walk_bwd_rows": 8, "walk_pos": 8},
    "two-pass backward": {"walk_bwd": 0, "walk_rows": 16},
    "groups of 4": {"walk_group": 4, "walk_rows": 32},
    "steps unrolled": {"walk_loop": 0, "walk_rows": 32, "walk_bwd_rows": 32},
    "int64 offsets": {"big_numel": 0, "walk_rows": 32, "walk_bwd_rows": 16},
    "channels-last": {"walk_cl": 1, "walk_rows": 32, "walk_bwd_rows": 32, "walk_pos": 4},
    "a step ahead, float32 tiles": {"walk_loop": 2, "walk_tiles64": 0, "walk_rows": 32,
                                    "walk_bwd_rows": 16},
}


WALK_SIZES = [(10, None), (17, None), (18, 0), (33, None), (65, 64), (100, None), (255, None)]
FULL = ("interpreter tiles", "gpu tiles")  # every size; the other variants three of them


def _walk_cases():
    for v in WALK_VARIANTS:
        few = [(10, None), (18, 0), (33, None) if v == "groups of 4" else (65, 64)]
        for n, b in (WALK_SIZES if v in FULL else few):
            yield v, n, b


@pytest.mark.parametrize("variant,size,before", list(_walk_cases()))
def test_walk_long_windows(variant, size, before, monkeypatch):
    for key, val in WALK_VARIANTS[variant].items():
        monkeypatch.setitem(triton_lrn.TUNING, key, val)
    x = spike((2, 70, 3, 2), channel=37)
    if variant == "channels-last":
        x = x.contiguous(memory_format=torch.channels_last)
    _check(x, size, alpha=1.0, k=1e-6, before=before)
    if variant in ("gpu tiles", "small tiles"):  # bit for bit from run to run
        dy = randn(*x.shape, seed=11)
        assert all(torch.equal(a, b) for a, b in zip(_run(x, dy, size, before=before),
                                                      _run(x, dy, size, before=before),
                                                      strict=True))


def test_walk_dtypes_and_within(monkeypatch):
    """float64 (scratch in float64), bfloat16 (u in a float32 scratch), and a within-channel
    window along H (the walk) and W (the segmented scans)."""
    x = randn(2, 40, 3, 3, seed=15, scale=3.0, dtype=torch.float64)
    _check(x, 17, rtol=1e-12, alpha=0.9)
    xb = randn(2, 40, 3, 3, seed=15, scale=3.0).to(torch.bfloat16)
    dy = randn(2, 40, 3, 3, seed=16).to(torch.bfloat16)
    y, dx = _run(xb, dy, 17, alpha=0.9, k=1.0)
    assert y.dtype == dx.dtype == torch.bfloat16
    y_ref, dx_ref, _ = _refs(xb, dy, 17, alpha=0.9, k=1.0)
    py, pdx = _peer(xb, dy, 17, "across")
    assert half_ok(y, float(np.max(np.abs(py.double().numpy() - y_ref))), y_ref, torch.bfloat16)
    assert half_ok(dx, float(np.max(np.abs(pdx.double().numpy() - dx_ref))), dx_ref,
                   torch.bfloat16)
    _check(randn(2, 3, 30, 12, seed=6, scale=2.0), 11, region="within", alpha=1.0)


def _kernels_launched(monkeypatch, *fns):
    """(kernel name, EVEN) of each launch, one list per function called."""
    names: list = []
    launch = triton_lrn._launch

    def spy(kernel, plan, args, meta):
        names[-1].append((kernel.fn.__name__, plan.get("EVEN")))
        launch(kernel, plan, args, meta)

    monkeypatch.setattr(triton_lrn, "_launch", spy)
    for fn in fns:
        names.append([])
        fn()
    return names


@pytest.mark.parametrize("case", ["nchw", "cl", "cl-long", "rank3-within", "long", "within",
                                  "two-pass", "odd-c", "long-two-pass", "longest",
                                  "long-within"])
def test_which_kernels_run(case, monkeypatch):
    """Windows up to 9 along a strided axis take the ring kernels (the backward in one walk),
    along the contiguous axis the line kernels (one pass each way); longer windows along a
    strided axis the walk kernels (the backward in one kernel), up to ``walk_max_n``; the
    rest the segmented scans."""
    shape, size, region, want_fwd, want_bwd = {
        "nchw": ((2, 32, 3, 3), 5, "across", ["_ring_pass_kernel"], ["_ring_bwd_kernel"]),
        "cl": ((2, 32, 3, 3), 5, "across", ["_line_fwd_kernel"], ["_line_bwd_kernel"]),
        "cl-long": ((2, 32, 3, 3), 11, "across", ["_lrn_pass_kernel"],
                    ["_lrn_pass_kernel"] * 2),
        "long-two-pass": ((2, 32, 3, 3), 11, "across", ["_walk_pass_kernel"],
                          ["_walk_pass_kernel"] * 2),
        "longest": ((1, 200, 1, 2), 353, "across", ["_lrn_pass_kernel"],
                    ["_lrn_pass_kernel"] * 2),
        "long-within": ((2, 3, 30, 5), 11, "within", ["_walk_pass_kernel", "_lrn_pass_kernel"],
                        ["_walk_pass_kernel", "_lrn_pass_kernel"] * 2),
        # a rank-3 input's own length would be a compile-time constant: no line kernels
        "rank3-within": ((2, 3, 6), 3, "within", ["_lrn_pass_kernel"],
                         ["_lrn_pass_kernel"] * 2),
        "long": ((2, 32, 3, 3), 11, "across", ["_walk_pass_kernel"], ["_walk_bwd_kernel"]),
        "within": ((2, 3, 6, 5), 3, "within", ["_ring_pass_kernel", "_lrn_pass_kernel"],
                   ["_ring_pass_kernel", "_lrn_pass_kernel"] * 2),
        "two-pass": ((2, 32, 3, 3), 5, "across", ["_ring_pass_kernel"],
                     ["_ring_pass_kernel"] * 2),
        "odd-c": ((2, 37, 3, 3), 5, "across", ["_ring_pass_kernel"], ["_ring_bwd_kernel"]),
    }[case]
    if case == "two-pass":
        monkeypatch.setitem(triton_lrn.TUNING, "ring_bwd", 0)
    if case == "long-two-pass":
        monkeypatch.setitem(triton_lrn.TUNING, "walk_bwd", 0)
    x = randn(*shape, seed=17).to(DEV)
    if case.startswith("cl"):
        x = x.contiguous(memory_format=torch.channels_last)
    spec = make_lrn_spec(x, size, 1.0, 0.75, 1.0, region, None, 1)
    fwd, bwd = _kernels_launched(monkeypatch, lambda: triton_lrn.lrn_fwd(x, spec),
                                 lambda: triton_lrn.lrn_bwd(x, x, spec))
    assert [name for name, _ in fwd] == want_fwd and [name for name, _ in bwd] == want_bwd
    # C = 32 splits into equal tiles (EVEN: no row clamps inside them); C = 37 does not
    even = {e for _, e in fwd + bwd if e is not None}
    assert even == ({False} if case == "odd-c" else {True} if even else set())
