"""The numba backend's LRN forward and backward kernels (``numba_lrn.lrn_fwd`` / ``lrn_bwd``)
and a copy into a reused buffer, on one shape, each sample after the bench's cache eviction;
prints the first call's seconds (compile or cache load) and the medians in ms.

numba can run different machine code for the same kernel in a process that compiled it and
in one that loaded it from its cache (session 14's fused check: 10.7-11.6 ms against 4.3 ms).
Time a kernel change both ways, each process with its own cache:

    rm -rf /tmp/nbc; NUMBA_CACHE_DIR=/tmp/nbc python scripts/kernel_times.py   # compiles
    NUMBA_CACHE_DIR=/tmp/nbc python scripts/kernel_times.py                    # loads
    python scripts/kernel_times.py --shape 32,256,27,27 --layout channels_last --window 3

A run with ``PYTHONPATH=<other checkout>/src`` times that checkout instead: interleave the
two, as the bench does. ``--remarks`` prints LLVM's loop-vectorize remarks while the kernels
compile (only in a process that compiles them), which is how session 15 found a loop left
scalar ("call instruction cannot be vectorized").
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="32,96,55,55")
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--layout", choices=("nchw", "channels_last"), default="nchw")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--remarks", action="store_true")
    args = ap.parse_args()
    if args.remarks:
        import llvmlite.binding as ll

        ll.set_option("", "-pass-remarks=loop-vectorize")
        ll.set_option("", "-pass-remarks-missed=loop-vectorize")
    import torch

    from localnorm._spec import make_lrn_spec
    from localnorm.backends import numba_lrn
    from localnorm.bench.memory import CacheFlusher

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape = tuple(int(v) for v in args.shape.split(","))
    x, dy = torch.randn(*shape), torch.randn(*shape)
    if args.layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
        dy = dy.contiguous(memory_format=torch.channels_last)
    spec = make_lrn_spec(x, args.window, 1e-4, 0.75, 2.0, "across", None, 1)
    t0 = time.perf_counter()
    numba_lrn.lrn_fwd(x, spec)
    numba_lrn.lrn_bwd(x, dy, spec)
    first = time.perf_counter() - t0
    buf = torch.empty_like(x)
    flush = CacheFlusher("cpu", True)
    calls = {"fwd": lambda: numba_lrn.lrn_fwd(x, spec),
             "bwd": lambda: numba_lrn.lrn_bwd(x, dy, spec),
             "copy": lambda: buf.copy_(x)}
    out = []
    for name, fn in calls.items():
        times = []
        for _ in range(args.reps):
            flush()
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        out.append(f"{name} {statistics.median(times) * 1e3:6.2f}")
    print(f"first call {first:5.1f} s  " + "  ".join(out) + " ms", flush=True)


if __name__ == "__main__":
    main()
