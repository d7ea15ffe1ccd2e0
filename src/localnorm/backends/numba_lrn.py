"""numba backend: fused CPU kernels for LRN across and within channels.

Forward is one pass over memory (read x, write y) and backward one pass (read x and dy,
write dx) that recomputes the denominator s in thread-local scratch. Window sums use block
prefix and suffix sums (``numba_window``): O(1) per element for any window size, with no
subtraction of partial sums, accumulated in float64; float32 inputs with windows of at most
9 (every practical LRN; on NCHW tiles up to 5, ``_DIRECT_WIDE_MAX``) take the
direct float32 sums of ``numba_direct`` (forward) and ``numba_direct_grad`` (backward) instead
(AlexNet conv1, 2 threads, kernels alone: forward
4.2 -> 2.1 ms NCHW, 6.5 -> 2.5 ms channels-last; backward 10 -> 5.2-6.4 ms); on NCHW tiles a
centred window of 5 does eight channel rows per loop (forward 2.3 -> 2.0 ms, backward
4.8 -> 4.0 ms: a row at a time, the loops were bound by loads from L2). Outputs
have ``torch.empty_like(x)``'s strides, as the op's fake kernel promises. float16 and
bfloat16 are converted to float32 around the kernel (one extra read and write of x in each
direction), one batch slice (an eighth of the batch) at a time, so the float32 scratch is at
most half the input's bytes (forward) and stored back in the input dtype. Thread count follows
``torch.get_num_threads()``.

Outputs (and the float32 copies of float16/bfloat16 inputs) come from ``_pool``, a bounded
cache of 2 MiB-aligned huge-page buffers: an output the size of the last one freed reuses its
memory, with no page faults (AlexNet conv1, 2 threads: forward 5.2 -> 3.4 ms), and the
kernels' row segments, 12 KB apart on that shape, stop missing the TLB at every row.

    s = k + A * sum_{window} x^2,   y = x * s^-beta
    dx = dy * s^-beta - 2 A beta x * sum_{transposed window} dy x s^(-beta-1)
"""

from __future__ import annotations

import functools
import os

import numba
import numpy as np
import torch

from .._spec import LRNSpec
from . import _pool
from ._layout import axis_views, dense_like, match_layout
from .numba_across import (
    WIDE_MIN,
    bwd_block_kernel,
    bwd_direct_kernel,
    bwd_lines_kernel,
    fwd_block_kernel,
    fwd_direct_kernel,
    fwd_lines_kernel,
    num_tiles,
)
from .numba_direct import abs_cap, direct_ok, square_cap
from .numba_direct_grad import RING_W, S_MAX, direct_bwd_ok
from .numba_window import _HI32, pow_mode, scratch_rows, total_cap, window_index

