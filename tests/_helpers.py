"""Test helpers: the tolerance table (by dtype) and input generators."""

from __future__ import annotations

import numpy as np
import torch

# Relative tolerance against the float64 reference, by dtype (DESIGN.md section 4).
RTOL = {torch.float64: 1e-12, torch.float32: 1e-6}
# Absolute floor so elements that are ~0 are not judged by relative error alone.
ATOL = {torch.float64: 1e-300, torch.float32: 1e-30}
HALF_ATOL = {torch.float16: 1e-3, torch.bfloat16: 1e-2}


def rel_close(out: torch.Tensor, ref: np.ndarray, dtype: torch.dtype) -> tuple[bool, float]:
    """Elementwise |out - ref| <= rtol * |ref| + atol; returns (ok, worst relative error)."""
    o = out.detach().double().cpu().numpy()
    err = np.abs(o - ref)
    bound = RTOL[dtype] * np.abs(ref) + ATOL[dtype]
    worst = float(np.max(err / np.maximum(np.abs(ref), 1e-300))) if ref.size else 0.0
    return bool(np.all(err <= bound) and np.all(np.isfinite(o))), worst


def half_ok(ours: torch.Tensor, peer_err: float, ref: np.ndarray, dtype: torch.dtype) -> bool:
    """flash-attention's rule: our max error <= 2x the peer's max error + atol."""
    err = float(np.max(np.abs(ours.detach().double().cpu().numpy() - ref)))
    return err <= 2 * peer_err + HALF_ATOL[dtype]


def randn(*shape: int, seed: int = 0, dtype: torch.dtype = torch.float32,
          scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def spike(shape: tuple[int, ...], channel: int, dim: int = 1, seed: int = 0) -> torch.Tensor:
    """Random input whose channel ``channel`` is 1e4 times larger than its neighbours."""
    x = randn(*shape, seed=seed)
    idx = [slice(None)] * len(shape)
    idx[dim] = channel
    x[tuple(idx)] *= 1e4
    return x
