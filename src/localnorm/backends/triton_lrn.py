"""Triton backend: fused LRN forward and backward on CUDA tensors (kernels in triton_kernels).

Across channels one kernel does the forward (y = x (k + A sum_W x^2)^-beta) and one the
backward (dx = dy s^-beta - 2 A beta x sum_{W^T} dy x s^(-beta-1)): each reads x (and dy)
once from memory and writes once, recomputing s in registers instead of storing it. Every
window length compiles its own kernel (N is a compile-time constant, so segment boundaries
fold away); a program owns a tile of R channel rows x positions.

Cost (SASS for sm_90, float32, N <= 16): ~65 instructions per output element forward and ~145
backward, about what an H100 issues in the time it streams the bytes, so both stay close to
memory speed; bfloat16 halves the bytes but not the instructions, so it is bound by issue.

Within a channel the size^d box is separable: one pass per spatial axis, partial sums in a
float32 scratch (float64 for float64 input). Cost, for d = 2 (NCHW): forward reads x twice and
writes and reads one scratch (about 2.5x a copy in float32); backward runs four passes with
two scratches (about 5x). A single spatial axis (rank 3) uses the fused kernels.

Accumulation is float32 for float16/bfloat16/float32 (window sums of 64 terms or more in
float64, whose sequential float32 error would approach 1e-6) and float64 for float64; window
sums never subtract partial sums (see triton_kernels), so float32 stays within 1e-6 relative of
the float64 reference for any window size.

On CPU the backend runs only in Triton's interpreter (``TRITON_INTERPRET=1`` set before this
module is imported), which is how CI tests every kernel without a GPU.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch
import triton
import triton.language as tl

from .._spec import LRNSpec
from . import triton_kernels as K
from ._layout import axis_view, dense_like, match_layout

NAME = "triton"
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"  # read when triton.jit decorated K
_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

# Launch plan. On GPU, forward programs keep up to 32 rows per thread and backward ones 16
# (8 for float64): more would spill registers. ``*_tile`` sizes the interpreter's big tiles
# (few programs, which is what makes it fast). ``cl_rows`` is the least R when the window axis
# is the contiguous one (channels-last), so one thread reads whole cache lines along it.
TUNING: dict[str, int] = {
    "fwd_tile": 1 << 14 if INTERPRET else 2048,
    "bwd_tile": 1 << 14 if INTERPRET else 1024,
    "fwd_warps": 4,
    "bwd_warps": 4,
    "max_rows": 256,
    "cl_rows": 64 if INTERPRET else 32,
    "sum64_min_n": 64,  # float32 input: window sums of n >= this many terms run in float64
    "fwd_vec": 0,  # 1: vectorised forward for float32 NCHW with 16-aligned strides
    "big_numel": 2**30,  # int64 offsets from this many elements on
    "pow": -1,  # force a POW mode for float16/bfloat16/float32 (tests); -1: by device
    "scan": 1 if INTERPRET else 0,  # 0 segmented scans, 1 masked reductions (interpreter)
}
STATE: dict[str, Any] = {"libdevice_error": None, "asm_error": None}


def why_not(op: str, x: torch.Tensor, spec: object) -> str | None:
    if op != "lrn":
        return f"does not implement {op}"
    if x.dtype not in _DTYPES:
        return f"dtype {x.dtype} is not one of float16, bfloat16, float32, float64"
    if x.device.type == "cuda":
        return None
    if x.device.type == "cpu":
        if INTERPRET and os.environ.get("TRITON_INTERPRET") == "1":
            return None
        return (
            "CPU tensors run only in Triton's interpreter: set TRITON_INTERPRET=1 before "
            "localnorm.backends.triton_lrn is imported"
        )
    return f"needs a CUDA tensor (or CPU with TRITON_INTERPRET=1), got {x.device.type}"


def _split(v: float) -> tuple[float, float]:
    """float64 ``v`` as a float32 pair hi + lo (Triton passes float arguments as float32)."""
    hi = float(np.float32(v))  # numpy scalars: no tensor allocation on the launch path
    return hi, float(np.float32(v - hi))


def _pow_mode(dtype: torch.dtype) -> int:
    """0 libdevice (float64 on GPU), 1 split pow with MUFU log2 (other dtypes on GPU), 2 float64
    exp2/log2 (interpreter), 3 split pow with tl.log2 (fallback for 1; tests)."""
    if dtype == torch.float64:
        return 2 if INTERPRET or STATE["libdevice_error"] else 0
    if TUNING["pow"] >= 0:
        return TUNING["pow"]
    if INTERPRET:
        return 2
    return 3 if STATE["asm_error"] else 1


def _window(length: int, before: int, after: int) -> tuple[int, int]:
    """(n, before) with the window clipped to the axis: terms past [0, L) are zeros anyway."""
    b, a = min(before, length - 1), min(after, length - 1)
    return b + a + 1, b


def _rows(n: int, least: int) -> int:
    """Rows per program: a power of two >= max(n, least) whose whole segments of n leave at most
    a fifth of the rows idle (else the least idle one up to ``max_rows``)."""
    r = max(2, triton.next_power_of_2(max(n, least)))
    top = max(r, TUNING["max_rows"])
    best = (1.0, r)
    while r <= top:
        idle = (r % n) / r
        if idle <= 0.2:
            return r
        best = min(best, (idle, r))
        r *= 2
    return best[1]


def _plan(view: torch.Tensor, n: int, tile: int, warps: int, vec: bool = False,
          per_thread: int = 32) -> dict[str, int]:
    """Block shape, grid and warps for an (O, L, I) view and window length n. Up to
    ``per_thread`` rows stay inside one thread (one position per lane, or four with ``vec``),
    so the segmented scans are unrolled register adds; longer tiles run on one warp whose lanes
    split the rows (warps never split rows: that would scan through shared memory)."""
    o, length, i = view.shape
    contiguous_axis = view.stride(1) == 1 and i == 1
    rows = _rows(n, min(TUNING["cl_rows"], length) if contiguous_axis else 1)
    if TUNING["scan"] == 1:  # interpreter: big tiles, bounded (R, R, positions) masks
        bp = max(1, min(tile // rows, 2**20 // rows**2))
    elif rows <= per_thread:
        bp = 32 * warps * (4 if vec else 1)
    else:
        warps, bp = 1, max(1, 32 * per_thread // rows)
    bp = min(bp, triton.next_power_of_2(max(1, o * i)))
    bi = min(triton.next_power_of_2(i), bp)
    bo = max(1, bp // bi)
    n_ct = triton.cdiv(length, (rows // n) * n)
    n_ib = triton.cdiv(i, bi)
    grid = n_ct * n_ib * triton.cdiv(o, bo)
    warps = max(1, min(warps, bp * rows // 32))
    return {"R": rows, "BO": bo, "BI": bi, "n_ct": n_ct, "n_ib": n_ib, "grid": grid,
            "num_warps": warps}


def _launch(kernel: Any, plan: dict[str, int], args: list[Any], meta: dict[str, Any]) -> None:
    """Launch; if libdevice or inline PTX fails to compile, warn once and fall back to the
    pure-Triton power (mode 2 or 3)."""
    grid = (plan["grid"],)
    full = dict(meta, R=plan["R"], BO=plan["BO"], BI=plan["BI"], num_warps=plan["num_warps"])
    args = args + [plan["n_ct"], plan["n_ib"]]
    try:
        kernel[grid](*args, **full)
    except Exception as exc:
        if full["POW"] not in (0, 1):
            raise
        STATE["libdevice_error" if full["POW"] == 0 else "asm_error"] = repr(exc)
        warnings.warn(f"localnorm triton: power mode {full['POW']} failed to compile ({exc!r});"
                      " using the pure-Triton fallback", RuntimeWarning, stacklevel=2)
        full["POW"] = 2 if full["POW"] == 0 else 3
        kernel[grid](*args, **full)


def _common(view: torch.Tensor, n: int, before: int, spec: LRNSpec) -> tuple[list[Any], dict]:
    k, a, nb = _split(spec.k), _split(spec.scale), _split(-spec.beta)
    o, length, i = view.shape
    s_o, s_l, s_i = view.stride()
    args = [o, length, i, s_o, s_l, s_i, *k, *a, *nb]
    acc = tl.float64 if view.dtype == torch.float64 else tl.float32
    big = view.numel() >= TUNING["big_numel"]
    wide = view.dtype == torch.float32 and n >= TUNING["sum64_min_n"]
    sumt = tl.float64 if wide else acc
    meta = {"N": n, "BEFORE": before, "ACC": acc, "BIG": big, "POW": _pow_mode(view.dtype),
            "SUMT": sumt, "SCAN": TUNING["scan"]}
    return args, meta


def _pass(src: torch.Tensor, x: torch.Tensor, dy: torch.Tensor, s: torch.Tensor,
          out: torch.Tensor, axis: int, before: int, after: int, spec: LRNSpec,
          src_mode: int, epi: int) -> None:
    """One launch of ``_lrn_pass_kernel`` along ``axis`` (all tensors share x's strides)."""
    cache: dict[int, torch.Tensor] = {}  # src, dy and s are often x itself: view it once
    for t in (src, x, dy, s, out):
        if id(t) not in cache:
            cache[id(t)] = axis_view(t, axis)[0]
    views = [cache[id(t)] for t in (src, x, dy, s, out)]
    xv = views[1]
    n, b = _window(xv.shape[1], before, after)
    args, meta = _common(xv, n, b, spec)
    so, sl, si = xv.stride()
    vec = bool(TUNING["fwd_vec"]) and xv.dtype == torch.float32 and si == 1 and sl % 16 == 0 \
        and so % 16 == 0 and src_mode == 1 and epi == 1
    plan = _plan(xv, n, TUNING["fwd_tile"], TUNING["fwd_warps"], vec)
    if vec and plan["R"] > 16:  # 4 positions x more than 16 rows per thread would spill
        vec, plan = False, _plan(xv, n, TUNING["fwd_tile"], TUNING["fwd_warps"])
    meta.update(SRC=src_mode, EPI=epi)
    kernel = K._lrn_pass_kernel_vec if vec else K._lrn_pass_kernel
    _launch(kernel, plan, [*views, *args], meta)


def _scratch(x: torch.Tensor) -> torch.Tensor:
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    return torch.empty_like(x, dtype=acc)


def _separable(src: torch.Tensor, xd: torch.Tensor, dy: torch.Tensor, s: torch.Tensor,
               final: torch.Tensor, bufs: list[torch.Tensor], before: int, after: int,
               spec: LRNSpec, first_src: int, last_epi: int) -> None:
    """One pass per window axis: the first reads ``src`` in mode ``first_src``, the middle ones
    ping-pong through ``bufs`` (plain sums), the last writes ``final`` with epilogue
    ``last_epi``."""
    axes = spec.axes
    for idx, ax in enumerate(axes):
        last = idx == len(axes) - 1
        out = final if last else bufs[idx % 2]
        _pass(src, xd, dy, s, out, ax, before, after, spec, first_src if idx == 0 else 0,
              last_epi if last else 0)
        src = out


def lrn_fwd(x: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """y = x * (k + A * windowsum(x^2))^-beta, in ``torch.empty_like(x)``'s layout."""
    xd = dense_like(x)
    y = torch.empty_like(xd)
    if xd.numel() == 0 or spec.beta == 0:
        return y.copy_(xd)
    bufs = [_scratch(xd) for _ in range(min(2, len(spec.axes) - 1))]
    _separable(xd, xd, xd, xd, y, bufs, spec.before, spec.after, spec, 1, 1)
    return y


def _bwd_fused(xd: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, axis: int,
               spec: LRNSpec) -> None:
    xv, _ = axis_view(xd, axis)
    n, b = _window(xv.shape[1], spec.before, spec.after)
    args, meta = _common(xv, n, b, spec)
    per_thread = 8 if xv.dtype == torch.float64 else 16  # the backward holds ~12 tiles live
    plan = _plan(xv, n, TUNING["bwd_tile"], TUNING["bwd_warps"], per_thread=per_thread)
    views = [xv, axis_view(dy, axis)[0], axis_view(dx, axis)[0]]
    _launch(K._lrn_bwd_kernel, plan, [*views, *args], meta)


def lrn_bwd(x: torch.Tensor, grad_out: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """dx = dy s^-beta - 2 A beta x * (transposed-window sum of dy x s^(-beta-1))."""
    xd = dense_like(x)
    dy = match_layout(grad_out, xd)
    dx = torch.empty_like(xd)
    if xd.numel() == 0 or spec.beta == 0:
        return dx.copy_(dy)
    if len(spec.axes) == 1:
        _bwd_fused(xd, dy, dx, spec.axes[0], spec)
        return dx
    # Separable passes: s = k + A box(x^2) into a scratch, then the transposed box of t.
    s = _scratch(xd)
    bufs = [_scratch(xd) for _ in range(min(2, len(spec.axes) - 1))]
    _separable(xd, xd, dy, s, s, bufs, spec.before, spec.after, spec, 1, 2)
    _separable(s, xd, dy, s, dx, bufs, spec.after, spec.before, spec, 2, 3)
    return dx
