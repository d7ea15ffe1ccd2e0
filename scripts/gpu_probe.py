#!/usr/bin/env python3
"""GPU probe of the ring kernels (AlexNet conv1 fp32, window 5): does the forward's time
depend on where its output lies relative to x, on the time of the run, on EVEN tiles? Each
line times plain calls and CUDA graph replays: on the H200 (session 6) plain calls of every
LRN kernel took 75-90 us for the first 8 s of the process and 30 us after, the copy 23 us
throughout: the samples measured the host's launch, not the kernel.

    PYTHONPATH=src python3 scripts/gpu_probe.py     # on a CUDA machine (about a minute)

Times with triton.testing.do_bench (median, L2 flushed), reads the SM and memory clocks with
NVML (when present) beside each timing, prints one line per timing.
"""

from __future__ import annotations

import time

import torch
import triton.testing
from gpu_check import _graph  # scripts/ is on sys.path when this file runs

from localnorm._spec import make_lrn_spec
from localnorm.backends import triton_lrn as T

SHAPE = (32, 96, 55, 55)
T0 = time.time()
try:
    import pynvml
    pynvml.nvmlInit()
    _H = pynvml.nvmlDeviceGetHandleByIndex(0)

    def clocks() -> str:
        sm = pynvml.nvmlDeviceGetClockInfo(_H, pynvml.NVML_CLOCK_SM)
        mem = pynvml.nvmlDeviceGetClockInfo(_H, pynvml.NVML_CLOCK_MEM)
        return f"sm {sm} MHz mem {mem} MHz"
except Exception:  # no NVML: no clocks
    def clocks() -> str:
        return "(no nvml)"


def bench(fn) -> str:
    """Plain calls (host launch time can show) and graph replays, both after an L2 flush."""
    cells = []
    for f in (fn, _graph(fn) or fn):  # plain twice where capture fails
        q = triton.testing.do_bench(f, warmup=10, rep=40, quantiles=[0.5, 0.25, 0.75])
        cells.append(f"{q[0] * 1e3:6.1f} us [{q[1] * 1e3:.1f}, {q[2] * 1e3:.1f}]")
    return "plain " + cells[0] + "  graph " + cells[1]


def fwd_into(x: torch.Tensor, y: torch.Tensor, spec, **tune) -> None:
    old = dict(T.TUNING)
    T.TUNING.update(tune)
    try:
        T._separable(x, x, x, x, y, [], spec.before, spec.after, spec, 1, 1)
    finally:
        T.TUNING.clear()
        T.TUNING.update(old)


def line(label: str, fn) -> None:
    c = clocks()
    print(f"{time.time() - T0:6.1f}s {label:44} {bench(fn)}  {c}", flush=True)


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(SHAPE, device="cuda")
    spec = make_lrn_spec(x, 5, 1e-4, 0.75, 2.0, "across", None, 1)
    n = x.numel()
    ref = torch.empty_like(x)
    fwd_into(x, ref, spec, ring_max_n=0)
    variants = {"ring": {}, "ring EVEN off": {"ring_even": 0}, "ring rows 16": {"ring_rows": 16},
                "segmented": {"ring_max_n": 0}}
    fresh = [torch.empty_like(x) for _ in range(3)]
    big = torch.empty(n + (8 << 20), device="cuda")
    for rnd in range(2):
        for i, y in enumerate(fresh):
            for name, tune in variants.items():
                line(f"r{rnd} fresh y{i} {name}", lambda y=y, t=tune: fwd_into(x, y, spec, **t))
            line(f"r{rnd} fresh y{i} copy", lambda y=y: y.copy_(x))
        for off in (0, 128, 4096, 1 << 16, 1 << 20, (1 << 21) + 512, 5 << 20):
            y = big[off // 4: off // 4 + n].view(SHAPE)
            line(f"r{rnd} y at big+{off} ring", lambda y=y: fwd_into(x, y, spec))
            line(f"r{rnd} y at big+{off} copy", lambda y=y: y.copy_(x))
    y = fresh[0]
    fwd_into(x, y, spec)
    err = ((y - ref).abs() / ref.abs().clamp_min(1e-30)).max().item()
    print(f"ring vs segmented max rel diff {err:.2e}")
    xb = x.to(torch.bfloat16)
    yb = torch.empty_like(xb)
    line("bf16 ring", lambda: fwd_into(xb, yb, spec))
    line("bf16 segmented", lambda: fwd_into(xb, yb, spec, ring_max_n=0))
    line("bf16 copy", lambda: yb.copy_(xb))
    dy = torch.randn_like(x)
    line("bwd ring (fused)", lambda: T.lrn_bwd(x, dy, spec))
    line("bwd ring EVEN off", lambda: (T.TUNING.update(ring_even=0), T.lrn_bwd(x, dy, spec),
                                       T.TUNING.update(ring_even=1)))


if __name__ == "__main__":
    main()
