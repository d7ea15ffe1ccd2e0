"""Fused numba kernels for LRN across channels on an (O, L, I) view (window along L).

Work is cut into tiles of B columns; a column is one (o, i) pair, a full line of L values
along the channel axis. When I >= 16 (NCHW: I = H*W) a tile is up to B consecutive i of one o,
read and written in place as B-wide row segments; otherwise (channels-last: I = 1) a tile is
B consecutive flattened (o, i) pairs, gathered into an (L, B) scratch tile on load and
scattered back on store. Tiles depend on the shape only, never on the thread count (threads
only take different runs of tiles), so every element goes through the same instructions
whatever the threads: results are identical bit for bit across runs and thread counts.

Forward reads x once from memory and writes y once; backward reads x and dy once and writes
dx once, recomputing s in per-thread scratch instead of storing it. A tile is walked upwards
(see ``numba_window``) along the mirrored axis, so memory is read in ascending order, and rows
are re-read from cache, never from memory; when a tile is narrower than the rows of the
array (NCHW), each step prefetches the rows of the next (``numba_prefetch``): AlexNet conv1
fp32, 2 threads, window 65: forward 5.0 -> 3.9 ms, backward 10.9 -> 8.9 ms. The float32 forward
with a window of at most 9 (at most 5 on NCHW tiles) uses ``numba_direct`` instead
(channels-last lines in place, with no gather), the float32 backward with a window of at most
9 (at most 5 on NCHW tiles) ``numba_direct_grad``.

One kernel per path and direction (lines, direct tiles, block tiles), so a process compiles
only the paths its calls take: a first float32 forward on NCHW with a window of 5 compiles in
16 s instead of 24 (cold numba cache, 2 cores), on channels-last in 5 s; a direct-path
backward redoes a failing tile by the block path, so its kernel includes that one.

Each chunk of tiles works on borrowed views (``numba_borrow``) of the arrays every thread
shares and of its scratch, so no call in a hot loop touches a shared reference count.
Note: numba's cache of these kernels does not notice edits to the modules they call;
delete ``__pycache__/numba_across.*.nb*`` after editing numba_direct/numba_window/numba_grad/
numba_prefetch.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .numba_borrow import borrow
from .numba_direct import DIRECT_MAX, PEAK_SLOTS, fwd_direct, fwd_lines, fwd_lines5, line_pos
from .numba_direct_grad import K_MIN, RING_ROWS, RING_W, bwd_direct, bwd_lines
from .numba_grad import dx_emit, dx_fused, neg_pow, t_emit, t_fast, t_fast_row
from .numba_prefetch import fetch_row
from .numba_transpose import WIDTH, transpose16
from .numba_window import (
    _LO32,
    POW_05,
    POW_075,
    POW_1,
    denominator,
    emit_rows,
    fwd_emit,
    fwd_fast,
    fwd_fast_row,
    over_cap,
    prefix_block,
    row_at,
    start_walk,
    suffix_step,
    window_row,
)

WIDE_MIN = 16  # an inner extent at least this long is processed in place, row by row
# Scratch rows are padded by 64 bytes or more: a power-of-two row stride maps a column of a
# tile onto a few L1 sets, and walking the tile then evicts its own rows.
PAD = 16


@njit(cache=True, error_model="numpy")
def fwd_tile(src, o, i0, nb, plan, before, pre, run, s, dst, do, di0, scale, k, beta, mode,
             single, fetch, tcap):
    """y = x * (k + scale * window sum of x^2)^-beta for the tile src[o, :, i0:i0+nb].

    The tile is walked mirrored (:func:`numba_window.row_at`): walk row c is stored row
    L - 1 - c, so the walk moves through memory in ascending order, which streams faster than
    descending. plan and ``before`` are those of the mirrored window (``before`` = the real
    window's rows after). pre: (scratch_rows, B), run and s: (B,) float64 scratch; tcap:
    ``numba_window.total_cap(scale, k, 1e36)``.

    A float32 tile with beta = 0.75 or 0.5 and k >= 1e-36 first takes the fast walk, which
    checks no s: s >= k, and s <= 1e36 while no block total exceeds tcap, which it checks once
    a block (per element, the check cost as much as a tenth of the walk). A tile with a larger
    total (or a NaN) is walked again on the checked path; every row it emits is the same as
    the fast walk's wherever that one was in range.
    """
    if (single and (mode == POW_075 or mode == POW_05) and k >= _LO32 and tcap > 0.0
            and not fwd_walk_fast(src, o, i0, nb, plan, before, pre, run, dst, do, di0, scale,
                                  k, mode, fetch, tcap)):
        return
    fwd_walk(src, o, i0, nb, plan, before, pre, run, s, dst, do, di0, scale, k, beta, mode,
             single, fetch)


@njit(cache=True, error_model="numpy")
def fwd_walk_fast(src, o, i0, nb, plan, before, pre, run, dst, do, di0, scale, k, mode, fetch,
                  tcap):
    """The fast walk of :func:`fwd_tile`; returns True if some block total exceeded tcap.

    The four walks (fast and checked, forward and backward) write their shared steps out: one
    helper for the prefetch and the next block's prefix, called from each, measured slower
    (window 65, 2 threads: forward 3.29-3.46 -> 3.52-3.55 ms, backward 8.2-8.4 -> 8.6-8.8).
    """
    length = src.shape[1]
    bad = False
    start_walk(pre, nb)
    for c in range(length - 1, -1, -1):
        if fetch:  # the stored row the walk reads next, and the one it emits next
            ahead = row_at(c, length, True) + 1
            fetch_row(src, o, ahead, i0, nb, False)
            fetch_row(dst, do, ahead - before, di0, nb, True)
        if plan[0, c] and c < length - 1:
            last = prefix_block(src, o, i0, nb, c + 1, plan, pre, True, True)
            bad |= over_cap(pre[last], nb, tcap)
        lo, hi = emit_rows(c, before, length)
        if hi == lo + 1:
            fwd_fast(src, o, i0, nb, row_at(c, length, True), plan[0, c], row_at(lo, length, True),
                     plan[1, lo], pre, run, dst, do, di0, scale, k, mode)
            continue
        suffix_step(src, o, i0, nb, c, plan[0, c], run, True, True)
        for r in range(lo, hi):
            fwd_fast_row(src, o, i0, nb, row_at(r, length, True), plan[1, r], pre, run, dst, do,
                         di0, scale, k, mode)
    return bad or over_cap(run, nb, tcap)  # run: the total of the walk's last block


@njit(cache=True, error_model="numpy")
def fwd_walk(src, o, i0, nb, plan, before, pre, run, s, dst, do, di0, scale, k, beta, mode,
             single, fetch):
    """The checked walk of :func:`fwd_tile`: each row's s are checked, and a row with an s
    outside [1e-36, 1e36] (or any row of a float64 or generic-beta tile) is emitted in
    float64."""
    length = src.shape[1]
    start_walk(pre, nb)
    for c in range(length - 1, -1, -1):
        if fetch:
            ahead = row_at(c, length, True) + 1
            fetch_row(src, o, ahead, i0, nb, False)
            fetch_row(dst, do, ahead - before, di0, nb, True)
        if plan[0, c] and c < length - 1:
            prefix_block(src, o, i0, nb, c + 1, plan, pre, True, True)
        suffix_step(src, o, i0, nb, c, plan[0, c], run, True, True)
        lo, hi = emit_rows(c, before, length)
        for r in range(lo, hi):
            bad = denominator(nb, plan[1, r], pre, run, scale, k, s)
            fwd_emit(src, o, row_at(r, length, True), i0, nb, s, dst, do, di0, beta, mode,
                     single and bad == 0)


@njit(cache=True, error_model="numpy")
def bwd_tile(x, dy, o, i0, nb, plan, tplan, before, after, pre, run, s, pt, tt, p32, dst, do,
             di0, scale, k, beta, mode, single, fetch, tcap):
    """dx = dy p - 2 scale beta x * (transposed window sum of dy x p / s) for one tile.

    Walked mirrored like :func:`fwd_tile`: plan, tplan, ``before`` and ``after`` are those of
    the mirrored window and its transpose. pt, tt: (1, L, B) float64 scratch (p = s^-beta and
    t, by stored row), p32: the same float32 (the fast walk's p are float32 values); tcap:
    ``numba_window.total_cap(scale, k, 1e18)``, or 0 where no total can pass (a tile the
    direct paths hand over because some |x| is past their cap: the fast walk would only fail).
    The first walk (p, t) is fast or checked as in :func:`fwd_tile`, with s in [1e-18, 1e18];
    the second (dx) reads p, t, x and dy.

    Each step prefetches the rows the next step reads (``fetch``). At walk row 0 a walk emits
    every row whose clipped window starts there (a third of the rows at window 65 of 96
    channels); the fast first walk prefetches their dy, and the dx walk their x, dy and dx,
    one row a step over the steps before. Without that the backward took 7.25 ms against
    6.90 (AlexNet conv1 fp32, window 65, 2 threads, medians of 6 interleaved processes; the
    same in the forward, for y, measured no gain).
    """
    coef = 2.0 * scale * beta
    if (single and (mode == POW_075 or mode == POW_05) and k >= K_MIN and tcap > 0.0
            and not bwd_walk_fast(x, dy, o, i0, nb, plan, before, pre, run, p32, tt, scale, k,
                                  mode, fetch, tcap)):
        bwd_walk_dx(x, dy, o, i0, nb, tplan, after, pre, run, p32, tt, dst, do, di0, coef, fetch)
        return
    bwd_walk(x, dy, o, i0, nb, plan, before, pre, run, s, pt, tt, scale, k, beta, mode, single,
             fetch)
    bwd_walk_dx(x, dy, o, i0, nb, tplan, after, pre, run, pt, tt, dst, do, di0, coef, fetch)


@njit(cache=True, error_model="numpy")
def bwd_walk_fast(x, dy, o, i0, nb, plan, before, pre, run, pt, tt, scale, k, mode, fetch,
                  tcap):
    """The fast first walk of :func:`bwd_tile`; returns True if some block total exceeded
    tcap (the caller then walks the tile again, checked)."""
    length = x.shape[1]
    bad = False
    start_walk(pre, nb)
    for c in range(length - 1, -1, -1):
        if fetch:  # what the next step reads, as in fwd_tile
            ahead = row_at(c, length, True) + 1
            fetch_row(x, o, ahead, i0, nb, False)
            fetch_row(dy, o, ahead - before, i0, nb, False)
            if 0 < c <= before + 1:  # dy of the rows emitted together at walk row 0
                fetch_row(dy, o, length - c, i0, nb, False)
        if plan[0, c] and c < length - 1:
            last = prefix_block(x, o, i0, nb, c + 1, plan, pre, True, True)
            bad |= over_cap(pre[last], nb, tcap)
        lo, hi = emit_rows(c, before, length)
        if hi == lo + 1:
            t_fast(x, dy, o, i0, nb, row_at(c, length, True), plan[0, c], row_at(lo, length, True),
                   plan[1, lo], pre, run, pt, tt, scale, k, mode)
            continue
        suffix_step(x, o, i0, nb, c, plan[0, c], run, True, True)
        for r in range(lo, hi):
            t_fast_row(x, dy, o, i0, nb, row_at(r, length, True), plan[1, r], pre, run, pt, tt,
                       scale, k, mode)
    return bad or over_cap(run, nb, tcap)  # run: the total of the walk's last block


@njit(cache=True, error_model="numpy")
def bwd_walk(x, dy, o, i0, nb, plan, before, pre, run, s, pt, tt, scale, k, beta, mode, single,
             fetch):
    """The checked first walk of :func:`bwd_tile`: p and t of each row, in float64 where an s
    of the row lies outside [1e-18, 1e18] (or for a float64 or generic-beta tile)."""
    length = x.shape[1]
    start_walk(pre, nb)
    for c in range(length - 1, -1, -1):
        if fetch:
            ahead = row_at(c, length, True) + 1
            fetch_row(x, o, ahead, i0, nb, False)
            fetch_row(dy, o, ahead - before, i0, nb, False)
        if plan[0, c] and c < length - 1:
            prefix_block(x, o, i0, nb, c + 1, plan, pre, True, True)
        suffix_step(x, o, i0, nb, c, plan[0, c], run, True, True)
        lo, hi = emit_rows(c, before, length)
        for r in range(lo, hi):
            m = row_at(r, length, True)
            bad = denominator(nb, plan[1, r], pre, run, scale, k, s)
            neg_pow(s, pt[0, m], nb, beta, mode, single and bad == 0)
            t_emit(x, dy, o, m, i0, nb, s, pt, tt)


@njit(cache=True, error_model="numpy")
def bwd_walk_dx(x, dy, o, i0, nb, tplan, after, pre, run, pt, tt, dst, do, di0, coef, fetch):
    """The second walk of :func:`bwd_tile`: the transposed window sums of t, and dx."""
    length = x.shape[1]
    start_walk(pre, nb)
    for c in range(length - 1, -1, -1):
        if fetch:  # the row the next step emits
            ahead = row_at(c, length, True) + 1 - after
            fetch_row(x, o, ahead, i0, nb, False)
            fetch_row(dy, o, ahead, i0, nb, False)
            fetch_row(dst, do, ahead, di0, nb, True)
            if 0 < c <= after + 1:  # the rows emitted together at walk row 0 (see bwd_tile)
                fetch_row(x, o, length - c, i0, nb, False)
                fetch_row(dy, o, length - c, i0, nb, False)
                fetch_row(dst, do, length - c, di0, nb, True)
        if tplan[0, c] and c < length - 1:
            prefix_block(tt, 0, 0, nb, c + 1, tplan, pre, False, True)
        lo, hi = emit_rows(c, after, length)
        if hi == lo + 1:
            dx_fused(x, dy, o, i0, nb, row_at(c, length, True), tplan[0, c],
                     row_at(lo, length, True), tplan[1, lo], tt, pre, run, pt, coef, dst, do, di0)
            continue
        suffix_step(tt, 0, 0, nb, c, tplan[0, c], run, False, True)
        for r in range(lo, hi):
            dx_emit(x, dy, o, row_at(r, length, True), i0, nb, tplan[1, r], pre, run, pt, coef,
                    dst, do, di0)


@njit(cache=True, error_model="numpy")
def window_tile(src, o, i0, nb, plan, before, pre, run, dst, do, di0, square):
    """dst rows = window sums (of squares if ``square``) of the tile src[o, :, i0:i0+nb].

    ``dst`` (float64) must not overlap ``src``: the prefix of a block is read after rows of
    the block have been emitted.
    """
    length = src.shape[1]
    start_walk(pre, nb)
    for c in range(length - 1, -1, -1):
        if plan[0, c] and c < length - 1:
            prefix_block(src, o, i0, nb, c + 1, plan, pre, square, False)
        suffix_step(src, o, i0, nb, c, plan[0, c], run, square, False)
        lo, hi = emit_rows(c, before, length)
        for r in range(lo, hi):
            window_row(r, nb, plan, pre, run, dst, do, di0)


@njit(cache=True, error_model="numpy")
def gather(src, f0, nb, tile):
    """tile[0, :, j] = column f0 + j of src (O, L, I), columns numbered o * I + i.

    Lines (I = 1, each line's L values contiguous) go 16 x 16 blocks at a time through
    registers (``numba_transpose``: 0.27 -> 0.08 ns an element); the rest value by value."""
    done = lines_done(src, nb, tile)
    line, row = src.strides[0] // src.itemsize, tile.strides[1] // tile.itemsize  # in elements
    for g in range(0, done, WIDTH):
        for c0 in range(0, src.shape[1] - WIDTH + 1, WIDTH):
            transpose16(src, f0 + g, c0, 0, line, tile, 0, c0, g, row)
    inner = src.shape[2]
    for j in range(nb):
        c0 = src.shape[1] // WIDTH * WIDTH if j < done else 0  # rows the blocks did not cover
        o = (f0 + j) // inner
        i = (f0 + j) % inner
        for c in range(c0, src.shape[1]):
            tile[0, c, j] = src[o, c, i]


@njit(cache=True, error_model="numpy")
def scatter(tile, dst, f0, nb):
    """Inverse of :func:`gather`: column f0 + j of dst (O, L, I) = tile[0, :, j]."""
    done = lines_done(dst, nb, tile)
    line, row = dst.strides[0] // dst.itemsize, tile.strides[1] // tile.itemsize
    for g in range(0, done, WIDTH):
        for c0 in range(0, dst.shape[1] - WIDTH + 1, WIDTH):
            transpose16(tile, 0, c0, g, row, dst, f0 + g, c0, 0, line)
    inner = dst.shape[2]
    for j in range(nb):
        c0 = dst.shape[1] // WIDTH * WIDTH if j < done else 0
        o = (f0 + j) // inner
        i = (f0 + j) % inner
        for c in range(c0, dst.shape[1]):
            dst[o, c, i] = tile[0, c, j]


@njit(cache=True, error_model="numpy")
def lines_done(arr, nb, tile):
    """How many of the nb columns :func:`gather` and :func:`scatter` move by 16 x 16 blocks:
    a multiple of 16 when ``arr`` is lines (I = 1) whose values are contiguous and the tile's
    rows are contiguous, else 0."""
    if (arr.shape[2] != 1 or arr.strides[1] != arr.itemsize or tile.strides[2] != tile.itemsize
            or arr.shape[1] < WIDTH):
        return 0
    return nb // WIDTH * WIDTH


@njit(cache=True, error_model="numpy")
def tile_at(shape, block, g):
    """(wide, o, i0 or first flattened column, width) of tile g of an (O, L, I) view."""
    outer, _, inner = shape
    if inner >= WIDE_MIN:
        per_o = (inner + block - 1) // block
        o = g // per_o
        i0 = (g % per_o) * block
        return True, o, i0, min(block, inner - i0)
    f0 = g * block
    return False, 0, f0, min(block, outer * inner - f0)


def num_tiles(shape: tuple[int, int, int], block: int) -> int:
    """How many tiles the kernels cut an (O, L, I) view into."""
    outer, _, inner = shape
    if inner >= WIDE_MIN:
        return outer * -(-inner // block)
    return -(-outer * inner // block)


@njit(cache=True, error_model="numpy")
def block_scratch(prows, length, block):
    """(pre, run, s, pt, tt, p32): the scratch of :func:`bwd_tile` (none when prows = 0), all
    float64 but p32, float32."""
    n = block if prows else 0
    m = length if prows else 0
    return (np.empty((prows, n + PAD)), np.empty(n), np.empty(n), np.empty((1, m, n + PAD)),
            np.empty((1, m, n + PAD)), np.empty((1, m, n + PAD), dtype=np.float32))


@njit(cache=True, error_model="numpy")
def gathered_scratch(x, length, block):
    """(xt, dyt, dxt): (1, length, B) tiles of x's dtype for gathered columns."""
    return (np.empty((1, length, block + PAD), dtype=x.dtype),
            np.empty((1, length, block + PAD), dtype=x.dtype),
            np.empty((1, length, block + PAD), dtype=x.dtype))


@njit(cache=True, error_model="numpy", parallel=True)
def fwd_lines_kernel(x, y, before, size, scale, k, beta, mode, block, ntiles, nchunks, cap):
    """y = x * (k + scale * sum_{W(c)} x^2)^-beta along axis 1, float32 direct sums on lines.

    x, y: (O, L, 1) C-contiguous float32 arrays (channels-last: each line of L values is
    contiguous), y written; cap: numba_direct.square_cap for s <= 1e36. A centred window of
    5 with beta 0.75 (AlexNet's, GoogLeNet's), 0.5 or 1 goes in flat runs of whole lines
    (numba_direct.fwd_lines5), other windows a line at a time (numba_direct.fwd_lines).
    """
    length = x.shape[1]
    # Each chunk's scratch, allocated here and borrowed by the chunk (numba_borrow: no
    # reference counts in the hot loops, and none to share a cache line).
    s32s = np.empty((nchunks, max(block, length)), dtype=x.dtype)
    ss = np.empty((nchunks, max(block, length)))
    sqps = np.zeros((nchunks, length + DIRECT_MAX), dtype=x.dtype)
    # fwd_lines5's flat runs: a centred window of 5 with a specialised beta
    flat = size == 5 and before == 2 and (mode == POW_075 or mode == POW_05 or mode == POW_1)
    pos = line_pos(length, block if flat else 0)
    shp = (x.shape[0], 1, length)
    for ch in prange(nchunks):
        xb, yb = borrow(x).reshape(shp), borrow(y).reshape(shp)
        s32, s, sqp = borrow(s32s[ch]), borrow(ss[ch]), borrow(sqps[ch])
        ps = borrow(pos)
        for g in range(ch * ntiles // nchunks, (ch + 1) * ntiles // nchunks):
            _, _, f0, nb = tile_at(x.shape, block, g)
            if flat:
                fwd_lines5(xb, f0, nb, ps, sqp, s32, s, yb, scale, k, cap, beta, mode)
            else:
                fwd_lines(xb, f0, nb, before, size, sqp, s32, s, yb, scale, k, cap, beta,
                          mode)


@njit(cache=True, error_model="numpy", parallel=True)
def fwd_direct_kernel(x, y, before, size, scale, k, beta, mode, block, ntiles, nchunks, cap,
                      acap):
    """The same with float32 direct sums on tiles of rows (numba_direct.fwd_direct); tiles of
    an inner extent below WIDE_MIN are gathered. acap: numba_direct.abs_cap(cap)"""
    length = x.shape[1]
    gath = length if x.shape[2] < WIDE_MIN else 0
    rings = np.empty((nchunks, DIRECT_MAX + 1, block + PAD), dtype=x.dtype)
    tops = np.zeros((nchunks, PEAK_SLOTS), dtype=np.int64)
    sls = np.empty((nchunks, DIRECT_MAX), dtype=np.int64)
    s32s = np.empty((nchunks, max(block, length)), dtype=x.dtype)
    ss = np.empty((nchunks, max(block, length)))
    for ch in prange(nchunks):
        xb, yb = borrow(x), borrow(y)
        ring, top, sl = borrow(rings[ch]), borrow(tops[ch]), borrow(sls[ch])
        s32, s = borrow(s32s[ch]), borrow(ss[ch])
        xt, yt, _ = gathered_scratch(x, gath, block)
        for g in range(ch * ntiles // nchunks, (ch + 1) * ntiles // nchunks):
            wide, o, i0, nb = tile_at(x.shape, block, g)
            src, so, si, dst = tile_in(xb, yb, xt, yt, wide, o, i0, nb)
            fwd_direct(src, so, si, nb, before, size, ring, top, sl, s32, s, dst, so, si, scale,
                       k, cap, acap, beta, mode)
            if not wide:
                scatter(yt, yb, i0, nb)


@njit(cache=True, error_model="numpy", parallel=True)
def fwd_block_kernel(x, y, plan, prows, after, scale, k, beta, mode, block, ntiles, nchunks,
                     tcap):
    """The same with float64 block prefix/suffix window sums, for any window and dtype.

    x, y: (O, L, I) C-contiguous arrays of one dtype (float32 or float64), y written
    plan: (2, L) int64 plan of the mirrored window (numba_window.window_index(L, after,
    size)), which the block path walks; after: rows below c (the mirrored window's rows
    above); prows: scratch rows (numba_window.scratch_rows)
    """
    length = x.shape[1]
    gath = length if x.shape[2] < WIDE_MIN else 0
    for ch in prange(nchunks):
        xb, yb = borrow(x), borrow(y)
        pre = np.empty((prows, block + PAD))
        run = np.empty(block)
        s = np.empty(block)
        xt, yt, _ = gathered_scratch(x, gath, block)
        for g in range(ch * ntiles // nchunks, (ch + 1) * ntiles // nchunks):
            wide, o, i0, nb = tile_at(x.shape, block, g)
            src, so, si, dst = tile_in(xb, yb, xt, yt, wide, o, i0, nb)
            fwd_tile(src, so, si, nb, plan, after, pre, run, s, dst, so, si, scale, k, beta,
                     mode, x.itemsize == 4, wide and nb < x.shape[2], tcap)
            if not wide:
                scatter(yt, yb, i0, nb)


@njit(cache=True, error_model="numpy")
def tiles_in(xb, dyb, dxb, xt, dyt, dxt, wide, o, i0, nb):
    """(x source, dy source, o, i0, dx destination) of a backward tile: :func:`tile_in` with
    dy gathered beside x."""
    src, so, si, dst = tile_in(xb, dxb, xt, dxt, wide, o, i0, nb)
    if wide:
        return src, dyb, so, si, dst
    gather(dyb, i0, nb, dyt)
    return src, dyt, so, si, dst


@njit(cache=True, error_model="numpy")
def tile_in(xb, yb, xt, yt, wide, o, i0, nb):
    """(src, o, i0, dst) a kernel reads and writes tile (o, i0, nb) through: the arrays
    themselves for a wide tile, else the scratch tiles xt, yt, with x's columns gathered."""
    if wide:
        return xb, o, i0, yb
    gather(xb, i0, nb, xt)
    return xt, 0, 0, yt


@njit(cache=True, error_model="numpy", parallel=True)
def bwd_lines_kernel(x, dy, dx, plan, tplan, prows, before, after, scale, k, beta, mode, block,
                     ntiles, nchunks, acap):
    """dx = dy * s^-beta - 2 scale beta x * sum_{j: c in W(j)} dy_j x_j s_j^(-beta-1), float32
    direct sums on lines (numba_direct_grad.bwd_lines).

    x, dy, dx: (O, L, 1) C-contiguous float32 arrays; dx written
    plan, tplan, prows: as :func:`bwd_block_kernel`, for a tile some line of which holds a value
    the float32 sums cannot take (it is redone by the block path); acap:
    numba_direct.abs_cap(numba_direct.square_cap(...))
    """
    length = x.shape[1]
    size = before + after + 1
    npad = length + 2 * DIRECT_MAX
    # Each chunk's scratch, borrowed by the chunk (see fwd_lines_kernel).
    ws = np.empty((nchunks, max(block, length)), dtype=x.dtype)
    pads = np.zeros((nchunks, 2, npad), dtype=x.dtype)
    pls = np.empty((nchunks, length), dtype=x.dtype)
    shp = (x.shape[0], 1, length)
    for ch in prange(nchunks):
        xb, dyb, dxb = borrow(x), borrow(dy), borrow(dx)
        w, pl = borrow(ws[ch]), borrow(pls[ch])
        sqp, tp = borrow(pads[ch, 0]), borrow(pads[ch, 1])
        # The block path's scratch (megabytes of float64) and the gathered tiles, allocated
        # only if a tile falls back.
        pre, run, s, pt, tt, p32 = block_scratch(0, length, block)
        xt, dyt, dxt = gathered_scratch(x, 0, block)
        for g in range(ch * ntiles // nchunks, (ch + 1) * ntiles // nchunks):
            _, _, f0, nb = tile_at(x.shape, block, g)
            if bwd_lines(xb.reshape(shp), dyb.reshape(shp), f0, nb, before, size, sqp, tp, pl, w,
                         scale, k, acap, beta, mode, dxb.reshape(shp)):
                if pre.shape[0] == 0:
                    pre, run, s, pt, tt, p32 = block_scratch(prows, length, block)
                    xt, dyt, dxt = gathered_scratch(x, length, block)
                gather(xb, f0, nb, xt)
                gather(dyb, f0, nb, dyt)
                bwd_tile(xt, dyt, 0, 0, nb, plan, tplan, after, before, pre, run, s, pt, tt, p32,
                         dxt, 0, 0, scale, k, beta, mode, True, False, 0.0)
                scatter(dxt, dxb, f0, nb)


@njit(cache=True, error_model="numpy", parallel=True)
def bwd_direct_kernel(x, dy, dx, plan, tplan, prows, before, after, scale, k, beta, mode, block,
                      ntiles, nchunks, cap, acap):
    """The same with float32 direct sums on tiles of rows (numba_direct_grad.bwd_direct);
    tiles of an inner extent below WIDE_MIN are gathered. cap: numba_direct.square_cap"""
    length = x.shape[1]
    size = before + after + 1
    gath = length if x.shape[2] < WIDE_MIN else 0
    ringss = np.empty((nchunks, 3, RING_ROWS, RING_W), dtype=x.dtype)
    tops = np.zeros((nchunks, RING_ROWS), dtype=np.int64)
    ws = np.empty((nchunks, max(block, length)), dtype=x.dtype)
    sts = np.empty((nchunks, block), dtype=x.dtype)
    sls = np.empty((nchunks, DIRECT_MAX), dtype=np.int64)
    for ch in prange(nchunks):
        xb, dyb, dxb = borrow(x), borrow(dy), borrow(dx)
        rings, top, w = borrow(ringss[ch]), borrow(tops[ch]), borrow(ws[ch])
        st, sl = borrow(sts[ch]), borrow(sls[ch])
        pre, run, s, pt, tt, p32 = block_scratch(0, length, block)  # allocated if a tile falls back
        xt, dyt, dxt = gathered_scratch(x, gath, block)
        for g in range(ch * ntiles // nchunks, (ch + 1) * ntiles // nchunks):
            wide, o, i0, nb = tile_at(x.shape, block, g)
            src, dsrc, so, si, dst = tiles_in(xb, dyb, dxb, xt, dyt, dxt, wide, o, i0, nb)
            if bwd_direct(src, dsrc, so, si, nb, before, size, rings[0], rings[1], rings[2], top,
                          w, st, sl, scale, k, cap, acap, beta, mode, dst, so, si):
                if pre.shape[0] == 0:
                    pre, run, s, pt, tt, p32 = block_scratch(prows, length, block)
                bwd_tile(src, dsrc, so, si, nb, plan, tplan, after, before, pre, run, s, pt, tt,
                         p32, dst, so, si, scale, k, beta, mode, True, wide and nb < x.shape[2],
                         0.0)
            if not wide:
                scatter(dxt, dxb, i0, nb)


@njit(cache=True, error_model="numpy", parallel=True)
def bwd_block_kernel(x, dy, dx, plan, tplan, prows, before, after, scale, k, beta, mode, block,
                     ntiles, nchunks, tcap):
    """The same with float64 block prefix/suffix window sums, for any window and dtype.

    x, dy, dx: (O, L, I) C-contiguous arrays of one dtype (float32 or float64); dx written
    plan, tplan: (2, L) int64 plans of the mirrored window (window_index(L, after, size))
    and of its transpose (window_index(L, before, size)), which the block path walks;
    prows: scratch rows (numba_window.scratch_rows)
    """
    length = x.shape[1]
    gath = length if x.shape[2] < WIDE_MIN else 0
    for ch in prange(nchunks):
        xb, dyb, dxb = borrow(x), borrow(dy), borrow(dx)
        pre, run, s, pt, tt, p32 = block_scratch(prows, length, block)
        xt, dyt, dxt = gathered_scratch(x, gath, block)
        for g in range(ch * ntiles // nchunks, (ch + 1) * ntiles // nchunks):
            wide, o, i0, nb = tile_at(x.shape, block, g)
            src, dsrc, so, si, dst = tiles_in(xb, dyb, dxb, xt, dyt, dxt, wide, o, i0, nb)
            bwd_tile(src, dsrc, so, si, nb, plan, tplan, after, before, pre, run, s, pt, tt, p32,
                     dst, so, si, scale, k, beta, mode, x.itemsize == 4, wide and nb < x.shape[2],
                     tcap)
            if not wide:
                scatter(dxt, dxb, i0, nb)