NAME = "numba"
_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_LOW = (torch.float16, torch.bfloat16)
# Tile widths of the block path: wide tiles mean long vector loops and long runs of memory,
# narrow ones keep a tile's float64 scratch in cache. Measured on the AlexNet conv1 shape,
# 2 threads, with the rows prefetched one ahead (numba_prefetch): forward at window 65
# 3.9 ms at 512 columns, 4.3 ms at 1024, 4.7 ms at 2048 (1024 was best before prefetching);
# backward (which keeps p and t of a whole tile in scratch) best at 384: window 65, kernel,
# interleaved processes, median ms over 4-6 (session 12): conv1 7.00 at 384 against 7.29 at
# 512, 7.16 at 320 and 7.50 at 256; conv2 (256 channels, 729 columns, which the scratch cap
# below had cut to 256) 4.69 against 5.08 at 256, 5.86 at 192, 8.96 at 128; GoogLeNet
# (192, 56, 56) 14.4 against 14.7 at 256 and 14.0-14.3 at 512; conv1 channels-last 8.70
# both. Channels-last forward tiles at 512; 64 columns are 2-3x slower. The cap keeps a
# tile's float64 scratch within about 2 MiB for very long channel axes.
_SCRATCH_VALUES = 1 << 18
_MAX_WIDTH = 512  # forward, NCHW and channels-last alike
_MAX_BWD = 384  # backward, NCHW and channels-last alike
_DIRECT_FWD = 4096  # widest tile of the direct-sum forward (2.7 -> 2.3 ms vs 1024, conv1)
# Direct sums on wide (NCHW) tiles only up to this window, forward and backward: above it
# they take rings, which the block path (float64 sums) now beats. AlexNet conv1 fp32,
# 2 threads, kernels alone: forward sizes 6-9 3.6-3.8 ms direct, 2.84 ms block (size 5: 2.16
# direct, 2.82 block); backward (session 12, medians of 4 interleaved processes) sizes 6 / 7 /
# 9 7.20 / 7.25 / 7.45 ms direct, 6.57 / 6.70 / 6.74 block; conv2 sizes 7 / 9 5.17 / 5.32
# against 4.72 / 4.76, GoogLeNet (32, 64, 56, 56) 4.87 / 4.98 against 4.75 / 4.76. Gathered
# tiles and channels-last lines keep the direct sums up to 9 (size 9 forward: 3.7 ms, block
# 6.7; backward 5.5-6.5 against 12.3).
_DIRECT_WIDE_MAX = 5
_DIRECT_BWD = 4096  # widest tile of the direct-sum backward (its rings: 160 KiB per 1024)
_DIRECT_LINES = 256  # lines (or gathered columns) per tile of the direct-sum backward
# The direct backward's rings have a fixed row stride (numba_direct_grad.RING_W, a compile-time
# constant its grouped loops index with): no tile may be wider.
if max(_DIRECT_BWD, _DIRECT_LINES) > RING_W:
    raise RuntimeError(f"backward tiles of {max(_DIRECT_BWD, _DIRECT_LINES)} columns exceed the "
                       f"rings' row stride RING_W = {RING_W}")


def why_not(op: str, x: torch.Tensor, spec: object) -> str | None:
    """None if this backend can run ``op`` on ``x``, else the reason it cannot."""
    if op != "lrn":
        return f"does not implement {op}"
    if x.device.type != "cpu":
        return f"runs on CPU tensors only, got a {x.device.type} tensor"
    if x.dtype not in _DTYPES:
        return f"supports float16, bfloat16, float32, float64, got {x.dtype}"
    region = getattr(spec, "region", "across")
    if region not in ("across", "within"):
        return f"supports region across or within, got {region!r}"
    if _forked_after_launch():
        return (
            "cannot run in a process forked after numba's GNU OpenMP thread pool started "
            "(libgomp would terminate it); start workers with the 'spawn' method to use it"
        )
    return None


# The pid of the process whose numba thread pool the kernels have started. GNU OpenMP (numba's
# usual threading layer) terminates a forked child that uses it ("fork() called from a process
# already using GNU OpenMP, this is unsafe"); a DataLoader worker forked after a training step
# then gets the composite backend instead (automatic selection moves on to the next backend).
_launched_in: int | None = None


def _forked_after_launch() -> bool:
    if _launched_in is None or _launched_in == os.getpid():
        return False
    try:
        return str(numba.threading_layer()) == "omp"
    except ValueError:  # no parallel kernel has run in this process's parent either
        return False


# Below this many elements a second thread costs more than it saves: waking numba's pool
# while torch's own threads spin made small LRN calls ~10x slower in the study's training loop.
_PARALLEL_MIN_NUMEL = 1 << 17


def _set_threads(numel: int, torch_threads: int) -> int:
    """numba's thread count = torch's (capped by numba's pool); 1 for small tensors."""
    pool: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    n = max(1, min(torch_threads, pool))
    if numel < _PARALLEL_MIN_NUMEL:
        n = 1
    numba.set_num_threads(n)
    global _launched_in
    if _launched_in is None:
        _launched_in = os.getpid()
    return n


@functools.lru_cache(maxsize=64)
def _plan(length: int, before: int, size: int) -> np.ndarray:
    plan = window_index(length, before, size)
    plan.setflags(write=False)
    return plan


@functools.lru_cache(maxsize=64)
def _caps(size: int, scale: float, k: float, hi: float) -> tuple[int, int]:
    """(square cap, |x| cap) of the direct paths (``numba_direct.square_cap``, ``abs_cap``)."""
    cap = square_cap(size, scale, k, hi)
    return cap, abs_cap(cap)


