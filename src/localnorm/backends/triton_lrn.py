"""Triton backend: LRN forward and backward on CUDA tensors (kernels in triton_kernels).

Across channels the forward is one pass, y = x s^-beta with s = k + A sum_W x^2, reading x once
from memory and writing y once. The backward is
dx = dy s^-beta - 2 A beta x sum_{W^T} t with t = dy x s^(-beta-1).

Windows up to 9 along a strided axis (NCHW across channels, the H axis within a channel) run
the ring kernels: a program walks 8 channel rows (forward; 16 in the backward) of 128
positions (one per thread) plus the window's halo, keeps the newest N rows in registers, sums
each window directly and loads 8 rows ahead of the stores. The backward is then one walk too
(rings of x, t and u): one read of x and dy, one write of dx, no scratch. Windows up to 9
across channels along the contiguous axis (channels-last) run the line kernels: consecutive
elements a thread, each window summed from shifted loads that hit L1, the backward one pass
that recomputes the transposed window's s (no scratch either). Longer windows along a strided
axis, up to ``walk_max_n`` terms, run the walk kernels: a program walks its rows in groups of
G, each window the suffix of its first group plus the totals of the groups between plus the
prefix of its last; the single-axis backward is one kernel whose first walk writes t into a
scratch private to the program and whose second walks it for dx. Longer windows along the
contiguous axis or beyond ``walk_max_n``, and a rank-3 input within channels, run the
segmented-scan kernel: a program owns R rows x positions, the forward is one pass and the
backward two (the window of x^2 writes t and u = dy s^-beta, t to
a float32 scratch, float64 for float64 input, u into dx's own buffer or a float32 scratch for
float16/bfloat16; the transposed window of t then writes dx = u - 2 A beta x T). Every window
length compiles its own kernel (N is a compile-time constant; the line kernels also L).

Measured on an H200 (triton 3.6, AlexNet conv1 (32, 96, 55, 55) float32, window 5; do_bench
medians of CUDA-graph replays, L2 flushed, same run; session 9): NCHW copy 22.8 us, forward
28.1 us with 8-row tiles, 29.3 with 16 (segmented scans: 32.9), backward 37.7 us with 16
(segmented, two passes: 106.9); channels-last copy 23.1 us, line forward 27.6 us (segmented:
55.0), line backward 45.7 us with 256-element programs, 55-56 with 128 or 512 (segmented:
126.2; window 9: 69.6 us with 256, 82.8 with 128). docs/BENCHMARKS.md has the rest.

Within a channel the size^d box is separable: one pass per spatial axis, partial sums in a
float32 scratch (float64 for float64 input). A single spatial axis (rank 3) is one pass.

Accumulation is float32 for float16/bfloat16/float32 (window sums of 64 terms or more in
float64, whose sequential float32 error would approach 1e-6) and float64 for float64; window
sums never subtract partial sums (see triton_kernels), so float32 stays within 1e-6 relative of
the float64 reference for any window size.

On CPU the backend runs only in Triton's interpreter (``TRITON_INTERPRET=1`` set before this
module is imported), which is how CI tests every kernel without a GPU.
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any

import numpy as np
import torch
import triton.language as tl

from .._spec import LRNSpec
from . import triton_kernels as K
from ._layout import axis_views, dense_like, match_layout

NAME = "triton"
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"  # read when triton.jit decorated K
_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

# Launch plan. Segmented kernel: on GPU, programs keep up to 32 rows per thread (more would
# spill registers).
# ``fwd_tile`` sizes the interpreter's big tiles (few programs, which is what makes it fast).
# ``cl_rows`` is the least R when the window axis is the contiguous one (channels-last), so one
# thread reads whole cache lines along it. Measured on an H200 and rejected: 8 or 2 warps
# (forward 47 and 43 us against 42.6 with 4), R >= 32 on NCHW (52 us), lanes of 4 or 8 warps
# splitting long windows (n = 65: 319 and 414 us against 254 with one warp).
K_RING = 9  # the ring kernels' slots (triton_kernels)
TUNING: dict[str, int] = {
    "fwd_tile": 1 << 14 if INTERPRET else 2048,
    "fwd_warps": 4,
    "max_rows": 256,
    "cl_rows": 64 if INTERPRET else 32,
    "sum64_min_n": 64,  # float32 input: window sums of n >= this many terms run in float64
    "fwd_vec": 0,  # 1: vectorised forward for float32 NCHW with 16-aligned strides
    "big_numel": 2**30,  # int64 offsets from this many elements on
    "pow": -1,  # force a POW mode for float16/bfloat16/float32 (tests); -1: by device
    "scan": 1 if INTERPRET else 0,  # 0 segmented scans, 1 masked reductions (interpreter)
    "fast_pow": 2,  # beta = 0.75 where POW 1 would run: 1 takes POW 4 (rsqrt and sqrt), 2
    # POW 5 (the same, and the backward's 1/s as rsqrt squared)
    "ring_max_n": K_RING,  # windows up to this many terms run the ring kernels (0: never)
    "ring_rows": 16,  # most output rows a ring program walks (the halo costs N - 1 rows)
    "ring_fwd_rows": 8,  # the same for a whole forward (one pass along one axis)
    "ring_pos": 1 << 14 if INTERPRET else 128,  # positions a ring program (one per thread)
    "ring_warps": 4,
    "ring_cl": 0,  # 1: ring kernels also where the window axis is the contiguous one
    "ring_bwd": 1,  # 1: single-axis backward as one fused ring walk (0: two ring passes)
    "ring_even": 1,  # 0: clamp every row even where the tiles divide L (tests, timings)
    "line_max_n": K_RING,  # windows up to this many terms along a contiguous axis run the
    # line kernels (0: never; then the segmented scans, or the ring kernels with ring_cl)
    "line_block": 1 << 14 if INTERPRET else 1024,  # elements a line forward program
    "line_bwd_block": 1 << 14 if INTERPRET else 256,  # elements a line backward program
    "line_warps": 4,
    # Walk kernels (windows longer than the ring's along a strided axis). Measured on an H100
    # (session 13, conv1 fp32, n = 65, do_bench; forward / backward us): 64 rows a program
    # 130 / 308, 96 (all of conv1's C) 97 / 308, 32 rows 119 / 308; 64 positions a program
    # 127 / 263 against 130 / 308 with 128, 256 spill (329 / 737); unrolled steps spill in
    # the backward (loop 0: 640 us) and a step-ahead loop spills too (loop 2: 347); groups of
    # 8 rows 135 / 341; 128 positions on 2 warps spill; the fused backward 308 (n = 17: 156)
    # against two walk passes 298 (185).
    "walk_max_n": 11 * 32,  # windows longer than the ring's, up to this many terms, along a
    # strided axis run the walk kernels (0: never; then the segmented scans)
    "walk_rows": 1 << 14 if INTERPRET else 128,  # output rows a walk program (a multiple of G)
    "walk_pos": 1 << 12 if INTERPRET else 64,  # positions a walk program (one per thread)
    "walk_bwd_rows": 1 << 14 if INTERPRET else 128,  # the same for the fused backward
    "walk_bwd": 1,  # 1: single-axis backward as one fused walk kernel (0: two walk passes)
    "walk_group": 0,  # rows a walk step (0: by window length, ``_walk_group``)
    "walk_tiles64": 1,  # 0: float32 tiles where the walk's sums are float64 (fewer registers)
    "walk_loop": 1,  # 0: walk steps unrolled; 1: a loop; 2: a loop loading a step ahead
    "walk_warps": 4,
    "walk_cl": 0,  # 1: walk kernels also where the window axis is the contiguous one (a
    # thread's tile rows are then consecutive elements; not yet timed on a GPU)
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


def _p2(v: int) -> int:
    """The least power of two >= v (v >= 1); host-side: ``triton.next_power_of_2`` and
    ``triton.cdiv`` are constexpr functions costing microseconds a call on the launch path."""
    return 1 << (v - 1).bit_length()


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@functools.lru_cache(maxsize=256)
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
    r = max(2, _p2(max(n, least)))
    top = max(r, TUNING["max_rows"])
    best = (1.0, r)
    while r <= top:
        idle = (r % n) / r
        if idle <= 0.2:
            return r
        best = min(best, (idle, r))
        r *= 2
    return best[1]


_ROWS_PER_THREAD = 32  # rows one thread keeps in registers (more would spill)


def _plan(view: torch.Tensor, n: int, tile: int, warps: int, vec: bool = False
          ) -> dict[str, int]:
    """Block shape, grid and warps for an (O, L, I) view and window length n. Up to
    ``_ROWS_PER_THREAD`` rows stay inside one thread (one position per lane, or four with ``vec``),
    so the segmented scans are unrolled register adds; longer tiles run on one warp whose lanes
    split the rows (more warps splitting them measured slower, see TUNING)."""
    o, length, i = view.shape
    contiguous_axis = view.stride(1) == 1 and i == 1
    return _plan_for(o, length, i, contiguous_axis, n, tile, warps, vec, tuple(TUNING.values()))


@functools.lru_cache(maxsize=1024)
def _plan_for(o: int, length: int, i: int, contiguous_axis: bool, n: int, tile: int,
              warps: int, vec: bool, tuning: tuple[int, ...]
              ) -> dict[str, int]:
    """:func:`_plan` for a view's sizes (``tuning``, the values of TUNING, keys the cache)."""
    rows = _rows(n, min(TUNING["cl_rows"], length) if contiguous_axis else 1)
    if TUNING["scan"] == 1:  # interpreter: big tiles, bounded (R, R, positions) masks
        bp = max(1, min(tile // rows, 2**20 // rows**2))
    elif rows <= _ROWS_PER_THREAD:
        bp = 32 * warps * (4 if vec else 1)
    else:
        warps, bp = 1, max(1, 32 * _ROWS_PER_THREAD // rows)
    bp = min(bp, _p2(max(1, o * i)))
    bi = min(_p2(i), bp)
    bo = max(1, bp // bi)
    n_ct = _cdiv(length, (rows // n) * n)
    n_ib = _cdiv(i, bi)
    grid = n_ct * n_ib * _cdiv(o, bo)
    warps = max(1, min(warps, bp * rows // 32))
    return {"R": rows, "BO": bo, "BI": bi, "n_ct": n_ct, "n_ib": n_ib, "grid": grid,
            "num_warps": warps}


def _ring(view: torch.Tensor, n: int) -> bool:
    """Whether a pass over ``view`` with an n-term window runs a ring kernel: n <= RING, and
    the window axis strided, or contiguous with ``ring_cl`` (a pass that ``_line`` takes
    never gets here)."""
    contiguous_axis = view.stride(1) == 1 and view.shape[2] == 1
    return n <= min(K_RING, TUNING["ring_max_n"]) and (not contiguous_axis or
                                                        bool(TUNING["ring_cl"]))


def _ring_plan(view: torch.Tensor, rows: int) -> dict[str, int]:
    o, length, i = view.shape
    return _ring_plan_for(o, length, i, rows, tuple(TUNING.values()))


@functools.lru_cache(maxsize=1024)
def _ring_plan_for(o: int, length: int, i: int, rows: int, tuning: tuple[int, ...]
                   ) -> dict[str, int]:
    """Ring launch: the L rows split into equal tiles of at most ``rows`` (CC rows each),
    ``ring_pos`` positions a program, one per thread on GPU."""
    n_ct = _cdiv(length, rows)
    cc = _cdiv(length, n_ct)  # equal tiles: EVEN (no row clamps inside a tile) if they divide L
    bp = min(TUNING["ring_pos"], _p2(max(1, o * i)))
    bi = min(_p2(i), bp)
    bo = max(1, bp // bi)
    n_ib = _cdiv(i, bi)
    warps = max(1, min(TUNING["ring_warps"], bp // 32))
    even = length % cc == 0 and bool(TUNING["ring_even"])
    return {"CC": cc, "EVEN": even, "BO": bo, "BI": bi, "n_ct": n_ct, "n_ib": n_ib,
            "grid": n_ct * n_ib * _cdiv(o, bo), "num_warps": warps}


def _walk(view: torch.Tensor, n: int) -> bool:
    """Whether a pass over ``view`` with an n-term window runs a walk kernel: the window axis
    strided (or contiguous with ``walk_cl``), the window too long for the ring kernels, at
    least 3 terms and at most ``walk_max_n``."""
    contiguous_axis = view.stride(1) == 1 and view.shape[2] == 1
    return ((not contiguous_axis or bool(TUNING["walk_cl"])) and 3 <= n <= TUNING["walk_max_n"]
            and not _ring(view, n))


def _walk_group(n: int) -> int:
    """Rows a walk step: a power of two G <= n - 1 (the head and the tail of a window then
    lie in different groups) with n <= 11 G (the ring holds 9 group totals); 16 from n = 17."""
    if TUNING["walk_group"]:
        return TUNING["walk_group"]
    g = 16 if n <= 11 * 16 else 32
    while g > n - 1:
        g //= 2
    return g


def _walk_plan(view: torch.Tensor, n: int, rows: int) -> dict[str, int]:
    o, length, i = view.shape
    return _walk_plan_for(o, length, i, n, rows, tuple(TUNING.values()))


@functools.lru_cache(maxsize=1024)
def _walk_plan_for(o: int, length: int, i: int, n: int, rows: int, tuning: tuple[int, ...]
                   ) -> dict[str, int]:
    """Walk launch: the L rows in tiles of CT (a multiple of G, at most ``rows``),
    ``walk_pos`` positions a program, one per thread on GPU; E, the rows of t a fused
    backward program takes (CT + n - 1 rounded up to G)."""
    g = _walk_group(n)
    if not (2 <= g <= n - 1 and n <= 11 * g):
        raise ValueError(f"walk kernel: group of {g} rows cannot serve a window of {n}")
    cap = max(g, rows // g * g)
    ct = min(cap, _cdiv(length, g) * g)
    n_ct = _cdiv(length, ct)
    bp = min(TUNING["walk_pos"], _p2(max(1, o * i)))
    bi = min(_p2(i), bp)
    bo = max(1, bp // bi)
    n_ib = _cdiv(i, bi)
    warps = max(1, min(TUNING["walk_warps"], bp // 32))
    return {"G": g, "CT": ct, "E": _cdiv(ct + n - 1, g) * g, "BO": bo, "BI": bi,
            "n_ct": n_ct, "n_ib": n_ib, "grid": n_ct * n_ib * _cdiv(o, bo), "num_warps": warps}


def _line(view: torch.Tensor, n: int, spec: LRNSpec) -> bool:
    """Whether a pass over ``view`` with an n-term window runs a line kernel: across channels
    (the line length L is a compile-time constant there, and a model's channel counts are
    few; within a channel, a rank-3 input's length would compile a kernel per sequence
    length), the window axis the contiguous one with the lines back to back (strides
    (L, 1, 1), which every view of a dense tensor with I = 1 has), and n <= ``line_max_n``."""
    o, length, i = view.shape
    return (spec.region == "across" and i == 1 and view.stride(1) == 1
            and (o == 1 or view.stride(0) == length) and n <= min(K_RING, TUNING["line_max_n"]))


def _line_plan(view: torch.Tensor, block: int) -> dict[str, int]:
    o, length, _ = view.shape
    return _line_plan_for(o, length, block, tuple(TUNING.values()))


@functools.lru_cache(maxsize=1024)
def _line_plan_for(o: int, length: int, block: int, tuning: tuple[int, ...]
                   ) -> dict[str, int]:
    """Line launch: ``block`` consecutive elements a program (fewer for small tensors); L is a
    compile-time constant (one compile per line length)."""
    block = min(block, _p2(o * length))
    warps = max(1, min(TUNING["line_warps"], block // 32))
    return {"L": length, "BLOCK": block, "grid": _cdiv(o * length, block), "num_warps": warps}


def _launch(kernel: Any, plan: dict[str, int], args: list[Any], meta: dict[str, Any]) -> Any:
    """Launch (returning what Triton's launch returns: on GPU the compiled kernel, whose
    ``n_regs`` and ``n_spills`` scripts/gpu_check.py reports); if libdevice or inline PTX fails
    to compile, warn once and fall back to the pure-Triton power (mode 2 or 3)."""
    grid = (plan["grid"],)
    keys = ("R", "CC", "EVEN", "G", "CT", "BO", "BI", "L", "BLOCK")
    tiles = {key: plan[key] for key in keys if key in plan}
    full = dict(meta, **tiles, num_warps=plan["num_warps"])
    if "n_ct" in plan:
        args = args + [plan["n_ct"], plan["n_ib"]]
    try:
        return kernel[grid](*args, **full)
    except Exception as exc:
        if full["POW"] not in (0, 1):
            raise
        STATE["libdevice_error" if full["POW"] == 0 else "asm_error"] = repr(exc)
        warnings.warn(f"localnorm triton: power mode {full['POW']} failed to compile ({exc!r});"
                      " using the pure-Triton fallback", RuntimeWarning, stacklevel=2)
        full["POW"] = 2 if full["POW"] == 0 else 3
        return kernel[grid](*args, **full)


def _common(view: torch.Tensor, n: int, before: int, spec: LRNSpec) -> tuple[list[Any], dict]:
    """Kernel arguments and compile-time meta. The kernels raise s only to -beta, so beta =
    0.75 takes POW 4 or 5 on GPU (two MUFU operations instead of the split power). A line
    kernel takes O and the scalars only: ``_line_args``."""
    k, a, nb = _split(spec.k), _split(spec.scale), _split(-spec.beta)
    o, length, i = view.shape
    s_o, s_l, s_i = view.stride()
    args = [o, length, i, s_o, s_l, s_i, *k, *a, *nb]  # _SHAPE_ARGS shape args, then scalars
    acc = tl.float64 if view.dtype == torch.float64 else tl.float32
    big = view.numel() >= TUNING["big_numel"]
    pow_mode = _pow_mode(view.dtype)
    # POW 4 needs s >= k to be a normal float32: rsqrt flushes a subnormal s to 0 (then
    # 0 * inf = NaN where x = 0), while the split power stays finite there.
    if pow_mode == 1 and TUNING["fast_pow"] and spec.beta == 0.75 and spec.k >= 2.0**-126:
        pow_mode = 5 if TUNING["fast_pow"] == 2 else 4
    meta = {"N": n, "BEFORE": before, "ACC": acc, "BIG": big, "POW": pow_mode}
    return args, meta


_SHAPE_ARGS = 6  # _common's arguments start with O, L, I and the three strides


def _line_args(args: list[Any]) -> list[Any]:
    """A line kernel's share of ``_common``'s arguments: O and the scalars after the shape."""
    return [args[0], *args[_SHAPE_ARGS:]]


def _scan_meta(view: torch.Tensor, n: int, meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` plus what only the segmented-scan and walk kernels take: the scans' sum type
    (float64 for float32 windows of ``sum64_min_n`` terms or more) and the scan mode."""
    wide = view.dtype == torch.float32 and n >= TUNING["sum64_min_n"]
    return dict(meta, SUMT=tl.float64 if wide else meta["ACC"], SCAN=TUNING["scan"])


def _walk_meta(view: torch.Tensor, n: int, meta: dict[str, Any]) -> dict[str, Any]:
    """``_scan_meta`` plus the walk's loop mode and its tiles' type TT: SUMT, or with
    ``walk_tiles64`` 0 the accumulation type (then only the group totals sum in SUMT)."""
    m = _scan_meta(view, n, meta)
    tt = m["SUMT"] if TUNING["walk_tiles64"] else m["ACC"]
    return dict(m, LOOP=TUNING["walk_loop"], TT=tt)


def _pass(src: torch.Tensor, x: torch.Tensor, dy: torch.Tensor, u: torch.Tensor,
          out: torch.Tensor, axis: int, before: int, after: int, spec: LRNSpec,
          src_mode: int, epi: int) -> None:
    """One launch of ``_lrn_pass_kernel`` along ``axis`` (all tensors share x's strides)."""
    uniq = {id(t): t for t in (x, src, dy, u, out)}  # src, dy and u are often x itself
    by_id = dict(zip(uniq, axis_views(axis, *uniq.values())[0], strict=True))
    views = [by_id[id(t)] for t in (src, x, dy, u, out)]
    xv = views[1]
    n, b = _window(xv.shape[1], before, after)
    args, meta = _common(xv, n, b, spec)
    whole_fwd = src_mode == 1 and epi == 1  # the whole forward in this one pass
    if whole_fwd and _line(xv, n, spec):
        _launch(K._line_fwd_kernel, _line_plan(xv, TUNING["line_block"]),
                [views[0], views[4], *_line_args(args)], meta)
        return
    meta.update(SRC=src_mode, EPI=epi)
    if _ring(xv, n):
        rows = TUNING["ring_fwd_rows" if whole_fwd else "ring_rows"]
        _launch(K._ring_pass_kernel, _ring_plan(xv, rows), [*views, *args], meta)
        return
    if _walk(xv, n):
        _launch(K._walk_pass_kernel, _walk_plan(xv, n, TUNING["walk_rows"]), [*views, *args],
                _walk_meta(xv, n, meta))
        return
    so, sl, si = xv.stride()
    vec = bool(TUNING["fwd_vec"]) and xv.dtype == torch.float32 and si == 1 and sl % 16 == 0 \
        and so % 16 == 0 and src_mode == 1 and epi == 1
    plan = _plan(xv, n, TUNING["fwd_tile"], TUNING["fwd_warps"], vec)
    if vec and plan["R"] > 16:  # 4 positions x more than 16 rows per thread would spill
        vec, plan = False, _plan(xv, n, TUNING["fwd_tile"], TUNING["fwd_warps"])
    kernel = K._lrn_pass_kernel_vec if vec else K._lrn_pass_kernel
    _launch(kernel, plan, [*views, *args], _scan_meta(xv, n, meta))


def _acc(dtype: torch.dtype) -> torch.dtype:
    """The accumulation dtype: float64 for float64, else float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _scratch(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x, dtype=_acc(x.dtype))


def _separable(src: torch.Tensor, xd: torch.Tensor, dy: torch.Tensor, u: torch.Tensor,
               final: torch.Tensor, bufs: list[torch.Tensor], before: int, after: int,
               spec: LRNSpec, first_src: int, last_epi: int) -> None:
    """One pass per window axis: the first reads ``src`` in mode ``first_src``, the middle ones
    ping-pong through ``bufs`` (plain sums), the last writes ``final`` with epilogue
    ``last_epi``."""
    axes = spec.axes
    for idx, ax in enumerate(axes):
        last = idx == len(axes) - 1
        out = final if last else bufs[idx % 2]
        _pass(src, xd, dy, u, out, ax, before, after, spec, first_src if idx == 0 else 0,
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


def lrn_bwd(x: torch.Tensor, grad_out: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """dx = dy s^-beta - 2 A beta x * (transposed-window sum of dy x s^(-beta-1))."""
    xd = dense_like(x)
    dy = match_layout(grad_out, xd)
    dx = torch.empty_like(xd)
    if xd.numel() == 0 or spec.beta == 0:
        return dx.copy_(dy)
    if len(spec.axes) == 1:  # one read of x and dy, one write of dx, no scratch:
        (xv, dyv, dxv), _ = axis_views(spec.axes[0], xd, dy, dx)
        n, b = _window(xv.shape[1], spec.before, spec.after)
        line = _line(xv, n, spec)
        if line or (TUNING["ring_bwd"] and _ring(xv, n)):
            args, meta = _common(xv, n, b, spec)
            if line:  # one pass, each element recomputing its transposed window's s (fewer
                # elements a thread than the forward: on sm_90 a 1024-element program of the
                # n = 5 backward takes 140 registers a thread, 256 elements take 40)
                _launch(K._line_bwd_kernel, _line_plan(xv, TUNING["line_bwd_block"]),
                        [xv, dyv, dxv, *_line_args(args)], meta)
            else:  # one walk down the rows
                _launch(K._ring_bwd_kernel, _ring_plan(xv, TUNING["ring_rows"]),
                        [xv, dyv, dxv, *args], meta)
            return dx
        if TUNING["walk_bwd"] and _walk(xv, n):  # one kernel, t in a private scratch of
            # E / CT times x's size in float32 (conv1, window 65: 160 / 96 rows, 1.7x)
            args, meta = _common(xv, n, b, spec)
            plan = _walk_plan(xv, n, TUNING["walk_bwd_rows"])
            t = torch.empty(plan["grid"] * plan["E"] * plan["BO"] * plan["BI"],
                            dtype=_acc(xd.dtype), device=xd.device)
            meta = dict(_walk_meta(xv, n, meta), E=plan["E"])
            meta["BIG"] = meta["BIG"] or t.numel() >= 2**31
            if xd.dtype in (torch.float16, torch.bfloat16):
                u = _scratch(xd)
                uv = axis_views(spec.axes[0], u)[0][0]
            else:
                uv = dxv
            _launch(K._walk_bwd_kernel, plan, [xv, dyv, uv, dxv, t, *args], meta)
            return dx
    # Two rounds of passes: the window of x^2 gives t and u, then the transposed window of t
    # gives dx = u - 2 A beta x T. Each pass reads its tensors once from memory. For float32
    # and float64 u lives in dx itself (the last pass reads each element of u, then writes dx
    # over it, in the same program); float16/bfloat16 keep u in a float32 scratch.
    t = _scratch(xd)
    u = _scratch(xd) if xd.dtype in (torch.float16, torch.bfloat16) else dx
    bufs = [_scratch(xd) for _ in range(min(2, len(spec.axes) - 1))]
    _separable(xd, xd, dy, u, t, bufs, spec.before, spec.after, spec, 1, 4)
    _separable(t, xd, dy, u, dx, bufs, spec.after, spec.before, spec, 0, 5)
    return dx
