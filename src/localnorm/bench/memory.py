"""Peak memory of one call, measured three ways (docs/BENCHMARKS.md, "Memory"), and the GPU
kernel time of one call.

- ``torch-allocator`` (CPU, torch-based providers): torch's profiler with
  ``profile_memory=True`` records every allocation and free made through torch's CPU
  allocator during the call; the peak of their running sum is the most bytes the call held
  at once. It sees every tensor (inductor's buffers included), nothing else.
- ``cuda-allocator`` (CUDA): ``torch.cuda.max_memory_allocated`` after a reset, minus what
  was allocated before the call.
- ``rss-hwm`` (CPU, TensorFlow and ONNX Runtime, whose allocators torch cannot see): the
  process's resident-set high-water mark is reset (``/proc/self/clear_refs``, Linux) and read
  back (``VmHWM``) after the call, minus the resident set before it. This sees every
  allocation of the process, but pages an arena kept from the warm-up calls are reused and
  not seen, so for arena allocators it is a lower bound.

For localnorm on CPU both torch-allocator and rss-hwm are taken and the larger is kept, so
scratch memory a kernel allocates outside torch (numba's NumPy arrays) is not missed, and
localnorm's cache of output buffers (``backends/_pool.py``) is emptied first, so its outputs
are fresh memory and seen; an RSS growth under ``RSS_NOISE`` (256 KiB) is page and
interpreter noise and is ignored there. The call's result is kept alive until the measurement
is read, so the peak includes it.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

# The resident set moves by whole pages and with the interpreter's own small allocations;
# below this a growth says nothing about the call, so the max() method ignores it.
RSS_NOISE = 256 * 1024


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"{key} not in /proc/self/status")


def peak_rss(fn: Callable[[], Any]) -> int | None:
    """Bytes the resident set grew to above its level before ``fn()`` (None off Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current VmRSS
        before = _status_bytes("VmRSS")
    except OSError:
        return None
    result = fn()
    peak = _status_bytes("VmHWM") - before
    del result
    return max(peak, 0)


@contextmanager
def _stderr_muted() -> Iterator[None]:
    """File descriptor 2 pointed at the null device for the block (C++ writes included)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextmanager
def quiet_profile(**kwargs: Any) -> Iterator[Any]:
    """``torch.profiler.profile(**kwargs)`` whose start and stop print nothing: torch 2.13's
    kineto writes a "USDT: ... profiler_start" and "profiler_stop" line to stderr at each
    (KINETO_LOG_LEVEL does not govern them; a full ``localnorm bench`` printed 456), and the
    profiler warns that it "clears events at the end of each cycle". What the profiled code
    itself prints is not touched."""
    from torch.profiler import profile

    prof = profile(**kwargs)
    with _profiler_silenced():
        prof.__enter__()
    try:
        yield prof
    finally:
        with _profiler_silenced():
            prof.__exit__(None, None, None)


@contextmanager
def _profiler_silenced() -> Iterator[None]:
    """fd 2 muted and the profiler's "clears events" warning ignored."""
    with _stderr_muted(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Pp]rofiler clears events")
        yield


def peak_torch_cpu(fn: Callable[[], Any]) -> int | None:
    """Most bytes held at once by tensors allocated during ``fn()`` (torch's CPU allocator)."""
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity

    with quiet_profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
    del result
    events = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())  # type: ignore[union-attr]
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation:
            fields = node.extra_fields
            if str(fields.device).startswith("cpu"):
                events.append((node.start_time_ns, int(fields.alloc_size)))
        stack.extend(node.children)
    running = peak = 0
    for _, size in sorted(events):
        running += size
        peak = max(peak, running)
    return peak


def peak_cuda(fn: Callable[[], Any]) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    result = fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - before
    del result
    return int(peak)


def peak(fn: Callable[[], Any], device: str, kind: str, ours: bool,
         setup: Callable[[], None] | None = None) -> tuple[int | None, str | None]:
    """(peak bytes, method) for one call; ``kind`` is the provider's "torch" or "rss".

    ``setup`` (the bwd mode's: it builds the graph that the call consumes) runs before every
    call made here, outside the measured region: localnorm on CPU is called twice.
    """
    prepare = setup if setup is not None else (lambda: None)
    prepare()
    if device == "cuda":
        if kind != "torch":
            return None, None
        return peak_cuda(fn), "cuda-allocator"
    if kind == "rss":
        value = peak_rss(fn)
        return value, ("rss-hwm" if value is not None else None)
    if ours:  # cached output buffers would be reused unseen: make every buffer fresh memory
        from ..backends import _pool

        _pool.empty_cache()
    value = peak_torch_cpu(fn)
    if not ours:
        return value, "torch-allocator"
    prepare()  # the first call consumed the graph a bwd differentiates
    _pool.empty_cache()
    rss = peak_rss(fn)
    if rss is None or rss < RSS_NOISE:
        return value, "torch-allocator"
    return max(value or 0, rss), "max(torch-allocator,rss-hwm)"


def kernel_seconds_cuda(fn: Callable[[], Any]) -> float | None:
    """Sum of the GPU kernel durations of one call (torch.profiler, CUDA activity).

    Set beside the wall-clock median it tells a kernel-bound call from a host-bound one
    (Python and dispatch overhead between launches): for a host-bound call the median is
    much larger than this sum.
    """
    from torch.profiler import ProfilerActivity

    torch.cuda.synchronize()
    with quiet_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        result = fn()
        torch.cuda.synchronize()
    del result
    total_us = 0.0
    for evt in prof.events():
        if str(getattr(evt, "device_type", "")).endswith("CUDA"):
            total_us += float(getattr(evt, "device_time", 0.0) or 0.0)
    return total_us / 1e6 if total_us > 0 else None


def last_level_cache_bytes() -> int | None:
    """Size of the CPU's largest cache (Linux sysfs), or None when unknown."""
    import glob

    best = None
    for path in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*/size"):
        try:
            with open(path) as f:
                text = f.read().strip().upper()
        except OSError:
            continue
        mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            best = max(best or 0, int(digits) * mult)
    return best


class CacheFlusher:
    """Evicts the caches between samples by writing a buffer larger than the last-level cache
    (after Triton's ``do_bench``, which zeroes 256 MB on the GPU): every sample then reads its
    input from memory, the case a memory-bound op meets in a network. Without it, a loop of
    copies of a tensor that fits in L3 (or the GPU's L2) runs from cache, and the floor is not
    a floor. The write happens outside the timed region."""

    def __init__(self, device: str, enabled: bool) -> None:
        self.nbytes = 0
        self.buf: torch.Tensor | None = None
        if not enabled:
            return
        if device == "cuda":
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            self.nbytes = max(256 * 2**20, 2 * int(getattr(props, "L2_cache_size", 0)))
        else:
            llc = last_level_cache_bytes() or 32 * 2**20
            self.nbytes = min(max(64 * 2**20, 2 * llc), 1024 * 2**20)
        self.buf = torch.empty(self.nbytes // 4, dtype=torch.float32, device=device)

    def __call__(self) -> None:
        if self.buf is not None:
            self.buf.fill_(1.0)
            if self.buf.is_cuda:
                torch.cuda.synchronize()
