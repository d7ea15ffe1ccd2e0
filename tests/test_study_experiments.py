"""The study's experiments on tiny budgets: each measurement says what it should."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
import torch

import localnorm
from localnorm.study import (
    exp_activation,
    exp_conditioning,
    exp_contrast,
    exp_generalization,
    exp_images,
    stats,
    train,
)
from localnorm.study.data import Dataset, load
from localnorm.study.layers import VARIANTS, SmallCNN, why_not


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """As the study runs (localnorm.study.run): tiny tensors, one torch thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _x(c: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(1, c, 1, 1, generator=g, dtype=torch.float64).abs() + 0.5


@pytest.mark.parametrize("f", [torch.relu, torch.tanh, torch.sigmoid])
def test_activation_jacobian_is_diagonal(f: exp_activation.Op) -> None:
    j = exp_activation.jacobian_stats(f, _x())
    m = np.asarray(j["matrix"])
    assert j["offdiag_share"] == 0.0 and j["bandwidth"] == 0
    assert np.all(np.diag(m) != 0)


def test_lrn_jacobian_is_banded_and_inhibitory() -> None:
    lrn = localnorm.LocalResponseNorm(5, alpha=1.0, beta=0.75, k=1.0)
    j = exp_activation.jacobian_stats(lrn, _x())
    m = np.asarray(j["matrix"])
    assert j["offdiag_share"] > 0.1
    assert j["bandwidth"] == 2  # size 5: two channels either side
    assert np.all(m[np.abs(np.subtract.outer(range(8), range(8))) > 2] == 0)
    assert j["offdiag_negative_share"] == 1.0


def test_lateral_inhibition_only_inside_the_window() -> None:
    lrn = localnorm.LocalResponseNorm(5, alpha=1.0, beta=0.75, k=1.0)
    amps = torch.linspace(1, 10, 5, dtype=torch.float64)
    d = exp_activation.inhibition(lrn, amps)["percent_change"]
    c = exp_activation.CENTRE
    assert d[c - 1] < -10 and d[c + 2] < -1  # neighbours suppressed
    assert abs(d[0]) < 1e-9 and abs(d[-1]) < 1e-9  # outside the window: untouched
    relu = exp_activation.inhibition(torch.relu, amps)["percent_change"]
    assert all(abs(v) < 1e-12 for i, v in enumerate(relu) if i != c)


def test_activation_experiment_runs_and_reads() -> None:
    r = exp_activation.run()
    assert r["curves"]["ReLU"]["max_change_with_neighbours"] == 0.0
    assert r["curves"]["LRN"]["max_change_with_neighbours"] > 0.1
    text = exp_activation.reading(r)
    assert "banded" in text and f"{r['jacobian']['LRN (Caffe defaults)']['bandwidth']}" in text
    assert len(exp_activation.table(r)["rows"]) == len(r["jacobian"])


def _badly_scaled(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)) * np.array([100.0, 1.0, 0.01, 10.0]) + 5.0
    y = (x[:, 0] / 100 + x[:, 2] / 0.01 > 0.1).astype(np.int64)
    return x, y


def test_zscoring_lowers_the_condition_number() -> None:
    x, y = _badly_scaled()
    z = (x - x.mean(0)) / x.std(0)
    raw = exp_conditioning.hessian_spectrum(x, y, 2)["condition_number"]
    zs = exp_conditioning.hessian_spectrum(z, y, 2)["condition_number"]
    assert raw > 1e6 and zs < 10 and zs < raw / 1e5


def test_hessian_autograd_matches_closed_form() -> None:
    x, y = _badly_scaled(100)
    spec = exp_conditioning.hessian_spectrum(x / 100, y, 3)
    assert spec["method"].startswith("autograd")
    assert spec["closed_form_rel_diff"] < 1e-10
    # The softmax shift and nothing else is flat: K * (D + 1) params, D + 1 flat directions.
    assert spec["params"] == 15 and spec["dropped_flat"] == 5


