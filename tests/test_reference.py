"""The float64 reference against first principles: finite differences and a direct loop."""

from __future__ import annotations

import numpy as np
import pytest

from localnorm.reference import lrn_forward, lrn_vjp


def _loop_across(x, size, alpha, beta, k, before):
    n_, c_ = x.shape[:2]
    y = np.empty_like(x)
    for c in range(c_):
        lo, hi = max(0, c - before), min(c_ - 1, c + size - 1 - before)
        s = k + alpha / size * (x[:, lo : hi + 1] ** 2).sum(axis=1)
        y[:, c] = x[:, c] * s ** (-beta)
    return y


@pytest.mark.parametrize("size,before", [(1, 0), (2, 1), (2, 0), (5, 2), (4, 1), (6, 5), (9, 4)])
def test_forward_matches_direct_loop(size, before):
    x = np.random.default_rng(size).standard_normal((2, 7, 3))
    got = lrn_forward(x, size, 0.7, 0.8, 1.3, before=before)
    want = _loop_across(x, size, 0.7, 0.8, 1.3, before)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


def _fd_vjp(f, x, dy, eps=1e-6):
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = np.sum((f(xp) - f(xm)) * dy) / (2 * eps)
    return g


CASES = [
    dict(size=3, region="across", before=None, dim=1, shape=(2, 5, 3)),
    dict(size=4, region="across", before=None, dim=1, shape=(1, 6, 2, 2)),
    dict(size=4, region="across", before=1, dim=1, shape=(1, 6, 2)),
    dict(size=3, region="across", before=None, dim=-1, shape=(1, 2, 3, 5)),
    dict(size=3, region="within", before=None, dim=1, shape=(1, 2, 4, 3)),
    dict(size=2, region="within", before=None, dim=1, shape=(1, 2, 5)),
    dict(size=3, region="within", before=None, dim=-1, shape=(1, 3, 2, 2, 2)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['region']}-n{c['size']}-d{c['dim']}")
def test_vjp_matches_finite_differences(case):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(case["shape"])
    dy = rng.standard_normal(case["shape"])
    kw = dict(region=case["region"], before=case["before"], dim=case["dim"])
    f = lambda t: lrn_forward(t, case["size"], 0.9, 0.75, 1.5, **kw)  # noqa: E731
    got = lrn_vjp(x, dy, case["size"], 0.9, 0.75, 1.5, **kw)
    want = _fd_vjp(f, x, dy)
    assert np.max(np.abs(got - want)) <= 1e-7 * max(1.0, np.max(np.abs(want)))
