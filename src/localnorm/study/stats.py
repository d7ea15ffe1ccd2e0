"""Small statistics used by the study: t-intervals, kurtosis, energy correlation."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def t_interval(values: Sequence[float], level: float = 0.95) -> dict[str, float]:
    """Mean and two-sided Student-t confidence interval of the mean.

    ``mean +- t_{(1+level)/2, n-1} * s / sqrt(n)`` with s the sample standard deviation.
    """
    from scipy.stats import t as student_t

    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n < 2:
        raise ValueError(f"t_interval needs >= 2 values, got {n}")
    mean = float(v.mean())
    sd = float(v.std(ddof=1))
    half = float(student_t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return {"mean": mean, "sd": sd, "n": n, "low": mean - half, "high": mean + half,
            "half_width": half}


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two intervals from :func:`t_interval` overlap."""
    return a["low"] <= b["high"] and b["low"] <= a["high"]


def excess_kurtosis(x: np.ndarray) -> float:
    """E[(x - mu)^4] / sigma^4 - 3 (0 for a Gaussian)."""
    v = np.asarray(x, dtype=np.float64).ravel()
    v = v - v.mean()
    var = float(np.mean(v * v))
    if var == 0:
        return 0.0
    return float(np.mean(v**4) / var**2 - 3.0)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally shaped arrays (0 when one is constant)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / den) if den > 0 else 0.0
