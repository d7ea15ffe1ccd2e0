"""Triton backend: fused LRN forward and backward on CUDA tensors (kernels in triton_kernels).

Across channels one kernel does the forward (y = x (k + A sum_W x^2)^-beta) and one the
backward (dx = dy s^-beta - 2 A beta x sum_{W^T} dy x s^(-beta-1)): each reads x (and dy)
once from memory and writes once, recomputing s in registers instead of storing it.

Within a channel the size^d box is separable: one pass per spatial axis, partial sums in a
float32 scratch (float64 for float64 input). Cost, for d = 2 (NCHW): forward reads x twice and
writes and reads one scratch (about 2.5x a copy in float32); backward runs four passes with
two scratches (about 5x). A single spatial axis (rank 3) uses the fused kernels.

Accumulation is float32 for float16/bfloat16/float32 and float64 for float64; window sums
never subtract partial sums (see triton_kernels), so float32 stays within 1e-6 relative of
the float64 reference for any window size.

On CPU the backend runs only in Triton's interpreter (``TRITON_INTERPRET=1`` set before this
module is imported), which is how CI tests every kernel without a GPU.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
import triton
import triton.language as tl

from .._spec import LRNSpec
from . import triton_kernels as K
from ._layout import axis_view, dense_like, match_layout

NAME = "triton"
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"  # read when triton.jit decorated K
_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

# Tile sizes in elements per program (rows NP x positions). Larger tiles mean fewer programs,
# which is what the interpreter needs; on GPU the limit is registers (forward keeps about five
# tiles live, backward about twelve). ``cl_lanes``: channels per program when the window axis
# is the contiguous one (channels-last), so a warp reads whole cache lines.
TUNING: dict[str, int] = {
    "fwd_tile": 1 << 14 if INTERPRET else 2048,
    "bwd_tile": 1 << 14 if INTERPRET else 1024,
    "fwd_warps": 4,
    "bwd_warps": 4,
    "cl_lanes": 32,
}
STATE: dict[str, Any] = {"libdevice_error": None}


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
    hi = float(torch.tensor(v, dtype=torch.float32))
    return hi, float(torch.tensor(v - hi, dtype=torch.float32))


def _pow_mode(dtype: torch.dtype) -> int:
    if INTERPRET:
        return 2
    if dtype in (torch.float16, torch.bfloat16):
        return 1
    return 1 if K.libdevice is None or STATE["libdevice_error"] else 0


def _window(length: int, before: int, after: int) -> tuple[int, int]:
    """(n, before) with the window clipped to the axis: terms past [0, L) are zeros anyway."""
    b, a = min(before, length - 1), min(after, length - 1)
    return b + a + 1, b


def _plan(view: torch.Tensor, n: int, tile: int) -> dict[str, int]:
    """Block shape and grid for an (O, L, I) view and window length n."""
    o, length, i = view.shape
    np_ = max(2, triton.next_power_of_2(n))
    m = 1
    if view.stride(1) == 1 and i == 1 and length > 1:
        m = max(1, min(TUNING["cl_lanes"] // np_, triton.next_power_of_2(triton.cdiv(length, n))))
    bp = min(max(1, tile // (m * np_)), triton.next_power_of_2(max(1, o * i)))
    bi = min(triton.next_power_of_2(i), bp)
    bo = max(1, bp // bi)
    n_ct = triton.cdiv(length, m * n)
    n_ib = triton.cdiv(i, bi)
    grid = n_ct * n_ib * triton.cdiv(o, bo)
    return {"M": m, "NP": np_, "BO": bo, "BI": bi, "n_ct": n_ct, "n_ib": n_ib, "grid": grid}


def _launch(kernel: Any, plan: dict[str, int], args: list[Any], meta: dict[str, Any]) -> None:
    """Launch; if libdevice pow fails to compile, warn once and fall back to exp2/log2."""
    grid = (plan["grid"],)
    full = dict(meta, M=plan["M"], NP=plan["NP"], BO=plan["BO"], BI=plan["BI"])
    args = args + [plan["n_ct"], plan["n_ib"]]
    try:
        kernel[grid](*args, **full)
    except Exception as exc:
        if full["POW"] != 0:
            raise
        STATE["libdevice_error"] = repr(exc)
        warnings.warn(f"localnorm triton: libdevice pow unavailable ({exc!r}); using "
                      "exp2/log2, float32 accuracy ~1e-6 relative", RuntimeWarning, stacklevel=2)
        full["POW"] = 1
        kernel[grid](*args, **full)


def _common(view: torch.Tensor, n: int, before: int, spec: LRNSpec) -> tuple[list[Any], dict]:
    k, a, nb = _split(spec.k), _split(spec.scale), _split(-spec.beta)
    o, length, i = view.shape
    s_o, s_l, s_i = view.stride()
    args = [o, length, i, s_o, s_l, s_i, n, before, *k, *a, *nb]
    acc = tl.float64 if view.dtype == torch.float64 else tl.float32
    big = view.numel() >= 2**30
    return args, {"ACC": acc, "BIG": big, "POW": _pow_mode(view.dtype)}


def _pass(src: torch.Tensor, x: torch.Tensor, dy: torch.Tensor, s: torch.Tensor,
          out: torch.Tensor, axis: int, before: int, after: int, spec: LRNSpec,
          src_mode: int, epi: int) -> None:
    """One launch of ``_lrn_pass_kernel`` along ``axis`` (all tensors share x's strides)."""
    xv, _ = axis_view(x, axis)
    n, b = _window(xv.shape[1], before, after)
    views = [axis_view(t, axis)[0] for t in (src, x, dy, s, out)]
    args, meta = _common(xv, n, b, spec)
    plan = _plan(xv, n, TUNING["fwd_tile"])
    meta.update(SRC=src_mode, EPI=epi, num_warps=TUNING["fwd_warps"])
    _launch(K._lrn_pass_kernel, plan, [*views, *args], meta)


def _scratch(x: torch.Tensor) -> torch.Tensor:
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    return torch.empty_like(x, dtype=acc)


def lrn_fwd(x: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """y = x * (k + A * windowsum(x^2))^-beta, in ``torch.empty_like(x)``'s layout."""
    xd = dense_like(x)
    y = torch.empty_like(xd)
    if xd.numel() == 0 or spec.beta == 0:
        return y.copy_(xd)
    axes, b, a = spec.axes, spec.before, spec.after
    bufs = [_scratch(xd) for _ in range(min(2, len(axes) - 1))]
    src = xd
    for idx, ax in enumerate(axes):
        last = idx == len(axes) - 1
        out = y if last else bufs[idx % 2]
        _pass(src, xd, xd, xd, out, ax, b, a, spec, 1 if idx == 0 else 0, 1 if last else 0)
        src = out
    return y


def _bwd_fused(xd: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, axis: int,
               spec: LRNSpec) -> None:
    xv, _ = axis_view(xd, axis)
    n, b = _window(xv.shape[1], spec.before, spec.after)
    args, meta = _common(xv, n, b, spec)
    plan = _plan(xv, n, TUNING["bwd_tile"])
    meta["num_warps"] = TUNING["bwd_warps"]
    views = [xv, axis_view(dy, axis)[0], axis_view(dx, axis)[0]]
    _launch(K._lrn_bwd_kernel, plan, [*views, *args], meta)


def lrn_bwd(x: torch.Tensor, grad_out: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """dx = dy s^-beta - 2 A beta x * (transposed-window sum of dy x s^(-beta-1))."""
    xd = dense_like(x)
    dy = match_layout(dense_like(grad_out), xd)
    dx = torch.empty_like(xd)
    if xd.numel() == 0 or spec.beta == 0:
        return dx.copy_(dy)
    axes, b, a = spec.axes, spec.before, spec.after
    if len(axes) == 1:
        _bwd_fused(xd, dy, dx, axes[0], spec)
        return dx
    # Separable passes: s = k + A box(x^2) into a scratch, then the transposed box of t.
    s = _scratch(xd)
    bufs = [_scratch(xd) for _ in range(min(2, len(axes) - 1))]
    src = xd
    for idx, ax in enumerate(axes):
        last = idx == len(axes) - 1
        out = s if last else bufs[idx % 2]
        _pass(src, xd, dy, s, out, ax, b, a, spec, 1 if idx == 0 else 0, 2 if last else 0)
        src = out
    for idx, ax in enumerate(axes):
        last = idx == len(axes) - 1
        out = dx if last else bufs[idx % 2]
        _pass(src, xd, dy, s, out, ax, a, b, spec, 2 if idx == 0 else 0, 3 if last else 0)
        src = out
    return dx