def _block(rows: int, widest: int) -> int:
    """Columns per tile: ``widest`` halved (to no less than 16) until ``rows`` scratch rows
    of that width hold at most about ``_SCRATCH_VALUES`` float64. It depends on the shape
    only, never on the thread count, so tiles are the same whatever the threads (and a
    column's arithmetic never depends on its tile: results are the same for any width)."""
    b = widest
    while b > 16 and rows * b > _SCRATCH_VALUES:
        b = max(16, b // 2)
    return b


def _direct_layout(size: int, xv: np.ndarray) -> bool:
    """Whether the direct sums serve this window on this (O, L, I) view: up to
    ``_DIRECT_WIDE_MAX`` on wide (NCHW) tiles, where the block path is faster above; up to 9
    (the direct paths' own limit, checked by the caller) on gathered tiles and lines."""
    return size <= _DIRECT_WIDE_MAX or xv.shape[2] < WIDE_MIN


def _launch(
    xv: np.ndarray, spec: LRNSpec, nthreads: int, bwd: bool, direct: bool = False
) -> tuple[int, ...]:
    """(scratch rows, tile width, tile count, chunk count) of one across-channel launch."""
    length = xv.shape[1]
    prows = scratch_rows(length, spec.size)
    gathered = xv.shape[2] < WIDE_MIN  # tiles gathered into (L, B) scratch: x, y (dy, dx)
    if direct and not bwd:  # whole planes: long runs of memory, no ring to keep in cache
        block = _DIRECT_FWD if not gathered else _MAX_WIDTH
    elif direct:  # lines (channels-last) in tiles of 256, so even a batch slice has many tiles
        block = _DIRECT_BWD if not gathered else _DIRECT_LINES
    else:
        rows = prows + (2 * length if bwd else 0) + (length * (3 if bwd else 2) if gathered else 0)
        block = _block(rows, _MAX_BWD if bwd else _MAX_WIDTH)
    ntiles = num_tiles(xv.shape, block)
    return prows, block, ntiles, max(1, min(ntiles, 4 * nthreads))


# float16/bfloat16 inputs are computed in float32 one batch slice at a time (the window never
# runs along the batch axis), so the float32 copies cost 1/_LOW_SLICES of the input each.
_LOW_SLICES = 8


def _slices(t: torch.Tensor) -> list[slice]:
    """Batch slices of a float16/bfloat16 tensor (at most ``_LOW_SLICES``), else all of it."""
    n = t.shape[0]
    if t.dtype not in _LOW or n < 2:
        return [slice(None)]
    step = -(-n // _LOW_SLICES)
    return [slice(i, min(n, i + step)) for i in range(0, n, step)]


def _f32(t: torch.Tensor) -> torch.Tensor:
    """``t`` itself, or a float32 copy of a float16/bfloat16 ``t`` (dense, like ``t``)."""
    return t if t.dtype not in _LOW else _pool.empty_like(t, torch.float32).copy_(t)


def _np(t: torch.Tensor, axis: int, *same: torch.Tensor) -> list[np.ndarray]:
    """(O, L, I) NumPy views of ``t`` and of the tensors ``same`` that share its strides."""
    return [v.detach().numpy() for v in axis_views(axis, t, *same)[0]]


def _params(spec: LRNSpec) -> tuple[float, float, float, int]:
    return float(spec.scale), float(spec.k), float(spec.beta), pow_mode(spec.beta)


def _across_fwd(xc: torch.Tensor, out: torch.Tensor, spec: LRNSpec, nthreads: int) -> None:
    xv, yv = _np(xc, spec.dim, out)
    scale = float(spec.scale)
    direct = (xv.dtype == np.float32 and direct_ok(spec.size, scale, float(spec.k))
              and _direct_layout(spec.size, xv))
    prows, block, ntiles, nchunks = _launch(xv, spec, nthreads, False, direct)
    params = _params(spec)
    if not direct:  # the block path walks the mirrored window
        plan = _plan(xv.shape[1], spec.after, spec.size)
        fwd_block_kernel(xv, yv, plan, prows, spec.after, *params, block, ntiles, nchunks,
                         total_cap(scale, float(spec.k), _HI32))
        return
    cap, acap = _caps(spec.size, scale, float(spec.k), 1e36)
    if xv.shape[2] == 1:
        fwd_lines_kernel(xv, yv, spec.before, spec.size, *params, block, ntiles, nchunks, cap)
    else:
        fwd_direct_kernel(xv, yv, spec.before, spec.size, *params, block, ntiles, nchunks, cap,
                          acap)


def _across_bwd(
    xc: torch.Tensor, dy: torch.Tensor, out: torch.Tensor, spec: LRNSpec, nthreads: int
) -> None:
    xv, dyv, dxv = _np(xc, spec.dim, dy, out)
    k = float(spec.k)
    direct = (xv.dtype == np.float32 and direct_bwd_ok(spec.size, spec.beta, k)
              and _direct_layout(spec.size, xv))
    prows, block, ntiles, nchunks = _launch(xv, spec, nthreads, True, direct)
    plan = _plan(xv.shape[1], spec.after, spec.size)  # mirrored, as the block path walks
    tplan = _plan(xv.shape[1], spec.before, spec.size)
    args = (xv, dyv, dxv, plan, tplan, prows, spec.before, spec.after, *_params(spec), block,
            ntiles, nchunks)
    if not direct:
        bwd_block_kernel(*args, total_cap(float(spec.scale), k, S_MAX))
        return
    cap, acap = _caps(spec.size, float(spec.scale), k, S_MAX)
    if xv.shape[2] == 1:
        bwd_lines_kernel(*args, acap)
    else:
        bwd_direct_kernel(*args, cap, acap)


def _run(spec: LRNSpec, nthreads: int, out: torch.Tensor, x: torch.Tensor,
         dy: torch.Tensor | None) -> None:
    """One kernel launch over dense float32/float64 tensors: the forward, or given dy (x's
    strides) the backward."""
    if spec.region == "across":
        if dy is None:
            _across_fwd(x, out, spec, nthreads)
        else:
            _across_bwd(x, dy, out, spec, nthreads)
        return
    from .numba_within import within_bwd, within_fwd

    if dy is None:
        within_fwd(x, out, spec, nthreads)
    else:
        within_bwd(x, dy, out, spec, nthreads)


def _apply(x: torch.Tensor, spec: LRNSpec, dy: torch.Tensor | None = None) -> torch.Tensor:
    """The forward (or, given dy, the backward) in x's layout and dtype; half precision goes
    through float32 batch slice by batch slice."""
    if x.numel() == 0:
        return torch.empty_like(x)
    torch_threads = torch.get_num_threads()
    try:
        return _apply_threads(x, spec, dy, _set_threads(x.numel(), torch_threads))
    finally:
        # The first parallel launch in a process starts numba's OpenMP pool, which sets the
        # process's OpenMP thread count (torch's too: both use GNU OpenMP) to numba's pool
        # size: torch at 1 thread went on at 2 after the first call. Put it back.
        if torch.get_num_threads() != torch_threads:
            torch.set_num_threads(torch_threads)


def _apply_threads(
    x: torch.Tensor, spec: LRNSpec, dy: torch.Tensor | None, nthreads: int
) -> torch.Tensor:
    xd = dense_like(x.detach())
    dyd = None if dy is None else match_layout(dy.detach(), xd)
    out = _pool.empty_like(xd)
    if xd.dtype not in _LOW:
        _run(spec, nthreads, out, xd, dyd)
        return out
    for sl in _slices(xd):
        xs = _f32(xd[sl])
        dys = None if dyd is None else _f32(dyd[sl])
        part = _pool.empty_like(xs)
        _run(spec, nthreads, part, xs, dys)
        out[sl].copy_(part)
        del xs, dys, part  # freed before the next slice's copies are made
    return out


def lrn_fwd(x: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """LRN forward; output in ``torch.empty_like(x)``'s layout and x's dtype."""
    return _apply(x, spec)


def lrn_bwd(x: torch.Tensor, grad_out: torch.Tensor, spec: LRNSpec) -> torch.Tensor:
    """Gradient of :func:`lrn_fwd` with respect to x, in x's layout and dtype."""
    return _apply(x, spec, grad_out)
