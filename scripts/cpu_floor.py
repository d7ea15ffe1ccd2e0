"""What bounds the CPU LRN forward: a copy, a pointwise kernel doing LRN's arithmetic
(one square, one multiply-add, s^-0.75 via sqrt) with no window at all, and localnorm's fused
forward, timed interleaved at the same thread count. If the pointwise kernel alone costs more
than 1.5x the copy, no LRN forward on this CPU can meet that target with this arithmetic;
"pointwise-new-out" (the same arithmetic writing a freshly allocated output, as any op that
returns a new tensor must) and "clone" show what first-touching a new output costs.
"window-no-pow" walks the channels of each (n, plane) with a ring of squared rows and writes
y = x * (k + a * five-row sum), LRN's memory pattern without its sqrt and division;
"window-pow" adds them back (the numba backend's forward loop, minus its range checks).

Each sample first evicts the caches as ``localnorm bench`` does (a write of twice the
last-level cache, at least 64 MiB; ``--no-flush`` skips it): on a box whose L3 holds the
whole tensor (480 MiB on one of our dev VMs), timings without it read from cache.

    python scripts/cpu_floor.py [--threads 2] [--reps 30] [--no-flush]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
import torch

import localnorm
from localnorm.bench.memory import CacheFlusher


@numba.njit(parallel=True, cache=True)
def _pointwise(x, y, k, a):  # x, y: (M,) float32; exact sqrt and division, as in the kernel
    for i in numba.prange(x.shape[0]):
        v = x[i]
        q = np.sqrt(k + a * v * v)
        y[i] = v / (q * np.sqrt(q))


@numba.njit(parallel=True, cache=True)
def _scale(x, y, k):  # the same loop with no sqrt or division: what streaming alone costs
    for i in numba.prange(x.shape[0]):
        y[i] = x[i] * k


@numba.njit(parallel=True, cache=True)
def _window(x, y, k, a, power):  # x, y: (N, C, HW) float32; size-5 ring over C, whole planes
    n, c, hw = x.shape
    for o in numba.prange(n):
        ring = np.zeros((6, hw), dtype=np.float32)
        for m in range(2):
            for j in range(hw):
                ring[m, j] = x[o, m, j] * x[o, m, j]
        for r in range(c):
            if r + 2 < c:
                s = (r + 2) % 5
                for j in range(hw):
                    ring[s, j] = x[o, r + 2, j] * x[o, r + 2, j]
            a0 = (r - 2) % 5 if r >= 2 else 5
            a1 = (r - 1) % 5 if r >= 1 else 5
            a3 = (r + 1) % 5 if r + 1 < c else 5
            a4 = (r + 2) % 5 if r + 2 < c else 5
            a2 = r % 5
            if power:
                for j in range(hw):
                    sv = k + a * (ring[a0, j] + ring[a1, j] + ring[a2, j] + ring[a3, j]
                                  + ring[a4, j])
                    q = np.sqrt(sv)
                    y[o, r, j] = x[o, r, j] / (q * np.sqrt(q))
            else:
                for j in range(hw):
                    sv = k + a * (ring[a0, j] + ring[a1, j] + ring[a2, j] + ring[a3, j]
                                  + ring[a4, j])
                    y[o, r, j] = x[o, r, j] * sv


def _fresh(xf, k, a):
    """The pointwise arithmetic into a freshly allocated output, as an out-of-place op must."""
    out = np.empty_like(xf)
    _pointwise(xf, out, k, a)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--no-flush", action="store_true", help="keep the caches between samples")
    args = ap.parse_args()
    flush = CacheFlusher("cpu", not args.no_flush)
    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    x = torch.randn(32, 96, 55, 55)
    y = torch.empty_like(x)
    xf, yf = x.view(-1).numpy(), y.view(-1).numpy()
    x3, y3 = x.view(32, 96, -1).numpy(), y.view(32, 96, -1).numpy()
    k, a = np.float32(2.0), np.float32(2e-5)
    fns = {
        "copy": lambda: y.copy_(x),
        "numba-stream": lambda: _scale(xf, yf, k),
        "pointwise-arith": lambda: _pointwise(xf, yf, k, a),
        "window-no-pow": lambda: _window(x3, y3, k, a, False),
        "window-pow": lambda: _window(x3, y3, k, a, True),
        "clone": lambda: x.clone(),
        "pointwise-new-out": lambda: _fresh(xf, k, a),
        "localnorm-fwd": lambda: localnorm.local_response_norm(x, 5, 1e-4, 0.75, 2.0),
    }
    times: dict[str, list[float]] = {n: [] for n in fns}
    for _ in range(3):
        for f in fns.values():
            f()
    for _ in range(args.reps):
        for name, f in fns.items():
            flush()
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    copy = statistics.median(times["copy"])
    print(f"threads={args.threads}  shape=(32, 96, 55, 55) fp32  flush={flush.nbytes >> 20} MiB")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:>16}: {med * 1e3:7.2f} ms  {med / copy:5.2f}x copy")


if __name__ == "__main__":
    main()
