"""One PNG per experiment, drawn from the results dictionary only (never from live objects), so
every plotted number is also in results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

DPI = 110


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
                         "axes.spines.right": False})
    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    _plt().close(fig)
    return path


def activation(r: dict[str, Any], path: Path) -> Path:
    plt = _plt()
    jac = {k: v for k, v in r["jacobian"].items() if v.get("available")}
    ncols = max(4, len(jac))
    fig = plt.figure(figsize=(2.6 * ncols, 6.2))
    gs = fig.add_gridspec(2, ncols)
    ax = fig.add_subplot(gs[0, : ncols // 2])
    cv = r["curves"]
    for level, curve in zip(cv["levels"], cv["LRN"]["curves"], strict=True):
        ax.plot(cv["x"], curve, label=f"LRN, neighbours = {level:g}")
    ax.plot(cv["x"], cv["ReLU"]["curves"][0], "k--", label="ReLU (any neighbours)")
    ax.plot(cv["x"], cv["tanh"]["curves"][0], "k:", label="tanh (any neighbours)")
    ax.set(xlabel="input of the unit", ylabel="output", title="Response curves")
    ax.legend(fontsize=7)
    ax = fig.add_subplot(gs[0, ncols // 2:])
    inh = r["inhibition"]
    lrn, c = inh["LRN (Caffe defaults)"]["outputs"], inh["centre"]
    ax.plot(inh["amplitudes"], lrn[c], color="grey", label=f"LRN, channel {c} itself")
    groups: list[list[int]] = []  # channels whose curves coincide share one line
    for ch in (ch for ch in range(len(lrn)) if ch != c):
        same = next((g for g in groups if np.allclose(lrn[g[0]], lrn[ch])), None)
        if same is None:
            groups.append([ch])
        else:
            same.append(ch)
    for g in groups:
        ax.plot(inh["amplitudes"], lrn[g[0]], label=f"LRN, channels {', '.join(map(str, g))}")
    ax.plot(inh["amplitudes"], inh["ReLU"]["outputs"][c - 1], "k--",
            label="ReLU, any other channel")
    ax.set(xlabel=f"input of channel {c} (others at 1)", ylabel="output",
           title="Lateral inhibition", yscale="log")
    ax.legend(fontsize=7)
    for i, (name, v) in enumerate(jac.items()):
        ax = fig.add_subplot(gs[1, i])
        m = np.asarray(v["matrix"])
        lim = float(np.abs(m).max()) or 1.0
        ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set(title=f"Jacobian: {name}", xlabel="input channel", ylabel="output channel")
    return _save(fig, path)


def conditioning(r: dict[str, Any], path: Path) -> Path:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for name, v in r["inputs"].items():
        ev = np.asarray(v["eigenvalues"])
        axes[0].semilogy(np.arange(1, len(ev) + 1), ev / ev[0], label=f"{name}")
        fl = [np.nan if f is None else f for f in v["final_loss"]]
        axes[1].semilogx(r["learning_rates"], fl, "o-", ms=3, label=name)
        axes[2].semilogy(np.maximum(v["common_curve"], 1e-12), label=name)
    axes[0].set(title="Hessian eigenvalues at w = 0 (/ largest)", xlabel="rank",
                ylabel="lambda / lambda_max")
    axes[1].axhline(r["target_loss"], color="grey", ls=":", label="target")
    axes[1].set(title=f"Loss after {r['steps']} GD steps", xlabel="learning rate",
                ylabel="training loss", ylim=(0, max(2.5, r["target_loss"] * 2)))
    axes[2].set(title=f"Loss curves at one learning rate, {r['common_lr']:.3g}", xlabel="step",
                ylabel="training loss")
    for ax in axes:
        ax.legend(fontsize=7)
    return _save(fig, path)


def generalization(r: dict[str, Any], path: Path) -> Path:
    plt = _plt()
    t = r["table"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    names = list(t)
    means = [t[v]["interval"]["mean"] * 100 for v in names]
    err = [t[v]["interval"]["half_width"] * 100 for v in names]
    y = np.arange(len(names))
    axes[0].errorbar(means, y, xerr=err, fmt="o", capsize=4)
    for i, v in enumerate(names):
        axes[0].plot(np.asarray(t[v]["final_acc"]) * 100, [i] * len(t[v]["final_acc"]), "k.",
                     alpha=0.35)
    axes[0].set_yticks(y, [t[v]["label"] for v in names])
    axes[0].invert_yaxis()
    axes[0].set(xlabel="test accuracy (%)", title="Mean and 95% t-interval over seeds (dots: "
                "seeds)")
    for v in names:
        axes[1].plot(np.arange(1, len(t[v]["curve_mean"]) + 1),
                     np.asarray(t[v]["curve_mean"]) * 100, label=t[v]["label"])
    axes[1].axhline(r["target"] * 100, color="grey", ls=":", label="target")
    axes[1].set(xlabel="epoch", ylabel="test accuracy (%), mean over seeds",
                title="Training curves")
    axes[1].legend(fontsize=7)
    return _save(fig, path)


def contrast(r: dict[str, Any], labels: dict[str, str], path: Path) -> Path:
    plt = _plt()
    t, perts = r["table"], r["perturbations"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.4), gridspec_kw={"width_ratios": [1, 1.4]})
    cons = [p for p in perts if p.startswith("contrast")]
    xs = [float(p.split("x")[1]) for p in cons]
    for v in t:
        axes[0].plot(xs, [t[v]["accuracy"][p]["mean"] * 100 for p in cons], "o-", ms=3,
                     label=labels[v])
    axes[0].set_xscale("log", base=2)
    axes[0].set(xlabel="contrast factor", ylabel="test accuracy (%)",
                title="Accuracy under contrast scaling")
    axes[0].legend(fontsize=7)
    m = np.array([[t[v]["accuracy"][p]["mean"] * 100 for p in perts] for v in t])
    axes[1].imshow(m, cmap="viridis", aspect="auto", vmin=0, vmax=100)
    axes[1].set_xticks(range(len(perts)), perts, rotation=30, ha="right")
    axes[1].set_yticks(range(len(t)), [labels[v] for v in t])
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            axes[1].text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", fontsize=7,
                         color="white" if m[i, j] < 60 else "black")
    axes[1].set(title="Mean test accuracy (%) per perturbation")
    return _save(fig, path)


def images(r: dict[str, Any], path: Path) -> Path:
    plt = _plt()
    m = r["mean"]
    names = list(m)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    x = np.arange(len(names))
    axes[0].bar(x, [m[n]["kurtosis"] for n in names])
    axes[0].set_xticks(x, names, rotation=30, ha="right")
    axes[0].set(title="Excess kurtosis of filter responses", ylabel="mean over images")
    w = 0.4
    axes[1].bar(x - w / 2, [m[n]["energy_corr_spatial"] for n in names], w,
                label=f"space ({r['shift']} px)")
    axes[1].bar(x + w / 2, [m[n]["energy_corr_orientation"] for n in names], w,
                label="orientation")
    axes[1].set_xticks(x, names, rotation=30, ha="right")
    axes[1].set(title="Correlation of squared neighbours", ylabel="mean over images")
    axes[1].legend(fontsize=7)
    for n, c in r["conditional"].items():
        axes[2].plot(c["unit"], c["neighbour_rms"], "o-", ms=3, label=n)
    axes[2].set(title="Neighbour's magnitude given the unit's", xlabel="|unit response| / RMS",
                ylabel="RMS of neighbour / RMS", xscale="log")
    axes[2].legend(fontsize=7)
    return _save(fig, path)