def test_gd_sweep_learning_rate_range() -> None:
    x, y = _badly_scaled()
    z = (x - x.mean(0)) / x.std(0)
    lrs = np.logspace(-3, 3, 13)
    target = 0.25 * math.log(2)
    raw = exp_conditioning.gd_sweep(x, y, 2, lrs, 60, target)
    zs = exp_conditioning.gd_sweep(z, y, 2, lrs, 60, target)
    assert zs["lr_low"] is not None and zs["decades"] >= 1.0
    assert raw["decades"] < zs["decades"]
    lam = exp_conditioning.hessian_spectrum(z, y, 2)["lambda_max"]
    # Loss falls at every step below the quadratic bound 2 / lambda_max.
    assert zs["lr_max_monotone"] is not None and zs["lr_max_monotone"] >= 1.0 / lam / 10


def test_conditioning_experiment_on_digits_subset() -> None:
    ds = load("digits", 200, 50)
    r = exp_conditioning.run(ds, steps=10, lr_points=4)
    inp = r["inputs"]
    assert set(inp) == set(exp_conditioning.INPUTS)
    assert inp["z-scored"]["condition_number"] < inp["raw"]["condition_number"]
    assert inp["whitened"]["within_100x"] > inp["raw"]["within_100x"]
    assert "Condition numbers" in exp_conditioning.reading(r)


def test_features_reject_unknown_kind() -> None:
    with pytest.raises(ValueError, match="input kind"):
        exp_conditioning.features(load("digits", 20, 20), "pca")


def test_t_interval_matches_scipy_and_overlap() -> None:
    iv = stats.t_interval([1.0, 2.0, 3.0])
    assert iv["mean"] == 2.0 and iv["half_width"] == pytest.approx(4.302653 / math.sqrt(3), 1e-6)
    assert stats.overlaps(iv, {"low": 2.9, "high": 5.0})
    assert not stats.overlaps(iv, {"low": 4.5, "high": 5.0})
    with pytest.raises(ValueError, match=">= 2"):
        stats.t_interval([1.0])


def test_kurtosis_and_pearson() -> None:
    rng = np.random.default_rng(0)
    assert abs(stats.excess_kurtosis(rng.normal(size=200000))) < 0.05
    assert stats.excess_kurtosis(rng.laplace(size=200000)) == pytest.approx(3.0, abs=0.2)
    a = rng.normal(size=1000)
    assert stats.pearson(a, 2 * a + 1) == pytest.approx(1.0)
    assert stats.pearson(a, np.ones(1000)) == 0.0


