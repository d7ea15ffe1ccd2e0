"""numba's float32 direct path for LRN within channels (numba_within_direct): where it is
taken, the accuracy policy on every box it takes, bands, and the float64 fallback per unit.

The generic within-channel checks (layouts, spike, half precision, determinism across thread
counts) are in test_numba_lrn.py; most of them now run through this path too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _helpers import randn
from _numba_check import _spec, check
from localnorm.backends import numba_lrn, numba_within, numba_within_direct
from localnorm.reference import lrn_forward


@pytest.fixture(autouse=True)
def _numba(monkeypatch):
    monkeypatch.setenv("LOCALNORM_BACKEND", "numba")
    # the geometry of a call is cached; tests that patch the band or stack sizes must not
    # see (or leave behind) geometries made with other sizes
    numba_within._geometry.cache_clear()
    yield
    numba_within._geometry.cache_clear()


def _taken(x, spec, backward=False):
    """The direct path's (plane, band, cap, stack) for this call, or None."""
    numba_within._geometry.cache_clear()
    geo = numba_within._geometry_of(x, spec)
    return geo.bwd if backward else geo.fwd


def test_taken_only_where_it_applies():
    x = randn(2, 3, 8, 9)
    for size in range(1, numba_within_direct.BOX_MAX + 1):
        for beta in (0.75, 0.5, 1.0):
            spec = _spec(x, size, 1.0, beta, 1.0, "within")
            for xx in (x, x.to(memory_format=torch.channels_last)):
                assert _taken(xx, spec) is not None and _taken(xx, spec, True) is not None
    assert _taken(x, _spec(x, 6, 1.0, 0.75, 1.0, "within")) is None  # box too large
    assert _taken(x, _spec(x, 3, 1.0, 0.6, 1.0, "within")) is None  # generic beta
    assert _taken(x.double(), _spec(x, 3, 1.0, 0.75, 1.0, "within")) is None
    assert _taken(x, _spec(x, 3, 1.0, 0.75, 1e-40, "within")) is None  # s below float32's range
    assert _taken(x, _spec(x, 3, 1.0, 0.75, 1e-30, "within"), True) is None  # s^-(1+beta)
    seq = randn(2, 3, 11)  # one spatial axis, and three
    assert _taken(seq, _spec(seq, 3, 1.0, 0.75, 1.0, "within")) is None
    vol = randn(2, 3, 4, 5, 6)
    assert _taken(vol, _spec(vol, 3, 1.0, 0.75, 1.0, "within")) is None


