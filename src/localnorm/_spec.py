"""Validated, canonical parameters of one LRN call (shared by every backend)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import TypeGuard

import torch

REGIONS = ("across", "within")


@dataclass(frozen=True)
class LRNSpec:
    """Canonical LRN parameters (PyTorch convention) for a tensor of rank ``ndim``.

    ``alpha`` is the user's alpha; the factor in front of the window sum is :attr:`scale`,
    alpha / size across channels and alpha / size^d within a channel (d spatial axes).
    The window of index i is ``[i - before, i + after]``; ``dim`` is non-negative.
    """

    region: str
    size: int
    before: int
    alpha: float
    beta: float
    k: float
    dim: int
    ndim: int

    @property
    def after(self) -> int:
        return self.size - 1 - self.before

    @property
    def axes(self) -> tuple[int, ...]:
        """The axes the window runs along: the channel axis, or every spatial axis."""
        if self.region == "across":
            return (self.dim,)
        return tuple(a for a in range(1, self.ndim) if a != self.dim)

    @property
    def scale(self) -> float:
        if self.region == "across":
            return self.alpha / self.size
        return self.alpha / float(self.size) ** len(self.axes)


def _is_real(v: object) -> bool:
    if type(v) is float or type(v) is int:  # the usual case, without the ABC machinery
        return True
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_int(v: object) -> TypeGuard[numbers.Integral]:
    if type(v) is int:
        return True
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]`` or raise an error naming ``name``."""
    rng = f"[{low}, {high}]" if high is not None else f">= {low}"
    if not _is_int(value):
        raise TypeError(f"{name} must be an int {rng}, got {value!r} ({type(value).__name__})")
    iv = int(value)
    if iv < low or (high is not None and iv > high):
        raise ValueError(f"{name} must be an int in {rng}, got {iv}")
    return iv


def check_float(
    name: str, value: object, low: float | None = None, *, strict: bool = False
) -> float:
    """Return ``value`` as a finite float (optionally ``> low`` or ``>= low``)."""
    if not _is_real(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}")
    fv = float(value)  # type: ignore[arg-type]
    if not math.isfinite(fv):
        raise ValueError(f"{name} must be finite, got {fv}")
    if low is not None and (fv <= low if strict else fv < low):
        op = ">" if strict else ">="
        raise ValueError(f"{name} must be {op} {low}, got {fv}")
    return fv


def check_tensor(name: str, x: object, min_rank: int, max_rank: int | None = None) -> torch.Tensor:
    """A floating-point tensor of rank in ``[min_rank, max_rank]``, or a clear error."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(
            f"{name} must have a floating dtype (float16, bfloat16, float32, float64), "
            f"got {x.dtype}"
        )
    rank_ok = x.dim() >= min_rank and (max_rank is None or x.dim() <= max_rank)
    if not rank_ok:
        want = f"{min_rank}..{max_rank}" if max_rank is not None else f">= {min_rank}"
        raise ValueError(
            f"{name} must have rank {want} (N, C, *spatial), got shape {tuple(x.shape)}"
        )
    return x


def check_dim(dim: object, ndim: int) -> int:
    """Channel axis in ``[-ndim + 1, ndim - 1]``, never the batch axis 0."""
    if not _is_int(dim):
        raise TypeError(f"dim must be an int, got {dim!r}")
    d = int(dim)
    if not -ndim <= d < ndim or d % ndim == 0:
        raise ValueError(
            f"dim must be a channel axis in [{-ndim + 1}, {ndim - 1}] excluding the batch "
            f"axis 0 (and {-ndim}) for a rank-{ndim} input, got {d}"
        )
    return d % ndim


def make_lrn_spec(
    x: object,
    size: object,
    alpha: object,
    beta: object,
    k: object,
    region: object,
    before: object,
    dim: object,
) -> LRNSpec:
    """Validate every argument of :func:`localnorm.local_response_norm`."""
    if region not in REGIONS:
        raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
    t = check_tensor("input", x, 3, 5 if region == "within" else None)
    n = check_int("size", size, 1)
    b = n // 2 if before is None else check_int("before", before, 0, n - 1)
    a = check_float("alpha", alpha, 0.0)
    bt = check_float("beta", beta)
    kk = check_float("k", k)
    if bt > 0 and kk <= 0:
        raise ValueError(
            f"k must be > 0 when beta > 0 (else (k + A*sum x^2)^-beta divides by zero), got k={kk}"
        )
    if kk < 0:
        raise ValueError(f"k must be >= 0, got {kk}")
    d = check_dim(dim, t.dim())
    return LRNSpec(str(region), n, b, a, bt, kk, d, t.dim())