def test_gabor_bank_is_zero_mean_unit_norm() -> None:
    bank = exp_images.gabor_bank()
    assert bank.shape == (8, 1, 7, 7)
    assert torch.allclose(bank.sum((1, 2, 3)), torch.zeros(8, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(bank.flatten(1).norm(dim=1), torch.ones(8, dtype=torch.float64))


def test_image_statistics_tiny() -> None:
    r = exp_images.run(1, 64)
    m = r["mean"]
    assert set(m) == set(exp_images.normalizers())
    assert m["none"]["kurtosis"] > 1.0  # natural images: heavy-tailed responses
    assert m["LRN across"]["kurtosis"] < m["none"]["kurtosis"]
    assert "kurtosis" in exp_images.reading(r)


def test_contrast_perturbations() -> None:
    x = torch.rand(4, 1, 8, 8)
    assert torch.allclose(exp_contrast.perturb("contrast x1", x), x)
    c = exp_contrast.perturb("contrast x4", x)
    m = x.mean((2, 3), keepdim=True)
    assert torch.allclose(c - m, 4 * (x - m), atol=1e-5)
    g = exp_contrast.perturb("gradient 0.5", x) - x
    assert torch.allclose(g.amax((2, 3)), torch.full((4, 1), 0.25), atol=1e-6)
    # Centring turns a contrast change into a pure change of scale.
    assert torch.allclose(train.centre(c), 4 * train.centre(x), atol=1e-5)
    with pytest.raises(ValueError, match="perturbation"):
        exp_contrast.perturb("blur 2", x)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_builds_and_runs(variant: str) -> None:
    assert why_not(variant) is None, why_not(variant)
    m = SmallCNN(1, 8, 10, variant)
    assert m(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    big = SmallCNN(3, 32, 10, variant)
    assert big(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_unknown_variant_is_an_error() -> None:
    with pytest.raises(ValueError, match="variant must be one of"):
        why_not("dropout")


def _tiny() -> Dataset:
    return load("digits", 128, 64)


def test_train_run_learns_and_is_reproducible() -> None:
    ds = _tiny()
    a = train.train_run(ds, train.RunSpec("none", 0, 3))
    b = train.train_run(ds, train.RunSpec("none", 0, 3))
    assert a["weights_sha256"] == b["weights_sha256"] and a["ranks_agree"]
    assert a["train_loss"][-1] < a["train_loss"][0]
    assert set(a["robustness"]) == set(exp_contrast.perturbations())
    assert a["lrn_gain"] is None
    g = train.train_run(ds, train.RunSpec("lrn_caffe", 0, 1))["lrn_gain"]
    assert g is not None and 0 < g["p05"] <= g["median"] <= 1.0


def test_summaries_and_readings() -> None:
    ds = _tiny()
    specs = exp_generalization.tasks(["none", "bn"], 2, 2)
    runs = exp_generalization.run_inline(ds, specs)
    gen = exp_generalization.summarize(runs, ["none", "bn"], {"gdn": "test: not available"})
    assert gen["best"] in ("none", "bn") and 0 < gen["target"] < 1
    row = gen["table"]["bn"]
    assert row["interval"]["low"] <= row["interval"]["mean"] <= row["interval"]["high"]
    text = exp_generalization.reading(gen)
    assert "95% t-interval" in text and "Not run: gdn" in text
    assert ("overlaps" in text) or ("No other variant" in text)
    con = exp_contrast.summarize(runs, ["none", "bn"])
    assert set(con["table"]) == {"none", "bn"}
    assert "contrast" in exp_contrast.reading(con, {"none": "none", "bn": "BatchNorm"})


def test_worker_pool_matches_inline() -> None:
    specs = exp_generalization.tasks(["none"], 2, 1)
    pool, futures = exp_generalization.submit("digits", 128, 64, specs, 2)
    try:
        pooled = [f.result(timeout=300) for f in futures]
    finally:
        pool.shutdown()
    inline = exp_generalization.run_inline(_tiny(), specs)  # one thread, as in the workers
    assert [r["weights_sha256"] for r in pooled] == [r["weights_sha256"] for r in inline]


def test_conditioning_on_colour_images_uses_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((40, 3, 32, 32)).astype(np.float32)
    y = np.arange(40) % 10
    ds = Dataset("tiny", x, y, x[:10], y[:10], [str(i) for i in range(10)], "random")
    tr, te = exp_conditioning.features(ds, "z-scored")
    assert tr.shape == (40, 256) and te.shape == (10, 256)  # grey, area-averaged to 16x16
    spec = exp_conditioning.hessian_spectrum(tr, y, 10)
    assert spec["method"].startswith("closed form") and spec["closed_form_rel_diff"] is None
    assert spec["params"] == 10 * 257 and math.isfinite(spec["condition_number"])


def test_warm_up_stays_out_of_the_wall_time_and_the_result(monkeypatch) -> None:
    """The warm-up call (JIT compilation) precedes the clock and leaves every generator as
    the run seeds it: the same weights with it and without it."""
    import time

    ds = _tiny()
    spec = train.RunSpec("lrn_across", 0, 1)
    real = train._warm_up
    with_warm = train.train_run(ds, spec)

    def slow_warm_up(d: Dataset, s: train.RunSpec) -> None:
        real(d, s)
        time.sleep(1.0)

    monkeypatch.setattr(train, "_warm_up", slow_warm_up)
    t = time.perf_counter()
    slow = train.train_run(ds, spec)
    assert slow["wall_s"] < time.perf_counter() - t - 0.9
    monkeypatch.setattr(train, "_warm_up", lambda d, s: None)
    assert train.train_run(ds, spec)["weights_sha256"] == with_warm["weights_sha256"]