@pytest.mark.parametrize("shape", [(2, 5, 13, 17), (2, 3, 1, 9), (2, 3, 9, 1), (1, 2, 2, 2)])
def test_every_box_within_policy_and_same_bits_in_both_layouts(shape):
    x = randn(*shape, seed=40, scale=2.0)
    dy = randn(*shape, seed=41)
    xc = x.to(memory_format=torch.channels_last)
    for size in range(1, numba_within_direct.BOX_MAX + 1):
        for before in sorted({0, size // 2, size - 1}):
            for beta in (0.75, 0.5, 1.0):
                spec = _spec(x, size, 0.8, beta, 1.5, "within", before)
                assert _taken(x, spec) is not None
                y, dx = check(x, spec, dy=dy)
                yc, dxc = check(xc, spec, dy=dy)
                assert torch.equal(y, yc) and torch.equal(dx, dxc), (size, before, beta)


def test_bands_give_the_bits_of_whole_planes(monkeypatch):
    # bands of 464 * 7 values: a channels-last sample (8 values a position, 56 + 2 positions a
    # padded row) takes bands of 7 rows with their halo (box 3: 5 rows forward, 3 backward;
    # box 5: 2 and 1), so its 12 rows take several; an NCHW plane still takes one band
    monkeypatch.setattr(numba_within_direct, "_BAND_VALUES", 464 * 7)
    x = randn(2, 8, 12, 56, seed=42)
    dy = randn(2, 8, 12, 56, seed=43)
    xc = x.to(memory_format=torch.channels_last)
    for size in (3, 5):
        spec = _spec(x, size, 1.0, 0.75, 0.5, "within")
        band = _taken(xc, spec)[1]
        assert 1 <= _taken(xc, spec, True)[1] < band < 12
        assert _taken(x, spec)[1] == 12
        y, dx = check(xc, spec, dy=dy)
        assert torch.equal(y, numba_lrn.lrn_fwd(x, spec)), size
        assert torch.equal(dx, numba_lrn.lrn_bwd(x, dy, spec)), size
    # one row per band (the smallest band) gives the same bits again
    monkeypatch.setattr(numba_within_direct, "_BAND_VALUES", 1)
    assert _taken(x, spec)[1] == 1
    assert torch.equal(numba_lrn.lrn_fwd(x, spec), y)
    assert torch.equal(numba_lrn.lrn_bwd(x, dy, spec), dx)


def test_spike_and_small_k():
    x = randn(2, 4, 11, 12, seed=44)
    x[0, 2, 5, 5] *= 1e4
    for xx in (x, x.to(memory_format=torch.channels_last)):
        for size in (3, 5):
            check(xx, _spec(xx, size, 1.0, 0.75, 1e-6, "within"))


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_a_unit_out_of_range_falls_back_alone(layout):
    # plane (0, 1) has squares ~1e50 (s past float32's range): that unit goes through the
    # float64 path, every other unit stays on the float32 sums; both are checked
    x = randn(2, 3, 9, 10, seed=45)
    x[0, 1] *= 1e25
    dy = randn(2, 3, 9, 10, seed=46)
    if layout == "channels_last":
        x = x.to(memory_format=torch.channels_last)
    spec = _spec(x, 3, 1.0, 0.75, 1.0, "within")
    y, dx = check(x, spec, dy=dy)
    # the other units have the bits they have without the big plane
    clean = x.clone()
    clean[0, 1] = 1.0
    if layout == "nchw":  # a unit is a plane: the other planes of sample 0 are unchanged
        yc = numba_lrn.lrn_fwd(clean, spec)
        keep = torch.ones(2, 3, dtype=torch.bool)
        keep[0, 1] = False
        assert torch.equal(y[keep], yc[keep])
    else:  # a unit is a sample: sample 1 is unchanged
        assert torch.equal(y[1], numba_lrn.lrn_fwd(clean, spec)[1])


def test_nan_stays_in_its_box():
    x = randn(2, 3, 9, 10, seed=47)
    x[1, 2, 4, 0] = float("nan")
    for xx in (x, x.to(memory_format=torch.channels_last)):
        y = numba_lrn.lrn_fwd(xx, _spec(xx, 3, 1.0, 0.75, 1.0, "within"))
        nan = torch.isnan(y)
        assert nan[1, 2, 3:6, 0:2].all() and int(nan.sum()) == 6
        ref = lrn_forward(x.double().numpy(), 3, 1.0, 0.75, 1.0, region="within")
        np.testing.assert_allclose(y.double().numpy(), ref, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7])
def test_shifted_sums_add_in_term_order(size):
    # the one-loop sums of 3 and 5 terms must give the bits of one pass per term (float32
    # addition is not associative: another order would differ on random data)
    rng = np.random.default_rng(size)
    a = rng.standard_normal(500).astype(np.float32) * np.float32(1e3)
    step = 7
    span = a.size - (size - 1) * step
    b = np.zeros_like(a)
    numba_within_direct.shifted_sum(a, b, span, size, step)
    expect = a[:span].copy()
    for t in range(1, size):
        expect = expect + a[t * step : t * step + span]
    assert np.array_equal(b[:span], expect)


def test_stacks_of_planes_give_the_bits_of_planes_alone(monkeypatch):
    # NCHW planes go a stack at a time (numba_within_direct.fwd_stack); any stack size must
    # give the bits of one plane at a time, including a stack whose plane falls back
    x = randn(3, 7, 9, 6, seed=48)
    x[1, 4] *= 1e25  # this plane goes through the float64 path, its stack's others do not
    dy = randn(3, 7, 9, 6, seed=49)
    spec = _spec(x, 3, 1.0, 0.75, 1.0, "within")
    assert _taken(x, spec)[3] >= 21  # default: every plane of a chunk in one stack
    y, dx = check(x, spec, dy=dy)
    for planes in (1, 2, 5):
        monkeypatch.setattr(numba_within_direct, "_STACK_VALUES", planes * 11 * 8)
        assert _taken(x, spec)[3] == planes
        assert torch.equal(numba_lrn.lrn_fwd(x, spec), y), planes
        assert torch.equal(numba_lrn.lrn_bwd(x, dy, spec), dx), planes
